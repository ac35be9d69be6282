"""The learnt blend: a logistic model over the sources' scores and simple features (pure numpy +
scikit-learn at training time, numpy alone at serving).

For one user, every candidate of any source is one row of features:

- per source s: its score scaled to 0..1 by the user's best (`s`), its reciprocal rank 1/(1 + rank)
  (`s:rank`), and the scaled score times the user's history length (`s:history`: log(1 + length)
  over log(1 + 100), so heavy and light users may trust a source differently);
- `recent`: the scaled score of the best item-item source computed from the user's last
  RECENT_EVENTS positive events only (what they just did, apart from the long-term taste);
- item popularity is the `popular` source's features (decayed popularity, tuned half-life), and the
  popularity trend at the user's own time the `trending` source's (the chart of the bucket of their
  latest event, tuned half-life; issue 18); `sequence` scores what people take next after the
  items the user touched last.

Label: the item is in the user's validation hold-out. The model is linear, w . features, trained
with the listwise softmax cross-entropy (ListNet top-one: each user's held-out items against all of
their candidates; for binary relevance it bounds nDCG and MRR, Bruch et al. 2019), minimised by
scipy's L-BFGS with an L2 penalty; the penalty (`L2_GRID`) and the feature set (all; without the
history and `recent` terms; without the sources that alone find under `WEAK_SOURCE_SHARE` of the best
one's nDCG, kept only when better by more than one standard error) are chosen by two-fold cross-fitting on
the validation users.

Why this model: it is a dot product at serving (well under a millisecond for a few hundred
candidates), its coefficients are a few numbers stored as JSON with the RecommenderModel (nothing
pickled, readable in the admin), and with a few thousand held-out positives per organization a
linear model is what the data supports. scikit-learn's pointwise and pairwise logistic regression
on the same features were measured first and ranked worse than the best source alone on
validation (synthetic: nDCG@10 0.068-0.069 vs EASE 0.081; this loss: 0.083); gradient-boosted
trees would need a pickled model. When one source alone beats the cross-fitted blend on
validation, that source alone is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.recommendations.engine.blend import Blended, Candidates, scaled

#: positive events of a user (newest) that feed the `recent` feature
RECENT_EVENTS = 3
HISTORY_SCALE = float(np.log1p(100))
#: validation users with a held-out item among their candidates needed to learn a blend
MIN_USERS = 50
#: L2 penalties tried (chosen with the feature set by two-fold cross-fitting on validation users). The
#: softmax over a user's few hundred candidates is sharp only with large weights, so a strong penalty
#: flattens it and spreads the weight over correlated features: the small values matter (issue 18:
#: 0.01 won at 1,000 users x 10,000 items, validation nDCG@10 0.0640 against 0.0623 with 0.1-10)
L2_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)
#: a source whose validation nDCG alone is under this share of the best source's is also tried left out of
#: the blend (the feature sets of the cross-fitting)
WEAK_SOURCE_SHARE = 0.1


def feature_names(sources: tuple[str, ...]) -> tuple[str, ...]:
    names = []
    for name in sources:
        names += [name, f"{name}:rank", f"{name}:history"]
    return (*names, "recent")


def features_build(
    candidates: dict[str, Candidates], sources: tuple[str, ...], *, history_length: int, recent: Candidates | None
) -> tuple[np.ndarray, np.ndarray]:
    """(candidate ids, sorted; their feature matrix in `feature_names(sources)` order)."""
    present = [candidates[name].ids for name in sources if name in candidates and len(candidates[name].ids)]
    if not present:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 3 * len(sources) + 1))
    ids = np.unique(np.concatenate(present))
    matrix = np.zeros((len(ids), 3 * len(sources) + 1))
    history = min(np.log1p(history_length) / HISTORY_SCALE, 1.0)
    for column, name in enumerate(sources):
        source = candidates.get(name)
        if source is None or not len(source.ids):
            continue
        rows = np.searchsorted(ids, source.ids)
        value = scaled(source.scores)
        rank = np.empty(len(source.ids))
        rank[np.argsort(-source.scores, kind="stable")] = np.arange(len(source.ids))
        matrix[rows, 3 * column] = value
        matrix[rows, 3 * column + 1] = 1.0 / (1.0 + rank)
        matrix[rows, 3 * column + 2] = value * history
    if recent is not None and len(recent.ids):
        known = np.isin(recent.ids, ids)
        matrix[np.searchsorted(ids, recent.ids[known]), -1] = scaled(recent.scores)[known]
    return ids, matrix


@dataclass
class Ranker:
    sources: tuple[str, ...]
    coef: np.ndarray  # one per feature_names(sources)
    intercept: float = 0.0
    #: the item-item source whose neighbours of the latest events give `recent` (None: no such feature)
    recent_source: str | None = None

    @property
    def features(self) -> tuple[str, ...]:
        return feature_names(self.sources)

    def as_dict(self) -> dict:
        return {
            "kind": "logistic",
            "sources": list(self.sources),
            "recent_source": self.recent_source,
            "coef": {name: round(float(value), 6) for name, value in zip(self.features, self.coef, strict=True)},
            "intercept": round(float(self.intercept), 6),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Ranker:
        sources = tuple(data["sources"])
        coef = np.array([float(data["coef"].get(name, 0.0)) for name in feature_names(sources)])
        return cls(sources, coef, float(data.get("intercept", 0.0)), data.get("recent_source"))

    def importance(self) -> dict[str, float]:
        """Each source's share of the model's absolute weight on features of its own (score, rank,
        history interaction; `recent` counted for the recent source): a readable "weight" per source."""
        features = self.features
        totals = dict.fromkeys(self.sources, 0.0)
        for name, value in zip(features, self.coef, strict=True):
            owner = self.recent_source if name == "recent" else name.split(":")[0]
            if owner in totals:
                totals[owner] += abs(float(value))
        whole = sum(totals.values()) or 1.0
        return {name: round(value / whole, 4) for name, value in totals.items()}

    def score(
        self, candidates: dict[str, Candidates], *, history_length: int, recent: Candidates | None = None
    ) -> Blended:
        """Candidates ranked by the model's softmax weight, scaled so the best is 1 (a blend score on
        the same scale as one fully weighted source). Contributions (for the reasons): each
        source's positive share of the linear score."""
        ids, matrix = features_build(candidates, self.sources, history_length=history_length, recent=recent)
        if not len(ids):
            return Blended(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, 0)), ())
        logits = matrix @ self.coef + self.intercept
        scores = np.exp(logits - logits.max())  # the softmax the model was trained for, best = 1
        parts = matrix * self.coef
        contributions = np.zeros((len(ids), len(self.sources)))
        for column in range(len(self.sources)):
            contributions[:, column] = parts[:, 3 * column : 3 * column + 3].sum(axis=1)
        if self.recent_source in self.sources:
            contributions[:, self.sources.index(self.recent_source)] += parts[:, -1]
        contributions = np.clip(contributions, 0, None)
        order = np.argsort(-scores, kind="stable")
        return Blended(ids[order], scores[order], contributions[order], self.sources)


