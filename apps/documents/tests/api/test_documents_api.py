"""Documents and search API: /api/v1/orgs/{slug}/bots/{bot}/documents/[text/|{id}/|{id}/reprocess/] and .../search/.

Uploads go through APIClient as multipart; the pipeline is run synchronously in the test (services called
directly) where a test needs ready documents. The Celery chain is only registered on commit, never run.

Coverage:
- upload: one file (201, whole body {results: [{outcome, document}]}, row and file persisted, the chain registered
  on commit), several files (created + in-request duplicate), all duplicates -> 200, a new version; JSON body ->
  415 "unsupported_media_type"; no `files` -> 400; .exe -> 415 "unsupported_type"; a file over the free plan's
  10 MB -> 413 "file_too_large" and nothing stored; documents per bot -> 403 "plan_limit_exceeded" naming the limit;
- text: create (201, whole body), the same text again -> 200 duplicate, missing title -> 400;
- list: paginated whole body, newest first, ?status= filter, invalid status -> 400, query count does not grow;
- detail (whole body), unknown id 404; delete (204; row, chunks, vectors and file gone); reprocess (202, pending,
  the ready chunks stay searchable, the chain registered on commit);
- search: q required (400), k 0 and 51 -> 400, whole body equal to chunk_search's hits, the bot's min_score unless
  min_score is given, k honoured;
- access: member lists, reads and searches but cannot upload, create text, delete or reprocess (403); admin can;
  API key with the read scope searches and lists but cannot upload (403); a write key uploads; anonymous 401;
- tenancy: another organization's bot (list, upload, text, detail, delete, reprocess, search) -> 404 with nothing
  changed; a document of organization B under a bot of A -> 404; a bot of B under A's slug -> 404.
"""

import hashlib
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.bots.tests.factories import BotFactory
from apps.documents.models import Chunk, ChunkEmbedding, Document
from apps.documents.selectors import chunk_search
from apps.documents.tests import samples
from apps.documents.tests.utils import ingest
from apps.organizations.tests.factories import MembershipFactory, api_key_for, plan
from apps.organizations.tests.utils import error, iso
from conftest import client_for

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


@pytest.fixture
def bot(organization):
    return BotFactory(organization=organization, min_score=0.2)


def documents_url(organization, bot, suffix: str = "") -> str:
    return f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/documents/{suffix}"


def search_url(organization, bot) -> str:
    return f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/search/"


def post_files(client, organization, bot, *files):
    payload = {"files": [SimpleUploadedFile(name, data) for name, data in files]}
    return client.post(documents_url(organization, bot), payload, format="multipart")


def document_body(document: Document) -> dict:
    document.refresh_from_db()
    return {
        "id": document.id,
        "title": document.title,
        "source": document.source,
        "original_name": document.original_name,
        "kind": document.kind,
        "mime_type": document.mime_type,
        "size": document.size,
        "sha256": document.sha256,
        "url": document.url,
        "version": document.version,
        "status": document.status,
        "error": document.error,
        "progress": document.progress,
        "chunks_done": document.chunks_done,
        "chunks_total": document.chunks_total,
        "chunk_count": document.chunk_count,
        "token_count": document.token_count,
        "page_count": document.page_count,
        "embedding_model": document.embedding_model,
        "language": document.language,
        "search_config": document.search_config,
        "created_at": iso(document.created_at),
        "processed_at": iso(document.processed_at),
    }


def ready_guide(organization, bot, name="guide.md", data=None) -> Document:
    """A document uploaded through the service and made ready by running the pipeline here."""
    from apps.documents.services.upload import IncomingFile, document_upload

    [result] = document_upload(organization=organization, bot=bot, files=[IncomingFile(name, data or samples.md())])
    return ingest(result.document)


def hit_body(hit) -> dict:
    return {
        "chunk_id": hit.chunk_id,
        "document_id": hit.document_id,
        "document_title": hit.document_title,
        "document_url": hit.document_url,
        "heading_path": hit.heading_path,
        "page": hit.page,
        "score": hit.score,
        "semantic": hit.semantic,
        "lexical": hit.lexical,
        "rerank_score": hit.rerank_score,
        "reranked": hit.reranked,
        "snippet": hit.snippet,
        "text": hit.text,
    }


