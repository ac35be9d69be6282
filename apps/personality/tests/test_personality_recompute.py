"""Profile recomputation, its triggers, the re-ranking effect and the admin chart (issue 8).

Covers: recompute is idempotent per input hash (unchanged inputs: no new row; a new answer or new
behaviour: one new row; history pruned); the task called directly with ids (and quietly nothing for a
non-member); the Redis debounce (one recompute per window after enough new events, through the real
signals after commit); the text estimate reused while the messages are unchanged (one model call);
the beat sweep (users with evidence newer than their profile); the ranking effect (a conscientious
profile lifts structured items and says so in the reason, only when personal reasons are allowed,
never in the logs; no profile, no personality reason);
the Django admin pages render the SVG trait chart.
"""

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client

from apps.conversations.tests.utils import completion
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.personality import services as personality_services
from apps.personality.models import PersonalityProfile
from apps.personality.services import (
    assessment_submit,
    personality_evidence_note,
    profile_recompute,
    profile_recompute_stale,
)
from apps.personality.tests.personality_utils import EXTRAVERT_TEXTS, START, build_catalog, chat
from apps.personality.tests.test_personality_scoring import MINI_ANSWERS
from apps.progress.models import InteractionKind
from apps.progress.services import interaction_create, progress_complete, progress_start
from apps.recommendations.engine.ranking import RankRequest
from apps.recommendations.models import RecommendationLog
from apps.recommendations.services import recommendations_serve, recommender_train
from apps.recommendations.tests.rec_utils import build_world
from apps.users.tests.factories import UserFactory
from workers.tasks.personality import profile_recompute_task

pytestmark = pytest.mark.django_db

#: Mini-IPIP answers of a very conscientious person (C items 3, 13 -> 5; reversed 8, 18 -> 1), neutral elsewhere
CONSCIENTIOUS = {**dict.fromkeys(range(1, 21), 3), 3: 5, 13: 5, 8: 1, 18: 1}


@pytest.fixture
def queued(monkeypatch):
    """Records profile_recompute_task.apply_async calls instead of sending them to the broker."""
    calls = []
    monkeypatch.setattr(
        personality_services.profile_recompute_task,
        "apply_async",
        lambda args=None, kwargs=None, **options: calls.append((tuple(args), options)),
    )
    return calls


def test_recompute_is_idempotent_per_input_hash(organization, member, settings):
    """Unchanged inputs write nothing; a new answer or new behaviour writes one row; only the last N rows stay."""
    settings.PERSONALITY_PROFILE_HISTORY = 2
    assessment_submit(organization=organization, user=member, instrument="mini_ipip", answers=MINI_ANSWERS)
    first, created = profile_recompute(organization_id=organization.pk, user_id=member.pk)
    assert created and first.source == "questionnaire" and first.extraversion == 0.875
    again, created = profile_recompute(organization_id=organization.pk, user_id=member.pk)
    assert not created and again.pk == first.pk
    assert PersonalityProfile.objects.filter(user=member).count() == 1

    catalog = build_catalog(organization)
    for day, item in enumerate(catalog["data"][:6]):
        at = START + timedelta(days=day, hours=9)
        progress_start(organization=organization, user=member, item=item, at=at)
        progress_complete(organization=organization, user=member, item=item, at=at)
    second, created = profile_recompute(organization_id=organization.pk, user_id=member.pk)
    assert created and second.source == "combined" and second.input_hash != first.input_hash
    assert second.conscientiousness_confidence > first.conscientiousness_confidence  # behaviour adds evidence
    assert not profile_recompute(organization_id=organization.pk, user_id=member.pk)[1]

    assessment_submit(organization=organization, user=member, instrument="mini_ipip", answers=CONSCIENTIOUS)
    third, created = profile_recompute(organization_id=organization.pk, user_id=member.pk)
    assert created and third.conscientiousness > second.conscientiousness
    assert list(PersonalityProfile.objects.filter(user=member).values_list("id", flat=True)) == [third.pk, second.pk]


