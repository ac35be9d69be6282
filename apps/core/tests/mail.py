"""Test helpers for e-mail (apps/core/mail.py): what the request handed to the `mail.send` task, and a real SMTP server.

`MailSent` (the `mail_sent` fixture of the root conftest) is a live view, in publication order, of the messages
published to the real Redis broker's `celery` list for `mail.send`, as the e-mails the worker will send
(`django.core.mail.EmailMessage`: `.to`, `.subject`, `.body`); it behaves like Django's `mail.outbox` (len, index,
iteration, `== []`), and the messages it saw are removed from the broker afterwards. No worker runs in the tests
that use it; `apps/core/tests/test_mail.py` delivers through a real worker and a real SMTP server (`SmtpServer`).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field

import redis
from aiosmtpd.controller import Controller
from django.conf import settings
from django.core.mail import EmailMessage

from apps.core.tests.test_failsoft import closed_port

# aiosmtpd logs every SMTP command at INFO
logging.getLogger("mail.log").setLevel(logging.WARNING)

#: the default queue's list in kombu's Redis transport (priority step 0)
BROKER_LIST = "celery"
TASK = "mail.send"


class MailSent:
    def __init__(self):
        self.client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        self.clear()  # an earlier test's leftovers are not this test's

    def _raw(self) -> list[bytes]:
        return [raw for raw in self.client.lrange(BROKER_LIST, 0, -1) if json.loads(raw)["headers"]["task"] == TASK]

    def tasks(self) -> list[dict]:
        """Each published `mail.send` task: {"messages": [...], "argsrepr": ...}, oldest first (kombu LPUSHes)."""
        found = []
        for raw in reversed(self._raw()):
            message = json.loads(raw)
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            found.append({"messages": args[0], "argsrepr": message["headers"]["argsrepr"]})
        return found

    def messages(self) -> list[EmailMessage]:
        return [
            EmailMessage(mail["subject"], mail["body"], settings.DEFAULT_FROM_EMAIL, [mail["to"]])
            for task in self.tasks()
            for mail in task["messages"]
        ]

    def clear(self) -> None:
        for raw in self._raw():
            self.client.lrem(BROKER_LIST, 0, raw)

    def __len__(self) -> int:
        return len(self.messages())

    def __getitem__(self, index):
        return self.messages()[index]

    def __iter__(self):
        return iter(self.messages())

    def __eq__(self, other) -> bool:
        """Only `== []` means something (EmailMessage has no equality of its own)."""
        return not self.messages() if isinstance(other, list) and not other else NotImplemented

    __hash__ = None


@dataclass
class Received:
    sender: str
    recipients: list[str]
    content: str


@dataclass
class _Handler:
    """aiosmtpd handler: keeps what it accepts; refuses the recipients in `refuse` (550) and answers "try again
    later" (421) to the first `busy` messages."""

    refuse: set[str] = field(default_factory=set)
    busy: int = 0
    received: list[Received] = field(default_factory=list)
    connections: int = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

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

    def __init__(self, refuse: set[str] | None = None, busy: int = 0):
        self.handler = _Handler(refuse=set(refuse or ()), busy=busy)
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
