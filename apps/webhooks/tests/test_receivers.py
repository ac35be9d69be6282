"""The domain events that become webhook deliveries (docs/webhooks.md, docs/architecture.md "Domain events").

Coverage (the senders are tested in each sending app's tests/test_events.py; here the monthly message
limit's plan_limit_reached; a crawl's crawl_finished): the receivers record one delivery per active,
subscribed endpoint of the organization only, and publish it after commit; a rolled-back write records and
publishes nothing;
plan.limit_reached, whose transaction rolls back, is recorded by a task published at once, and only when
an endpoint listens; webhooks has exactly one receiver per event it listens to and none on post_save.
"""

import weakref
from unittest import mock

import pytest
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from apps.bots.tests.factories import BotFactory
from apps.conversations import events as conversation_events
from apps.conversations.models import Conversation, Message
from apps.documents import events as document_events
from apps.documents.models import Document
from apps.documents.services.pipeline import document_fail
from apps.documents.tests.factories import DocumentFactory
from apps.organizations import events as organization_events
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, plan
from apps.sources import events as source_events
from apps.sources.services import crawl_cancel
from apps.sources.tests.factories import CrawlSourceFactory
from apps.webhooks import receivers
from apps.webhooks.models import WebhookDelivery, WebhookEvent
from apps.webhooks.tests.factories import WebhookEndpointFactory
from conftest import client_for

pytestmark = pytest.mark.django_db

DELIVER = "workers.tasks.webhooks.webhook_deliver_task.apply_async"
RECORD = "workers.tasks.webhooks.webhook_event_record_task.apply_async"


def test_a_document_event_reaches_subscribed_endpoints_after_commit(django_capture_on_commit_callbacks):
    document = DocumentFactory(status=Document.Status.PROCESSING)
    organization = document.organization
    listening = WebhookEndpointFactory(organization=organization, events=[WebhookEvent.DOCUMENT_FAILED])
    WebhookEndpointFactory(organization=organization, events=[WebhookEvent.DOCUMENT_READY])  # other event
    WebhookEndpointFactory(organization=organization, is_active=False)  # paused
    WebhookEndpointFactory(events=[WebhookEvent.DOCUMENT_FAILED])  # another organization

    with mock.patch(DELIVER) as publish, django_capture_on_commit_callbacks(execute=False) as callbacks:
        document_fail(document_id=document.pk, message="Unreadable.")
        document_fail(document_id=document.pk, message="Unreadable again.")  # already failed: no second event
        assert publish.call_count == 0  # not before commit

        delivery = WebhookDelivery.objects.get()
    with mock.patch(DELIVER) as publish:
        for callback in callbacks:
            callback()

    assert delivery.endpoint == listening and delivery.organization == organization
    assert delivery.event == "document.failed"
    assert delivery.payload == {"bot_id": document.bot_id, "document_id": document.pk, "status": "failed"}
    publish.assert_called_once_with((delivery.pk,))


def test_a_crawl_ending_sends_crawl_finished(django_capture_on_commit_callbacks):
    """issue 17 item 5: a crawl run that ends (here: a queued run cancelled) is delivered as crawl.finished."""
    source = CrawlSourceFactory(run=2, status="queued")
    endpoint = WebhookEndpointFactory(organization=source.organization, events=[WebhookEvent.CRAWL_FINISHED])
    WebhookEndpointFactory(organization=source.organization, events=[WebhookEvent.DOCUMENT_READY])  # other event
    with mock.patch(DELIVER) as publish, django_capture_on_commit_callbacks(execute=True):
        crawl_cancel(source=source)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.event) == (endpoint, "crawl.finished")
    assert delivery.payload == {
        "bot_id": source.bot_id, "source_id": source.pk, "run": 2, "status": "cancelled", "pages": {},
    }  # fmt: skip
    publish.assert_called_once_with((delivery.pk,))