def test_no_evidence_no_row(organization, member):
    """A user with no answers, no activity and no chat text gets no profile at all."""
    assert profile_recompute(organization_id=organization.pk, user_id=member.pk) == (None, False)
    assert not PersonalityProfile.objects.exists()


def test_task_with_ids(organization, member):
    """The task loads by id and calls the service: True when a row was written, False when unchanged or not a member."""
    assessment_submit(organization=organization, user=member, instrument="mini_ipip", answers=MINI_ANSWERS)
    assert profile_recompute_task(organization.pk, member.pk) is True
    assert profile_recompute_task(organization.pk, member.pk) is False
    stranger = UserFactory()
    assert profile_recompute_task(organization.pk, stranger.pk) is False


def test_debounce_enqueues_once_per_window(organization, member, settings, queued, django_capture_on_commit_callbacks):
    """Below the threshold nothing; at it one delayed task; more events in the same window add none; after the
    window (its Redis key gone) the next batch enqueues again."""
    settings.PERSONALITY_RECOMPUTE_MIN_EVENTS = 3
    settings.PERSONALITY_RECOMPUTE_DEBOUNCE_SECONDS = 120
    with django_capture_on_commit_callbacks(execute=True):
        results = [personality_evidence_note(organization_id=organization.pk, user_id=member.pk) for _ in range(8)]
    assert results == [False, False, True, False, False, False, False, False]
    assert queued == [((organization.pk, member.pk), {"countdown": 120})]
    cache.delete(f"personality:debounce:{organization.pk}:{member.pk}")  # the window has passed
    with django_capture_on_commit_callbacks(execute=True):
        assert personality_evidence_note(organization_id=organization.pk, user_id=member.pk) is True
    assert len(queued) == 2


def test_many_users_are_noted_in_a_round_trip_per_thousand(
    organization, settings, queued, redis_round_trips, django_capture_on_commit_callbacks
):
    """A bulk write's evidence (personality.evidence_note): 2,500 users take three Redis round trips, not one or
    two each; the users reaching the threshold get their one delayed recompute, the others keep counting, and a
    user already due in the window gets none."""
    settings.PERSONALITY_RECOMPUTE_MIN_EVENTS = 3
    settings.PERSONALITY_RECOMPUTE_DEBOUNCE_SECONDS = 120
    org = organization.pk
    personality_evidence_note(organization_id=org, user_id=1, events=1)  # the script is loaded
    cache.set(f"personality:debounce:{org}:3", 1, timeout=120)  # user 3's recompute is already due
    counts = [(1, 2), (2, 3), (3, 5), *((user, 1) for user in range(10, 2507))]
    before = redis_round_trips()
    with django_capture_on_commit_callbacks(execute=True):
        due = personality_services.personality_evidence_note_many(organization_id=org, counts=counts)
    assert redis_round_trips() - before == 3  # one script call per 1,000 users (the publishes are recorded)
    assert due == [1, 2]
    assert queued == [((org, 1), {"countdown": 120}), ((org, 2), {"countdown": 120})]
    assert cache.get(f"personality:new:{org}:1") is None and cache.get(f"personality:new:{org}:3") == 5
    assert cache.get(f"personality:new:{org}:10") == 1
    assert cache._cache.get_client().ttl(cache.make_and_validate_key(f"personality:new:{org}:10")) > 0


def test_a_debounce_window_of_zero_lets_every_threshold_through(
    organization, settings, queued, django_capture_on_commit_callbacks
):
    """PERSONALITY_RECOMPUTE_DEBOUNCE_SECONDS=0: no debounce (as cache.add with timeout 0 was), never an error."""
    settings.PERSONALITY_RECOMPUTE_MIN_EVENTS = 2
    settings.PERSONALITY_RECOMPUTE_DEBOUNCE_SECONDS = 0
    org = organization.pk
    note = personality_services.personality_evidence_note_many
    with django_capture_on_commit_callbacks(execute=True):
        assert note(organization_id=org, counts=[(1, 2), (2, 1)]) == [1]
        assert note(organization_id=org, counts=[(1, 2), (2, 1)]) == [1, 2]
    assert queued == [((org, 1), {"countdown": 0}), ((org, 1), {"countdown": 0}), ((org, 2), {"countdown": 0})]


