"""Every receiver of progress, connected in `ProgressConfig.ready()` (STYLE.md §9): the other apps' domain events
that concern progress. The table of events is in docs/architecture.md."""

from __future__ import annotations

from apps.organizations import events as organization_events
from apps.progress.services.catalog import organization_progress_purge_batch
from apps.progress.services.tracking import member_activity_delete


def on_member_erasing(sender, *, organization_id: int, user_id: int, **kwargs) -> None:
    """A member's erasure: their progress and interactions in the organization."""
    member_activity_delete(organization_id=organization_id, user_id=user_id)


def on_organization_purging(sender, *, organization_id: int, last: bool, **kwargs) -> int:
    return organization_progress_purge_batch(organization_id=organization_id, last=last)


def receivers_connect() -> None:
    organization_events.member_erasing.connect(on_member_erasing, dispatch_uid="progress.on_member_erasing")
    organization_events.organization_purging.connect(
        on_organization_purging, dispatch_uid="progress.on_organization_purging"
    )
