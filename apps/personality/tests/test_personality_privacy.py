"""Privacy of personality-derived text in recommendations, and what a deletion leaves behind (issue 8).

Covers: the personality fit suffix of a reason (", which suits your preference for structured
courses") is shown only to the user themself, or to an admin when the organization enabled
`personality_admin_access`; never to an admin without it or to an API key (same ranking for all),
and never stored in RecommendationLog. After DELETE personality/me/: the beat sweep does not rebuild
the profile from old evidence, a recompute writes nothing, new activity after the deletion builds a
profile from that activity only, old messages and progress are not read, a recompute that read its
inputs before the deletion writes nothing, and personality text in the user's logs is scrubbed.
"""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.organizations.tests.factories import MembershipFactory, api_key_for
from apps.personality import services as personality_services
from apps.personality.behaviour import behaviour_rows_load
from apps.personality.models import PersonalityDeletion, PersonalityProfile
from apps.personality.rerank import REASONS
from apps.personality.services import (
    assessment_submit,
    fit_suffix_strip,
    profile_delete,
    profile_recompute,
    profile_recompute_stale,
)
from apps.personality.tests.personality_utils import START, build_catalog, chat, steady_finisher
from apps.personality.tests.test_personality_recompute import CONSCIENTIOUS
from apps.personality.tests.test_personality_scoring import MINI_ANSWERS
from apps.personality.text import user_texts_load
from apps.progress.models import InteractionKind
from apps.progress.services import interaction_create, progress_complete, progress_start
from apps.progress.tests.factories import ContentItemFactory
from apps.recommendations.models import RecommendationLog
from apps.recommendations.services import recommender_train
from apps.recommendations.tests.rec_utils import build_world
from conftest import client_for

pytestmark = pytest.mark.django_db

SUFFIX = ", which suits your preference for structured courses"


