"""GET/DELETE me/profile/ (issue 18 item 6): one profile per member, visible to that member only.

Covers: the whole body (interests with their evidence per source, progress summary, chat activity,
personality summary once a profile exists, with the organization's admin-access flag); DELETE removes
every interest (all sources) and the personality data, answers the counts, and the graph and caches hear
of it (member_interests_changed); API keys 403; another organization 404; anonymous 401; nothing of
another organization is shown.
"""

from __future__ import annotations

import pytest

from apps.interests import services as interest_services
from apps.interests.events import member_interests_changed
from apps.interests.models import MemberInterest
from apps.organizations.models import Membership
from apps.organizations.tests.factories import MembershipFactory, api_key_for
from apps.personality.models import AssessmentResponse, PersonalityProfile
from apps.personality.services import assessment_submit, profile_recompute
from conftest import client_for

pytestmark = pytest.mark.django_db


def url(organization):
    return f"/api/v1/orgs/{organization.slug}/me/profile/"


def test_profile_body(organization, member):
    """Interests (stated + chat evidence), progress, chat, personality summary."""
    interest_services.member_interests_set(
        organization=organization, user_id=member.pk, source="stated", interests=[{"value": "chess", "weight": 0.9}]
    )
    interest_services.member_interest_evidence_add(
        organization_id=organization.pk, source="chat", evidence=[(member.pk, "topics", "openings", 0.4, [11])]
    )
    client = client_for(member)
    body = client.get(url(organization)).json()
    assert set(body) == {"user", "interests", "progress", "chat", "personality"}
    assert body["user"] == member.pk and body["personality"] is None
    assert [(i["category"], i["value"], i["weight"]) for i in body["interests"]] == [
        ("general", "chess", 0.9),
        ("topics", "openings", 0.4),
    ]
    chat = body["interests"][1]["evidence"][0]
    assert (chat["source"], chat["evidence_count"], chat["item_ids"]) == ("chat", 1, [11])
    assert body["progress"]["user"] == member.pk and body["progress"]["completed"] == 0
    assert body["chat"] == {"questions": 0, "last_asked_at": None}

    answers = {str(n): 1 + n % 5 for n in range(1, 21)}
    assessment_submit(organization=organization, user=member, instrument="mini_ipip", answers=answers)
    profile_recompute(organization_id=organization.pk, user_id=member.pk)
    personality = client.get(url(organization)).json()["personality"]
    assert set(personality) == {"computed_at", "traits", "learning_style", "admin_access"}
    assert personality["admin_access"] is organization.personality_admin_access
    assert set(personality["traits"]["openness"]) == {"score", "confidence"}


def test_delete_removes_interests_and_personality(organization, member):
    """All interest sources and the personality rows go; the counts are answered; an event is sent."""
    interest_services.member_interests_set(
        organization=organization, user_id=member.pk, source="stated", interests=["a"]
    )
    interest_services.member_interest_evidence_add(
        organization_id=organization.pk, source="chat", evidence=[(member.pk, "topics", "b", 0.4, [])]
    )
    answers = {str(n): 1 + n % 5 for n in range(1, 21)}
    assessment_submit(organization=organization, user=member, instrument="mini_ipip", answers=answers)
    profile_recompute(organization_id=organization.pk, user_id=member.pk)
    sent = []
    member_interests_changed.connect(lambda sender, **kw: sent.append(kw["user_ids"]), weak=False, dispatch_uid="t")
    try:
        response = client_for(member).delete(url(organization))
    finally:
        member_interests_changed.disconnect(dispatch_uid="t")
    assert response.status_code == 200
    assert response.json() == {"deleted": {"interests": 2, "profiles": 1, "assessments": 1}}
    assert sent == [[member.pk]]
    assert not MemberInterest.objects.filter(user=member).exists()
    assert not PersonalityProfile.objects.filter(user=member).exists()
    assert not AssessmentResponse.objects.filter(user=member).exists()
    assert client_for(member).get(url(organization)).json()["interests"] == []


def test_profile_access(organization, member, other_organization, api_client):
    """API keys 403, another organization 404, anonymous 401; another organization's interests never shown."""
    assert api_client.get(url(organization)).status_code == 401
    _key, raw = api_key_for(organization)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert api_client.get(url(organization)).status_code == 403
    assert api_client.delete(url(organization)).status_code == 403
    outsider = Membership.objects.filter(organization=other_organization).first().user
    assert client_for(outsider).get(url(organization)).status_code == 404
    MembershipFactory(organization=other_organization, user=member)
    interest_services.member_interests_set(
        organization=other_organization, user_id=member.pk, source="stated", interests=["elsewhere"]
    )
    assert client_for(member).get(url(organization)).json()["interests"] == []
