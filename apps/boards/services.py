"""Writes of vision boards: goals, board generation, sharing and deletion (docs/boards.md).

Generation does its slow work first and outside any transaction (reading the inputs, the language
model, image fetches, SVG and PNG rendering), then stores the new version in one short transaction
under a per-member advisory lock, where it checks the inputs hash again (two concurrent requests
store one board). The files of boards are deleted after the deleting transaction commits.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from apps.boards import compose, render
from apps.boards.images import image_data_uri
from apps.boards.models import Goal, VisionBoard
from apps.boards.selectors import board_latest_get, board_list, goal_list
from apps.core.exceptions import ApplicationError
from apps.core.locks import transaction_lock
from apps.core.purge import delete_in_order
from apps.core.tasks import enqueue_on_commit
from apps.progress.models import ContentItem
from apps.progress.services.catalog import content_refs_resolve
from workers.tasks.boards import vision_board_refresh as vision_board_refresh_task

SHARE_SALT = "boards.share"


def _member_lock(organization_id: int, user_id: int) -> None:
    transaction_lock(f"boards:{organization_id}:{user_id}")


# --------------------------------------------------------------------------- goals


def _targets(organization, ids: list[int]) -> list[ContentItem]:
    """The organization's items with these ids; 400 `invalid_reference` naming the ids it does not have
    (other organizations' ids included: the same answer as missing ones)."""
    ids = list(dict.fromkeys(ids))
    if len(ids) > settings.BOARDS_MAX_GOAL_ITEMS:
        raise ValidationError({"target_items": [f"At most {settings.BOARDS_MAX_GOAL_ITEMS} target items per goal."]})
    return content_refs_resolve(organization=organization, ids=ids, field_name="target_items")


def _refresh_if_boarded(goal: Goal) -> None:
    """A goal changed: a member who has a board gets it regenerated in the background (on commit)."""
    if board_latest_get(organization=goal.organization, user_id=goal.user_id) is not None:
        enqueue_on_commit(vision_board_refresh_task, goal.organization_id, goal.user_id)


@transaction.atomic
def goal_create(
    *, membership, text: str, target_items: list[int] | None = None, target_date: date | None = None
) -> Goal:
    organization = membership.organization
    if goal_list(organization=organization, user_id=membership.user_id).count() >= settings.BOARDS_MAX_GOALS:
        raise ApplicationError(
            f"A member has at most {settings.BOARDS_MAX_GOALS} goals; delete one first.",
            code="too_many_goals",
            status_code=409,  # state, not input: the same goal is accepted once another is deleted
        )
    items = _targets(organization, target_items or [])
    goal = Goal(organization=organization, user_id=membership.user_id, text=text.strip(), target_date=target_date)
    goal.full_clean()
    goal.save()
    goal.target_items.set(items)
    _refresh_if_boarded(goal)
    return goal


@transaction.atomic
def goal_update(*, goal: Goal, data: dict) -> Goal:
    """PATCH: `text`, `target_date`, `target_items` (the whole list) as given."""
    if "text" in data:
        goal.text = data["text"].strip()
    if "target_date" in data:
        goal.target_date = data["target_date"]
    goal.full_clean()
    goal.save()
    if "target_items" in data:
        goal.target_items.set(_targets(goal.organization, data["target_items"]))
    _refresh_if_boarded(goal)
    return goal


@transaction.atomic
def goal_delete(*, goal: Goal) -> None:
    _refresh_if_boarded(goal)
    goal.delete()


# --------------------------------------------------------------------------- boards


def _subtitle(inputs: compose.BoardInputs) -> str:
    return f"{inputs.name} · {timezone.localdate():%d %B %Y}"


def vision_board_generate(*, membership, force: bool = False) -> tuple[VisionBoard, bool]:
    """(board, created): a new version of the member's board, or the latest one when its inputs are
    unchanged (and not `force`). Not atomic itself (module docstring); call it outside a transaction."""
    organization, user_id = membership.organization, membership.user_id
    inputs = compose.board_inputs_collect(membership=membership)
    inputs_hash = inputs.hash()
    latest = board_latest_get(organization=organization, user_id=user_id)
    if latest is not None and latest.inputs_hash == inputs_hash and not force:
        return latest, False
    captions, source, note = compose.captions_write(inputs)
    for item in inputs.next_items:
        item["image"] = image_data_uri(item["image_url"]) if item["image_url"] else None
    layout = render.layout_build(inputs, captions, subtitle=_subtitle(inputs))
    svg = render.svg_render(layout)
    png = render.png_render(svg, width=layout["width"], height=layout["height"])
    with transaction.atomic():
        _member_lock(organization.pk, user_id)
        latest = board_latest_get(organization=organization, user_id=user_id)
        if latest is not None and latest.inputs_hash == inputs_hash and not force:
            return latest, False  # a concurrent generation stored the same board first
        board = VisionBoard(
            organization=organization, user_id=user_id, version=(latest.version + 1) if latest else 1,
            inputs_hash=inputs_hash, layout=layout, svg=svg, width=layout["width"], height=layout["height"],
            captions=source, captions_note=note,
        )  # fmt: skip
        board.png.save(f"board-{organization.pk}-{user_id}-{uuid.uuid4().hex[:12]}.png", ContentFile(png), save=False)
        board.full_clean()
        board.save()
        _versions_prune(organization.pk, user_id)
    return board, True


def vision_board_refresh(*, organization_id: int, user_id: int) -> VisionBoard | None:
    """Task: regenerate the member's board when its inputs changed. Idempotent: unchanged inputs write
    nothing; a member without a board (none generated, or deleted) or gone from the organization is left
    alone. Returns the new board, else None."""
    from apps.organizations.models import Membership

    membership = (
        Membership.objects.filter(organization_id=organization_id, user_id=user_id)
        .select_related("organization", "user")
        .first()
    )
    if membership is None or board_latest_get(organization=membership.organization, user_id=user_id) is None:
        return None
    board, created = vision_board_generate(membership=membership)
    return board if created else None


def _files_delete_on_commit(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    def delete():
        for name in names:
            default_storage.delete(name)

    transaction.on_commit(delete, robust=True)


def _versions_prune(organization_id: int, user_id: int) -> None:
    """Keep the newest BOARDS_KEEP_VERSIONS boards of the member (rows and files)."""
    old = list(
        VisionBoard.objects.filter(organization_id=organization_id, user_id=user_id).order_by("-version")[
            settings.BOARDS_KEEP_VERSIONS :
        ]
    )
    if old:
        VisionBoard.objects.filter(pk__in=[board.pk for board in old]).delete()
        _files_delete_on_commit([board.png.name for board in old if board.png])


@transaction.atomic
def boards_delete(*, organization, user_id: int) -> int:
    """Delete every board of the member in the organization, their PNG files too (after commit)."""
    _member_lock(organization.pk, user_id)
    boards = list(board_list(organization=organization, user_id=user_id))
    VisionBoard.objects.filter(pk__in=[board.pk for board in boards]).delete()
    _files_delete_on_commit([board.png.name for board in boards if board.png])
    return len(boards)


@transaction.atomic
def member_data_delete(*, organization, user_id: int) -> dict:
    """The member's goals and boards (with their files) in the organization: when they leave it, or
    when their data is deleted."""
    boards = boards_delete(organization=organization, user_id=user_id)
    goals, _ = Goal.objects.filter(organization=organization, user_id=user_id).delete()
    return {"goals": goals, "boards": boards}


# --------------------------------------------------------------------------- sharing


def board_share_create(*, board: VisionBoard) -> tuple[str, datetime]:
    """(token, expires_at): a signed link to the board; links made earlier for it stay valid until they
    expire, the member revokes sharing, or a newer version replaces the board."""
    if not board.share_key:
        board.share_key = secrets.token_urlsafe(16)[:22]
        board.save(update_fields=["share_key", "updated_at"])
    token = signing.TimestampSigner(salt=SHARE_SALT).sign(f"{board.pk}.{board.share_key}")
    return token, timezone.now() + timedelta(seconds=settings.BOARDS_SHARE_MAX_AGE_SECONDS)


def board_share_revoke(*, organization, user_id: int) -> int:
    """End every share link of the member's boards. Returns how many boards were shared."""
    return (
        board_list(organization=organization, user_id=user_id)
        .exclude(share_key="")
        .update(share_key="", updated_at=timezone.now())
    )


class ShareLinkExpired(Exception):
    pass


def share_token_read(token: str) -> tuple[int, str] | None:
    """(board id, share key) of a valid share token; None for a forged or malformed one;
    ShareLinkExpired past BOARDS_SHARE_MAX_AGE_SECONDS."""
    try:
        value = signing.TimestampSigner(salt=SHARE_SALT).unsign(token, max_age=settings.BOARDS_SHARE_MAX_AGE_SECONDS)
    except signing.SignatureExpired as exc:
        raise ShareLinkExpired from exc
    except signing.BadSignature:
        return None
    board_id, _, key = value.partition(".")
    return (int(board_id), key) if board_id.isdigit() and key else None


def organization_boards_purge_batch(*, organization_id: int) -> int:
    """A batch of a deleted organization's boards (their PNG files after commit), then of its goals
    (`organization_purging`). Returns how many rows went (0: none left)."""
    limit = settings.ORGANIZATION_PURGE_BATCH_ROWS
    with transaction.atomic():
        boards = list(
            VisionBoard.objects.filter(organization_id=organization_id)
            .select_for_update(skip_locked=True)
            .values_list("pk", "png")[:limit]
        )
        if boards:
            VisionBoard.objects.filter(pk__in=[pk for pk, _png in boards]).delete()
            _files_delete_on_commit([png for _pk, png in boards if png])
            return len(boards)
    # The goals' links to its items first, whoever's goal holds one (the admin's raw id field accepts any item).
    links = Goal.target_items.through.objects.filter(contentitem__organization_id=organization_id)
    return delete_in_order([links, Goal.objects.filter(organization_id=organization_id)], limit=limit)
