"""Test helpers for e-mail (apps/core/mail.py): the mail a test's requests asked for, and a real SMTP server.

`MailSent` (the `mail_sent` fixture of the root conftest) behaves like Django's `mail.outbox` (len, index,
iteration, `== []`) and is that outbox, after the `mail.*` tasks the test's requests published to the real Redis
broker have been carried out: each time it is looked at, it takes those messages off the broker and applies each
task in the test's process (what the worker does: make the token, render, deliver to the locmem backend). No
worker runs in the tests that use it; `apps/core/tests/test_mail.py` delivers through a real worker and a real SMTP
server (`SmtpServer`).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field

import redis
from aiosmtpd.controller import Controller
from django.conf import settings
from django.core import mail

from apps.core.tests.test_failsoft import closed_port
from config.celery_app import app

# aiosmtpd logs every SMTP command at INFO
logging.getLogger("mail.log").setLevel(logging.WARNING)

#: the `mail` queue's list in the broker
BROKER_LIST = "mail"


#: the e-mail tasks' name prefix (their messages are carried out by `MailSent`)
TASKS = "mail."


class MailSent:
    def __init__(self):
        self.client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        self.published: list[dict] = []  # {"task", "args"} of every task carried out, oldest first
        self.clear()  # an earlier test's leftovers are not this test's

    def _raw(self) -> list[bytes]:
        return [
            raw
            for raw in self.client.lrange(BROKER_LIST, 0, -1)
            if json.loads(raw)["headers"]["task"].startswith(TASKS)
        ]

    def deliver(self) -> list:
        """Carry out the mail tasks published since the last look (oldest first: kombu LPUSHes); the outbox."""
        for raw in reversed(self._raw()):
            self.client.lrem(BROKER_LIST, 0, raw)
            message = json.loads(raw)
            args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            name = message["headers"]["task"]
            self.published.append({"task": name, "args": args})
            app.tasks[name].apply(args=args, kwargs=kwargs).get()  # KeyError: a mail task no worker knows
        return mail.outbox

    def clear(self) -> None:
        for raw in self._raw():
            self.client.lrem(BROKER_LIST, 0, raw)
        mail.outbox = []
        self.published = []

    def __len__(self) -> int:
        return len(self.deliver())

    def __getitem__(self, index):
        return self.deliver()[index]

    def __iter__(self):
        return iter(list(self.deliver()))

    def __eq__(self, other) -> bool:
        """Only `== []` means something (EmailMessage has no equality of its own): compare anything else by its
        fields (`[m.to for m in mail_sent]`)."""
        if isinstance(other, list) and not other:
            return not self.deliver()
        raise TypeError("compare mail_sent with [] only; compare the messages' fields otherwise")

    __hash__ = None


@dataclass
class Received:
    sender: str
    recipients: list[str]
    content: str


@dataclass
class _Handler:
    """aiosmtpd handler: keeps what it accepts; refuses the recipients in `refuse` (550), every sender when
    `refuse_sender` (550 at MAIL FROM), and answers "try again later" (421) to the first `busy` messages."""

    refuse: set[str] = field(default_factory=set)
    busy: int = 0
    refuse_sender: bool = False
    received: list[Received] = field(default_factory=list)
    connections: int = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_sender:
            return "550 5.7.1 Sender not allowed to relay"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.busy:
            self.busy -= 1
            return "421 4.3.2 Too busy, try again later"
        content = envelope.content.decode("utf-8", errors="replace")
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server on 127.0.0.1 (aiosmtpd in a thread) for the test's `EMAIL_HOST`/`EMAIL_PORT`."""

    def __init__(self, refuse: set[str] | None = None, busy: int = 0, refuse_sender: bool = False):
        self.handler = _Handler(refuse=set(refuse or ()), busy=busy, refuse_sender=refuse_sender)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=closed_port())

    @property
    def port(self) -> int:
        return self.controller.port

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