def _recommendations(client, organization, user):
    response = client.get(f"/api/v1/orgs/{organization.slug}/recommendations/", {"user": user.pk, "limit": 30})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _key_client(organization, scopes=("read",)) -> APIClient:
    _, key = api_key_for(organization, scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_personality_reason_only_for_the_user_or_admins_with_the_switch(organization, admin_user):
    """A conscientious member's list: the admin (switch off) and a read API key get no personality text (the
    same items and scores); the member sees it; the admin sees it once the organization enables admin access;
    the logs never hold it. Both the cache miss (first caller: the admin) and hits are covered."""
    world = build_world(organization)
    user = world["cooks"][0]
    recommender_train(organization_id=organization.pk)
    assessment_submit(organization=organization, user=user, instrument="mini_ipip", answers=CONSCIENTIOUS)
    _, created = profile_recompute(organization_id=organization.pk, user_id=user.pk)
    assert created
    assert organization.personality_admin_access is False

    as_admin = _recommendations(client_for(admin_user), organization, user)  # computed (miss), then cached
    as_key = _recommendations(_key_client(organization), organization, user)
    as_user = _recommendations(client_for(user), organization, user)
    ranking = [(e["item"]["id"], e["score"]) for e in as_user]
    assert any(e["reason"].endswith(SUFFIX) for e in as_user)
    for hidden in (as_admin, as_key):
        assert [(e["item"]["id"], e["score"]) for e in hidden] == ranking  # the ranking effect stays
        assert not any("which suits" in e["reason"] for e in hidden)
        assert not any("fit_reason" in e for e in hidden)
    for hidden, shown in zip(as_admin, as_user, strict=True):  # the user's reason = the same reason + the fit
        assert shown["reason"].startswith(hidden["reason"])
        assert shown["reason"][len(hidden["reason"]) :] in {"", *REASONS.values()}

    organization.personality_admin_access = True
    organization.save()
    as_admin_allowed = _recommendations(client_for(admin_user), organization, user)
    assert [e["reason"] for e in as_admin_allowed] == [e["reason"] for e in as_user]
    assert not any(
        "which suits" in e["reason"] for e in _recommendations(_key_client(organization), organization, user)
    )

    logs = RecommendationLog.objects.filter(organization=organization, user=user)
    assert logs.count() == 5 * len(as_user)  # every served page was logged, without the personal text
    assert not logs.filter(reason__contains="which suits").exists()


def _delete(organization, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).delete(f"/api/v1/orgs/{organization.slug}/personality/me/")
    assert response.status_code == 200, response.content
    return response.json()


def test_delete_then_the_sweep_does_not_rebuild_from_old_evidence(
    organization, member, django_capture_on_commit_callbacks
):
    """Behaviour, answers and chat, a profile; DELETE me: the sweep does not pick the user up, a direct recompute
    writes nothing, and the deletion moment is kept."""
    catalog = build_catalog(organization)
    steady_finisher(organization, member, catalog)
    assessment_submit(organization=organization, user=member, instrument="mini_ipip", answers=MINI_ANSWERS)
    chat(organization, member, ["Where do I find the next lesson of the data course?"])
    _, created = profile_recompute(organization_id=organization.pk, user_id=member.pk)
    assert created
    before = timezone.now()
    assert _delete(organization, member, django_capture_on_commit_callbacks)["deleted"]["profiles"] == 1
    deletion = PersonalityDeletion.objects.get(organization=organization, user=member)
    assert deletion.deleted_at >= before

    assert (organization.pk, member.pk) not in profile_recompute_stale()
    assert profile_recompute(organization_id=organization.pk, user_id=member.pk) == (None, False)
    assert not PersonalityProfile.objects.filter(user=member).exists()
    # Without the deletion moment, the same evidence would have rebuilt it (what the fix prevents).
    deletion.delete()
    assert (organization.pk, member.pk) in profile_recompute_stale()


def test_new_activity_after_deletion_builds_from_the_new_evidence_only(
    organization, member, django_capture_on_commit_callbacks
):
    """After DELETE me, new likes are picked up by the sweep and the recompute builds a behaviour profile from
    them alone: 6 engaged items (not the 12 finished before), no questionnaire; old messages and progress
    are not read (an item started before and completed after counts as completed, without its old start)."""
    catalog = build_catalog(organization)
    steady_finisher(organization, member, catalog)
    assessment_submit(organization=organization, user=member, instrument="mini_ipip", answers=MINI_ANSWERS)
    chat(organization, member, ["An old message written before the deletion."])
    pending = catalog["music"][3]  # a long video, started before the deletion
    progress_start(organization=organization, user=member, item=pending, at=START)
    profile_recompute(organization_id=organization.pk, user_id=member.pk)
    _delete(organization, member, django_capture_on_commit_callbacks)
    since = PersonalityDeletion.objects.get(organization=organization, user=member).deleted_at

    for item in catalog["music"][:3] + catalog["design"][:3]:
        interaction_create(organization=organization, user=member, item=item, kind=InteractionKind.LIKE)
    progress_complete(organization=organization, user=member, item=pending)
    chat(organization, member, ["A new message after the deletion."])

    rows = behaviour_rows_load(organization_id=organization.pk, user_id=member.pk, since=since)
    assert [(item_id, status, started) for item_id, status, started, _ in rows.progress] == [
        (pending.pk, "completed", None)
    ]
    assert all(occurred > since for _, _, occurred in rows.interactions)
    texts = user_texts_load(organization_id=organization.pk, user_id=member.pk, since=since)
    assert [content for _, content in texts] == ["A new message after the deletion."]

    assert (organization.pk, member.pk) in profile_recompute_stale()
    profile, created = profile_recompute(organization_id=organization.pk, user_id=member.pk)
    assert created and profile.source == "behaviour"
    assert profile.evidence["_features"]["engaged_items"] == 7  # 6 likes + the video completed after
    assert profile.evidence["_sources"]["questionnaire"] == "no questionnaire answered"
    assert profile.agreeableness is None  # only the questionnaire (deleted) estimated it
    # A questionnaire answered after the deletion counts again.
    assessment_submit(organization=organization, user=member, instrument="mini_ipip", answers=MINI_ANSWERS)
    profile, created = profile_recompute(organization_id=organization.pk, user_id=member.pk)
    assert created and profile.source == "combined" and profile.agreeableness is not None


def test_a_recompute_that_read_its_inputs_before_a_deletion_writes_nothing(organization, member, monkeypatch):
    """The deletion lands while a recompute is computing (after it read the old evidence): nothing is written."""
    catalog = build_catalog(organization)
    steady_finisher(organization, member, catalog)
    original = personality_services.behaviour_estimate

    def deleting_meanwhile(features):
        profile_delete(organization=organization, user_id=member.pk)
        return original(features)

    monkeypatch.setattr(personality_services, "behaviour_estimate", deleting_meanwhile)
    assert profile_recompute(organization_id=organization.pk, user_id=member.pk) == (None, False)
    assert not PersonalityProfile.objects.filter(user=member).exists()


def test_delete_scrubs_personality_text_from_the_users_logs(organization, member, django_capture_on_commit_callbacks):
    """Logs written before the suffix was kept out of them lose it on deletion (also one cut at 300 characters);
    other reasons and other users' logs are untouched."""
    peer = MembershipFactory(organization=organization).user
    item = ContentItemFactory(organization=organization)
    long_title = "x" * 270
    rows = {
        "course": (member, "Next in Python Course" + SUFFIX),
        "cut": (member, (f"Because you liked {long_title}" + ", which suits your preference for videos")[:300]),
        "plain": (member, "Popular right now"),
        "peer": (peer, "Next in Python Course" + SUFFIX),
    }
    ids = {}
    for position, (name, (user, reason)) in enumerate(rows.items(), start=1):
        log = RecommendationLog.objects.create(
            organization=organization, user=user, item=item, request_id="00000000-0000-0000-0000-000000000001",
            position=position, source="course", reason=reason, score=1.0,
        )  # fmt: skip
        ids[name] = log.pk
    _delete(organization, member, django_capture_on_commit_callbacks)
    reasons = dict(RecommendationLog.objects.filter(pk__in=ids.values()).values_list("pk", "reason"))
    assert reasons[ids["course"]] == "Next in Python Course"
    assert reasons[ids["cut"]] == f"Because you liked {long_title}"
    assert reasons[ids["plain"]] == "Popular right now"
    assert reasons[ids["peer"]] == "Next in Python Course" + SUFFIX  # another user's deletion is theirs to make


def test_fit_suffix_strip():
    assert fit_suffix_strip("Popular right now") == "Popular right now"
    assert fit_suffix_strip("New in the catalog, which suits your sociable side") == "New in the catalog"
    cut = ("y" * 290 + ", which suits your preference for reading")[:300]
    assert fit_suffix_strip(cut) == "y" * 290
    assert fit_suffix_strip("z" * 300) == "z" * 300
