"""Test helper: the messages a test published to the real Redis broker, found by task and arguments, and removed
again afterwards (no worker runs in these tests; a recovery sweep or a start proves itself by what it published).

kombu's Redis transport keeps a queue's messages in one list per priority step ("<queue>\\x06\\x16<step>", the bare
queue name for step 0): give the list the work is published to (documents.tests.utils.INGESTION_LIST, "celery").
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from dataclasses import dataclass

import redis
from django.conf import settings

#: the `bulk` queue's list (training, campaigns: BULK_ROUTE sends no priority, so the bare queue name)
BULK_LIST = "bulk"


@dataclass(frozen=True)
class Message:
    task: str
    args: tuple
    kwargs: dict
    eta: str | None = None  # set when published with a countdown


class Published:
    def __init__(self, broker_list: str):
        self.broker_list = broker_list
        self.client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        self._seen: list[bytes] = []

    def find(self, task: str, match: Callable[[Message], bool]) -> list[Message]:
        """The messages of `task` in the list that `match`; each is removed at `clear()`."""
        found = []
        for raw in self.client.lrange(self.broker_list, 0, -1):
            headers = json.loads(raw)["headers"]
            if headers["task"] != task:
                continue
            message = Message(
                task, ast.literal_eval(headers["argsrepr"]), ast.literal_eval(headers["kwargsrepr"]), headers.get("eta")
            )
            if match(message):
                self._seen.append(raw)
                found.append(message)
        return found

    def clear(self) -> None:
        for raw in self._seen:
            self.client.lrem(self.broker_list, 0, raw)
        self._seen.clear()