def files_under(root) -> list[str]:
    return [os.path.join(d, f) for d, _, names in os.walk(root) for f in names] if os.path.isdir(root) else []


# --------------------------------------------------------------------------- upload


def test_admin_uploads_one_file(organization, bot, admin_user, django_capture_on_commit_callbacks):
    """201 with the whole body; the pending row and its bytes are stored; the pipeline is registered on commit."""
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_files(client_for(admin_user), organization, bot, ("guide.md", samples.md()))

    assert response.status_code == 201, response.content
    document = Document.objects.get()
    assert response.json() == {
        "results": [
            {
                "outcome": "created",
                "document": {
                    "id": document.id,
                    "title": "guide",
                    "source": "upload",
                    "original_name": "guide.md",
                    "kind": "md",
                    "mime_type": "text/markdown",
                    "size": len(samples.md()),
                    "sha256": hashlib.sha256(samples.md()).hexdigest(),
                    "url": "",
                    "version": 1,
                    "status": "pending",
                    "error": "",
                    "progress": 0.0,
                    "chunks_done": 0,
                    "chunks_total": 0,
                    "chunk_count": 0,
                    "token_count": 0,
                    "page_count": None,
                    "embedding_model": "",
                    "language": "",
                    "search_config": "",
                    "created_at": iso(document.created_at),
                    "processed_at": None,
                },
            }
        ]
    }
    assert (document.bot, document.organization, document.created_by) == (bot, organization, admin_user)
    assert document.file.read() == samples.md()
    assert len(callbacks) == 1


def test_upload_several_files(organization, bot, owner):
    """Several files in one request: each gets a result in order; an identical copy is a duplicate."""
    response = post_files(
        client_for(owner),
        organization,
        bot,
        ("guide.txt", samples.txt()),
        ("guide.html", samples.html()),
        ("copy.txt", samples.txt()),
    )

    assert response.status_code == 201, response.content
    txt = Document.objects.get(original_name="guide.txt")
    html = Document.objects.get(original_name="guide.html")
    assert response.json() == {
        "results": [
            {"outcome": "created", "document": document_body(txt)},
            {"outcome": "created", "document": document_body(html)},
            {"outcome": "duplicate", "document": document_body(txt)},
        ]
    }
    assert Document.objects.count() == 2


def test_upload_under_a_long_accented_name(organization, bot, owner):
    """A name of 200 accented characters (400 bytes; once a 500 from the file system): 201, the
    document keeps the name as sent and its file reads back."""
    name = "é" * 200 + ".txt"

    response = post_files(client_for(owner), organization, bot, (name, samples.txt()))

    assert response.status_code == 201, response.content
    document = Document.objects.get()
    assert response.json()["results"][0]["document"]["original_name"] == name == document.original_name
    assert document.file.read() == samples.txt()


def test_all_duplicate_upload_is_200(organization, bot, owner):
    """Every file already in the bot: 200, the existing documents returned, nothing added."""
    client = client_for(owner)
    post_files(client, organization, bot, ("guide.txt", samples.txt()))
    existing = Document.objects.get()

    response = post_files(client, organization, bot, ("renamed.txt", samples.txt()))

    assert response.status_code == 200, response.content
    assert response.json() == {"results": [{"outcome": "duplicate", "document": document_body(existing)}]}
    assert Document.objects.count() == 1


def test_upload_of_a_changed_file_is_a_new_version(organization, bot, owner):
    """Same name, new content: 201 new_version with version 2; the ready v1 stays."""
    v1 = ready_guide(organization, bot, "faq.txt", b"Refunds take 14 days.")

    response = post_files(client_for(owner), organization, bot, ("faq.txt", b"Refunds take 30 days."))

    assert response.status_code == 201, response.content
    [result] = response.json()["results"]
    assert (result["outcome"], result["document"]["version"], result["document"]["status"]) == (
        "new_version",
        2,
        "pending",
    )
    assert Document.objects.get(pk=result["document"]["id"]).replaces_id == v1.pk
    assert Document.objects.get(pk=v1.pk).status == "ready"


