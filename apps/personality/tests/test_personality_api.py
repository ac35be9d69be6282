"""Personality API, privacy and tenancy (issue 8), through routing with APIClient on real PostgreSQL/Redis.

Covers: the instrument (items without keys; unknown instrument 400); answering (201 with the scored
result and the profile recompute registered on commit; partial -> low confidence with reasons;
straight-lining -> low confidence; off-scale/unknown/empty -> 400 envelope naming the problem);
GET/DELETE me (own data only; deletion removes the rows and the Redis profile, counters and cached
recommendation lists; nothing personality-related is in the graph outbox or its projection); advice
with catalog items; the admin endpoint (403 with the reason unless the organization enabled it,
members 403, users of another organization 404); API keys 403; other organizations 404.
"""

import functools
import inspect
from datetime import timedelta

import pytest
from django.core.cache import cache

from apps.graph import projection as graph_projection
from apps.graph.models import GraphOutbox
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, api_key_for
from apps.personality.models import AssessmentResponse, PersonalityProfile
from apps.personality.selectors import profile_cache_key, profile_compact_get
from apps.personality.services import profile_recompute
from apps.personality.tests.personality_utils import START, build_catalog
from apps.personality.tests.test_personality_scoring import MINI_ANSWERS
from apps.progress.services import progress_complete, progress_start
from apps.recommendations.engine import cache as rec_cache
from conftest import client_for

pytestmark = pytest.mark.django_db


def url(organization, path: str) -> str:
    return f"/api/v1/orgs/{organization.slug}/personality/{path}"


def answer(client, organization, answers=None, instrument="mini_ipip"):
    payload = {"instrument": instrument, "answers": answers if answers is not None else MINI_ANSWERS}
    return client.post(url(organization, "assessments/"), payload, format="json")


