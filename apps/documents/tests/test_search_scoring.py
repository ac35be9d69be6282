"""Term statistics (lexeme_stats.py), the BM25 lexical score and the reranking stage of chunk_search (issue 14).

Coverage:
- statistics stay exact (compared with a recount from the chunks) through ingestion, a new version that
  replaces the old one, a reprocess, deletion of one document and of all; the bot's deletion drops them;
- two documents of one bot finalized at the same moment in two threads: exact counts, no deadlock;
- `manage.py rebuild_lexeme_stats --check` finds drifted counts, and a rebuild repairs them;
- lexical is the normalised BM25 of docs/search.md, computed here from the stored statistics and the
  chunk's tsvector; rare terms weigh more than common ones; terms the documents never use keep it low;
  a conversational question ("can you tell me about ...") scores lexically as the plain one;
- RERANKER=http against a real local server: the fused candidates are reordered by it, `rerank_score`
  set, the cut-off still applies to the fused score; the server down: the fused order, a warning logged,
  `reranked` False, and the search API answers 200.
"""

import logging
import math
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from apps.bots.tests.deletion import bot_delete_and_purge
from apps.bots.tests.factories import BotFactory
from apps.core.tests.rerank_server import RerankServer
from apps.documents.lexeme_stats import lexeme_stats_recount, lexeme_stats_stored
from apps.documents.models import BotTextStats, Document, LexemeStat
from apps.documents.selectors import BM25_B, BM25_HEADING_TF, BM25_K1, chunk_search
from apps.documents.services.pipeline import document_finalize
from apps.documents.services.upload import IncomingFile, document_create_from_text, document_delete, document_upload
from apps.documents.tests import samples
from apps.documents.tests.utils import extract_and_embed, ingest
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from conftest import client_for

SHIPPING = "Parcels are shipped by the warehouse robot every Tuesday morning."
RETURNS = "Returned parcels go back to the warehouse shelf after inspection."
ZEBRA = "The zebra mascot greets visitors at the warehouse gate."


@pytest.fixture
def bot(organization):
    return BotFactory(organization=organization, min_score=0.0, dense_weight=0.5)


def text_document(organization, bot, title, text) -> Document:
    document, _ = document_create_from_text(organization=organization, bot=bot, title=title, text=text)
    return ingest(document)


def assert_exact(bot, config="english"):
    """The stored statistics equal a recount; returns the configuration's (chunks, length, {lexeme: df})."""
    stored = lexeme_stats_stored(bot_id=bot.pk)
    assert stored == lexeme_stats_recount(bot_id=bot.pk)
    return stored.get(config, (0, 0, {}))


@pytest.mark.django_db
def test_statistics_follow_versions_reprocess_and_deletion(organization, bot):
    """Exact after each change of what is searchable; empty once every document is gone."""
    shipping = text_document(organization, bot, "Shipping", SHIPPING)
    [first] = document_upload(organization=organization, bot=bot, files=[IncomingFile("guide.md", samples.md())])
    ingest(first.document)
    chunks, length, lexemes = assert_exact(bot)
    assert chunks == 1 + Document.objects.get(pk=first.document.pk).chunk_count and length > 0
    assert lexemes["refund"] == 1 and lexemes["parcel"] == 1

    changed = samples.md().replace(b"Refunds are", b"Parcels and refunds are")
    [second] = document_upload(organization=organization, bot=bot, files=[IncomingFile("guide.md", changed)])
    ingest(second.document)
    assert not Document.objects.filter(pk=first.document.pk).exists()
    assert assert_exact(bot)[2]["parcel"] == 2

    extract_and_embed(shipping)  # a reprocess: a new generation, then the swap
    document_finalize(document=shipping)
    assert assert_exact(bot)[0] == chunks

    document_delete(document=shipping)
    assert assert_exact(bot)[2]["parcel"] == 1
    document_delete(document=Document.objects.get(pk=second.document.pk))
    assert assert_exact(bot) == (0, 0, {}) and lexeme_stats_stored(bot_id=bot.pk) == {}
    assert not LexemeStat.objects.filter(bot=bot).exists()


