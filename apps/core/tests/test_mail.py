"""E-mail is made and delivered by a worker (apps/core/mail.py, workers/tasks/organizations.py and users.py).

Coverage: invitations reach a real SMTP server through a real worker after commit, one connection per batch, with a
token minted there that accepts the invitation; a request publishes ids or an address only (no token, no message
body in the broker) and never talks to the mail server; a password reset publishes the same task whether an account
has the address or not; nothing is published before the commit or after a rollback; 120 invitations go out as
three tasks; a revoked invitation is not mailed; with the broker down the mail is delivered in the request;
`mails_deliver` drops a message the server refuses for good and sends the others, and returns the rest of the
batch when the server is busy (4xx) or unreachable; the tasks try the unsent ones again (with new tokens) until they
go out, and give up after MAIL_RETRIES retries, logged; the SMTP connection has a time limit by default.
"""

import json
import logging
import re
import time

import pytest
from django.conf import settings as django_settings
from django.db import transaction

from apps.core.mail import Mail, mails_deliver
from apps.core.tests.mail import SmtpServer
from apps.core.tests.test_failsoft import broker_at, closed_port
from apps.organizations.models import Invitation
from apps.organizations.services import invitation_revoke, invitations_create
from workers.tasks.mail import MAIL_RETRIES
from workers.tasks.organizations import INVITATIONS_PER_TASK, invitations_mail_task
from workers.tasks.users import password_reset_mail_task


