"""Graph outbox writes of the progress app, in the caller's transaction (see docs/graph.md).

Thin wrappers over apps.recommendations.graph_sync (imported lazily: that app imports progress
models): each is one INSERT whatever the number of rows, and a no-op while the graph is off.
"""

from __future__ import annotations

from collections.abc import Iterable


def content_changed(*, organization_id: int, item_ids: Iterable[int]) -> None:
    from apps.recommendations.graph_sync import graph_outbox_content

    graph_outbox_content(organization_id=organization_id, item_ids=list(item_ids))


def progress_changed(*, organization_id: int, pairs: Iterable[tuple[int, int]]) -> None:
    """(user_id, item_id) pairs whose progress changed."""
    from apps.recommendations.graph_sync import graph_outbox_progress

    graph_outbox_progress(organization_id=organization_id, pairs=list(pairs))


def interactions_recorded(*, organization_id: int, keys: Iterable[tuple[int, int, str]]) -> None:
    """(user_id, item_id, kind) of newly stored events."""
    from apps.recommendations.graph_sync import graph_outbox_interactions

    graph_outbox_interactions(organization_id=organization_id, keys=list(keys))


def members_changed(*, organization_id: int, user_ids: Iterable[int]) -> None:
    from apps.recommendations.graph_sync import graph_outbox_users

    graph_outbox_users(organization_id=organization_id, user_ids=list(user_ids))