def test_noting_evidence_fails_open(organization, queued, django_capture_on_commit_callbacks):
    """Redis unreachable: nothing is enqueued, the outage is noted once, the caller sees no error (the beat sweep
    recompute_stale finds these users later)."""
    from django.test import override_settings

    from apps.core.outages import outage_counts, outage_pauses_clear
    from apps.core.tests.test_failsoft import closed_port, short_timeout_cache

    before = outage_counts().get("cache", 0)
    with override_settings(CACHES=short_timeout_cache(f"redis://127.0.0.1:{closed_port()}/0")):
        due = personality_services.personality_evidence_note_many(organization_id=organization.pk, counts=[(1, 9)])
        outage_pauses_clear()
    assert due == [] and queued == []
    assert outage_counts().get("cache", 0) == before + 1


def test_new_events_trigger_the_debounce_through_signals(
    organization, member, settings, queued, django_capture_on_commit_callbacks
):
    """Interactions saved by the progress services count as evidence after commit; a bot's message does not."""
    settings.PERSONALITY_RECOMPUTE_MIN_EVENTS = 4
    catalog = build_catalog(organization)
    with django_capture_on_commit_callbacks(execute=True):
        for item in catalog["data"][:2]:
            interaction_create(organization=organization, user=member, item=item, kind=InteractionKind.VIEW)
    assert queued == []
    with django_capture_on_commit_callbacks(execute=True):
        for item in catalog["music"][:2]:
            interaction_create(organization=organization, user=member, item=item, kind=InteractionKind.LIKE)
    assert queued == [((organization.pk, member.pk), {"countdown": settings.PERSONALITY_RECOMPUTE_DEBOUNCE_SECONDS})]


def test_beat_sweep_finds_users_with_newer_evidence(organization, member, django_capture_on_commit_callbacks):
    """A user with new events and no profile is swept; after a recompute not; after a new event again."""
    catalog = build_catalog(organization)
    other = MembershipFactory(organization=organization, role=Role.MEMBER).user
    for item in catalog["data"][:6]:
        interaction_create(organization=organization, user=member, item=item, kind=InteractionKind.LIKE)
    with django_capture_on_commit_callbacks() as callbacks:
        pairs = profile_recompute_stale()
    assert pairs == [(organization.pk, member.pk)] and len(callbacks) == 1
    profile_recompute(organization_id=organization.pk, user_id=member.pk)
    assert profile_recompute_stale() == []
    interaction_create(organization=organization, user=member, item=catalog["music"][0], kind=InteractionKind.VIEW)
    interaction_create(organization=organization, user=other, item=catalog["music"][0], kind=InteractionKind.VIEW)
    assert set(profile_recompute_stale()) == {(organization.pk, member.pk), (organization.pk, other.pk)}


def _serve(organization, user, *, personal_reasons=True):
    """As the API serves the user themself (personality text allowed) unless told otherwise."""
    return recommendations_serve(
        organization=organization, user_id=user.pk, request=RankRequest(size=30), offset=0, limit=30,
        personal_reasons=personal_reasons,
    )  # fmt: skip


