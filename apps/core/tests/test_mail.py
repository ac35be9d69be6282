"""E-mail is rendered in the request and delivered by a worker (apps/core/mail.py, workers/tasks/mail.py).

Coverage: invitations reach a real SMTP server through a real worker after commit, one connection per batch; a
request never talks to the mail server (a password reset for an existing account answers without it); nothing is
published before the commit or when the transaction rolls back; 120 invitations go out as three tasks of at most
MAIL_BATCH_SIZE, their secrets kept out of the task's shown arguments; with the broker down the messages are
delivered in the request instead of being lost; `mails_deliver` drops a message the server refuses for good and
sends the others, returns the rest of the batch when the server is busy (4xx) or unreachable; the task tries the
unsent ones again until they go out, and gives up after MAIL_RETRIES retries, logged.
"""

import logging
import time

import pytest
from django.db import transaction

from apps.core.mail import MAIL_BATCH_SIZE, Mail, mails_deliver, mails_send_on_commit
from apps.core.tests.mail import SmtpServer
from apps.core.tests.test_failsoft import broker_at, closed_port
from apps.organizations.models import Invitation
from apps.organizations.services import invitations_create
from workers.tasks.mail import MAIL_RETRIES, mail_send


def smtp_at(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5


def batch(*addresses: str) -> list[dict]:
    return [{"to": address, "subject": f"Hello {address}", "body": f"Dear {address},\n"} for address in addresses]


@pytest.fixture
def smtp(settings):
    with SmtpServer() as server:
        smtp_at(settings, server.port)
        yield server


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_invitations_reach_the_mail_server_through_a_real_worker(celery_worker, smtp, organization, owner):
    invitations_create(
        organization=organization,
        emails=["ann@example.com", "bob@example.com"],
        role="member",
        actor=organization.memberships.get(user=owner),
    )
    deadline = time.monotonic() + 30
    while len(smtp.received) < 2:
        assert time.monotonic() < deadline, f"the worker delivered {len(smtp.received)} of 2 messages"
        time.sleep(0.1)
    assert sorted(message.recipients[0] for message in smtp.received) == ["ann@example.com", "bob@example.com"]
    assert all(f"Subject: You are invited to {organization.name} on Beacon" in m.content for m in smtp.received)
    assert smtp.handler.connections == 1  # one task, one connection, two messages
    assert Invitation.objects.filter(organization=organization).count() == 2


def test_a_password_reset_answers_without_talking_to_the_mail_server(
    smtp, user, api_client, mail_sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/auth/password/reset/", {"email": user.email})
    assert response.status_code == 202
    assert smtp.handler.connections == 0 and smtp.received == []
    assert [message.to for message in mail_sent] == [[user.email]]


def test_nothing_is_published_before_the_commit_or_after_a_rollback(db, mail_sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        mails_send_on_commit([Mail("ann@example.com", "Hi", "Body")])
        assert mail_sent == []
    assert [message.to for message in mail_sent] == [["ann@example.com"]]
    mail_sent.clear()
    with (
        django_capture_on_commit_callbacks(execute=True) as published,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        mails_send_on_commit([Mail("bob@example.com", "Hi", "Body")])
        raise RuntimeError("the change fails")
    assert published == [] and mail_sent == []


def test_many_invitations_go_out_in_batches_with_their_tokens_hidden_from_the_shown_arguments(
    organization, owner, mail_sent, django_capture_on_commit_callbacks
):
    emails = [f"person{number}@example.com" for number in range(120)]
    organization.plan.max_members = None
    organization.plan.save(update_fields=["max_members"])
    with django_capture_on_commit_callbacks(execute=True):
        made = invitations_create(
            organization=organization, emails=emails, role="member", actor=organization.memberships.get(user=owner)
        )
    tasks = mail_sent.tasks()
    assert [len(task["messages"]) for task in tasks] == [MAIL_BATCH_SIZE, MAIL_BATCH_SIZE, 120 - 2 * MAIL_BATCH_SIZE]
    assert [message.to[0] for message in mail_sent] == emails
    token = made[0][1]
    assert token in mail_sent[0].body
    assert all(token not in task["argsrepr"] and "message(s)" in task["argsrepr"] for task in tasks)


def test_with_the_broker_down_the_mail_is_delivered_in_the_request(
    smtp, user, api_client, mail_sent, django_capture_on_commit_callbacks
):
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"), django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/auth/password/reset/", {"email": user.email})
    assert response.status_code == 202
    assert [message.recipients for message in smtp.received] == [[user.email]]
    assert "Reset your Beacon password" in smtp.received[0].content
    assert mail_sent == []


def test_a_refused_recipient_is_dropped_and_the_others_are_sent(settings, caplog):
    with SmtpServer(refuse={"gone@example.com"}) as server:
        smtp_at(settings, server.port)
        with caplog.at_level(logging.ERROR, logger="apps.core.mail"):
            not_sent = mails_deliver(batch("ann@example.com", "gone@example.com", "bob@example.com"))
    assert not_sent == []
    assert [message.recipients for message in server.received] == [["ann@example.com"], ["bob@example.com"]]
    assert "refused 'Hello gone@example.com' to gone@example.com" in caplog.text


def test_a_busy_or_unreachable_server_leaves_the_rest_of_the_batch_to_try_again(settings):
    with SmtpServer(busy=1) as server:
        smtp_at(settings, server.port)
        messages = batch("ann@example.com", "bob@example.com")
        assert mails_deliver(messages) == messages  # 421 on the first: it and the rest
        assert server.received == []
        assert mails_deliver(messages) == []
        assert [message.recipients for message in server.received] == [["ann@example.com"], ["bob@example.com"]]
    smtp_at(settings, closed_port())
    assert mails_deliver(messages) == messages


def test_the_task_tries_the_unsent_ones_again_until_they_go_out(settings):
    with SmtpServer(busy=2) as server:
        smtp_at(settings, server.port)
        result = mail_send.apply(args=[batch("ann@example.com", "bob@example.com")])
        assert result.get() == 2  # the third attempt delivered both (eager retries run at once)
        assert [message.recipients for message in server.received] == [["ann@example.com"], ["bob@example.com"]]
        assert server.handler.connections == 3


def test_the_task_gives_up_after_its_retries_and_says_so(settings, caplog):
    smtp_at(settings, closed_port())
    with caplog.at_level(logging.ERROR, logger="apps.core.mail"):
        result = mail_send.apply(args=[batch("ann@example.com")])
    assert result.get() == 0
    assert f"1 message(s) lost after {MAIL_RETRIES + 1} tries" in caplog.text
