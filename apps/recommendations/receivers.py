"""Every receiver of recommendations, connected in `RecommendationsConfig.ready()` (STYLE.md §9).

The other apps send domain events from their services, on the single and the bulk paths alike,
inside their transaction (`apps/<app>/events.py`); this module reacts, and nothing else in
recommendations listens to them (no `post_save` receivers: bulk writes never fire those). One
receiver per event: the users' cached recommendation lists are invalidated (one version bump per
user, on commit); a member's embedded chat question is handed to the learner loop (learner.py).
The graph outbox rows are written by apps/graph/receivers.py, the personality
evidence is counted by apps/personality/receivers.py (issue 15: each app listens for itself).

The table of events, senders and receivers is in docs/architecture.md.
"""

from __future__ import annotations

from apps.conversations import events as conversation_events
from apps.interests import events as interest_events
from apps.organizations import events as organization_events
from apps.progress import events as progress_events
from apps.recommendations import learner
from apps.recommendations.engine.cache import recommendation_cache_invalidate_users


def on_interactions_recorded(sender, *, organization_id: int, user_ids, **kwargs) -> None:
    recommendation_cache_invalidate_users(organization_id=organization_id, user_ids=user_ids)


def on_progress_changed(sender, *, organization_id: int, user_ids, **kwargs) -> None:
    recommendation_cache_invalidate_users(organization_id=organization_id, user_ids=user_ids)


def on_members_changed(sender, *, organization_id: int, user_ids, **kwargs) -> None:
    """A cached list implies membership (services.recommendations_serve), so leaving must make it stale."""
    recommendation_cache_invalidate_users(organization_id=organization_id, user_ids=user_ids)


def on_member_interests_changed(sender, *, organization_id: int, user_ids, **kwargs) -> None:
    """The interests and chat sources read the members' interests (issue 19)."""
    recommendation_cache_invalidate_users(organization_id=organization_id, user_ids=user_ids)


def on_member_erasing(sender, *, organization_id: int, user_id: int, **kwargs) -> None:
    """A member's erasure: what recommendations logged of them and learnt for them in the organization."""
    from apps.recommendations.models import RecommendationLog, UserFactor

    RecommendationLog.objects.filter(organization_id=organization_id, user_id=user_id).delete()
    UserFactor.objects.filter(organization_id=organization_id, user_id=user_id).delete()


def on_question_embedded(sender, *, organization_id: int, message_id: int, user_id, vector, model, **kwargs) -> None:
    """The learner loop (issue 18 item 6): a member's question becomes interest evidence in a task."""
    if user_id is not None:
        learner.question_embedded_note(
            organization_id=organization_id, message_id=message_id, vector=vector, model=model
        )


def on_organization_purging(sender, *, organization_id: int, last: bool, **kwargs) -> int:
    from apps.recommendations.services import organization_recommendations_purge_batch

    return organization_recommendations_purge_batch(organization_id=organization_id, last=last)


RECEIVERS = (
    (progress_events.interactions_recorded, on_interactions_recorded),
    (progress_events.progress_changed, on_progress_changed),
    (organization_events.members_changed, on_members_changed),
    (organization_events.member_erasing, on_member_erasing),
    (interest_events.member_interests_changed, on_member_interests_changed),
    (conversation_events.question_embedded, on_question_embedded),
    (organization_events.organization_purging, on_organization_purging),
)


def receivers_connect() -> None:
    """Called once from RecommendationsConfig.ready() (dispatch_uid: connecting twice is a no-op)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"recommendations.{receiver.__name__}")