def solo_ranker(sources: tuple[str, ...], name: str) -> Ranker:
    """A ranker that orders by one source alone (its scaled score)."""
    coef = np.zeros(len(feature_names(sources)))
    coef[3 * sources.index(name)] = 1.0
    return Ranker(sources, coef, 0.0, None)


@dataclass
class ValidationRows:
    """Every validation user's candidates as feature rows, with relevance and owner."""

    matrix: np.ndarray
    relevance: np.ndarray
    owner: np.ndarray
    ideal: np.ndarray  # per user: ideal DCG@k

    @classmethod
    def build(cls, per_user, truth, history_lengths, recent, sources, *, k: int = 10) -> ValidationRows:
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        blocks, relevance, owner, ideal = [], [], [], []
        for index, (candidates, relevant) in enumerate(zip(per_user, truth, strict=True)):
            ideal.append(discounts[: min(len(relevant), k)].sum())
            ids, block = features_build(
                candidates, sources, history_length=history_lengths[index], recent=recent[index]
            )
            if not len(ids):
                continue
            blocks.append(block)
            relevance.append(np.fromiter((int(i) in relevant for i in ids), dtype=bool, count=len(ids)))
            owner.append(np.full(len(ids), index))
        width = len(feature_names(sources))
        return cls(
            np.vstack(blocks) if blocks else np.zeros((0, width)),
            np.concatenate(relevance) if relevance else np.zeros(0, dtype=bool),
            np.concatenate(owner) if owner else np.zeros(0, dtype=np.int64),
            np.asarray(ideal),
        )

    def ndcg(self, scores: np.ndarray, users: np.ndarray | None = None, *, k: int = 10) -> float:
        """Mean nDCG@k over `users` (default: all) of the candidates ordered by `scores`."""
        per_user = self.ndcg_per_user(scores, k=k)
        chosen = np.arange(len(self.ideal)) if users is None else users
        return float(per_user[chosen].mean()) if len(chosen) else 0.0

    def ndcg_per_user(self, scores: np.ndarray, *, k: int = 10) -> np.ndarray:
        """Each validation user's nDCG@k of the candidates ordered by `scores`."""
        n_users = len(self.ideal)
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        order = np.lexsort((-scores, self.owner))
        starts = np.searchsorted(self.owner[order], np.arange(n_users))
        rank = np.arange(len(order)) - starts[self.owner[order]]
        shown = (rank < k) & np.isfinite(scores[order])  # -inf: not a candidate of this ranking
        gains = np.where(self.relevance[order] & shown, discounts[np.minimum(rank, k - 1)], 0.0)
        dcg = np.bincount(self.owner[order], weights=gains, minlength=n_users)
        return np.divide(dcg, self.ideal, out=np.zeros(n_users), where=self.ideal > 0)


