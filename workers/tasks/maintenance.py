"""Housekeeping on Celery beat. Thin wrappers: the logic is in the apps' services."""

from celery import shared_task


@shared_task(name="maintenance.invitations_purge_expired", ignore_result=True)
def invitations_purge_expired(older_than_days: int = 30) -> int:
    """Delete invitations expired for more than N days. Idempotent: a rerun finds nothing."""
    from apps.organizations.services import invitations_purge_expired as purge

    return purge(older_than_days=older_than_days)


@shared_task(name="maintenance.invitations_mail_recover", ignore_result=True)
def invitations_mail_recover() -> int:
    """Publish again the pending invitations not yet mailed an hour after their creation (a lost publish, a mail
    server down past the task's retries). Idempotent: a duplicate mails the same token."""
    from apps.organizations.services import invitations_mail_recover as recover

    return recover()


@shared_task(name="maintenance.jwt_flush_expired", ignore_result=True)
def jwt_flush_expired() -> None:
    """Drop expired outstanding/blacklisted refresh tokens. Idempotent."""
    from django.core.management import call_command

    call_command("flushexpiredtokens")


@shared_task(name="maintenance.ping", ignore_result=False)
def ping() -> str:
    """Round trip through the broker and a worker (used by tests and operators)."""
    return "pong"


@shared_task(name="maintenance.work_recover_stuck", ignore_result=True)
def work_recover_stuck() -> dict:
    """Beat: re-enqueue long jobs whose worker or task was lost, or fail them past the attempt limit
    (docs/recovery.md). Idempotent and safe to run twice at once (SKIP LOCKED row locks). Acked
    early on purpose: a lost tick is done by the next one."""
    from apps.bots.services import bots_purge_recover
    from apps.documents.services.recovery import documents_recover_stuck
    from apps.organizations.services import member_erasures_recover, organizations_purge_recover
    from apps.outreach.services import campaigns_recover_stuck
    from apps.recommendations.services import recommender_trainings_recover_stuck

    documents = documents_recover_stuck()
    trainings = recommender_trainings_recover_stuck()
    campaigns = campaigns_recover_stuck()
    bot_purges = bots_purge_recover()
    organization_purges = organizations_purge_recover()
    erasures = member_erasures_recover()
    return {
        "documents_requeued": documents.requeued,
        "documents_failed": documents.failed,
        "trainings_requeued": trainings["requeued"],
        "trainings_failed": trainings["failed"],
        "campaigns_requeued": campaigns["requeued"],
        "campaigns_failed": campaigns["failed"],
        "bot_purges_requeued": bot_purges,
        "organization_purges_requeued": organization_purges,
        "member_erasures_settled": erasures,
    }
