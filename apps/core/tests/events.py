"""Test helper: record what domain events (STYLE.md §9) a block of code sends, and whether each was
sent inside a transaction that the code itself opened (deeper than the test's own atomic blocks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection
from django.dispatch import Signal


@dataclass
class Sent:
    signal: Signal
    kwargs: dict
    in_transaction: bool  # inside an atomic block opened by the code under test


@contextmanager
def events_sent(*signals: Signal) -> Iterator[list[Sent]]:
    sent: list[Sent] = []
    baseline = len(connection.atomic_blocks)

    def receiver(signal, sender, **kwargs):
        sent.append(Sent(signal, kwargs, in_transaction=len(connection.atomic_blocks) > baseline))

    for signal in signals:
        signal.connect(receiver, weak=False, dispatch_uid="tests.events_sent")
    try:
        yield sent
    finally:
        for signal in signals:
            signal.disconnect(dispatch_uid="tests.events_sent")


def only(sent: list[Sent], signal: Signal) -> list[dict]:
    """The arguments of each sending of `signal`, after checking every one was inside a transaction."""
    found = [s for s in sent if s.signal is signal]
    assert all(s.in_transaction for s in found), "an event was sent outside the caller's transaction"
    return [s.kwargs for s in found]
