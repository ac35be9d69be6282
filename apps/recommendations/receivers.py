"""Every receiver of recommendations, connected in `RecommendationsConfig.ready()` (STYLE.md §9).

The other apps send domain events from their services, on the single and the bulk paths alike,
inside their transaction (`apps/<app>/events.py`); this module reacts, and nothing else in
recommendations listens to them (no `post_save` receivers: bulk writes never fire those). One
receiver per event; each does the cheap part in the caller's transaction and defers the rest:

- graph outbox rows (graph_sync, same transaction: they commit or roll back with the fact);
- recommendation cache invalidation (one version bump per user, on commit);
- personality evidence (a Redis counter per user that debounces a recompute, on commit).

The table of events, senders and receivers is in docs/architecture.md.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict

from django.db import transaction
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from apps.conversations import events as conversation_events
from apps.core.tasks import enqueue_on_commit
from apps.organizations import events as organization_events
from apps.organizations.models import Membership
from apps.progress import events as progress_events
from apps.recommendations import graph_sync
from apps.recommendations.engine.cache import recommendation_cache_invalidate_users
from apps.users import events as user_events

logger = logging.getLogger(__name__)

#: user profile fields the knowledge graph holds (INTERESTED_IN); a change of others writes no outbox row
GRAPH_USER_FIELDS = frozenset({"interests"})


#: a change of up to this many users has their evidence counted on commit, one Redis INCR each; a
#: larger one (a batch) leaves the counting to one task, so a bulk request pays one publish
EVIDENCE_INLINE_USERS = 20


def _personality_evidence_on_commit(organization_id: int, events_per_user: dict[int, int]) -> None:
    """New evidence for each user once the transaction commits. Fail-soft: the fact is committed and
    the beat sweep (profile_recompute_stale) finds users with newer evidence anyway."""
    counts = sorted(events_per_user.items())

    if len(counts) > EVIDENCE_INLINE_USERS:
        from workers.tasks.personality import personality_evidence_note_task

        enqueue_on_commit(personality_evidence_note_task, organization_id, [list(pair) for pair in counts])
        return

    def note():
        from apps.recommendations.personality.services import personality_evidence_note

        try:
            for user_id, events in counts:
                personality_evidence_note(organization_id=organization_id, user_id=user_id, events=events)
        except (RedisError, OperationalError):
            logger.warning(
                "personality evidence of %s user(s) of organization %s not noted; the beat sweep catches up",
                len(counts),
                organization_id,
                exc_info=True,
            )

    transaction.on_commit(note)


def on_interactions_recorded(sender, *, organization_id: int, keys, user_ids, **kwargs) -> None:
    graph_sync.graph_outbox_interactions(organization_id=organization_id, keys=keys)
    recommendation_cache_invalidate_users(organization_id=organization_id, user_ids=user_ids)
    _personality_evidence_on_commit(organization_id, Counter(user_id for user_id, _item_id, _kind in keys))


def on_progress_changed(sender, *, organization_id: int, pairs, user_ids, **kwargs) -> None:
    graph_sync.graph_outbox_progress(organization_id=organization_id, pairs=pairs)
    recommendation_cache_invalidate_users(organization_id=organization_id, user_ids=user_ids)
    _personality_evidence_on_commit(organization_id, Counter(user_id for user_id, _item_id in pairs))


def on_content_changed(sender, *, organization_id: int, item_ids, **kwargs) -> None:
    graph_sync.graph_outbox_content(organization_id=organization_id, item_ids=item_ids)


def on_members_changed(sender, *, organization_id: int, user_ids, **kwargs) -> None:
    """Joined, role or external_id changed, left: the graph's MEMBER_OF; and a cached list implies
    membership (services.recommendations_serve), so leaving must make it stale."""
    graph_sync.graph_outbox_users(organization_id=organization_id, user_ids=user_ids)
    recommendation_cache_invalidate_users(organization_id=organization_id, user_ids=user_ids)


def on_user_profile_changed(sender, *, user_ids, fields, **kwargs) -> None:
    """Interests are in the graph of every organization the users belong to: one outbox write per
    organization (one membership query), whatever the number of users."""
    if not GRAPH_USER_FIELDS.intersection(fields) or not graph_sync.graph_sync_enabled():
        return
    by_organization: dict[int, list[int]] = defaultdict(list)
    memberships = Membership.objects.filter(user_id__in=user_ids).values_list("organization_id", "user_id")
    for organization_id, user_id in memberships.order_by("organization_id", "user_id"):
        by_organization[organization_id].append(user_id)
    for organization_id, members in by_organization.items():
        graph_sync.graph_outbox_users(organization_id=organization_id, user_ids=members)


def on_user_message_posted(sender, *, organization_id: int, user_id: int | None, **kwargs) -> None:
    """What a person writes in chats is personality evidence (anonymous widget visitors have no profile)."""
    if user_id is not None:
        _personality_evidence_on_commit(organization_id, {user_id: 1})


RECEIVERS = (
    (progress_events.interactions_recorded, on_interactions_recorded),
    (progress_events.progress_changed, on_progress_changed),
    (progress_events.content_changed, on_content_changed),
    (organization_events.members_changed, on_members_changed),
    (user_events.user_profile_changed, on_user_profile_changed),
    (conversation_events.user_message_posted, on_user_message_posted),
)


def receivers_connect() -> None:
    """Called once from RecommendationsConfig.ready() (dispatch_uid: connecting twice is a no-op)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"recommendations.{receiver.__name__}")
