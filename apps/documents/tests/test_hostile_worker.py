"""Hostile documents through the real ingestion path (issue 13): upload -> real Celery worker ->
extraction in its bounded child process -> `failed` with a sentence, and the worker goes on.

Coverage: 100,000 nested divs, a wide page over the element cap, a 300 MB DOCX zip bomb, a DOCX
whose ZIP header lies, a PDF over the page cap, a page over a tiny CPU budget and one over a tiny
memory bound each end `failed` with their exact sentence and no chunks; a good file uploaded after
each one is still read, ready and searchable with the same text as before.
"""

import pytest
from django.test import override_settings

from apps.documents.models import Chunk
from apps.documents.tests import hostile, samples
from apps.documents.tests.test_pipeline_worker import upload, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

STOPPED = "Extraction stopped: the file needed more than {} of {}; split it or simplify it and upload again."

CASES = [
    pytest.param(
        "deep.html",
        lambda: hostile.nested_html(100_000),
        {},
        "The HTML page nests elements more than 1,000 levels deep, which no readable page does; it cannot be read.",
        id="nested-html-100000",
    ),
    pytest.param(
        "wide.html",
        lambda: hostile.wide_html(5_001),
        {"DOCUMENT_HTML_MAX_ELEMENTS": 5_000},
        "The HTML page has more than 5,000 elements, more than Beacon reads in one document; split it into smaller "
        "pages.",
        id="wide-html",
    ),
    pytest.param(
        "bomb.docx",
        lambda: hostile.docx_bomb(300),
        {},
        "The Word document would unpack to 301 MB, more than the 200 MB Beacon unpacks; it cannot be read.",
        id="docx-zip-bomb",
    ),
    pytest.param(
        "lying.docx",
        hostile.docx_lying_header,
        {},
        "The Word document is damaged or built to mislead: a part holds more data than its header declares; it "
        "cannot be read.",
        id="zip-lying-header",
    ),
    pytest.param(
        "long.pdf",
        lambda: hostile.pdf_pages(4),
        {"DOCUMENT_PDF_MAX_PAGES": 3},
        "The PDF has 4 pages, more than the 3 Beacon reads in one document; split it into smaller files.",
        id="pdf-too-many-pages",
    ),
    pytest.param(
        "costly.html",
        lambda: hostile.wide_html(1_000_000),
        {"DOCUMENT_EXTRACT_CPU_SECONDS": 1, "DOCUMENT_HTML_MAX_ELEMENTS": 10**7},
        STOPPED.format("1 s", "CPU time"),
        id="cpu-budget",
    ),
    pytest.param(
        "big.html",
        lambda: hostile.wide_html(400_000),
        {"DOCUMENT_EXTRACT_MEMORY_MB": 150, "DOCUMENT_HTML_MAX_ELEMENTS": 10**7},
        STOPPED.format("150 MB", "memory"),
        id="memory-bound",
    ),
]


@pytest.fixture
def setup(celery_worker, transactional_db):
    from apps.bots.tests.factories import BotFactory
    from apps.organizations.models import Role
    from apps.organizations.tests.factories import MembershipFactory
    from conftest import client_for

    owner = MembershipFactory(role=Role.OWNER)
    bot = BotFactory(organization=owner.organization, min_score=0.0)
    return owner.organization, bot, client_for(owner.user)


@pytest.mark.parametrize(("name", "build", "overrides", "message"), CASES)
def test_hostile_file_fails_with_a_sentence_and_the_worker_goes_on(setup, name, build, overrides, message):
    """The hostile file ends `failed` with its sentence and no chunks; the next good file is ready."""
    organization, bot, client = setup
    with override_settings(**overrides):
        response = upload(client, organization, bot, name, build())
        assert response.status_code == 201, response.content
        document = wait_for(response.json()["results"][0]["document"]["id"])

        assert document.status == "failed"
        assert document.error == message
        assert not Chunk.objects.filter(document=document).exists()

        response = upload(client, organization, bot, "guide.html", samples.html())
        good = wait_for(response.json()["results"][0]["document"]["id"])

    assert good.status == "ready", good.error
    chunks = Chunk.objects.filter(document=good, searchable=True).order_by("position")
    assert [(chunk.heading_path, chunk.text) for chunk in chunks] == [
        (["Beacon Guide"], "Intro text."),
        (["Beacon Guide", "Installation"], samples.INSTALL),
        (["Beacon Guide", "Billing"], f"- {samples.REFUND}"),  # an <li>: a list item
    ]
