"""Every receiver of bots, connected in `BotsConfig.ready()` (STYLE.md §9): the other apps' domain events that
concern bots. The table of events is in docs/architecture.md."""

from __future__ import annotations

from apps.bots.services import organization_bots_hide, organization_bots_purge_round
from apps.organizations import events as organization_events


def on_organization_deleted(sender, *, organization_id: int, **kwargs) -> None:
    organization_bots_hide(organization_id=organization_id)


def on_organization_purging(sender, *, organization_id: int, last: bool, **kwargs) -> int:
    return 0 if last else organization_bots_purge_round(organization_id=organization_id)


RECEIVERS = (
    (organization_events.organization_deleted, on_organization_deleted),
    (organization_events.organization_purging, on_organization_purging),
)


def receivers_connect() -> None:
    """Called once from BotsConfig.ready() (dispatch_uid: connecting twice is a no-op)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"bots.{receiver.__name__}")
