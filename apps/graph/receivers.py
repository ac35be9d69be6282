"""Every receiver of the graph app, connected in `GraphConfig.ready()` (STYLE.md §9).

The other apps send domain events from their services, on the single and the bulk paths alike,
inside their transaction (`apps/<app>/events.py`); this module reacts, and nothing else in graph
listens to them (no `post_save` receivers: bulk writes never fire those). One receiver per event;
each writes the graph outbox rows (sync.py) in the caller's transaction, so they commit or roll back
with the fact. The table of events, senders and receivers is in docs/architecture.md.
"""

from __future__ import annotations

from collections import defaultdict

from apps.core.graph import graph_enabled
from apps.graph import sync
from apps.organizations import events as organization_events
from apps.organizations.models import Membership
from apps.progress import events as progress_events
from apps.users import events as user_events

#: user profile fields the knowledge graph holds (INTERESTED_IN); a change of others writes no outbox row
GRAPH_USER_FIELDS = frozenset({"interests"})


def on_interactions_recorded(sender, *, organization_id: int, keys, **kwargs) -> None:
    sync.graph_outbox_interactions(organization_id=organization_id, keys=keys)


def on_progress_changed(sender, *, organization_id: int, pairs, **kwargs) -> None:
    sync.graph_outbox_progress(organization_id=organization_id, pairs=pairs)


def on_content_changed(sender, *, organization_id: int, item_ids, **kwargs) -> None:
    sync.graph_outbox_content(organization_id=organization_id, item_ids=item_ids)


def on_members_changed(sender, *, organization_id: int, user_ids, **kwargs) -> None:
    """Joined, role or external_id changed, left: the graph's MEMBER_OF."""
    sync.graph_outbox_users(organization_id=organization_id, user_ids=user_ids)


def on_user_profile_changed(sender, *, user_ids, fields, **kwargs) -> None:
    """Interests are in the graph of every organization the users belong to: one outbox write per
    organization (one membership query), whatever the number of users."""
    if not GRAPH_USER_FIELDS.intersection(fields) or not graph_enabled():
        return
    by_organization: dict[int, list[int]] = defaultdict(list)
    memberships = Membership.objects.filter(user_id__in=user_ids).values_list("organization_id", "user_id")
    for organization_id, user_id in memberships.order_by("organization_id", "user_id"):
        by_organization[organization_id].append(user_id)
    for organization_id, members in by_organization.items():
        sync.graph_outbox_users(organization_id=organization_id, user_ids=members)


RECEIVERS = (
    (progress_events.interactions_recorded, on_interactions_recorded),
    (progress_events.progress_changed, on_progress_changed),
    (progress_events.content_changed, on_content_changed),
    (organization_events.members_changed, on_members_changed),
    (user_events.user_profile_changed, on_user_profile_changed),
)


def receivers_connect() -> None:
    """Called once from GraphConfig.ready() (dispatch_uid: connecting twice is a no-op)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"graph.{receiver.__name__}")
