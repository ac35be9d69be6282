"""Every receiver of the personality app, connected in `PersonalityConfig.ready()` (STYLE.md §9).

The other apps send domain events from their services, on the single and the bulk paths alike,
inside their transaction (`apps/<app>/events.py`); this module reacts, and nothing else in
personality listens to them (no `post_save` receivers: bulk writes never fire those). One receiver
per event: new personality evidence, a Redis counter per user that debounces a recompute, counted
on commit. The table of events, senders and receivers is in docs/architecture.md.
"""

from __future__ import annotations

import logging
from collections import Counter

from django.db import transaction
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from apps.conversations import events as conversation_events
from apps.core.tasks import enqueue_on_commit
from apps.organizations import events as organization_events
from apps.progress import events as progress_events

logger = logging.getLogger(__name__)

#: a change of up to this many users has their evidence counted on commit (one Redis round trip); a
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
        from apps.personality.services import personality_evidence_note_many

        try:
            personality_evidence_note_many(organization_id=organization_id, counts=counts)
        except (RedisError, OperationalError):
            logger.warning(
                "personality evidence of %s user(s) of organization %s not noted; the beat sweep catches up",
                len(counts),
                organization_id,
                exc_info=True,
            )

    transaction.on_commit(note)


def on_interactions_recorded(sender, *, organization_id: int, keys, **kwargs) -> None:
    _personality_evidence_on_commit(organization_id, Counter(user_id for user_id, _item_id, _kind in keys))


def on_progress_changed(sender, *, organization_id: int, pairs, **kwargs) -> None:
    _personality_evidence_on_commit(organization_id, Counter(user_id for user_id, _item_id in pairs))


def on_user_message_posted(sender, *, organization_id: int, user_id: int | None, **kwargs) -> None:
    """What a person writes in chats is personality evidence (anonymous widget visitors have no profile)."""
    if user_id is not None:
        _personality_evidence_on_commit(organization_id, {user_id: 1})


def on_member_erasing(sender, *, organization_id: int, user_id: int, **kwargs) -> None:
    """A member's erasure: their personality data in the organization (profiles, answers, the personality text in
    their recommendation logs, caches), as `DELETE personality/users/{id}/` does."""
    from apps.organizations.models import Organization
    from apps.personality.services import profile_delete

    profile_delete(organization=Organization.all_objects.get(pk=organization_id), user_id=user_id)


def on_organization_purging(sender, *, organization_id: int, last: bool, **kwargs) -> int:
    from apps.personality.services import organization_personality_purge_batch

    return organization_personality_purge_batch(organization_id=organization_id, last=last)


RECEIVERS = (
    (organization_events.member_erasing, on_member_erasing),
    (organization_events.organization_purging, on_organization_purging),
    (progress_events.interactions_recorded, on_interactions_recorded),
    (progress_events.progress_changed, on_progress_changed),
    (conversation_events.user_message_posted, on_user_message_posted),
)


def receivers_connect() -> None:
    """Called once from PersonalityConfig.ready() (dispatch_uid: connecting twice is a no-op)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"personality.{receiver.__name__}")
