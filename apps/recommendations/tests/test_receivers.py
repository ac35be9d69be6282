"""The receivers of the other apps' domain events (STYLE.md §9) in the three apps that listen:
apps/graph/receivers.py, apps/recommendations/receivers.py and apps/personality/receivers.py (one
module before issue 15 split graph and personality out of recommendations). A bulk write has the
same effects as the single writes it stands for: graph outbox rows in the caller's transaction, the
users' cached lists made stale on commit, their personality evidence counted on commit; a
rolled-back write leaves none of them. One notification path per fact: no post_save/post_delete
receiver of these apps is left."""

import weakref

import pytest
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from apps.conversations import events as conversation_events
from apps.graph import receivers as graph_receivers
from apps.graph.models import GraphOutbox
from apps.interests import events as interest_events
from apps.interests import receivers as interest_receivers
from apps.organizations import events as organization_events
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.personality import receivers as personality_receivers
from apps.progress import events as progress_events
from apps.progress.tests.factories import ContentItemFactory
from apps.progress.tests.utils import url
from apps.recommendations import receivers
from apps.users import events as user_events
from apps.users.services import user_update
from conftest import client_for

pytestmark = pytest.mark.django_db


def outbox(organization) -> set[tuple[str, str]]:
    return set(GraphOutbox.objects.filter(organization=organization).values_list("kind", "object_key"))


def user_version(organization, user_id):
    return cache.get(f"rec:v:u:{organization.pk}:{user_id}")


def evidence(organization, user_id):
    return cache.get(f"personality:new:{organization.pk}:{user_id}")


@pytest.fixture(autouse=True)
def _no_recompute_yet(settings):
    """Keep the evidence counters visible (a recompute at the threshold would reset them)."""
    settings.PERSONALITY_RECOMPUTE_MIN_EVENTS = 1000


