"""Every learnt candidate source scored in memory, for validation and offline evaluation.

`OfflineModel` fits the same models the training task stores (ALS factors, co-occurrence
neighbours, decayed popularity, content profile) and returns each user's candidates per source
exactly as serving would (top-N per source, consumed and dismissed items removed), so weights
learnt here transfer to serving. `blend_learn` picks the recency half-lives and the blend weights
on a validation split cut from the training events (each user's latest 20% of positives).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from apps.recommendations.engine.blend import LEARNT_SOURCES, Candidates, blend, blend_weights_learn
from apps.recommendations.engine.data import Events
from apps.recommendations.engine.fit import (
    als_fit,
    confidence_matrix,
    cooccurrence_fit,
    history_weights,
    popularity_fit,
)
from apps.recommendations.engine.metrics import temporal_holdout

ALS_GRID = tuple((factors, alpha) for factors in (32, 64, 128) for alpha in (1.0, 10.0, 40.0))
HISTORY_HALF_LIVES = (3.0, 10.0, 30.0, None)  # events
POPULARITY_HALF_LIVES = (3.0, 14.0, 60.0, None)  # days


@dataclass
class EngineParams:
    factors: int = 64
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 15
    cooccurrence_neighbors: int = 50
    cooccurrence_shrink: float = 10.0
    history_half_life: float | None = 10.0  # events
    history_limit: int = 100  # latest positive events of a user that feed co-occurrence and content
    popularity_half_life_days: float | None = 14.0
    per_source: int = 200  # candidates per source
    threads: int = 1
    seed: int = 7
    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(LEARNT_SOURCES, 1.0))

    def as_dict(self) -> dict:
        return asdict(self)


class OfflineModel:
    def __init__(self, events: Events, *, n_users: int, n_items: int, params: EngineParams,
                 item_vectors: np.ndarray | None = None):  # fmt: skip
        self.events = events
        self.n_users, self.n_items = n_users, n_items
        self.params = params
        self.item_vectors = item_vectors
        order = np.lexsort((events.times, events.users))
        self._order = order
        self._starts = np.searchsorted(events.users[order], np.arange(n_users + 1))

    def fit(self, *, cf: bool = True) -> OfflineModel:
        p = self.params
        self.matrix = confidence_matrix(self.events, self.n_users, self.n_items)
        if cf:
            self.user_factors, self.item_factors = als_fit(
                self.matrix, factors=p.factors, regularization=p.regularization, alpha=p.alpha,
                iterations=p.iterations, seed=p.seed, threads=p.threads,
            )  # fmt: skip
        self.cooccurrence = cooccurrence_fit(
            self.matrix, neighbors=p.cooccurrence_neighbors, shrink=p.cooccurrence_shrink
        ).tocsr()
        self.reference_time = float(self.events.times.max()) if len(self.events) else 0.0
        self.popularity = popularity_fit(
            self.events, self.n_items, reference_time=self.reference_time, half_life_days=p.popularity_half_life_days
        )
        return self

    def history(self, user: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positive items, their history weights, excluded items) of one user."""
        rows = self._order[self._starts[user] : self._starts[user + 1]]
        positive = rows[self.events.weights[rows] > 0][-self.params.history_limit :]
        excluded = np.unique(self.events.items[rows[self.events.consumed[rows] | self.events.dismissed[rows]]])
        weights = history_weights(
            self.events.times[positive], self.events.weights[positive], half_life_events=self.params.history_half_life
        )
        return self.events.items[positive], weights, excluded

    def _top(self, scores: np.ndarray, excluded: np.ndarray) -> Candidates:
        scores = scores.astype(np.float64, copy=True)
        scores[excluded] = -np.inf
        nonzero = np.flatnonzero(scores > 0)
        if len(nonzero) == 0:
            return Candidates.empty()
        return Candidates(nonzero, scores[nonzero]).top(self.params.per_source)

    def candidates(self, user: int, sources=LEARNT_SOURCES) -> dict[str, Candidates]:
        items, weights, excluded = self.history(user)
        out: dict[str, Candidates] = {}
        if "cf" in sources and hasattr(self, "user_factors") and user < len(self.user_factors):
            out["cf"] = self._top(self.item_factors @ self.user_factors[user], excluded)
        if "cooccurrence" in sources and len(items):
            scores = np.asarray(self.cooccurrence[items].T @ weights).ravel()
            out["cooccurrence"] = self._top(scores, excluded)
        if "content" in sources and self.item_vectors is not None and len(items):
            profile = (self.item_vectors[items] * weights[:, None]).sum(axis=0)
            norm = np.linalg.norm(profile)
            if norm > 0:
                out["content"] = self._top(self.item_vectors @ (profile / norm), excluded)
        if "popular" in sources:
            out["popular"] = self._top(self.popularity, excluded)
        return out

    def recommend(self, user: int, *, k: int = 10, weights: dict[str, float] | None = None,
                  sources=LEARNT_SOURCES) -> list[int]:  # fmt: skip
        ranked = blend(self.candidates(user, sources), weights or self.params.weights)
        return [int(i) for i in ranked.ids[:k]]


