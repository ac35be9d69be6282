"""Interaction events as arrays, and what each event means to the engine (pure, no Django).

An event is positive when it says the user wanted the item: any kind but `dismiss` with a
positive weight, except a `rate` whose value is below `rating_positive_min` (a 2-star rating
is not a vote for more of the same). `complete`, `rate`, `purchase`, `like` and `share` also mark
the item as consumed (never recommended again, by default); `dismiss` is final. `view`, `start`
and `save` leave the item eligible (something to continue or come back to).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

DISMISS = "dismiss"
RATE = "rate"


@dataclass(frozen=True)
class SignalRules:
    rating_positive_min: float = 4.0
    consumed_kinds: frozenset[str] = frozenset({"complete", "rate", "purchase", "like", "share"})

    def weight(self, kind: str, weight: float, value: float | None) -> float:
        """Strength of the positive signal of one event (0 = none)."""
        if kind == DISMISS or weight <= 0:
            return 0.0
        if kind == RATE and value is not None and value < self.rating_positive_min:
            return 0.0
        return float(weight)


@dataclass
class Events:
    """Parallel arrays, one entry per event. `users`/`items` are whatever ids the caller uses
    (database ids when loaded from PostgreSQL, dense indexes after `Events.indexed`)."""

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray  # epoch seconds
    weights: np.ndarray  # positive signal strength, 0 = none
    consumed: np.ndarray  # bool
    dismissed: np.ndarray  # bool
    user_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    item_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def from_rows(cls, rows, rules: SignalRules) -> Events:
        """rows: iterable of (user_id, item_id, kind, weight, value, epoch_seconds)."""
        rows = list(rows)
        users = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        items = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        times = np.fromiter((r[5] for r in rows), dtype=np.float64, count=len(rows))
        weights = np.fromiter((rules.weight(r[2], r[3], r[4]) for r in rows), dtype=np.float32, count=len(rows))
        consumed = np.fromiter((r[2] in rules.consumed_kinds for r in rows), dtype=bool, count=len(rows))
        dismissed = np.fromiter((r[2] == DISMISS for r in rows), dtype=bool, count=len(rows))
        return cls(users, items, times, weights, consumed, dismissed)

    def __len__(self) -> int:
        return len(self.users)

    @property
    def positive(self) -> np.ndarray:
        return self.weights > 0

    def subset(self, mask: np.ndarray) -> Events:
        return Events(
            self.users[mask], self.items[mask], self.times[mask], self.weights[mask], self.consumed[mask],
            self.dismissed[mask], self.user_ids, self.item_ids,
        )  # fmt: skip

    def indexed(self, item_ids: np.ndarray | None = None) -> Events:
        """The same events with users and items renumbered 0..n-1 (`user_ids`/`item_ids` map back).
        `item_ids` fixes the item axis (e.g. the whole active catalog, not only items with events)."""
        user_ids, users = np.unique(self.users, return_inverse=True)
        if item_ids is None:
            item_ids, items = np.unique(self.items, return_inverse=True)
        else:
            item_ids = np.asarray(item_ids, dtype=np.int64)
            order = np.argsort(item_ids)
            position = np.searchsorted(item_ids[order], self.items)
            position = np.clip(position, 0, len(item_ids) - 1)
            known = item_ids[order][position] == self.items
            items = order[position]
            keep = known
            return Events(
                users[keep], items[keep], self.times[keep], self.weights[keep], self.consumed[keep],
                self.dismissed[keep], user_ids, item_ids,
            )  # fmt: skip
        return Events(users, items, self.times, self.weights, self.consumed, self.dismissed, user_ids, item_ids)


@dataclass
class Catalog:
    """The catalog's structure on the items axis (dense indexes), for the offline course and graph
    sources: `parent` index (-1: top level) and `position` of each item, `prerequisites`
    ([prerequisite, item] = 1) and `labels` (items x tags and categories, binary)."""

    parent: np.ndarray
    position: np.ndarray
    prerequisites: sp.csr_matrix
    labels: sp.csr_matrix

    @property
    def structured(self) -> bool:
        """Courses or prerequisites exist: the course and graph sources have something to say."""
        return bool((self.parent >= 0).any() or self.prerequisites.nnz)

    def children(self) -> dict[int, np.ndarray]:
        """parent index -> its children's indexes in course order (position, then index)."""
        has = np.flatnonzero(self.parent >= 0)
        order = has[np.lexsort((has, self.position[has], self.parent[has]))]
        parents = self.parent[order]
        bounds = np.flatnonzero(np.diff(parents)) + 1
        groups = zip(np.split(parents, bounds), np.split(order, bounds), strict=True)
        return {int(group[0]): members for group, members in groups if len(group)}