def test_a_rolled_back_write_records_and_sends_nothing(django_capture_on_commit_callbacks):
    document = DocumentFactory(status=Document.Status.PROCESSING)
    WebhookEndpointFactory(organization=document.organization)

    with (
        mock.patch(DELIVER) as publish,
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        document_fail(document_id=document.pk, message="Unreadable.")
        assert WebhookDelivery.objects.count() == 1
        raise RuntimeError("the caller fails after the event")

    assert WebhookDelivery.objects.count() == 0
    publish.assert_not_called()


def test_feedback_sends_conversation_feedback(django_capture_on_commit_callbacks):
    owner = MembershipFactory(role=Role.OWNER)
    organization = owner.organization
    bot = BotFactory(organization=organization)
    conversation = Conversation.objects.create(organization=organization, bot=bot, user=owner.user)
    answer = Message.objects.create(
        organization=organization, conversation=conversation, role=Message.Role.ASSISTANT, content="Within 14 days."
    )
    WebhookEndpointFactory(organization=organization, events=[WebhookEvent.CONVERSATION_FEEDBACK])
    url = (
        f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/conversations/{conversation.pk}/messages/{answer.pk}/feedback/"
    )

    with mock.patch(DELIVER) as publish, django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner.user).post(url, {"value": -1, "comment": "Wrong period."}, format="json")

    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "conversation.feedback"
    assert delivery.payload == {
        "bot_id": bot.pk, "conversation_id": conversation.pk, "message_id": answer.pk, "value": -1,
        "comment": "Wrong period.",
    }  # fmt: skip
    publish.assert_called_once_with((delivery.pk,))


def test_a_plan_refusal_is_recorded_by_a_task_published_at_once():
    organization = OrganizationFactory(plan=plan("free"))
    admin = client_for(MembershipFactory(organization=organization, role=Role.ADMIN).user)
    bots = f"/api/v1/orgs/{organization.slug}/bots/"
    assert admin.post(bots, {"name": "First"}, format="json").status_code == 201

    with mock.patch(RECORD) as publish:
        assert admin.post(bots, {"name": "Second"}, format="json").status_code == 403  # nobody listens
        publish.assert_not_called()
        WebhookEndpointFactory(organization=organization, events=[WebhookEvent.PLAN_LIMIT_REACHED])
        assert admin.post(bots, {"name": "Third"}, format="json").status_code == 403

    data = {"limit": "max_bots", "allowed": 1, "used": 1}
    publish.assert_called_once_with((organization.pk, "plan.limit_reached", data))
    assert WebhookDelivery.objects.count() == 0  # the refusal's transaction rolled back; the task records it

    from workers.tasks.webhooks import webhook_event_record_task

    with mock.patch(DELIVER):
        webhook_event_record_task(organization.pk, "plan.limit_reached", data)
    assert WebhookDelivery.objects.get().payload == data


def test_the_monthly_message_limit_sends_plan_limit_reached(settings):
    from apps.bots.tests.factories import BotFactory
    from apps.conversations import services
    from apps.core.exceptions import ApplicationError
    from apps.core.tests.events import events_sent
    from apps.organizations.models import Plan

    organization = OrganizationFactory(plan=Plan.objects.create(code="none-left", name="None", max_monthly_messages=0))
    bot = BotFactory(organization=organization)
    conversation = services.conversation_create(organization=organization, bot=bot)
    with events_sent(organization_events.plan_limit_reached) as sent, pytest.raises(ApplicationError):
        services.turn_prepare(conversation=conversation, content="Anything left this month?")
    assert [s.kwargs for s in sent] == [
        {"organization_id": organization.pk, "limit": "max_monthly_messages", "allowed": 0, "used": 0}
    ]


def test_one_receiver_per_event_and_none_on_model_signals():
    def modules(signal):
        functions = [ref() if isinstance(ref, weakref.ref) else ref for _key, ref, *_rest in signal.receivers]
        return [getattr(function, "__module__", "") for function in functions]

    for signal in (
        document_events.document_finished,
        conversation_events.message_feedback_given,
        organization_events.plan_limit_reached,
        source_events.crawl_finished,
    ):
        assert [m for m in modules(signal) if m.startswith("apps.webhooks.")] == [receivers.__name__]
    for signal in (post_save, post_delete):
        assert [m for m in modules(signal) if m.startswith("apps.webhooks.")] == []
