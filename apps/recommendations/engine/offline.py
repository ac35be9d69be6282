"""Every learnt candidate source scored in memory, for validation and offline evaluation.

`OfflineModel` fits the same models the training task stores (ALS factors, co-occurrence
neighbours, decayed popularity, trending charts, content profile) and returns each user's candidates per source
exactly as serving would (top-N per source, consumed and dismissed items removed), so weights
learnt here transfer to serving. `blend_learn` picks the recency half-lives and the blend weights
on a validation split cut from the training events (each user's latest 20% of positives).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from apps.recommendations.engine.blend import DEFAULT_WEIGHTS, LEARNT_SOURCES, Candidates, blend
from apps.recommendations.engine.data import Catalog, Events
from apps.recommendations.engine.fit import (
    als_fit,
    confidence_matrix,
    cooccurrence_fit,
    ease_fit,
    history_weights,
    popularity_fit,
    recency_weights,
    rp3beta_fit,
    sequence_fit,
    trending_bucket,
    trending_fit,
)
from apps.recommendations.engine.metrics import ranking_metrics, temporal_holdout
from apps.recommendations.engine.ranker import RECENT_EVENTS, Ranker, ranker_learn

ALS_GRID = tuple((factors, alpha) for factors in (32, 64, 128) for alpha in (1.0, 10.0, 40.0))
EASE_GRID = (50.0, 200.0, 800.0)  # lambda (L2 on the item-item weights)
RP3BETA_GRID = ((1.0, 0.0), (1.0, 0.3), (1.0, 0.6), (0.7, 0.3))  # (alpha, beta)
HISTORY_HALF_LIVES = (3.0, 10.0, 30.0, None)  # events
POPULARITY_HALF_LIVES = (3.0, 14.0, 60.0, None)  # days
TRENDING_HALF_LIVES = (1.0, 3.0, 7.0, 30.0, None)  # days
CF_HALF_LIVES = (None, 50.0, 150.0)  # events: ALS's training weights decayed within each user's history
#: item-item sources, stored as top-k neighbours (ItemNeighbors.kind); the first one fitted serves `recent`
ITEM_ITEM = ("ease", "rp3beta", "cooccurrence", "sequence")
#: sources that need the catalog's structure (courses, prerequisites, labels)
STRUCTURE_SOURCES = ("course", "graph")
#: validation held-out items a structure source must find to be learnt (else: its configured weight)
STRUCTURE_MIN_HITS = 20
#: weights of the graph's path kinds mirrored offline (apps.graph.queries.SOURCE_WEIGHTS)
GRAPH_PATHS = {"prerequisite": 1.0, "tags": 0.6}


@dataclass
class EngineParams:
    factors: int = 64
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 15
    cooccurrence_neighbors: int = 50
    cooccurrence_shrink: float = 10.0
    ease_regularization: float = 200.0
    ease_neighbors: int = 100
    ease_max_items: int = 12000  # above: no EASE (dense inverse), RP3beta carries the item-item signal
    rp3beta_alpha: float = 1.0
    rp3beta_beta: float = 0.3
    rp3beta_neighbors: int = 100
    history_half_life: float | None = 10.0  # events
    history_limit: int = 100  # latest positive events of a user that feed the item-item sources and content
    popularity_half_life_days: float | None = 14.0
    #: ALS's training weights halved every this many newer events of the same user (None: no decay)
    cf_half_life: float | None = None
    #: what was trending at the user's latest event: events' half-life in days (None: popularity as of then)
    trending_half_life_days: float | None = 7.0
    sequence_window: int = 3  # `sequence`: b follows a when it is among a's next positives of the user
    sequence_neighbors: int = 50
    per_source: int = 200  # candidates per source
    threads: int = 1
    seed: int = 7
    #: fixed blend weights: used only without a learnt ranker (too few events to learn from)
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    #: the learnt blend (engine.ranker.Ranker.as_dict): JSON coefficients
    ranker: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class OfflineModel:
    def __init__(self, events: Events, *, n_users: int, n_items: int, params: EngineParams,
                 item_vectors: np.ndarray | None = None, catalog: Catalog | None = None):  # fmt: skip
        self.events = events
        self.n_users, self.n_items = n_users, n_items
        self.params = params
        self.item_vectors = item_vectors
        self.catalog = catalog if catalog is not None and catalog.structured else None
        self.children = self.catalog.children() if self.catalog is not None else {}
        self.neighbors: dict = {}
        #: (start epoch, bucket seconds, per bucket (items, scores)) once the trending source is fitted
        self.trending: tuple | None = None
        order = np.lexsort((events.times, events.users))
        self._order = order
        self._starts = np.searchsorted(events.users[order], np.arange(n_users + 1))

    def fit(self, *, cf: bool = True, sources=LEARNT_SOURCES) -> OfflineModel:
        p = self.params
        self.matrix = confidence_matrix(self.events, self.n_users, self.n_items)
        if cf and "cf" in sources:
            self.fit_cf(p.factors, p.alpha, p.cf_half_life)
        self.neighbors = {}
        if "cooccurrence" in sources:
            self.neighbors["cooccurrence"] = cooccurrence_fit(
                self.matrix, neighbors=p.cooccurrence_neighbors, shrink=p.cooccurrence_shrink
            )
        if "ease" in sources and self.ease_fits():
            self.fit_ease(p.ease_regularization)
        if "rp3beta" in sources:
            self.fit_rp3beta(p.rp3beta_alpha, p.rp3beta_beta)
        if "sequence" in sources:
            self.neighbors["sequence"] = sequence_fit(
                self.events, self.n_items, window=p.sequence_window, neighbors=p.sequence_neighbors
            )
        self.reference_time = float(self.events.times.max()) if len(self.events) else 0.0
        self.popularity = popularity_fit(
            self.events, self.n_items, reference_time=self.reference_time, half_life_days=p.popularity_half_life_days
        )
        if "trending" in sources:
            self.fit_trending(p.trending_half_life_days)
        return self

    def cf_matrix(self, half_life: float | None):
        """ALS's confidence matrix, each event's weight decayed by its recency in its user's history."""
        if not half_life:
            return self.matrix
        decay = recency_weights(self.events.users, self.events.times, half_life_events=half_life)
        decayed = replace(self.events, weights=(self.events.weights * decay).astype(np.float32))
        return confidence_matrix(decayed, self.n_users, self.n_items)

    def fit_cf(self, factors: int, alpha: float, half_life: float | None) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        self.user_factors, self.item_factors = als_fit(
            self.cf_matrix(half_life), factors=factors, regularization=p.regularization, alpha=alpha,
            iterations=p.iterations, seed=p.seed, threads=p.threads,
        )  # fmt: skip
        return self.user_factors, self.item_factors

    def fit_trending(self, half_life_days: float | None) -> None:
        self.trending = trending_fit(self.events, self.n_items, half_life_days=half_life_days,
                                     top=self.params.per_source)  # fmt: skip

    def latest_time(self, user: int) -> float | None:
        """The time of the user's latest event (any kind): their "now" for the trending source."""
        rows = self._user_rows(user)
        return float(self.events.times[rows[-1]]) if len(rows) else None

    def ease_fits(self) -> bool:
        """EASE inverts a dense items x items matrix: only up to `ease_max_items` items with events."""
        active = int((np.diff(self.matrix.tocsc().indptr) > 0).sum())
        return 1 < active <= self.params.ease_max_items

    def fit_ease(self, regularization: float) -> None:
        self.neighbors["ease"] = ease_fit(
            self.matrix, regularization=regularization, neighbors=self.params.ease_neighbors
        )

    def fit_rp3beta(self, alpha: float, beta: float) -> None:
        self.neighbors["rp3beta"] = rp3beta_fit(
            self.matrix, alpha=alpha, beta=beta, neighbors=self.params.rp3beta_neighbors
        )

    @property
    def recent_source(self) -> str | None:
        return next((name for name in ITEM_ITEM if name in self.neighbors), None)

    def _user_rows(self, user: int) -> np.ndarray:
        return self._order[self._starts[user] : self._starts[user + 1]]

    def history(self, user: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positive items, their history weights, excluded items) of one user."""
        rows = self._user_rows(user)
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
        for name in ITEM_ITEM:
            if name in sources and name in self.neighbors and len(items):
                scores = np.asarray(self.neighbors[name][items].T @ weights).ravel()
                out[name] = self._top(scores, excluded)
        if "content" in sources and self.item_vectors is not None and len(items):
            profile = (self.item_vectors[items] * weights[:, None]).sum(axis=0)
            norm = np.linalg.norm(profile)
            if norm > 0:
                out["content"] = self._top(self.item_vectors @ (profile / norm), excluded)
        if "popular" in sources:
            out["popular"] = self._top(self.popularity, excluded)
        if "trending" in sources and self.trending and self.trending[2]:
            out["trending"] = self._trending(user, excluded)
        if self.catalog is not None:
            if "course" in sources:
                out["course"] = self._course(user, excluded)
            if "graph" in sources:
                out["graph"] = self._graph(items, excluded)
        return out

    def recent(self, user: int) -> Candidates | None:
        """The `recent` feature's source: the item-item scores of the user's latest positive events."""
        name = self.recent_source
        items, weights, excluded = self.history(user)
        if name is None or not len(items):
            return None
        scores = np.asarray(self.neighbors[name][items[-RECENT_EVENTS:]].T @ weights[-RECENT_EVENTS:]).ravel()
        return self._top(scores, excluded)

    def _trending(self, user: int, excluded: np.ndarray) -> Candidates:
        """Serving's `trending` source offline: the stored chart of the bucket of the user's latest event."""
        moment = self.latest_time(user)
        if moment is None:
            return Candidates.empty()
        start, width, charts = self.trending
        ids, scores = charts[trending_bucket(moment, start=start, width=width, buckets=len(charts))]
        keep = ~np.isin(ids, excluded)
        return Candidates(ids[keep], scores[keep])

    def _course(self, user: int, excluded: np.ndarray) -> Candidates:
        """Serving's `course` source offline: the next item not done of each course the user touched."""
        touched = np.unique(self.events.items[self._user_rows(user)])
        done = set(excluded.tolist())
        found = []
        for parent in np.unique(self.catalog.parent[touched]):
            for child in self.children.get(int(parent), ()):
                if int(child) not in done:
                    found.append(int(child))
                    break
        if not found:
            return Candidates.empty()
        return Candidates(np.asarray(found, dtype=np.int64), np.ones(len(found)))

    def _graph(self, items: np.ndarray, excluded: np.ndarray) -> Candidates:
        """Serving's knowledge-graph paths offline (apps.graph.queries): items whose prerequisites
        the user completed (share done) and items sharing tags or categories with their positives.
        The graph's similar-users paths are left out (the item-item sources carry that signal)."""
        catalog = self.catalog
        done = np.zeros(self.n_items)
        done[excluded] = 1.0
        total = np.asarray(catalog.prerequisites.sum(axis=0)).ravel()
        met = np.asarray(catalog.prerequisites.T @ done).ravel()
        prerequisite = np.divide(met, total, out=np.zeros(self.n_items), where=total > 0)
        score = GRAPH_PATHS["prerequisite"] * prerequisite
        if len(items) and catalog.labels.nnz:
            seeds = np.unique(items)
            counts = np.asarray(catalog.labels[seeds].sum(axis=0)).ravel()
            tags = np.asarray(catalog.labels @ counts).ravel()
            tags[seeds] = 0
            if tags.max() > 0:
                score = score + GRAPH_PATHS["tags"] * tags / tags.max()
        return self._top(score, excluded)

    def ranker(self) -> Ranker | None:
        return Ranker.from_dict(self.params.ranker) if self.params.ranker else None

    def recommend(self, user: int, *, k: int = 10, weights: dict[str, float] | None = None,
                  sources=None) -> list[int]:  # fmt: skip
        """Top k of the learnt ranker (or of fixed `weights` when given, or when there is no ranker)."""
        ranker = self.ranker() if weights is None else None
        if ranker is not None:
            items, _, _ = self.history(user)
            ranked = ranker.score(self.candidates(user, ranker.sources), history_length=len(items),
                                  recent=self.recent(user) if ranker.recent_source else None)  # fmt: skip
        else:
            chosen = sources or tuple(weights or self.params.weights)
            ranked = blend(self.candidates(user, chosen), weights or self.params.weights)
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
    catalog: Catalog | None = None,
    max_users: int = 1000,
    sources=LEARNT_SOURCES,
    tune_cf: bool = True,
) -> BlendChoice:
    """Learn every source's hyper-parameters and the blend on a validation split of `events` (indexed).

    The split holds out each user's latest 20% of positives; models are fitted on the rest. Each
    source's settings are chosen by the nDCG@10 of that source alone: ALS factors x alpha
    (`ALS_GRID`), then the recency decay of ALS's training weights at those (`CF_HALF_LIVES`, "none"
    included), EASE's lambda (`EASE_GRID`), RP3beta's alpha and beta (`RP3BETA_GRID`), the history
    half-life (on the best item-item source), the popularity half-life, the half-life of the trending
    charts (`TRENDING_HALF_LIVES`, "none" included). Then the blend: a logistic
    ranker over all sources' features (engine.ranker), with course and graph among them when the
    catalog has structure.
    """
    split = temporal_holdout(events.users, events.items, events.times, events.positive)
    users = np.array(sorted(split.test), dtype=np.int64)
    if len(users) == 0:
        return BlendChoice(params, {"users": 0, "note": "not enough positives to learn from; default weights"})
    rng = np.random.default_rng(params.seed)
    if len(users) > max_users:
        users = np.sort(rng.choice(users, size=max_users, replace=False))
    truth = [split.test[int(u)] for u in users]
    test = {int(u): t for u, t in zip(users, truth, strict=True)}
    model = OfflineModel(
        events.subset(split.train), n_users=n_users, n_items=n_items, params=params, item_vectors=item_vectors,
        catalog=catalog,
    ).fit(cf="cf" in sources, sources=sources)  # fmt: skip

    def solo(name: str) -> float:
        recommended = {}
        for u in users:
            found = model.candidates(int(u), (name,)).get(name)
            recommended[int(u)] = [int(i) for i in found.ids[:10]] if found is not None else []
        return ranking_metrics(recommended, test, n_items=n_items)["ndcg"]

    chosen = {}
    if "cf" in sources and tune_cf:
        # Every fit is kept (factors, top-k neighbours: small): the grid point `fit` above already
        # computed (the configured defaults) and the winner are not computed again.
        first = (params.factors, params.alpha, params.cf_half_life)
        results, fitted = {}, {first: (model.user_factors, model.item_factors)}

        def cf_try(key):
            if key not in fitted:
                fitted[key] = model.fit_cf(*key)
            model.user_factors, model.item_factors = fitted[key]
            results[key] = solo("cf")

        for factors, alpha in ALS_GRID:
            cf_try((factors, alpha, params.cf_half_life))
        best = max(results, key=lambda key: (results[key], -key[0]))
        # then the training weights' recency decay, at the best factors and alpha ("no decay" included)
        for half_life in CF_HALF_LIVES:
            cf_try((best[0], best[1], half_life))
        best = max(results, key=lambda key: (results[key], -key[0], key[2] is None, key[2] or 0))
        chosen["factors"], chosen["alpha"], chosen["cf_half_life"] = best
        model.params = replace(model.params, factors=best[0], alpha=best[1], cf_half_life=best[2])
        model.user_factors, model.item_factors = fitted[best]  # kept, not fitted again
    # EASE's lambda and RP3beta's (alpha, beta): every grid point is fitted once and kept (top-k
    # neighbours: small), so they can be chosen again once the history half-life is known.
    item_item_fits: dict[str, dict] = {}
    if "ease" in model.neighbors:
        fitted = {params.ease_regularization: model.neighbors["ease"]}
        for regularization in EASE_GRID:
            if regularization not in fitted:
                model.fit_ease(regularization)
                fitted[regularization] = model.neighbors["ease"]
        item_item_fits["ease"] = {key: fitted[key] for key in EASE_GRID}
    if "rp3beta" in model.neighbors:
        fitted = {(params.rp3beta_alpha, params.rp3beta_beta): model.neighbors["rp3beta"]}
        for key in RP3BETA_GRID:
            if key not in fitted:
                model.fit_rp3beta(*key)
                fitted[key] = model.neighbors["rp3beta"]
        item_item_fits["rp3beta"] = {key: fitted[key] for key in RP3BETA_GRID}

    def item_item_pick() -> None:
        """Each item-item model's setting by its nDCG@10 alone, at the current history weights."""
        for name, fits in item_item_fits.items():
            results = {}
            for key, neighbours in fits.items():
                model.neighbors[name] = neighbours
                results[key] = solo(name)
            best = max(results, key=lambda key: (results[key], key))
            model.neighbors[name] = fits[best]
            if name == "ease":
                chosen["ease_regularization"] = best
            else:
                chosen["rp3beta_alpha"], chosen["rp3beta_beta"] = best

    item_item_pick()
    model.params = replace(model.params, **chosen)
    probes = [name for name in ITEM_ITEM if name in model.neighbors]
    if "content" in sources and item_vectors is not None:
        probes.append("content")
    if probes:
        probe = max(probes, key=solo)
        results = {}
        for half_life in HISTORY_HALF_LIVES:
            model.params = replace(model.params, history_half_life=half_life)
            results[half_life] = solo(probe)
        chosen["history_half_life"] = max(results, key=lambda h: (results[h], h is None, h or 0))
        model.params = replace(model.params, history_half_life=chosen["history_half_life"])
        if chosen["history_half_life"] != params.history_half_life:
            # The item-item settings above were chosen at the default history weights; a lambda
            # that suits a short, decayed history is too strong for the whole of it (synthetic
            # benchmark: lambda 800 at half-life 10 events, 200 without decay; test nDCG@10 of EASE
            # 0.0505 -> 0.0537). One more pass over the kept fits, no new fit.
            item_item_pick()
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
    if "trending" in sources:
        results, fitted = {}, {}
        for half_life in TRENDING_HALF_LIVES:
            model.fit_trending(half_life)
            fitted[half_life] = model.trending
            results[half_life] = solo("trending")
        chosen["trending_half_life_days"] = max(results, key=lambda h: (results[h], h is None, h or 0))
        model.trending = fitted[chosen["trending_half_life_days"]]
    learnt = tuple(name for name in LEARNT_SOURCES if name in sources)
    learnt = tuple(name for name in learnt if name not in ITEM_ITEM or name in model.neighbors)
    structure = {}
    if model.catalog is not None:
        # Course order and graph paths join the learnt blend only where the validation split shows
        # enough of them (else they keep their configured weights at serving, on top of the ranker).
        for name in STRUCTURE_SOURCES:
            found = [model.candidates(int(u), (name,)).get(name) for u in users]
            hits = sum(len(set(c.ids.tolist()) & t) for c, t in zip(found, truth, strict=True) if c is not None)
            structure[name] = hits
            if hits >= STRUCTURE_MIN_HITS:
                learnt += (name,)
        chosen_structure = {"structure_hits": structure}
    else:
        chosen_structure = {}
    per_user = [model.candidates(int(u), learnt) for u in users]
    lengths = [len(model.history(int(u))[0]) for u in users]
    recent = [model.recent(int(u)) for u in users]
    ranker, figures = ranker_learn(
        per_user, truth, history_lengths=lengths, recent=recent, sources=learnt,
        recent_source=model.recent_source, seed=params.seed,
    )  # fmt: skip
    tuned = replace(params, ranker=ranker.as_dict() if ranker else None, **chosen)
    validation = {"users": len(users), **figures, **chosen, **chosen_structure}
    return BlendChoice(tuned, validation)