def smtp_at(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5


def mails(*addresses: str) -> list[Mail]:
    return [Mail(address, f"Hello {address}", f"Dear {address},\n") for address in addresses]


def invite(organization, owner, *emails):
    actor = organization.memberships.get(user=owner)
    return invitations_create(organization=organization, emails=list(emails), role="member", actor=actor)


@pytest.fixture
def smtp(settings):
    with SmtpServer() as server:
        smtp_at(settings, server.port)
        yield server


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_invitations_reach_the_mail_server_through_a_real_worker(celery_worker, smtp, organization, owner, api_client):
    invite(organization, owner, "ann@example.com", "bob@example.com")
    deadline = time.monotonic() + 30
    while len(smtp.received) < 2:
        assert time.monotonic() < deadline, f"the worker delivered {len(smtp.received)} of 2 messages"
        time.sleep(0.1)
    assert sorted(message.recipients[0] for message in smtp.received) == ["ann@example.com", "bob@example.com"]
    assert all(f"Subject: You are invited to {organization.name} on Beacon" in m.content for m in smtp.received)
    assert smtp.handler.connections == 1  # one task, one connection, two messages
    ann = next(message for message in smtp.received if message.recipients == ["ann@example.com"])
    token = re.search(r"UTC\):\s+(\S+)", ann.content).group(1)  # the line under "Your invitation token (...)"
    preview = api_client.post("/api/v1/invitations/preview/", {"token": token}, format="json")
    assert preview.status_code == 200, preview.content
    assert preview.json()["email"] == "ann@example.com"


def test_a_request_publishes_ids_only_and_never_talks_to_the_mail_server(
    smtp, organization, owner, mail_sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        made = invite(organization, owner, "ann@example.com")
    raw = mail_sent.client.lrange("ingestion", 0, -1)
    assert smtp.handler.connections == 0
    bodies = [json.loads(message) for message in raw]
    assert [body["headers"]["task"] for body in bodies] == ["mail.invitations"]
    assert bodies[0]["headers"]["argsrepr"] == repr((organization.pk, [made[0].pk]))
    assert "ann@example.com" not in raw[0].decode() and "token" not in bodies[0]["headers"]["argsrepr"]


def test_a_password_reset_publishes_the_same_task_whether_the_account_exists_or_not(
    smtp, settings, user, api_client, mail_sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        known = api_client.post("/api/v1/auth/password/reset/", {"email": user.email})
        unknown = api_client.post("/api/v1/auth/password/reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert smtp.handler.connections == 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # mail_sent's services deliver here
    assert [message.to for message in mail_sent] == [[user.email]]
    assert [(p["task"], p["args"]) for p in mail_sent.published] == [
        ("mail.password_reset", [user.email]),
        ("mail.password_reset", ["nobody@example.com"]),
    ]


def test_nothing_is_published_before_the_commit_or_after_a_rollback(
    organization, owner, mail_sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(organization, owner, "ann@example.com")
        assert mail_sent == []
    assert [message.to for message in mail_sent] == [["ann@example.com"]]
    with (
        django_capture_on_commit_callbacks(execute=True) as published,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        invite(organization, owner, "bob@example.com")
        raise RuntimeError("the change fails")
    assert published == [] and len(mail_sent) == 1


def test_many_invitations_go_out_in_batches_and_a_revoked_one_is_not_mailed(
    organization, owner, mail_sent, django_capture_on_commit_callbacks
):
    emails = [f"person{number}@example.com" for number in range(120)]
    organization.plan.max_members = None
    organization.plan.save(update_fields=["max_members"])
    with django_capture_on_commit_callbacks(execute=True):
        made = invite(organization, owner, *emails)
    invitation_revoke(invitation=made[0])
    assert [message.to[0] for message in mail_sent] == emails[1:]
    assert [len(p["args"][1]) for p in mail_sent.published] == [INVITATIONS_PER_TASK] * 2 + [
        120 - 2 * INVITATIONS_PER_TASK
    ]


def test_with_the_broker_down_the_mail_is_delivered_in_the_request(
    smtp, user, api_client, django_capture_on_commit_callbacks
):
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"), django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/auth/password/reset/", {"email": user.email})
    assert response.status_code == 202
    assert [message.recipients for message in smtp.received] == [[user.email]]
    assert "Reset your Beacon password" in smtp.received[0].content


def test_a_refused_recipient_is_dropped_and_the_others_are_sent(settings, caplog):
    with SmtpServer(refuse={"gone@example.com"}) as server:
        smtp_at(settings, server.port)
        with caplog.at_level(logging.ERROR, logger="apps.core.mail"):
            not_sent = mails_deliver(mails("ann@example.com", "gone@example.com", "bob@example.com"))
    assert not_sent == []
    assert [message.recipients for message in server.received] == [["ann@example.com"], ["bob@example.com"]]
    assert "refused 'Hello gone@example.com' to gone@example.com" in caplog.text


def test_a_busy_or_unreachable_server_leaves_the_rest_of_the_batch_to_try_again(settings):
    batch = mails("ann@example.com", "bob@example.com")
    with SmtpServer(busy=1) as server:
        smtp_at(settings, server.port)
        assert mails_deliver(batch) == [0, 1]  # 421 on the first: it and the rest
        assert server.received == []
        assert mails_deliver(batch) == []
        assert [message.recipients for message in server.received] == [["ann@example.com"], ["bob@example.com"]]
    smtp_at(settings, closed_port())
    assert mails_deliver(batch) == [0, 1]


def test_the_invitation_task_tries_the_unsent_ones_again_with_new_tokens(settings, organization, owner):
    made = invite(organization, owner, "ann@example.com", "bob@example.com")
    with SmtpServer(busy=2) as server:
        smtp_at(settings, server.port)
        result = invitations_mail_task.apply(args=[organization.pk, [invitation.pk for invitation in made]])
        assert result.get() == 2  # the third attempt delivered both (eager retries run at once)
        assert [message.recipients for message in server.received] == [["ann@example.com"], ["bob@example.com"]]
        assert server.handler.connections == 3
    hashes = set(Invitation.objects.filter(pk__in=[i.pk for i in made]).values_list("token_hash", flat=True))
    assert hashes.isdisjoint({invitation.token_hash for invitation in made})  # minted at sending, not at creation


def test_the_reset_task_gives_up_after_its_retries_and_says_so(settings, user, caplog):
    smtp_at(settings, closed_port())
    with caplog.at_level(logging.ERROR, logger="apps.core.mail"):
        result = password_reset_mail_task.apply(args=[user.email])
    assert result.get() is False
    assert f"a password reset not mailed after {MAIL_RETRIES + 1} tries" in caplog.text


def test_an_smtp_connection_has_a_time_limit_by_default():
    from django.core.mail import get_connection

    connection = get_connection("django.core.mail.backends.smtp.EmailBackend")
    assert connection.timeout == django_settings.EMAIL_TIMEOUT == 10
