"""E-mail is made and delivered by a worker (apps/core/mail.py, workers/tasks/organizations.py and users.py).

Coverage: invitations reach a real SMTP server through a real worker after commit, one connection per batch, and
the token a message carries accepts its invitation; a request publishes ids or an address only (no token, no
message in the broker) and never talks to the mail server; a password reset publishes the same task whether an
account has the address or not, and answers 503 with the broker down; nothing is published before the commit or
after a rollback; 120 invitations go out as three tasks; revoked, accepted and expired invitations are not mailed
and keep their hash; a task of one organization never mails another's invitations; an invitation mailed twice (a
duplicated task) carries the same token both times; invitations whose publish was lost are mailed by the recovery
sweep; `mails_deliver` drops a message the server refuses for good and sends the others, returns the rest of the
batch when the server is busy (4xx), refuses the sender or is unreachable; the tasks try the unsent ones again
until they go out, and give up after MAIL_RETRIES retries, logged; the SMTP connection has a time limit by default.
"""

import json
import logging
import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from apps.core.mail import Mail, mails_deliver
from apps.core.tests.mail import BROKER_LIST, SmtpServer
from apps.core.tests.test_failsoft import broker_at, closed_port
from apps.core.tests.waiting import until
from apps.organizations.models import Invitation
from apps.organizations.services import (
    invitation_get_by_token,
    invitation_revoke,
    invitation_token,
    invitations_create,
    invitations_mail_recover,
    invitations_mail_send,
)
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.organizations.tests.utils import token_from_mail
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
    until(lambda: len(smtp.received) >= 2, "the worker's delivery of 2 messages", timeout=30)
    assert sorted(message.recipients[0] for message in smtp.received) == ["ann@example.com", "bob@example.com"]
    assert all(f"Subject: You are invited to {organization.name} on Beacon" in m.content for m in smtp.received)
    assert smtp.handler.connections == 1  # one task, one connection, two messages
    ann = next(message for message in smtp.received if message.recipients == ["ann@example.com"])
    token = re.search(r"UTC\):\s+(\S+)", ann.content).group(1)  # the line under "Your invitation token (...)"
    preview = api_client.post("/api/v1/invitations/preview/", {"token": token}, format="json")
    assert preview.status_code == 200, preview.content
    assert preview.json()["email"] == "ann@example.com"
    assert Invitation.objects.filter(mailed_at__isnull=True).count() == 0