def test_an_earlier_versions_id_finds_the_version_that_replaced_it(organization, bot, owner, other_organization):
    """Once version 2 is ready, version 1's row is gone, but its id (kept by a client, in a citation's document_id)
    still finds the file: GET and the chunks list answer with version 2, and through version 3 too. A delete or a
    reprocess through an old id is a 404 naming the current document (a client tidying up its old ids deleted the
    current file). Another bot's or organization's member still gets 404 for it."""
    client = client_for(owner)
    v1 = ready_guide(organization, bot, "faq.txt", b"Refunds take 14 days.")
    [v2] = [ingest(Document.objects.get(pk=r["document"]["id"])) for r in post_files(
        client, organization, bot, ("faq.txt", b"Refunds take 30 days.")).json()["results"]]  # fmt: skip
    [v3] = [ingest(Document.objects.get(pk=r["document"]["id"])) for r in post_files(
        client, organization, bot, ("faq.txt", b"Refunds take 45 days.")).json()["results"]]  # fmt: skip

    assert not Document.objects.filter(pk__in=[v1.pk, v2.pk]).exists()
    for old in (v1.pk, v2.pk):
        found = client.get(f"{documents_url(organization, bot)}{old}/")
        assert found.status_code == 200, found.content
        assert (found.json()["id"], found.json()["version"]) == (v3.pk, 3)
        chunks = client.get(f"{documents_url(organization, bot)}{old}/chunks/")
        assert chunks.status_code == 200 and "45 days" in chunks.json()["results"][0]["text"]
    # A delete or a reprocess through an old id must not act on the current version: a 404 naming it.
    for method, suffix in (("delete", ""), ("post", "reprocess/")):
        refused = getattr(client, method)(f"{documents_url(organization, bot)}{v1.pk}/{suffix}")
        assert refused.status_code == 404, refused.content
        assert f"earlier version of document {v3.pk} (version 3)" in refused.json()["error"]["message"]
    assert Document.objects.get(pk=v3.pk).status == "ready"
    other_bot = BotFactory(organization=organization)
    assert client.get(f"{documents_url(organization, other_bot)}{v1.pk}/").status_code == 404
    outsider = client_for(other_organization.memberships.get().user)
    assert outsider.get(f"{documents_url(organization, bot)}{v1.pk}/").status_code == 404


def test_json_upload_is_415(organization, bot, owner):
    """A JSON body to the upload endpoint: 415 pointing to multipart and to the text endpoint."""
    response = client_for(owner).post(documents_url(organization, bot), {"files": ["a.txt"]}, format="json")

    assert response.status_code == 415
    assert response.json() == error(
        "unsupported_media_type",
        "Upload files as multipart/form-data in the 'files' field; use .../documents/text/ for raw text.",
    )
    assert not Document.objects.exists()


def test_upload_without_files_is_400(organization, bot, owner):
    """Multipart without a `files` field: 400 invalid naming the field."""
    response = client_for(owner).post(documents_url(organization, bot), {"other": "x"}, format="multipart")

    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "invalid"
    assert list(body["error"]["details"]) == ["files"]
    assert not Document.objects.exists()