def test_batch_has_the_effects_of_single_writes(organization, admin_user, django_capture_on_commit_callbacks):
    """The same two events, once one by one and once as a batch (by two members): the same outbox
    keys, the cache version bumped on commit, the evidence counted on commit."""
    one, two = (MembershipFactory(organization=organization).user for _ in range(2))
    items = [ContentItemFactory(organization=organization) for _ in range(2)]
    client = client_for(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        for item in items:
            body = {"kind": "view", "item": item.pk, "user": one.pk}
            assert client.post(url(organization, "interactions/"), body, format="json").status_code == 201
    single = outbox(organization)
    assert single == {("interaction", f"{one.pk}:{item.pk}:view") for item in items}
    assert user_version(organization, one.pk) is not None and evidence(organization, one.pk) == 2

    batch = [
        {"idempotency_key": f"k{n}", "kind": "view", "item": item.pk, "user": two.pk} for n, item in enumerate(items)
    ]
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(url(organization, "interactions/batch/"), {"events": batch}, format="json")
        assert user_version(organization, two.pk) is None and evidence(organization, two.pk) is None  # not yet
    for callback in callbacks:
        callback()
    assert outbox(organization) - single == {("interaction", f"{two.pk}:{item.pk}:view") for item in items}
    assert user_version(organization, two.pk) is not None and evidence(organization, two.pk) == 2


def test_progress_changes_bump_the_cache_and_count_as_evidence(
    organization, member, django_capture_on_commit_callbacks
):
    item = ContentItemFactory(organization=organization)
    with django_capture_on_commit_callbacks(execute=True):
        client_for(member).post(url(organization, "progress/complete/"), {"item": item.pk}, format="json")
    assert ("progress", f"{member.pk}:{item.pk}") in outbox(organization)
    assert user_version(organization, member.pk) is not None
    assert evidence(organization, member.pk) == 3  # the progress row, its start and its complete


def test_member_sync_writes_users_and_invalidates_like_a_join(
    organization, admin_user, django_capture_on_commit_callbacks
):
    people = [{"external_id": f"crm-{n}", "email": f"p{n}@example.com"} for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        body = client_for(admin_user).post(url(organization, "members/sync/"), {"members": people}, format="json")
    users = [row["user"] for row in body.json()["results"]]
    assert outbox(organization) == {("user", str(user_id)) for user_id in users}
    assert all(user_version(organization, user_id) is not None for user_id in users)


def test_interests_reach_every_organization_of_the_user(organization, member):
    """user_profile_changed: one outbox row per organization the user belongs to; other fields none."""
    elsewhere = OrganizationFactory()
    MembershipFactory(organization=elsewhere, user=member)
    GraphOutbox.objects.all().delete()
    user_update(user=member, data={"full_name": "Someone Else"})
    assert not GraphOutbox.objects.exists()
    user_update(user=member, data={"interests": ["poetry"]})
    assert outbox(organization) == outbox(elsewhere) == {("user", str(member.pk))}


def test_a_rolled_back_write_leaves_no_effect(organization, member, django_capture_on_commit_callbacks):
    item = ContentItemFactory(organization=organization)
    GraphOutbox.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        client_for(member).post(url(organization, "interactions/"), {"kind": "like", "item": item.pk}, format="json")
        raise RuntimeError("roll back")
    assert not GraphOutbox.objects.exists()
    assert user_version(organization, member.pk) is None and evidence(organization, member.pk) is None


def test_a_users_chat_message_counts_as_evidence(organization, member, django_capture_on_commit_callbacks):
    """conversations' user_message_posted (the sender's test is in apps/conversations/tests/test_events.py)."""
    with django_capture_on_commit_callbacks(execute=True):
        for user_id in (member.pk, None):  # an anonymous visitor has no profile
            conversation_events.user_message_posted.send(
                sender="test", organization_id=organization.pk, conversation_id=1, message_id=1, user_id=user_id
            )
    assert evidence(organization, member.pk) == 1


def test_one_receiver_per_event_and_no_model_signal_receivers():
    """Each domain event has exactly one receiver in each app that listens to it (graph, recommendations,
    personality; member_erasing and organization_purging: their deletions), and together they listen to every event
    recommendations listened to before issue 15; none of them has a receiver on post_save/post_delete (bulk writes would
    bypass them: two paths for one fact)."""
    events = [
        progress_events.interactions_recorded,
        progress_events.progress_changed,
        progress_events.content_changed,
        organization_events.members_changed,
        user_events.user_profile_changed,
        conversation_events.user_message_posted,
        interest_events.member_interests_changed,
        conversation_events.question_embedded,
        organization_events.member_erasing,
        organization_events.organization_purging,
    ]
    listening = {
        "graph": graph_receivers,
        "recommendations": receivers,
        "personality": personality_receivers,
        "interests": interest_receivers,
    }
    # Issue 19: the flat profile interests reach the graph through apps.interests (member_interests_changed).
    # organization_purging (a deleted organization's purge): each app deletes its own rows.
    assert [signal for signal, _receiver in graph_receivers.RECEIVERS] == [*events[:4], events[6], events[9]]
    assert [signal for signal, _receiver in receivers.RECEIVERS] == [
        *events[0:2],
        events[3],
        events[8],
        *events[6:8],
        events[9],
    ]
    assert [signal for signal, _receiver in personality_receivers.RECEIVERS] == [
        events[8],
        events[9],
        *events[0:2],
        events[5],
    ]
    assert [signal for signal, _receiver in interest_receivers.RECEIVERS] == [events[4], events[3], events[9]]

    def modules(signal):
        functions = [ref() if isinstance(ref, weakref.ref) else ref for _key, ref, *_rest in signal.receivers]
        return [getattr(function, "__module__", "") for function in functions]

    for signal in events:
        for app, module in listening.items():
            expected = [module.__name__] if any(s is signal for s, _receiver in module.RECEIVERS) else []
            assert [m for m in modules(signal) if m.startswith(f"apps.{app}.")] == expected
        assert any(any(s is signal for s, _r in module.RECEIVERS) for module in listening.values())
    # The one model-signal receiver allowed: the API key rows authentication keeps are dropped on any save of a
    # key, organization or plan (cache invalidation, which STYLE.md allows signals for; a bulk update() that
    # bypasses it is read within API_KEY_CACHE_SECONDS, as a write by another process is).
    for signal in (post_save, post_delete):
        found = [m for m in modules(signal) if m.startswith("apps.")]
        assert set(found) <= {"apps.organizations.receivers"}, found


def test_a_large_batch_counts_evidence_in_one_task(
    organization, admin_user, monkeypatch, django_capture_on_commit_callbacks
):
    """Over EVIDENCE_INLINE_USERS users the request publishes one task instead of a Redis call per user;
    the task counts what the inline path would have."""
    from workers.tasks.personality import personality_evidence_note_task

    published = []
    monkeypatch.setattr(
        personality_evidence_note_task, "apply_async", lambda args, **options: published.append(tuple(args))
    )
    inline = personality_receivers.EVIDENCE_INLINE_USERS
    users = [MembershipFactory(organization=organization).user for _ in range(inline + 1)]
    item = ContentItemFactory(organization=organization)
    batch = [
        {"idempotency_key": f"{user.pk}-{kind}", "kind": kind, "item": item.pk, "user": user.pk}
        for user in users
        for kind in ("view", "like")
    ]
    with django_capture_on_commit_callbacks(execute=True):
        client_for(admin_user).post(url(organization, "interactions/batch/"), {"events": batch}, format="json")
    assert published == [(organization.pk, [[user.pk, 2] for user in sorted(users, key=lambda u: u.pk)])]
    assert evidence(organization, users[0].pk) is None  # nothing counted in the request
    personality_evidence_note_task(*published[0])
    assert [evidence(organization, user.pk) for user in users] == [2] * len(users)