def _fit(rows: ValidationRows, mask: np.ndarray, *, columns: np.ndarray, l2: float) -> np.ndarray | None:
    """Linear weights w (zero outside `columns`) minimising the softmax cross-entropy of each
    user's candidates (ListNet top-one): mean over users of -sum over held-out items of
    log softmax(X w), plus l2 |w|^2, with w >= 0. L-BFGS-B (scipy). None when no user has a held-out candidate."""
    from scipy.optimize import minimize

    # Candidates that only sources left out of `columns` brought have no feature: they rank last whatever the
    # weights, so they are left out of the fit too (in the softmax they would only pull the weights up).
    mask = mask & (rows.matrix[:, columns] != 0).any(axis=1)
    keep = mask & np.isin(rows.owner, np.unique(rows.owner[mask & rows.relevance]))
    if not keep.any():
        return None
    matrix, relevance = rows.matrix[keep][:, columns], rows.relevance[keep]
    _, owner = np.unique(rows.owner[keep], return_inverse=True)
    n = int(owner.max()) + 1
    positives = np.bincount(owner, weights=relevance.astype(np.float64), minlength=n)
    target = relevance / positives[owner]

    def loss(w):
        z = matrix @ w
        top = np.full(n, -np.inf)
        np.maximum.at(top, owner, z)
        exp = np.exp(z - top[owner])
        total = np.bincount(owner, weights=exp, minlength=n)
        value = np.sum(target * (np.log(total)[owner] + top[owner] - z)) / n + l2 * (w @ w)
        gradient = matrix.T @ (exp / total[owner] - target) / n + 2 * l2 * w
        return value, gradient

    # Non-negative weights: more evidence from any source never lowers an item (monotone, readable).
    start = np.full(len(columns), 0.1)
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * len(columns))
    coef = np.zeros(rows.matrix.shape[1])
    coef[columns] = result.x
    return coef


def _setting_choose(crossed: dict, per_user: dict) -> tuple[str, float] | None:
    """The cross-fitted setting to keep: the best one with every source; one that leaves weak sources out only when
    it beats that by more than one standard error of the users' paired differences (a source is not dropped on
    noise: with a dozen settings tried, the best of them wins by a little by chance alone)."""
    full = [key for key in crossed if not key[0].startswith("without ")]
    setting = max(full, key=crossed.get) if full else None
    reduced = [key for key in crossed if key[0].startswith("without ")]
    if not reduced:
        return setting
    alternative = max(reduced, key=crossed.get)
    if setting is None:
        return alternative
    gain = per_user[alternative] - per_user[setting]
    gain = gain[~np.isnan(gain)]
    if len(gain) > 1 and gain.mean() > gain.std(ddof=1) / np.sqrt(len(gain)):
        return alternative
    return setting