def test_an_upload_whose_file_has_no_name_says_so(organization, bot, owner):
    """A `files` part with an empty file name (which Django's parser drops), or a file under another field name:
    400 saying what a file part needs, and where files did arrive; nothing stored."""
    client = client_for(owner)
    body = (
        b'--b\r\nContent-Disposition: form-data; name="files"; filename=""\r\n'
        b"Content-Type: text/plain\r\n\r\nHello\r\n--b--\r\n"
    )
    response = client.post(documents_url(organization, bot), body, content_type="multipart/form-data; boundary=b")
    assert response.status_code == 400, response.content
    [message] = response.json()["error"]["details"]["files"]
    assert message.startswith("No file received: send each file as a multipart part named 'files' with a file name")
    assert "arrived" not in message
    misnamed = {"file": SimpleUploadedFile("guide.txt", samples.txt())}
    response = client.post(documents_url(organization, bot), misnamed, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["files"][0].endswith(" Files arrived in 'file'.")
    assert not Document.objects.exists()


def test_unsupported_type_is_415(organization, bot, owner):
    """An .exe among the files: 415 unsupported_type, nothing stored."""
    response = post_files(
        client_for(owner), organization, bot, ("guide.txt", samples.txt()), ("setup.exe", b"MZ\x90\x00")
    )

    assert response.status_code == 415
    assert response.json() == error(
        "unsupported_type", "'setup.exe' is not a supported type; upload txt, md, rst, html, pdf or docx files."
    )
    assert not Document.objects.exists()


def test_file_over_the_plan_size_is_413(organization, bot, owner, settings):
    """Free plan: an 11 MB file -> 413 file_too_large naming the limit; no row and no file."""
    organization.plan = plan("free")
    organization.save()

    response = post_files(client_for(owner), organization, bot, ("big.txt", b"a" * (11 * MB)))

    assert response.status_code == 413
    assert response.json() == error(
        "file_too_large",
        "A file of 11.0 MB is over the 10 MB limit per file of the Free plan.",
        {"limit": "max_file_size_mb", "allowed": 10},
    )
    assert not Document.objects.exists()
    assert files_under(settings.MEDIA_ROOT) == []


def test_documents_per_bot_limit_is_403(organization, bot, owner):
    """At the plan's documents per bot: 403 plan_limit_exceeded with the limit, allowed and used."""
    from apps.organizations.models import Plan

    organization.plan = Plan.objects.create(code="tiny", name="Tiny", max_documents_per_bot=1, max_storage_mb=10)
    organization.save()
    client = client_for(owner)
    assert post_files(client, organization, bot, ("one.txt", samples.txt())).status_code == 201

    response = post_files(client, organization, bot, ("two.md", samples.md()))

    assert response.status_code == 403
    assert response.json() == error(
        "plan_limit_exceeded",
        "The Tiny plan allows 1 documents per bot; this organization uses 1. Upgrade the plan or remove some first.",
        {"limit": "max_documents_per_bot", "allowed": 1, "used": 1},
    )
    assert Document.objects.count() == 1


# --------------------------------------------------------------------------- text documents


def test_create_text_document(organization, bot, admin_user, django_capture_on_commit_callbacks):
    """201 with {outcome, document}; the text row is stored and the pipeline registered on commit."""
    payload = {"title": "Refund policy", "text": samples.REFUND, "url": "https://example.com/refunds"}

    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(admin_user).post(documents_url(organization, bot, "text/"), payload, format="json")

    assert response.status_code == 201, response.content
    document = Document.objects.get()
    assert response.json() == {"outcome": "created", "document": document_body(document)}
    assert (document.source, document.title, document.text, document.url, document.kind) == (
        "text",
        "Refund policy",
        samples.REFUND,
        "https://example.com/refunds",
        "txt",
    )
    assert document.created_by == admin_user
    assert len(callbacks) == 1


def test_same_text_again_is_200_duplicate(organization, bot, owner):
    """The same text under another title: 200 duplicate of the existing document."""
    client = client_for(owner)
    client.post(documents_url(organization, bot, "text/"), {"title": "A", "text": samples.REFUND}, format="json")
    existing = Document.objects.get()

    response = client.post(
        documents_url(organization, bot, "text/"), {"title": "B", "text": samples.REFUND}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"outcome": "duplicate", "document": document_body(existing)}


def test_text_without_title_is_400(organization, bot, owner):
    """Missing title: 400 invalid naming the field; nothing stored."""
    response = client_for(owner).post(documents_url(organization, bot, "text/"), {"text": "x"}, format="json")

    assert response.status_code == 400
    assert response.json() == error(
        "invalid", "Invalid input. title: This field is required.", {"title": ["This field is required."]}
    )
    assert not Document.objects.exists()


# --------------------------------------------------------------------------- list, detail, delete, reprocess


def test_list_is_paginated_newest_first(organization, bot, member):
    """Whole paginated body, newest first; other bots' documents are not listed."""
    ready = ready_guide(organization, bot)
    client = client_for(member)
    client_for(MembershipFactory(organization=organization, role="admin").user).post(
        documents_url(organization, bot, "text/"), {"title": "Note", "text": "A short note."}, format="json"
    )
    note = Document.objects.get(title="Note")
    ready_guide(organization, BotFactory(organization=organization), "other.txt", b"Another bot's text.")

    response = client.get(documents_url(organization, bot))

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [document_body(note), document_body(ready)],
    }


