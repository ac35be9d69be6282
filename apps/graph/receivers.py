"""Every receiver of the graph app, connected in `GraphConfig.ready()` (STYLE.md §9).

The other apps send domain events from their services, on the single and the bulk paths alike,
inside their transaction (`apps/<app>/events.py`); this module reacts, and nothing else in graph
listens to them (no `post_save` receivers: bulk writes never fire those). One receiver per event;
each writes the graph outbox rows (sync.py) in the caller's transaction, so they commit or roll back
with the fact. The table of events, senders and receivers is in docs/architecture.md.
"""

from __future__ import annotations

from apps.graph import sync
from apps.interests import events as interest_events
from apps.organizations import events as organization_events
from apps.progress import events as progress_events


def on_interactions_recorded(sender, *, organization_id: int, keys, **kwargs) -> None:
    sync.graph_outbox_interactions(organization_id=organization_id, keys=keys)


def on_progress_changed(sender, *, organization_id: int, pairs, **kwargs) -> None:
    sync.graph_outbox_progress(organization_id=organization_id, pairs=pairs)


def on_content_changed(sender, *, organization_id: int, item_ids, **kwargs) -> None:
    sync.graph_outbox_content(organization_id=organization_id, item_ids=item_ids)


def on_members_changed(sender, *, organization_id: int, user_ids, **kwargs) -> None:
    """Joined, role or external_id changed, left: the graph's MEMBER_OF."""
    sync.graph_outbox_users(organization_id=organization_id, user_ids=user_ids)


def on_member_interests_changed(sender, *, organization_id: int, user_ids, **kwargs) -> None:
    """The members' interests (INTERESTED_IN, issue 19). The flat profile list of users/me reaches the
    graph this way too: apps.interests mirrors it per organization and sends this event."""
    sync.graph_outbox_users(organization_id=organization_id, user_ids=user_ids)


def on_organization_purging(sender, *, organization_id: int, last: bool, **kwargs) -> int:
    return sync.organization_graph_purge_batch(organization_id=organization_id, last=last)


RECEIVERS = (
    (progress_events.interactions_recorded, on_interactions_recorded),
    (progress_events.progress_changed, on_progress_changed),
    (progress_events.content_changed, on_content_changed),
    (organization_events.members_changed, on_members_changed),
    (interest_events.member_interests_changed, on_member_interests_changed),
    (organization_events.organization_purging, on_organization_purging),
)


def receivers_connect() -> None:
    """Called once from GraphConfig.ready() (dispatch_uid: connecting twice is a no-op)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"graph.{receiver.__name__}")