def ranker_learn(
    per_user: list[dict[str, Candidates]],
    truth: list[set[int]],
    *,
    history_lengths: list[int],
    recent: list[Candidates | None],
    sources: tuple[str, ...],
    recent_source: str | None,
    seed: int = 7,
    k: int = 10,
) -> tuple[Ranker | None, dict]:
    """The ranker (None: too little validation data, fixed weights serve) and its validation
    figures: nDCG@k of the learnt blend on users it was not fitted on (two folds), of each source
    alone, and each source's importance."""
    rows = ValidationRows.build(per_user, truth, history_lengths, recent, sources, k=k)
    n_users = len(per_user)
    width = rows.matrix.shape[1]
    solo = {}
    for column, name in enumerate(sources):
        value = rows.matrix[:, 3 * column] + 1e-9 * rows.matrix[:, 3 * column + 1]
        solo[name] = rows.ndcg(np.where(value > 0, value, -np.inf), k=k)
    informed = len(np.unique(rows.owner[rows.relevance]))
    if informed < MIN_USERS:
        # Too little to learn a blend from: the best source alone if any found something, else fixed weights.
        champion = max(solo, key=solo.get) if solo else None
        note = f"{informed} validation users with a held-out candidate (a learnt blend needs {MIN_USERS})"
        figures = {"solo_ndcg_at_10": {name: round(value, 4) for name, value in solo.items()}}
        if champion is None or solo[champion] <= 0:
            return None, {"blend": f"fixed weights: {note}", **figures}
        ranker = solo_ranker(sources, champion)
        return ranker, {"blend": f"{champion} alone: {note}", "ndcg_at_10": round(solo[champion], 4),
                        "importance": ranker.importance(), **figures}  # fmt: skip
    feature_sets = {
        "all": np.arange(width),
        "scores and ranks": np.array([i for i in range(width - 1) if i % 3 != 2]),
    }
    # A source that finds next to nothing alone (content embeddings of titles that say little, say) still adds
    # three features the fit can only overfit on: the cross-fitting also tries the blend without them (kept only
    # when clearly better: _setting_choose).
    best_solo = max(solo.values(), default=0.0)
    weak = [name for name in sources if solo[name] < WEAK_SOURCE_SHARE * best_solo]
    if weak and len(weak) < len(sources):
        dropped = {3 * sources.index(name) + offset for name in weak for offset in range(3)}
        feature_sets[f"without {', '.join(weak)}"] = np.array([i for i in range(width) if i not in dropped])
    fold = np.random.default_rng(seed).permutation(n_users) % 2
    crossed: dict[tuple[str, float], float] = {}
    per_user: dict[tuple[str, float], np.ndarray] = {}  # each user's nDCG on the fold they were held out of
    for label, columns in feature_sets.items():
        for l2 in L2_GRID:
            found = np.full(n_users, np.nan)
            for part in (0, 1):
                coef = _fit(rows, fold[rows.owner] != part, columns=columns, l2=l2)
                if coef is None:
                    continue
                held = np.flatnonzero(fold == part)
                found[held] = rows.ndcg_per_user(rows.matrix @ coef, k=k)[held]
            if not np.isnan(found).all():
                crossed[(label, l2)], per_user[(label, l2)] = float(np.nanmean(found)), found
    champion = max(solo, key=solo.get) if solo else None
    setting = _setting_choose(crossed, per_user)
    learnt = crossed[setting] if setting else 0.0
    coef = _fit(rows, np.ones(len(rows.owner), dtype=bool), columns=feature_sets[setting[0]], l2=setting[1]) if (
        setting) else None  # fmt: skip
    if coef is None or (champion is not None and solo[champion] > learnt):
        ranker = solo_ranker(sources, champion) if champion else Ranker(sources, np.zeros(width))
        chosen = f"{champion} alone" if champion else "nothing to learn from"
        best = solo.get(champion, 0.0) if champion else 0.0
    else:
        ranker = Ranker(sources, coef, 0.0, recent_source if coef[-1] else None)
        chosen, best = f"learnt ({setting[0]}, l2 {setting[1]:g})", learnt
    validation = {
        "ndcg_at_10": round(best, 4),
        "learnt_ndcg_at_10": round(learnt, 4),
        "solo_ndcg_at_10": {name: round(value, 4) for name, value in solo.items()},
        "blend": chosen,
        "importance": ranker.importance(),
        "cross_fitted": {f"{label}, l2 {l2:g}": round(value, 4) for (label, l2), value in crossed.items()},
    }
    return ranker, validation