@pytest.mark.django_db
def test_bot_deletion_drops_its_statistics(organization, bot):
    """The bot's statistics rows go with it."""
    text_document(organization, bot, "Shipping", SHIPPING)
    assert LexemeStat.objects.filter(bot=bot).exists()

    bot_delete_and_purge(bot)

    assert not LexemeStat.objects.filter(bot_id=bot.pk).exists()
    assert not BotTextStats.objects.filter(bot_id=bot.pk).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_finalizes_keep_counts_exact(organization):
    """Four documents of one bot (shared terms) finalized at once in four threads: exact counts."""
    bot = BotFactory(organization=organization)
    documents = []
    for index in range(4):
        document, _ = document_create_from_text(
            organization=organization, bot=bot, title=f"Doc {index}", text=f"{SHIPPING} {RETURNS} Batch {index}."
        )
        documents.append(extract_and_embed(document))
    barrier = threading.Barrier(len(documents))
    errors = []

    def finalize(document):
        try:
            barrier.wait()
            document_finalize(document=document)
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=finalize, args=(document,)) for document in documents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert set(Document.objects.filter(bot=bot).values_list("status", flat=True)) == {Document.Status.READY}
    chunks, _, lexemes = assert_exact(bot)
    assert chunks == 4 and lexemes["warehous"] == 4 and lexemes["batch"] == 4


@pytest.mark.django_db
def test_rebuild_command_finds_and_repairs_drift(organization, bot):
    """--check fails on drifted counts; a rebuild makes them equal to a recount again."""
    text_document(organization, bot, "Shipping", SHIPPING)
    text_document(organization, bot, "Returns", RETURNS)
    LexemeStat.objects.filter(bot=bot, lexeme="warehous").update(df=7)
    LexemeStat.objects.filter(bot=bot, lexeme="parcel").delete()
    BotTextStats.objects.filter(bot=bot).update(chunk_count=9)

    with pytest.raises(CommandError, match="1 bot"):
        call_command("rebuild_lexeme_stats", "--check", "--bot", str(bot.pk))
    call_command("rebuild_lexeme_stats", "--bot", str(bot.pk))

    assert assert_exact(bot)[0] == 2
    call_command("rebuild_lexeme_stats", "--check", "--bot", str(bot.pk))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_rebuild_outside_any_transaction_opens_its_own(organization, bot):
    """The command runs in autocommit: the rebuild must hold the bot's lock and its deletes and recount in one
    transaction of its own (without it, the deletes committed and the recount refused to run outside a
    transaction, leaving the bot with no statistics)."""
    from apps.documents import lexeme_stats
    from apps.documents.lexeme_stats import lexeme_stats_rebuild

    text_document(organization, bot, "Shipping", SHIPPING)
    opened = []
    real_apply = lexeme_stats.lexeme_stats_apply

    def apply(**kwargs):
        opened.append(connection.in_atomic_block)
        return real_apply(**kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lexeme_stats, "lexeme_stats_apply", apply)
        assert not connection.in_atomic_block
        lexeme_stats_rebuild(bot_id=bot.pk)
    assert opened == [True]
    assert assert_exact(bot)[0] == 1


def expected_lexical(bot, chunk_id: int, query: str) -> float:
    """docs/search.md's formula, from the stored statistics and the chunk's tsvector; the terms are the question's
    subject's ("how long" asks: "long" is no term)."""
    from apps.core.languages import question_subject, without_question_words

    chunks, length, df = lexeme_stats_stored(bot_id=bot.pk)["english"]
    avgdl = length / chunks
    subject = without_question_words(question_subject(query), "english")
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('english', %s)))", [subject])
        terms = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT u.lexeme, u.weights FROM documents_chunk c, unnest(c.search_vector) u WHERE c.id = %s",
                       [chunk_id])  # fmt: skip
        vector = {lexeme: list(weights) for lexeme, weights in cursor.fetchall()}
    chunk_length = sum(len(weights) for weights in vector.values())
    total = achieved = 0.0
    for term in terms:
        idf = math.log(1 + (max(chunks - df.get(term, 0), 0) + 0.5) / (df.get(term, 0) + 0.5))
        total += idf * (BM25_K1 + 1)
        tf = sum(BM25_HEADING_TF if weight == "A" else 1 for weight in vector.get(term, []))
        if tf:
            achieved += idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * chunk_length / avgdl))
    return round(min(1.0, achieved / total), 4)


@pytest.mark.django_db
def test_lexical_is_the_documented_bm25(organization, bot):
    """Each hit's lexical equals the formula; score = w*semantic + (1-w)*lexical; 0..1, best first."""
    [upload] = document_upload(organization=organization, bot=bot, files=[IncomingFile("guide.md", samples.md())])
    ingest(upload.document)
    text_document(organization, bot, "Shipping", SHIPPING)
    query = "how long do refunds take at the billing desk"

    hits = chunk_search(organization=organization, bot=bot, query=query, k=10)

    assert hits[0].text == samples.REFUND
    for hit in hits:
        assert hit.lexical == pytest.approx(expected_lexical(bot, hit.chunk_id, query), abs=1e-4)
        assert 0 <= hit.lexical <= 1 and hit.score == pytest.approx(0.5 * hit.semantic + 0.5 * hit.lexical, abs=2e-4)
        assert hit.rerank_score is None and hit.reranked is False
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


