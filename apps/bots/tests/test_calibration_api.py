"""The bot's refusal cut-off in the API (issue 14): min_score as the owner's nullable override,
effective_min_score and calibration read-only, and POST .../bots/{bot}/calibrate/.

Coverage:
- detail shows the calibrated value, when, the rates and the figures; effective_min_score follows
  override > calibrated > REFUSAL_DEFAULT_MIN_SCORE;
- PATCH min_score sets the override; PATCH null restores the calibrated value; out of 0..1 is 400;
  calibration fields sent in a PATCH are ignored (read-only);
- search without min_score uses effective_min_score;
- calibrate: admin 202 with the task registered on commit (forced run); member 403; anonymous 401;
  another organization's bot 404.
"""

import pytest
from django.utils import timezone

from apps.bots.models import Bot
from apps.bots.tests.factories import BotFactory
from apps.documents.calibration import calibration_request_now
from conftest import client_for

pytestmark = pytest.mark.django_db

FIGURES = {"target_false_answer_rate": 0.1, "false_answer_rate": 0.0968, "in_domain_answered_rate": 0.93}


def calibrated_bot(organization, **kwargs) -> Bot:
    return BotFactory(
        organization=organization,
        calibrated_min_score=0.52,
        calibrated_at=timezone.now(),
        calibration=FIGURES,
        **kwargs,
    )


def detail_url(bot) -> str:
    return f"/api/v1/orgs/{bot.organization.slug}/bots/{bot.pk}/"


def test_detail_shows_the_calibration(member, organization):
    """Value, when, pending, the three rates and every figure; no override -> the calibrated value is in force."""
    bot = calibrated_bot(organization, min_score=None)
    body = client_for(member).get(detail_url(bot)).json()
    assert body["min_score"] is None
    assert body["effective_min_score"] == 0.52
    assert body["calibration"] == {
        "value": 0.52,
        "computed_at": bot.calibrated_at.isoformat().replace("+00:00", "Z"),
        "pending": False,
        "target_false_answer_rate": 0.1,
        "false_answer_rate": 0.0968,
        "in_domain_answered_rate": 0.93,
        "figures": FIGURES,
    }


def test_override_wins_and_null_restores_the_calibrated_value(admin_user, organization):
    """PATCH 0.2: cut-off 0.2; PATCH null: back to the calibrated 0.52; read-only fields are ignored."""
    bot = calibrated_bot(organization, min_score=None)
    client = client_for(admin_user)
    response = client.patch(detail_url(bot), {"min_score": 0.2, "effective_min_score": 0.9}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["min_score"], response.json()["effective_min_score"]) == (0.2, 0.2)
    response = client.patch(detail_url(bot), {"min_score": None, "calibration": {"value": 0.1}}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["min_score"], response.json()["effective_min_score"]) == (None, 0.52)
    bot.refresh_from_db()
    assert (bot.min_score, bot.calibrated_min_score, bot.effective_min_score) == (None, 0.52, 0.52)


def test_min_score_out_of_range_is_400(admin_user, organization):
    """1.5 -> 400 naming min_score; nothing changed."""
    bot = calibrated_bot(organization, min_score=0.4)
    response = client_for(admin_user).patch(detail_url(bot), {"min_score": 1.5}, format="json")
    assert response.status_code == 400
    assert "min_score" in str(response.json())
    assert Bot.objects.get(pk=bot.pk).min_score == 0.4


def test_default_without_override_or_calibration(member, organization, settings):
    """Never calibrated, no override: REFUSAL_DEFAULT_MIN_SCORE."""
    settings.REFUSAL_DEFAULT_MIN_SCORE = 0.35
    bot = BotFactory(organization=organization, min_score=None)
    assert client_for(member).get(detail_url(bot)).json()["effective_min_score"] == 0.35


def test_search_defaults_to_the_effective_cut_off(member, organization):
    """The search API's min_score, when not given, is effective_min_score (here the calibrated one)."""
    bot = calibrated_bot(organization, min_score=None)
    response = client_for(member).get(f"{detail_url(bot)}search/", {"q": "anything"})
    assert response.status_code == 200, response.content
    assert response.json() == {"query": "anything", "min_score": 0.52, "results": []}


def test_calibrate_is_accepted_and_queued_on_commit(admin_user, organization, django_capture_on_commit_callbacks):
    """Admin: 202 {"status": "queued"}, one publish registered on commit (a forced run), not run now."""
    bot = calibrated_bot(organization)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(admin_user).post(f"{detail_url(bot)}calibrate/")
    assert response.status_code == 202, response.content
    assert response.json() == {"status": "queued"}
    assert len(callbacks) == 1
    task, *args = callbacks[0].args
    assert (task.name, args) == ("documents.calibrate", [organization.pk, bot.pk, True])
    assert Bot.objects.get(pk=bot.pk).calibrated_min_score == 0.52
    assert calibration_request_now  # the service the view calls (apps/documents/calibration.py)


def test_calibrate_access(member, organization, other_organization, admin_user, api_client):
    """Member 403, anonymous 401, another organization's bot under our slug 404."""
    bot = calibrated_bot(organization)
    assert client_for(member).post(f"{detail_url(bot)}calibrate/").status_code == 403
    assert api_client.post(f"{detail_url(bot)}calibrate/").status_code == 401
    theirs = calibrated_bot(other_organization)
    response = client_for(admin_user).post(f"/api/v1/orgs/{organization.slug}/bots/{theirs.pk}/calibrate/")
    assert response.status_code == 404
    response = client_for(admin_user).get(f"/api/v1/orgs/{organization.slug}/bots/{theirs.pk}/")
    assert response.status_code == 404
