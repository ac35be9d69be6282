"""Every receiver of boards, connected in `BoardsConfig.ready()` (STYLE.md §9).

`members_changed`: a user who is no longer a member of the organization (left or removed) loses their
goals and boards there, in the caller's transaction; the PNG files go after it commits.
"""

from __future__ import annotations

from apps.organizations import events as organization_events
from apps.organizations.models import Membership, Organization


def on_members_changed(sender, *, organization_id, user_ids, **kwargs) -> None:
    from apps.boards.models import Goal, VisionBoard
    from apps.boards.services import member_data_delete

    remaining = set(
        Membership.objects.filter(organization_id=organization_id, user_id__in=user_ids).values_list(
            "user_id", flat=True
        )
    )
    gone = [user_id for user_id in user_ids if user_id not in remaining]
    if not gone:
        return
    with_data = set(
        Goal.objects.filter(organization_id=organization_id, user_id__in=gone).values_list("user_id", flat=True)
    ) | set(
        VisionBoard.objects.filter(organization_id=organization_id, user_id__in=gone).values_list("user_id", flat=True)
    )
    if with_data:
        organization = Organization.all_objects.get(pk=organization_id)
        for user_id in sorted(with_data):
            member_data_delete(organization=organization, user_id=user_id)


def on_organization_purging(sender, *, organization_id: int, last: bool, **kwargs) -> int:
    """Every row of the app's own goes in the first stage (nothing of another app references them)."""
    from apps.boards.services import organization_boards_purge_batch

    return 0 if last else organization_boards_purge_batch(organization_id=organization_id)


def receivers_connect() -> None:
    organization_events.members_changed.connect(on_members_changed, dispatch_uid="boards.on_members_changed")
    organization_events.organization_purging.connect(
        on_organization_purging, dispatch_uid="boards.on_organization_purging"
    )
