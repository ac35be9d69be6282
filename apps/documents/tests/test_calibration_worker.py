"""Calibrated refusal through a real Celery worker (issue 14): documents uploaded through the API
become ready, the ingestion changes schedule one debounced calibration, and the worker stores the
bot's calibrated cut-off with its figures; the owner's override and POST .../calibrate/ too.

The worker runs in a thread on the embedded Redis broker with the real embedding model; the debounce
is shortened to one second for the test.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.bots.models import Bot
from apps.bots.tests.factories import BotFactory
from apps.core.tests.waiting import until
from apps.documents.models import Document
from apps.documents.tests.calibration_corpus import HELP_CENTRE
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from conftest import client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def wait_until(check, what: str):
    """Ingestion and calibration of real documents on a real worker: minutes on a loaded machine."""
    return until(check, what, timeout=240, interval=0.5)


@pytest.fixture
def setup(celery_worker, transactional_db, settings):
    settings.REFUSAL_CALIBRATION_DEBOUNCE_SECONDS = 1
    settings.REFUSAL_CALIBRATION_AUTO = True  # off in the test settings
    owner = MembershipFactory(role=Role.OWNER)
    bot = BotFactory(organization=owner.organization, min_score=None)
    return owner.organization, bot, client_for(owner.user)


def test_upload_calibrates_the_bot_and_the_owner_can_override(setup, settings):
    """Five documents -> ready -> one calibrated cut-off stored; override wins; null restores; calibrate now."""
    organization, bot, client = setup
    base = f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/"
    files = [SimpleUploadedFile(name, text.encode()) for name, text in HELP_CENTRE.items()]
    response = client.post(f"{base}documents/", {"files": files}, format="multipart")
    assert response.status_code == 201, response.content

    def all_ready():
        statuses = set(Document.objects.filter(bot_id=bot.pk).values_list("status", flat=True))
        assert "failed" not in statuses
        return statuses == {"ready"}

    wait_until(all_ready, "ingestion")
    calibrated = wait_until(
        lambda: Bot.objects.filter(
            pk=bot.pk, calibrated_at__isnull=False, calibration_requested_at__isnull=True
        ).first(),
        "calibration",
    )
    figures = calibrated.calibration
    assert figures["corpus"]["documents"] == 5
    assert settings.REFUSAL_MIN_CUTOFF <= calibrated.calibrated_min_score <= settings.REFUSAL_MAX_CUTOFF
    assert figures["false_answer_rate"] <= figures["target_false_answer_rate"] == 0.1
    assert figures["in_domain_questions"] > 0

    body = client.get(base).json()
    assert body["min_score"] is None
    assert body["effective_min_score"] == calibrated.calibrated_min_score
    assert body["calibration"]["value"] == calibrated.calibrated_min_score
    assert body["calibration"]["pending"] is False

    assert client.patch(base, {"min_score": 0.05}, format="json").json()["effective_min_score"] == 0.05
    body = client.patch(base, {"min_score": None}, format="json").json()
    assert body["effective_min_score"] == calibrated.calibrated_min_score

    # Calibrate now: a forced run on the worker writes a new calibrated_at (same corpus, same cut-off).
    response = client.post(f"{base}calibrate/")
    assert response.status_code == 202
    again = wait_until(
        lambda: Bot.objects.filter(pk=bot.pk, calibrated_at__gt=calibrated.calibrated_at).first(), "forced run"
    )
    assert again.calibrated_min_score == calibrated.calibrated_min_score


def test_deleting_every_document_returns_the_bot_to_the_default(setup, settings):
    """A ready document deleted through the API: recalibrated on an empty corpus, so the default is in force."""
    organization, bot, client = setup
    base = f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/"
    response = client.post(
        f"{base}documents/text/", {"title": "Billing", "text": HELP_CENTRE["billing.md"]}, format="json"
    )
    assert response.status_code == 201, response.content
    document_id = response.json()["document"]["id"]
    wait_until(
        lambda: Bot.objects.filter(
            pk=bot.pk, calibrated_min_score__isnull=False, calibration_requested_at=None
        ).first(),
        "calibration",
    )
    assert client.delete(f"{base}documents/{document_id}/").status_code == 204
    emptied = wait_until(
        lambda: Bot.objects.filter(pk=bot.pk, calibrated_min_score__isnull=True, calibration_requested_at=None).first(),
        "recalibration",
    )
    assert emptied.calibration == {"corpus": {"chunks": 0, "documents": 0}}
    assert client.get(base).json()["effective_min_score"] == settings.REFUSAL_DEFAULT_MIN_SCORE