def test_list_filters_by_status(organization, bot, member):
    """?status=ready lists only ready documents; ?status=pending only pending ones."""
    ready = ready_guide(organization, bot)
    ready_guide(organization, bot, "faq.txt", b"A different text.")
    pending = Document.objects.get(original_name="faq.txt")
    pending.status = "pending"
    pending.save()
    client = client_for(member)

    assert [d["id"] for d in client.get(documents_url(organization, bot), {"status": "ready"}).json()["results"]] == [
        ready.pk
    ]
    assert [d["id"] for d in client.get(documents_url(organization, bot), {"status": "pending"}).json()["results"]] == [
        pending.pk
    ]


def test_list_with_invalid_status_is_400(organization, bot, member):
    """An unknown status value: 400 invalid naming `status`."""
    response = client_for(member).get(documents_url(organization, bot), {"status": "bogus"})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid",
        'Invalid input. status: "bogus" is not a valid choice.',
        {"status": ['"bogus" is not a valid choice.']},
    )


def test_list_query_count_does_not_grow(organization, bot, member, django_assert_max_num_queries):
    """Listing 5 documents takes no more queries than listing 1."""
    from apps.documents.tests.factories import DocumentFactory

    DocumentFactory(bot=bot)
    client = client_for(member)
    with CaptureQueriesContext(connection) as baseline:
        assert client.get(documents_url(organization, bot)).status_code == 200
    baseline_count = len(baseline.captured_queries)
    DocumentFactory.create_batch(4, bot=bot)

    with django_assert_max_num_queries(baseline_count):
        response = client.get(documents_url(organization, bot))

    assert response.json()["count"] == 5


def test_detail(organization, bot, member):
    """200 with the whole document body; an unknown id is 404."""
    document = ready_guide(organization, bot)
    client = client_for(member)

    response = client.get(documents_url(organization, bot, f"{document.pk}/"))
    missing = client.get(documents_url(organization, bot, f"{document.pk + 1000}/"))

    assert response.status_code == 200
    assert response.json() == document_body(document)
    assert response.json()["status"] == "ready" and response.json()["progress"] == 1.0
    assert missing.status_code == 404
    assert missing.json() == error("not_found", "Document not found.")


def test_delete(organization, bot, admin_user, django_capture_on_commit_callbacks):
    """204; the row, its chunks and vectors are gone, and the stored file after commit."""
    document = ready_guide(organization, bot)
    path = document.file.path

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin_user).delete(documents_url(organization, bot, f"{document.pk}/"))

    assert response.status_code == 204
    assert not Document.objects.exists()
    assert not Chunk.objects.exists()
    assert not ChunkEmbedding.objects.exists()
    assert not os.path.exists(path)


def test_reprocess(organization, bot, admin_user, django_capture_on_commit_callbacks):
    """202 with the document pending; its ready chunks stay searchable; the pipeline is registered on commit."""
    document = ready_guide(organization, bot)
    chunk_ids = set(Chunk.objects.filter(document=document, searchable=True).values_list("id", flat=True))

    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(admin_user).post(documents_url(organization, bot, f"{document.pk}/reprocess/"))

    assert response.status_code == 202
    assert response.json() == document_body(document)
    assert response.json()["status"] == "pending"
    assert len(callbacks) == 1
    assert set(Chunk.objects.filter(document=document, searchable=True).values_list("id", flat=True)) == chunk_ids


# --------------------------------------------------------------------------- search


def test_search_returns_the_hits(organization, bot, member):
    """200 with {query, min_score, results}; results equal chunk_search's, best first, the refund passage on top."""
    document = ready_guide(organization, bot)

    response = client_for(member).get(search_url(organization, bot), {"q": "  how long do refunds take?  ", "k": 3})

    assert response.status_code == 200, response.content
    hits = chunk_search(organization=organization, bot=bot, query="how long do refunds take?", k=3)
    assert response.json() == {
        "query": "how long do refunds take?",
        "min_score": 0.2,
        "results": [hit_body(h) for h in hits],
    }
    best = response.json()["results"][0]
    assert (best["document_id"], best["text"], best["heading_path"]) == (
        document.pk,
        samples.REFUND,
        ["Beacon Guide", "Billing"],
    )
    assert best["snippet"].startswith("<mark>Refunds</mark>")


