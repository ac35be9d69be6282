"""Celery tasks of vision boards (queue `celery`; thin: ids in, one service call; docs/boards.md)."""

from celery import shared_task


@shared_task(
    name="boards.vision_board_refresh", ignore_result=True, acks_late=True, time_limit=300, soft_time_limit=240
)
def vision_board_refresh(organization_id: int, user_id: int) -> None:
    """Regenerate the member's board if its inputs changed. Idempotent (the inputs hash): a redelivery
    or a duplicate writes nothing; a member without a board or gone is skipped. No retries: the next
    change or the member's own POST regenerates it."""
    from apps.boards.services import vision_board_refresh as refresh

    refresh(organization_id=organization_id, user_id=user_id)
