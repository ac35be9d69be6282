"""Reads of vision boards. Every read takes the organization; goals and boards of other organizations
(or of other members, where the caller is narrowed to one member) are 404 like missing ids."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound

from apps.boards.models import Goal, VisionBoard
from apps.interests.selectors import member_interest_list


def member_top_interests(membership, limit: int) -> list[str]:
    """The member's strongest interests, strongest first (at most `limit`): their structured interests
    in the organization (apps/interests) by decayed weight, every source — stated, synced, inferred from
    what they engaged with, asked about in chat. The one place boards read interests."""
    if limit <= 0:
        return []
    views = member_interest_list(organization=membership.organization, user_id=membership.user_id)
    return [view.value for view in views[:limit]]


def goal_list(*, organization, user_id: int) -> QuerySet[Goal]:
    return (
        Goal.objects.filter(organization=organization, user_id=user_id)
        .prefetch_related("target_items")
        .order_by("created_at", "id")
    )


def goal_get(*, organization, user_id: int, goal_id: int) -> Goal:
    """The member's goal, or 404 (goals of other members and organizations included)."""
    goal = goal_list(organization=organization, user_id=user_id).filter(pk=goal_id).first()
    if goal is None:
        raise NotFound("Goal not found.")
    return goal


def board_list(*, organization, user_id: int) -> QuerySet[VisionBoard]:
    return VisionBoard.objects.filter(organization=organization, user_id=user_id).order_by("-version")


def board_latest_get(*, organization, user_id: int) -> VisionBoard | None:
    return board_list(organization=organization, user_id=user_id).first()


def board_latest_require(*, organization, user_id: int) -> VisionBoard:
    board = board_latest_get(organization=organization, user_id=user_id)
    if board is None:
        raise NotFound("No vision board yet: generate one with POST.")
    return board


def board_shared_get(*, board_id: int, share_key: str) -> VisionBoard | None:
    """The board a share link names, if the link still holds: its key matches (not revoked) and it is
    still its member's latest board (a newer version ends the old links). None otherwise."""
    if not share_key:
        return None
    board = (
        VisionBoard.objects.filter(pk=board_id, share_key=share_key, organization__deleted_at__isnull=True)
        .select_related("organization", "user")
        .first()
    )
    if board is None:
        return None
    latest = board_latest_get(organization=board.organization, user_id=board.user_id)
    return board if latest is not None and latest.pk == board.pk else None