@pytest.mark.django_db
def test_rare_terms_weigh_more_and_unknown_terms_keep_lexical_low(organization, bot):
    """'zebra' (one chunk) outweighs 'warehouse' (three); a question about absent things scores low."""
    for title, text in (("Shipping", SHIPPING), ("Returns", RETURNS), ("Zebra", ZEBRA)):
        text_document(organization, bot, title, text)

    hits = {hit.text: hit for hit in chunk_search(organization=organization, bot=bot, query="warehouse zebra", k=10)}
    absent = chunk_search(organization=organization, bot=bot, query="quantum chromodynamics of the warehouse", k=10)

    assert hits[ZEBRA].lexical > 2 * hits[SHIPPING].lexical > 0
    assert max(hit.lexical for hit in absent) < 0.1


@pytest.mark.django_db
def test_a_conversational_question_scores_as_the_plain_one(organization, bot):
    """Asked "Can you tell me about the zebra mascot?", the search reads "the zebra mascot?": the same
    lexical score (the request words are not search terms), where "tell" would count as a term the
    documents lack; the semantic side still reads the question as asked."""
    for title, text in (("Shipping", SHIPPING), ("Returns", RETURNS), ("Zebra", ZEBRA)):
        text_document(organization, bot, title, text)

    plain = chunk_search(organization=organization, bot=bot, query="the zebra mascot?", k=1)[0]
    asked = chunk_search(organization=organization, bot=bot, query="Can you tell me about the zebra mascot?", k=1)[0]
    told = chunk_search(organization=organization, bot=bot, query="tell zebra mascot", k=1)[0]

    assert asked.text == plain.text == ZEBRA
    assert asked.lexical == plain.lexical == pytest.approx(expected_lexical(bot, plain.chunk_id, "zebra mascot"))
    assert told.lexical < 0.8 * plain.lexical  # "tell" as a term: the documents lack it
    assert asked.semantic != plain.semantic


def tuesday_first(query, document):
    return 10.0 if "Tuesday" in document else 1.0


@pytest.mark.django_db
def test_http_reranker_reorders_the_fused_candidates(organization, bot, settings):
    """The reranker's favourite comes first with its rerank_score; the cut-off applies to the fused score."""
    for title, text in (("Shipping", SHIPPING), ("Returns", RETURNS), ("Zebra", ZEBRA)):
        text_document(organization, bot, title, text)
    fused = chunk_search(organization=organization, bot=bot, query="warehouse zebra", k=3)
    assert fused[0].text == ZEBRA
    cut = fused[1].score

    with RerankServer(score=tuesday_first) as server:
        settings.RERANKER, settings.RERANKER_URL, settings.RERANKER_CANDIDATES = "http", server.url, 30
        hits = chunk_search(organization=organization, bot=bot, query="warehouse zebra", k=3)
        above = chunk_search(organization=organization, bot=bot, query="warehouse zebra", k=3, min_score=cut)

    assert [hit.text for hit in hits] == [SHIPPING, ZEBRA, RETURNS]
    assert [(hit.rerank_score, hit.reranked) for hit in hits] == [(10.0, True), (1.0, True), (1.0, True)]
    assert {hit.chunk_id: hit.score for hit in hits} == {hit.chunk_id: hit.score for hit in fused}
    assert sorted(hit.text for hit in above) == sorted(hit.text for hit in fused if hit.score >= cut)
    assert len(server.requests[0]["body"]["documents"]) == 3


@pytest.mark.django_db
def test_reranker_outage_keeps_the_fused_order(organization, bot, settings, caplog):
    """Reranker down: the fused hits, not reranked, a logged warning; the search API still answers 200."""
    for title, text in (("Shipping", SHIPPING), ("Returns", RETURNS), ("Zebra", ZEBRA)):
        text_document(organization, bot, title, text)
    fused = chunk_search(organization=organization, bot=bot, query="warehouse zebra", k=2)
    server = RerankServer()
    server.stop()  # never started: its port is closed, a connection is refused
    settings.RERANKER, settings.RERANKER_URL, settings.RERANKER_TIMEOUT = "http", server.url, 2.0

    with caplog.at_level(logging.WARNING, logger="apps.documents.selectors"):
        hits = chunk_search(organization=organization, bot=bot, query="warehouse zebra", k=2)
    member = MembershipFactory(organization=organization, role=Role.MEMBER).user
    response = client_for(member).get(
        f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/search/", {"q": "warehouse zebra", "k": 2}
    )

    assert hits == fused and all(hit.reranked is False and hit.rerank_score is None for hit in hits)
    assert "keeping the fused order" in caplog.text
    assert response.status_code == 200
    assert [(r["chunk_id"], r["rerank_score"], r["reranked"]) for r in response.json()["results"]] == [
        (hit.chunk_id, None, False) for hit in fused
    ]
