"""Reads of vision boards. Every read takes the organization; goals and boards of other organizations
(or of other members, where the caller is narrowed to one member) are 404 like missing ids."""

from __future__ import annotations

from collections import Counter

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound

from apps.boards.models import Goal, VisionBoard
from apps.progress.models import ContentItem, Interaction, Progress


def member_top_interests(membership, limit: int) -> list[str]:
    """The member's strongest interests, strongest first (at most `limit`).

    The one place boards read interests (issue 19): today from the flat `User.interests` tags, ranked by
    how many of the items the member engaged with (interactions, progress) carry the interest as a tag or
    category, ties in the order the member listed them. When structured interests (apps/interests)
    land, only this function changes."""
    interests = [value for value in dict.fromkeys(membership.user.interests or []) if value.strip()]
    if not interests or limit <= 0:
        return []
    organization_id, user_id = membership.organization_id, membership.user_id
    engaged = set(
        Interaction.objects.filter(organization_id=organization_id, user_id=user_id).values_list("item_id", flat=True)
    ) | set(Progress.objects.filter(organization_id=organization_id, user_id=user_id).values_list("item_id", flat=True))
    counts: Counter[str] = Counter()
    wanted = {value.lower(): value for value in interests}
    for tags, categories in ContentItem.objects.filter(organization_id=organization_id, id__in=engaged).values_list(
        "tags", "categories"
    ):
        for label in {value.lower() for value in [*(tags or []), *(categories or [])]} & wanted.keys():
            counts[wanted[label]] += 1
    order = {value: index for index, value in enumerate(interests)}
    return sorted(interests, key=lambda value: (-counts[value], order[value]))[:limit]


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
    board = VisionBoard.objects.filter(pk=board_id, share_key=share_key).select_related("organization", "user").first()
    if board is None:
        return None
    latest = board_latest_get(organization=board.organization, user_id=board.user_id)
    return board if latest is not None and latest.pk == board.pk else None