def test_a_request_publishes_ids_only_and_never_talks_to_the_mail_server(
    smtp, organization, owner, mail_sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        made = invite(organization, owner, "ann@example.com")
    raw = mail_sent.client.lrange(BROKER_LIST, 0, -1)
    assert smtp.handler.connections == 0
    bodies = [json.loads(message) for message in raw]
    assert [body["headers"]["task"] for body in bodies] == ["mail.invitations"]
    assert bodies[0]["headers"]["argsrepr"] == repr((organization.pk, [made[0].pk]))
    assert invitation_token(invitation=made[0]) not in raw[0].decode()
    assert "ann@example.com" not in raw[0].decode()


def test_a_password_reset_publishes_the_same_task_whether_the_account_exists_or_not(
    smtp, settings, user, api_client, mail_sent
):
    known = api_client.post("/api/v1/auth/password/reset/", {"email": user.email})
    unknown = api_client.post("/api/v1/auth/password/reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert smtp.handler.connections == 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # mail_sent's tasks deliver here
    assert [message.to for message in mail_sent] == [[user.email]]
    assert [(p["task"], p["args"]) for p in mail_sent.published] == [
        ("mail.password_reset", [user.email]),
        ("mail.password_reset", ["nobody@example.com"]),
    ]


def test_with_the_broker_down_a_reset_is_503_for_any_address_and_sends_nothing(smtp, user, api_client):
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"):
        known = api_client.post("/api/v1/auth/password/reset/", {"email": user.email})
        unknown = api_client.post("/api/v1/auth/password/reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 503
    assert known.json()["error"]["code"] == unknown.json()["error"]["code"] == "service_unavailable"
    assert smtp.handler.connections == 0


def test_invitations_whose_publish_was_lost_are_mailed_by_the_recovery_sweep(
    smtp, settings, organization, owner, mail_sent, django_capture_on_commit_callbacks
):
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"), django_capture_on_commit_callbacks(execute=True):
        made = invite(organization, owner, "ann@example.com")
    assert smtp.handler.connections == 0 and mail_sent.published == []  # nothing in the request, nothing lost
    assert invitations_mail_recover() == 0  # younger than an hour: its task may still be on its way
    Invitation.objects.filter(pk=made[0].pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert invitations_mail_recover() == 1
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert [message.to for message in mail_sent] == [["ann@example.com"]]
    assert invitations_mail_recover() == 0  # mailed now


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


def test_many_invitations_go_out_in_batches_and_closed_ones_are_not_mailed(
    organization, owner, mail_sent, django_capture_on_commit_callbacks
):
    from apps.organizations.services import invitation_accept

    emails = [f"person{number}@example.com" for number in range(120)]
    organization.plan.max_members = None
    organization.plan.save(update_fields=["max_members"])
    with django_capture_on_commit_callbacks(execute=True):
        made = invite(organization, owner, *emails)
    invitation_revoke(invitation=made[0])
    invitation_accept(token=invitation_token(invitation=made[1]), password="a long enough passphrase 42")
    Invitation.objects.filter(pk=made[2].pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    hashes = dict(Invitation.objects.values_list("pk", "token_hash"))
    assert [message.to[0] for message in mail_sent] == emails[3:]
    assert [len(p["args"][1]) for p in mail_sent.published] == [INVITATIONS_PER_TASK] * 2 + [20]
    assert dict(Invitation.objects.values_list("pk", "token_hash")) == hashes  # nothing rewritten
    for message in mail_sent:  # every token mailed opens its own invitation
        assert invitation_get_by_token(token=token_from_mail(message)).email == message.to[0]


def test_a_duplicated_task_mails_the_same_token_and_another_organizations_ids_mail_nothing(
    organization, owner, mail_sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        made = invite(organization, owner, "ann@example.com")
    first = token_from_mail(mail_sent[0])
    Invitation.objects.filter(pk=made[0].pk).update(mailed_at=None)  # as if a second task came before the first ended
    assert invitations_mail_send(organization_id=organization.pk, invitation_ids=[made[0].pk]) == (1, [])
    assert token_from_mail(mail_sent[1]) == first
    assert invitation_get_by_token(token=first).pk == made[0].pk
    other = OrganizationFactory()
    MembershipFactory(organization=other)
    before = list(Invitation.objects.values_list("pk", "token_hash", "mailed_at"))
    Invitation.objects.filter(pk=made[0].pk).update(mailed_at=None)
    assert invitations_mail_send(organization_id=other.pk, invitation_ids=[made[0].pk]) == (0, [])
    assert len(mail_sent) == 2
    assert Invitation.objects.get(pk=made[0].pk).mailed_at is None
    assert [row[:2] for row in Invitation.objects.values_list("pk", "token_hash", "mailed_at")] == [
        row[:2] for row in before
    ]


def test_a_refused_recipient_is_dropped_and_the_others_are_sent(settings, caplog):
    with SmtpServer(refuse={"gone@example.com"}) as server:
        smtp_at(settings, server.port)
        with caplog.at_level(logging.ERROR, logger="apps.core.mail"):
            not_sent = mails_deliver(mails("ann@example.com", "gone@example.com", "bob@example.com"))
    assert not_sent == []
    assert [message.recipients for message in server.received] == [["ann@example.com"], ["bob@example.com"]]
    assert "refused 'Hello gone@example.com' to gone@example.com" in caplog.text


def test_a_busy_a_refusing_or_an_unreachable_server_leaves_the_batch_to_try_again(settings):
    batch = mails("ann@example.com", "bob@example.com")
    with SmtpServer(busy=1) as server:
        smtp_at(settings, server.port)
        assert mails_deliver(batch) == [0, 1]  # 421 on the first: it and the rest
        assert server.received == []
        assert mails_deliver(batch) == []
        assert [message.recipients for message in server.received] == [["ann@example.com"], ["bob@example.com"]]
    with SmtpServer(refuse_sender=True) as server:  # every message would meet it: the whole batch, not dropped
        smtp_at(settings, server.port)
        assert mails_deliver(batch) == [0, 1]
    smtp_at(settings, closed_port())
    assert mails_deliver(batch) == [0, 1]


def test_the_invitation_task_tries_the_unsent_ones_again(settings, organization, owner):
    made = invite(organization, owner, "ann@example.com", "bob@example.com")
    with SmtpServer(busy=2) as server:
        smtp_at(settings, server.port)
        result = invitations_mail_task.apply(args=[organization.pk, [invitation.pk for invitation in made]])
        assert result.get() == 2  # the third attempt delivered both (eager retries run at once)
        assert [message.recipients for message in server.received] == [["ann@example.com"], ["bob@example.com"]]
        assert server.handler.connections == 3
    assert Invitation.objects.filter(pk__in=[i.pk for i in made], mailed_at__isnull=False).count() == 2


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