def test_conscientious_profile_lifts_structured_items_and_says_so(organization, django_capture_on_commit_callbacks):
    """Same user, same model: with a conscientious profile every lesson/course scores higher than without, the first
    lesson moves up, and its reason gains ", which suits your preference for structured courses"."""
    world = build_world(organization)
    user = world["cooks"][0]
    recommender_train(organization_id=organization.pk)
    before = _serve(organization, user)["results"]
    assert not any("which suits" in entry["reason"] for entry in before)
    with django_capture_on_commit_callbacks(execute=True):
        assessment_submit(organization=organization, user=user, instrument="mini_ipip", answers=CONSCIENTIOUS)
        profile, created = profile_recompute(organization_id=organization.pk, user_id=user.pk)
    assert created and profile.conscientiousness == 1.0
    after = _serve(organization, user)["results"]
    structured = {lesson.pk for lesson in world["lessons"]} | {world["course"].pk}
    score_before = {e["item"]["id"]: e["score"] for e in before}
    score_after = {e["item"]["id"]: e["score"] for e in after}
    lifted = [i for i in structured if i in score_before and i in score_after]
    assert lifted
    # fit = conscientiousness strength ((score - .5) x 2 x confidence) + the structure style (cooks explore: -.3)
    style = {"structured": 0.3, "exploring": -0.3}.get(profile.learning_style.get("structure", {}).get("preference"), 0)
    fit = (1.0 - 0.5) * 2 * profile.conscientiousness_confidence + style
    assert fit > 0.3
    for item_id in lifted:
        assert score_after[item_id] == pytest.approx(score_before[item_id] * (1 + 0.3 * min(1.0, fit)), rel=1e-3)
    rank = lambda results: min(i for i, e in enumerate(results) if e["item"]["id"] in structured)  # noqa: E731
    assert rank(after) < rank(before) or rank(before) == 0
    first = next(e for e in after if e["item"]["id"] in structured)
    assert first["reason"].endswith(", which suits your preference for structured courses")
    assert not first["reason"].startswith(",")  # the item's own reason comes first
    # The text is personal: without personal_reasons the same ranking, no personality text; never in the logs.
    hidden = _serve(organization, user, personal_reasons=False)["results"]
    assert [(e["item"]["id"], e["score"]) for e in hidden] == [(e["item"]["id"], e["score"]) for e in after]
    assert not any("which suits" in e["reason"] for e in hidden)
    assert not any("fit_reason" in e for e in hidden + after)
    assert not RecommendationLog.objects.filter(user=user, reason__contains="which suits").exists()


def test_admin_pages_render_the_trait_chart(organization, member):
    """Changelist and change pages of profiles and answers render the inline SVG chart."""
    assessment_submit(organization=organization, user=member, instrument="mini_ipip", answers=MINI_ANSWERS)
    profile, _ = profile_recompute(organization_id=organization.pk, user_id=member.pk)
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    for path in (
        "/admin/personality/personalityprofile/",
        f"/admin/personality/personalityprofile/{profile.pk}/change/",
        "/admin/personality/assessmentresponse/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"<svg" in response.content and b"Big Five traits" in response.content
    assert b"conf. 0.77" in client.get(f"/admin/personality/personalityprofile/{profile.pk}/change/").content


def test_text_estimate_is_reused_until_the_messages_change(organization, member, llm):
    """New behaviour alone recomputes the profile without another model call; a new message calls it again;
    the profile lists the text source with its verified quote; deletion drops the cached text estimate."""
    chat(organization, member, EXTRAVERT_TEXTS)
    reply = {"traits": {"extraversion": {"score": 0.85, "confidence": 0.8, "evidence": ["I start conversations"]}}}
    fake = llm(completion(json.dumps(reply)))
    first, created = profile_recompute(organization_id=organization.pk, user_id=member.pk)
    assert created and fake.calls == 1 and first.source == "text" and first.extraversion == 0.85
    assert first.evidence["extraversion"]["sources"][0]["evidence"] == [{"quote": "I start conversations"}]
    catalog = build_catalog(organization)
    for item in catalog["data"][:6]:
        interaction_create(organization=organization, user=member, item=item, kind=InteractionKind.LIKE)
    second, created = profile_recompute(organization_id=organization.pk, user_id=member.pk)
    assert created and second.source == "combined" and fake.calls == 1
    chat(organization, member, ["One more question: where do I find the group sessions?"])
    _, created = profile_recompute(organization_id=organization.pk, user_id=member.pk)
    assert created and fake.calls == 2
    assert cache.get(f"personality:text:{organization.pk}:{member.pk}") is not None
    personality_services.personality_caches_clear(organization.pk, member.pk, lists=True)
    assert cache.get(f"personality:text:{organization.pk}:{member.pk}") is None
