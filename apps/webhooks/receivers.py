"""Every receiver of webhooks, connected in `WebhooksConfig.ready()` (STYLE.md §9): the lower apps'
domain events that become webhook events. The table of events is in docs/architecture.md.

Each receiver records the deliveries in the caller's transaction; they are sent after it commits, so
a rolled-back write sends nothing. `plan_limit_reached` is the exception: it is sent just before a
refusal that rolls its transaction back, so when an endpoint listens, a task records the deliveries
outside that transaction.
"""

from __future__ import annotations

from apps.conversations import events as conversation_events
from apps.documents import events as document_events
from apps.organizations import events as organization_events
from apps.sources import events as source_events
from apps.webhooks.models import WebhookEvent
from apps.webhooks.services import organization_webhooks_purge_batch, webhook_event_record, webhook_subscribed


def on_document_finished(sender, *, organization_id, bot_id, document_id, status, **kwargs) -> None:
    event = WebhookEvent.DOCUMENT_READY if status == "ready" else WebhookEvent.DOCUMENT_FAILED
    data = {"bot_id": bot_id, "document_id": document_id, "status": status}
    webhook_event_record(organization_id=organization_id, event=event, data=data)


def on_crawl_finished(sender, *, organization_id, bot_id, source_id, run, status, pages, **kwargs) -> None:
    data = {"bot_id": bot_id, "source_id": source_id, "run": run, "status": status, "pages": pages}
    webhook_event_record(organization_id=organization_id, event=WebhookEvent.CRAWL_FINISHED, data=data)


def on_message_feedback_given(
    sender, *, organization_id, bot_id, conversation_id, message_id, value, comment, **kwargs
) -> None:
    data = {
        "bot_id": bot_id, "conversation_id": conversation_id, "message_id": message_id, "value": value,
        "comment": comment,
    }  # fmt: skip
    webhook_event_record(organization_id=organization_id, event=WebhookEvent.CONVERSATION_FEEDBACK, data=data)


def on_plan_limit_reached(sender, *, organization_id, limit, allowed, used, **kwargs) -> None:
    from apps.core.tasks import enqueue_now
    from workers.tasks.webhooks import webhook_event_record_task

    event = WebhookEvent.PLAN_LIMIT_REACHED
    if webhook_subscribed(organization_id=organization_id, event=event):
        data = {"limit": limit, "allowed": allowed, "used": used}
        enqueue_now(webhook_event_record_task, organization_id, str(event), data)


def on_organization_purging(sender, *, organization_id: int, last: bool, **kwargs) -> int:
    """Every row of the app's own goes in the first stage (nothing of another app references them)."""
    return 0 if last else organization_webhooks_purge_batch(organization_id=organization_id)


def receivers_connect() -> None:
    organization_events.organization_purging.connect(
        on_organization_purging, dispatch_uid="webhooks.on_organization_purging"
    )
    document_events.document_finished.connect(on_document_finished, dispatch_uid="webhooks.on_document_finished")
    source_events.crawl_finished.connect(on_crawl_finished, dispatch_uid="webhooks.on_crawl_finished")
    conversation_events.message_feedback_given.connect(
        on_message_feedback_given, dispatch_uid="webhooks.on_message_feedback_given"
    )
    organization_events.plan_limit_reached.connect(on_plan_limit_reached, dispatch_uid="webhooks.on_plan_limit_reached")
