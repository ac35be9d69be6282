"""Offline evaluation: a temporal hold-out of each user's latest positives, and top-k metrics.

Pure numpy; used by the training service (validation split for the blend weights), by
`manage.py evaluate_recommendations` and by `benchmarks/recommendations_quality.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Holdout:
    #: events kept for training (True) in the order of the input arrays
    train: np.ndarray
    #: user -> the held-out positive items (what a perfect recommender would show next)
    test: dict[int, set[int]]


def temporal_holdout(
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    positive: np.ndarray,
    *,
    fraction: float = 0.2,
    min_positives: int = 2,
) -> Holdout:
    """Hold out each user's last `fraction` of positive events by time (at least one).

    A user with fewer than `min_positives` positives keeps everything in training. The user's
    other events after the first held-out positive (e.g. low ratings) leave the training set too,
    so nothing from the user's "future" leaks into it; other users' events stay (per-user split).
    Ties in time keep the input order.
    """
    n = len(users)
    train = np.ones(n, dtype=bool)
    test: dict[int, set[int]] = {}
    order = np.lexsort((np.arange(n), times, users))
    sorted_users = users[order]
    bounds = np.flatnonzero(np.diff(sorted_users)) + 1
    for group in np.split(order, bounds):
        pos = group[positive[group]]
        if len(pos) < min_positives:
            continue
        hold = max(1, math.ceil(len(pos) * fraction))
        held = pos[-hold:]
        cutoff = times[held[0]]
        train[held] = False
        later = group[times[group] > cutoff]
        train[later] = False
        test[int(users[held[0]])] = {int(i) for i in items[held]}
    return Holdout(train=train, test=test)


def ranking_metrics(recommended: dict[int, list[int]], test: dict[int, set[int]], *, k: int = 10, n_items: int) -> dict:
    """precision@k, recall@k, nDCG@k (binary relevance) averaged over the test users, and coverage
    (share of the catalog that appears in anybody's top k). A test user with no list scores 0."""
    precision = recall = ndcg = 0.0
    shown: set[int] = set()
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for user, truth in test.items():
        top = list(recommended.get(user, []))[:k]
        shown.update(top)
        hits = [1.0 if item in truth else 0.0 for item in top]
        found = sum(hits)
        precision += found / k
        recall += found / len(truth)
        ideal = discounts[: min(len(truth), k)].sum()
        ndcg += float(np.dot(hits, discounts[: len(hits)])) / ideal if hits else 0.0
    users = max(len(test), 1)
    return {
        "precision": precision / users,
        "recall": recall / users,
        "ndcg": ndcg / users,
        "coverage": len(shown) / max(n_items, 1),
        "users": len(test),
    }