@dataclass
class BlendChoice:
    params: EngineParams
    validation: dict


def blend_learn(
    events: Events,
    *,
    n_users: int,
    n_items: int,
    params: EngineParams,
    item_vectors: np.ndarray | None = None,
    max_users: int = 1000,
    sources=LEARNT_SOURCES,
    tune_cf: bool = True,
) -> BlendChoice:
    """Learn the ALS size and confidence scale, the recency half-lives and the blend weights on a
    validation split of `events` (indexed).

    The split holds out each user's latest 20% of positives; models are fitted on the rest. ALS
    (factors x alpha, `ALS_GRID`) and the half-lives are chosen by the nDCG@10 of their own source
    alone (CF; co-occurrence for the user history; popularity for trending), then the weights by
    coordinate ascent on the blend.
    """
    split = temporal_holdout(events.users, events.items, events.times, events.positive)
    users = np.array(sorted(split.test), dtype=np.int64)
    if len(users) == 0:
        return BlendChoice(params, {"users": 0, "note": "not enough positives to learn from; default weights"})
    rng = np.random.default_rng(params.seed)
    if len(users) > max_users:
        users = np.sort(rng.choice(users, size=max_users, replace=False))
    truth = [split.test[int(u)] for u in users]
    model = OfflineModel(events.subset(split.train), n_users=n_users, n_items=n_items, params=params,
                         item_vectors=item_vectors).fit(cf="cf" in sources)  # fmt: skip

    def solo(name: str) -> float:
        per_user = [model.candidates(int(u), (name,)) for u in users]
        _, result, _ = blend_weights_learn(per_user, truth, sources=(name,), rounds=0)
        return result

    chosen = {}
    if "cf" in sources and tune_cf:
        results = {}
        for factors, alpha in ALS_GRID:
            model.params = replace(model.params, factors=factors, alpha=alpha)
            model.user_factors, model.item_factors = als_fit(
                model.matrix, factors=factors, regularization=params.regularization, alpha=alpha,
                iterations=params.iterations, seed=params.seed, threads=params.threads,
            )  # fmt: skip
            results[(factors, alpha)] = solo("cf")
        best = max(results, key=lambda key: (results[key], -key[0]))
        chosen["factors"], chosen["alpha"] = best
        model.params = replace(model.params, factors=best[0], alpha=best[1])
        model.user_factors, model.item_factors = als_fit(
            model.matrix, factors=best[0], regularization=params.regularization, alpha=best[1],
            iterations=params.iterations, seed=params.seed, threads=params.threads,
        )  # fmt: skip
    if "cooccurrence" in sources or "content" in sources:
        probe = "cooccurrence" if "cooccurrence" in sources else "content"
        results = {}
        for half_life in HISTORY_HALF_LIVES:
            model.params = replace(model.params, history_half_life=half_life)
            results[half_life] = solo(probe)
        chosen["history_half_life"] = max(results, key=lambda h: (results[h], h is None, h or 0))
        model.params = replace(model.params, history_half_life=chosen["history_half_life"])
    if "popular" in sources:
        results = {}
        for half_life in POPULARITY_HALF_LIVES:
            model.popularity = popularity_fit(
                model.events, n_items, reference_time=model.reference_time, half_life_days=half_life
            )
            results[half_life] = solo("popular")
        chosen["popularity_half_life_days"] = max(results, key=lambda h: (results[h], h is None, h or 0))
        model.popularity = popularity_fit(
            model.events, n_items, reference_time=model.reference_time,
            half_life_days=chosen["popularity_half_life_days"],
        )  # fmt: skip
    per_user = [model.candidates(int(u), sources) for u in users]
    learnt = tuple(name for name in LEARNT_SOURCES if name in sources)
    weights, score, solos = blend_weights_learn(per_user, truth, sources=learnt)
    tuned = replace(params, weights=weights, **chosen)
    validation = {
        "users": len(users),
        "ndcg_at_10": round(score, 4),
        "solo_ndcg_at_10": {name: round(value, 4) for name, value in solos.items()},
        **chosen,
    }
    return BlendChoice(tuned, validation)