def test_search_uses_the_bots_min_score_unless_given(organization, bot, member):
    """Without min_score the bot's cut-off applies; min_score=0 returns the weaker hits too."""
    ready_guide(organization, bot)
    client = client_for(member)

    default = client.get(search_url(organization, bot), {"q": "refunds", "k": 10}).json()
    everything = client.get(search_url(organization, bot), {"q": "refunds", "k": 10, "min_score": 0}).json()

    assert default["min_score"] == 0.2
    assert everything["min_score"] == 0.0
    assert all(hit["score"] >= 0.2 for hit in default["results"])
    assert any(hit["score"] < 0.2 for hit in everything["results"])
    assert default["results"] == [hit for hit in everything["results"] if hit["score"] >= 0.2]


def test_search_k_limits_the_results(organization, bot, member):
    """k=1 gives one result."""
    ready_guide(organization, bot)

    response = client_for(member).get(search_url(organization, bot), {"q": "refunds", "k": 1, "min_score": 0})

    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "q"), ({"q": ""}, "q"), ({"q": "refunds", "k": 0}, "k"), ({"q": "refunds", "k": 51}, "k")],
    ids=["q-missing", "q-blank", "k-0", "k-51"],
)
def test_search_parameters_are_validated(organization, bot, member, params, field):
    """q is required and k is 1..50: otherwise 400 invalid naming the parameter."""
    response = client_for(member).get(search_url(organization, bot), params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert list(response.json()["error"]["details"]) == [field]


# --------------------------------------------------------------------------- roles and API keys


@pytest.mark.parametrize("role", ["member", "admin"])
def test_reads_are_open_to_members(organization, bot, role, member, admin_user):
    """Members and admins list, read and search."""
    user = {"member": member, "admin": admin_user}[role]
    document = ready_guide(organization, bot)
    client = client_for(user)

    assert client.get(documents_url(organization, bot)).status_code == 200
    assert client.get(documents_url(organization, bot, f"{document.pk}/")).status_code == 200
    assert client.get(search_url(organization, bot), {"q": "refunds"}).status_code == 200


def test_member_cannot_write(organization, bot, member):
    """A member: upload, text create, delete and reprocess are 403 naming the admin role; nothing changes."""
    document = ready_guide(organization, bot)
    client = client_for(member)
    forbidden = error("permission_denied", "This action needs the admin role in this organization.")

    responses = [
        post_files(client, organization, bot, ("new.txt", b"New text.")),
        client.post(documents_url(organization, bot, "text/"), {"title": "T", "text": "x"}, format="json"),
        client.delete(documents_url(organization, bot, f"{document.pk}/")),
        client.post(documents_url(organization, bot, f"{document.pk}/reprocess/")),
    ]

    assert [(r.status_code, r.json()) for r in responses] == [(403, forbidden)] * 4
    assert list(Document.objects.values_list("pk", "status")) == [(document.pk, "ready")]


def test_admin_can_write(organization, bot, admin_user):
    """An admin uploads (201), creates text (201), reprocesses (202) and deletes (204)."""
    document = ready_guide(organization, bot)
    client = client_for(admin_user)

    assert post_files(client, organization, bot, ("new.txt", b"New text.")).status_code == 201
    assert (
        client.post(documents_url(organization, bot, "text/"), {"title": "T", "text": "x"}, format="json").status_code
        == 201
    )
    assert client.post(documents_url(organization, bot, f"{document.pk}/reprocess/")).status_code == 202
    assert client.delete(documents_url(organization, bot, f"{document.pk}/")).status_code == 204


def key_client(api_client, key: str):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api_client


def test_read_key_searches_but_cannot_upload(organization, bot, api_client):
    """An API key with the read scope lists and searches; uploading is 403 naming the write scope."""
    ready_guide(organization, bot)
    _, key = api_key_for(organization, scopes=["read"])
    client = key_client(api_client, key)

    assert client.get(documents_url(organization, bot)).status_code == 200
    assert client.get(search_url(organization, bot), {"q": "refunds"}).json()["results"]
    response = post_files(client, organization, bot, ("new.txt", b"New text."))

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "This API key lacks the 'write' scope.")
    assert Document.objects.count() == 1