def test_instrument_lists_items_without_keys(organization, member):
    """GET instrument: the 20 Mini-IPIP items by default, the 50-item set on request; keys are not shown."""
    client = client_for(member)
    response = client.get(url(organization, "instrument/"))
    assert response.status_code == 200
    body = response.json()
    assert body["instrument"] == "mini_ipip" and len(body["items"]) == 20
    assert body["items"][0] == {"number": 1, "text": "Am the life of the party."}
    assert body["scale"] == {
        "1": "Very inaccurate", "2": "Moderately inaccurate", "3": "Neither accurate nor inaccurate",
        "4": "Moderately accurate", "5": "Very accurate",
    }  # fmt: skip
    assert "Donnellan" in body["citation"]
    full = client.get(url(organization, "instrument/"), {"instrument": "ipip50"}).json()
    assert len(full["items"]) == 50 and full["items"][49]["text"] == "Am full of ideas."
    bad = client.get(url(organization, "instrument/"), {"instrument": "mbti"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    assert "instrument" in bad.json()["error"]["details"]


def test_answer_scores_and_registers_the_recompute(organization, member, django_capture_on_commit_callbacks):
    """POST assessments: 201 with the whole scored result; the row is stored; the recompute task waits for commit."""
    client = client_for(member)
    with django_capture_on_commit_callbacks() as callbacks:
        response = answer(client, organization)
    assert response.status_code == 201, response.content
    body = response.json()
    stored = AssessmentResponse.objects.get(organization=organization, user=member)
    assert body == {
        "id": stored.pk,
        "instrument": "mini_ipip",
        "answers": {str(k): v for k, v in MINI_ANSWERS.items()},
        "result": {
            "instrument": "mini_ipip",
            "scores": {"openness": 0.9375, "conscientiousness": 0.25, "extraversion": 0.875, "agreeableness": 0.8125,
                       "neuroticism": 0.0},
            "confidence": {"openness": 0.65, "conscientiousness": 0.69, "extraversion": 0.77, "agreeableness": 0.7,
                           "neuroticism": 0.68},
            "answered": 20, "missing": [], "flags": [], "reasons": [],
        },
        "created_at": body["created_at"],
    }  # fmt: skip
    queued = [(cb.args[0].name, cb.args[1:]) for cb in callbacks if isinstance(cb, functools.partial)]
    assert queued == [("personality.profile_recompute", (organization.pk, member.pk))]


def test_partial_and_careless_answers_get_low_confidence_with_reasons(organization, member):
    """Missing items: 201, lower confidence, the missing list and reasons; the same answer everywhere: capped."""
    client = client_for(member)
    partial = dict(MINI_ANSWERS)
    for number in (1, 6, 11):  # 3 of 4 extraversion items missing
        del partial[number]
    body = answer(client, organization, partial).json()
    assert body["result"]["scores"]["extraversion"] is None
    assert body["result"]["missing"] == [1, 6, 11] and "incomplete" in body["result"]["flags"]
    assert any("extraversion: only 1 of 4 items" in reason for reason in body["result"]["reasons"])
    same = answer(client, organization, dict.fromkeys(range(1, 21), 3)).json()
    assert same["result"]["flags"] == ["straight_lining"] and set(same["result"]["confidence"].values()) == {0.1}


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"instrument": "mini_ipip", "answers": {"1": 9}}, "off the scale: 1=9"),
        ({"instrument": "mini_ipip", "answers": {"99": 3}}, "Unknown item numbers"),
        ({"instrument": "mini_ipip", "answers": {}}, "answers"),
        ({"instrument": "mini_ipip", "answers": [3, 4]}, "answers"),
        ({"instrument": "big5", "answers": {"1": 3}}, "instrument"),
        ({"instrument": "ipip50", "answers": {"1": 3}}, "Too few items answered"),
    ],
)
def test_invalid_answers_are_400_with_the_problem_named(organization, member, payload, fragment):
    """Unusable input: 400 with the error envelope naming the problem; nothing stored."""
    response = client_for(member).post(url(organization, "assessments/"), payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and fragment in error["message"]
    assert not AssessmentResponse.objects.exists()


def _profile_for(organization, user):
    """Answers + behaviour, then the real recompute."""
    answer(client_for(user), organization)
    catalog = build_catalog(organization)
    for day, item in enumerate(catalog["data"][:6]):
        at = START + timedelta(days=day, hours=9)
        progress_start(organization=organization, user=user, item=item, at=at)
        progress_complete(organization=organization, user=user, item=item, at=at)
    profile, created = profile_recompute(organization_id=organization.pk, user_id=user.pk)
    assert created
    return profile, catalog


def test_me_shows_own_profile_with_sources_and_evidence(organization, member):
    """GET me: the profile (questionnaire first in each trait's sources), the answers, whether admins may see it."""
    profile, _ = _profile_for(organization, member)
    other = MembershipFactory(organization=organization, role=Role.MEMBER).user
    _profile_for(organization, other)
    body = client_for(member).get(url(organization, "me/")).json()
    assert body["profile"]["id"] == profile.pk and body["admin_access"] is False
    conscientiousness = body["profile"]["traits"]["conscientiousness"]
    assert [s["source"] for s in conscientiousness["sources"]] == ["questionnaire", "behaviour"]
    assert conscientiousness["sources"][0]["evidence"][0] == {"item": "Get chores done right away.", "key": "+",
                                                              "answer": 2}  # fmt: skip
    assert body["profile"]["traits"]["agreeableness"]["sources"][0]["source"] == "questionnaire"
    assert set(body["profile"]["sources"]) == {"questionnaire", "behaviour", "text"}
    assert "below the minimum" in body["profile"]["sources"]["text"]
    assert [a["id"] for a in body["assessments"]] == list(
        AssessmentResponse.objects.filter(user=member).values_list("id", flat=True)
    )


def test_delete_removes_rows_cache_and_nothing_in_graph(organization, member, django_capture_on_commit_callbacks):
    """DELETE me: profiles and answers gone from PostgreSQL; cached profile, counters and recommendation lists gone
    from Redis; another member's data untouched; the graph never held personality data."""
    _profile_for(organization, member)
    other = MembershipFactory(organization=organization, role=Role.MEMBER).user
    _profile_for(organization, other)
    assert profile_compact_get(organization_id=organization.pk, user_id=member.pk)["scores"]["openness"] is not None
    list_key = rec_cache.list_key(organization_id=organization.pk, user_id=member.pk, params={"limit": 10})
    rec_cache.list_set(list_key, {"results": ["personality reason"]})
    cache.set(f"personality:new:{organization.pk}:{member.pk}", 3)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(member).delete(url(organization, "me/"))
    assert response.status_code == 200
    assert response.json() == {"deleted": {"profiles": 1, "assessments": 1}}
    assert not PersonalityProfile.objects.filter(user=member).exists()
    assert not AssessmentResponse.objects.filter(user=member).exists()
    assert cache.get(profile_cache_key(organization.pk, member.pk)) is None
    assert cache.get(list_key) is None and cache.get(f"personality:new:{organization.pk}:{member.pk}") is None
    assert PersonalityProfile.objects.filter(user=other).count() == 1
    assert AssessmentResponse.objects.filter(user=other).count() == 1
    # The graph: no outbox kind for personality, no payload carrying it, no projection code mentioning it.
    assert "personality" not in " ".join(GraphOutbox.Kind.values)
    assert not GraphOutbox.objects.filter(payload__has_key="personality").exists()
    assert "personality" not in inspect.getsource(graph_projection).lower()
    assert client_for(member).get(url(organization, "me/")).json()["profile"] is None


def test_advice_gives_items_from_the_catalog(organization, member):
    """A user who finishes short items and drops long ones gets the short-items tip with unfinished short items."""
    catalog = build_catalog(organization)
    done = catalog["data"][:2] + catalog["music"][:2] + catalog["history"][:2]  # short articles, all finished
    for day, item in enumerate(done):
        at = START + timedelta(days=day)
        progress_start(organization=organization, user=member, item=item, at=at)
        progress_complete(organization=organization, user=member, item=item, at=at)
    for day, item in enumerate(catalog["data"][3:5] + catalog["music"][3:5]):  # long videos, dropped
        progress_start(organization=organization, user=member, item=item, at=START + timedelta(days=10 + day))
    body = client_for(member).get(url(organization, "me/advice/")).json()
    tip = next(t for t in body["tips"] if t["code"] == "short_items")
    assert tip["message"].startswith("You finish short items far more often than long ones (100% vs 0%)")
    assert tip["items"] and all(item["duration_minutes"] <= 15 for item in tip["items"])
    assert not {i.pk for i in done} & {item["id"] for item in tip["items"]}
    assert {item["title"].split()[0] for item in tip["items"]} <= {"data", "music", "history"}  # own topics first


def test_advice_without_evidence_says_so(organization, member):
    """No profile and no activity: one tip saying what would help, without items."""
    body = client_for(member).get(url(organization, "me/advice/")).json()
    tip = {"code": "more_evidence", "message": body["tips"][0]["message"],
           "based_on": {"engaged_items": 0, "profile": False}, "items": []}  # fmt: skip
    assert body == {"profile": False, "tips": [tip]}


def test_admin_endpoint_needs_the_organization_switch(organization, owner, admin_user, member):
    """Admins: 403 with the reason until the organization enables admin access, then 200; members 403."""
    _profile_for(organization, member)
    path = url(organization, f"users/{member.pk}/")
    refused = client_for(admin_user).get(path)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "personality_admin_access_disabled"
    assert "has not enabled admin access" in refused.json()["error"]["message"]
    organization.personality_admin_access = True
    organization.save()
    allowed = client_for(admin_user).get(path)
    assert allowed.status_code == 200
    body = allowed.json()
    assert body["user"]["id"] == member.pk and body["profile"]["traits"]["openness"]["score"] is not None
    assert "answers" not in body["assessments"][0] and body["assessments"][0]["result"]["answered"] == 20
    assert client_for(owner).get(path).status_code == 200
    peer = MembershipFactory(organization=organization, role=Role.MEMBER).user
    assert client_for(peer).get(path).status_code == 403
    assert client_for(member).get(path).status_code == 403  # not even one's own, through the admin endpoint


def test_other_organizations_and_api_keys(organization, member, other_organization):
    """Another organization's user (admin endpoint) and URLs: 404; API keys: 403; anonymous: 401/403."""
    organization.personality_admin_access = True
    organization.save()
    admin = MembershipFactory(organization=organization, role=Role.ADMIN).user
    outsider = MembershipFactory(organization=other_organization, role=Role.MEMBER).user
    assert client_for(admin).get(url(organization, f"users/{outsider.pk}/")).status_code == 404
    assert client_for(member).get(url(other_organization, "me/")).status_code == 404
    assert client_for(member).delete(url(other_organization, "me/")).status_code == 404
    _, key = api_key_for(organization)
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    for path in ("instrument/", "me/", "me/advice/", f"users/{member.pk}/"):
        response = client.get(url(organization, path))
        assert response.status_code == 403, path
    assert client.post(url(organization, "assessments/"), {"instrument": "mini_ipip", "answers": MINI_ANSWERS},
                       format="json").status_code == 403  # fmt: skip
    assert client_for(member).get(url(organization, "me/")).status_code == 200
    anonymous = APIClient().get(url(organization, "me/"))
    assert anonymous.status_code in (401, 403)


def test_profiles_are_per_organization(organization, member, other_organization):
    """The same person in two organizations: each organization sees only its own profile and answers."""
    MembershipFactory(organization=other_organization, user=member, role=Role.MEMBER)
    answer(client_for(member), organization)
    profile_recompute(organization_id=organization.pk, user_id=member.pk)
    body = client_for(member).get(url(other_organization, "me/")).json()
    assert body["profile"] is None and body["assessments"] == []