def test_write_key_uploads(organization, bot, api_client):
    """An API key with the write scope uploads (201); the document has no person as creator."""
    _, key = api_key_for(organization, scopes=["write"])

    response = post_files(key_client(api_client, key), organization, bot, ("new.txt", b"New text."))

    assert response.status_code == 201, response.content
    assert Document.objects.get().created_by is None


def test_anonymous_is_401(organization, bot, api_client):
    """No credentials: 401 on list, upload and search."""
    ready_guide(organization, bot)

    responses = [
        api_client.get(documents_url(organization, bot)),
        post_files(api_client, organization, bot, ("new.txt", b"New text.")),
        api_client.get(search_url(organization, bot), {"q": "refunds"}),
    ]

    assert [r.status_code for r in responses] == [401] * 3
    assert responses[0].json() == error("not_authenticated", "Authentication credentials were not provided.")
    assert Document.objects.count() == 1


# --------------------------------------------------------------------------- tenancy


def test_another_organizations_bot_is_404_and_unchanged(organization, owner, other_organization):
    """Every endpoint on organization B's bot, by an owner of A: 404; B's document is untouched."""
    bot_b = BotFactory(organization=other_organization)
    document_b = ready_guide(other_organization, bot_b)
    before = document_body(document_b)
    client = client_for(owner)
    slug_b = other_organization

    responses = [
        client.get(documents_url(slug_b, bot_b)),
        post_files(client, slug_b, bot_b, ("new.txt", b"New text.")),
        client.post(documents_url(slug_b, bot_b, "text/"), {"title": "T", "text": "x"}, format="json"),
        client.get(documents_url(slug_b, bot_b, f"{document_b.pk}/")),
        client.delete(documents_url(slug_b, bot_b, f"{document_b.pk}/")),
        client.post(documents_url(slug_b, bot_b, f"{document_b.pk}/reprocess/")),
        client.get(search_url(slug_b, bot_b), {"q": "refunds"}),
    ]

    assert [(r.status_code, r.json()) for r in responses] == [(404, error("not_found", "Organization not found."))] * 7
    assert list(Document.objects.values_list("pk", flat=True)) == [document_b.pk]
    assert document_body(document_b) == before
    assert Chunk.objects.filter(document=document_b, searchable=True).count() == 3


def test_document_of_another_organization_under_own_bot_is_404(organization, bot, owner, other_organization):
    """A document id of organization B under a bot of A: 404 for read, delete and reprocess; B unchanged."""
    document_b = ready_guide(other_organization, BotFactory(organization=other_organization))
    before = document_body(document_b)
    client = client_for(owner)

    responses = [
        client.get(documents_url(organization, bot, f"{document_b.pk}/")),
        client.delete(documents_url(organization, bot, f"{document_b.pk}/")),
        client.post(documents_url(organization, bot, f"{document_b.pk}/reprocess/")),
    ]

    assert [(r.status_code, r.json()) for r in responses] == [(404, error("not_found", "Document not found."))] * 3
    assert document_body(document_b) == before


def test_bot_of_another_organization_under_own_slug_is_404(organization, owner, other_organization):
    """A bot id of organization B under A's slug: 404 for list, upload, text and search; nothing stored."""
    bot_b = BotFactory(organization=other_organization)
    ready_guide(other_organization, bot_b)
    client = client_for(owner)
    url = f"/api/v1/orgs/{organization.slug}/bots/{bot_b.pk}/"

    responses = [
        client.get(f"{url}documents/"),
        client.post(f"{url}documents/", {"files": [SimpleUploadedFile("n.txt", b"New.")]}, format="multipart"),
        client.post(f"{url}documents/text/", {"title": "T", "text": "x"}, format="json"),
        client.get(f"{url}search/", {"q": "refunds"}),
    ]

    assert [(r.status_code, r.json()) for r in responses] == [(404, error("not_found", "Bot not found."))] * 4
    assert Document.objects.count() == 1
