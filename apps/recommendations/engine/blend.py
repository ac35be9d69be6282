"""Blending candidate sources, learning the blend weights, and MMR diversity (pure numpy).

Each source gives candidates with raw scores on its own scale (dot products, co-occurrence sums,
decayed counts). Each list is scaled to 0..1 by its best score, then the blend is
    score(item) = sum over sources of weight[source] * scaled_score[source](item)
The same function ranks offline (validation, evaluation) and online (serving), so the weights
learnt offline mean the same thing when serving.

Weights are learnt per organization at training time (`blend_weights_learn`): coordinate ascent
over a grid, maximising nDCG@10 on a validation split cut from the training data (each user's
latest positives), never on the data an evaluation reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: sources whose weight is learnt offline; the others (course order, graph) have set weights
LEARNT_SOURCES = ("cf", "cooccurrence", "content", "popular")
WEIGHT_GRID = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 3.0)


@dataclass
class Candidates:
    ids: np.ndarray  # item ids (database ids online, indexes offline)
    scores: np.ndarray  # raw, higher is better

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0))

    def top(self, n: int) -> Candidates:
        if len(self.ids) <= n:
            order = np.argsort(-self.scores, kind="stable")
        else:
            part = np.argpartition(-self.scores, n)[:n]
            order = part[np.argsort(-self.scores[part], kind="stable")]
        return Candidates(self.ids[order], self.scores[order])


def scaled(scores: np.ndarray) -> np.ndarray:
    """Scores clipped at 0 and divided by the best one (0..1)."""
    clipped = np.clip(np.asarray(scores, dtype=np.float64), 0, None)
    best = clipped.max() if len(clipped) else 0.0
    return clipped / best if best > 0 else clipped


@dataclass
class Blended:
    ids: np.ndarray  # union of all candidates, best first
    scores: np.ndarray  # blended score
    contributions: np.ndarray  # len(ids) x len(sources): weight * scaled score
    sources: tuple[str, ...]

    def main_source(self, row: int) -> str:
        return self.sources[int(np.argmax(self.contributions[row]))]


def blend(candidates: dict[str, Candidates], weights: dict[str, float]) -> Blended:
    sources = tuple(name for name in candidates if weights.get(name, 0) > 0 and len(candidates[name].ids))
    if not sources:
        return Blended(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, 0)), ())
    ids = np.unique(np.concatenate([candidates[name].ids for name in sources]))
    contributions = np.zeros((len(ids), len(sources)))
    for column, name in enumerate(sources):
        source = candidates[name]
        contributions[np.searchsorted(ids, source.ids), column] = weights[name] * scaled(source.scores)
    scores = contributions.sum(axis=1)
    order = np.argsort(-scores, kind="stable")
    return Blended(ids[order], scores[order], contributions[order], sources)


def blend_weights_learn(
    per_user: list[dict[str, Candidates]],
    truth: list[set[int]],
    *,
    sources: tuple[str, ...] = LEARNT_SOURCES,
    k: int = 10,
    rounds: int = 3,
    grid: tuple[float, ...] = WEIGHT_GRID,
) -> tuple[dict[str, float], float, dict[str, float]]:
    """Weights maximising mean nDCG@k of the blend over validation users.

    Returns (weights, nDCG@k of the blend, nDCG@k of each source alone). All users are scored in
    one vectorised pass per weight vector (one sort of every candidate of every user).
    """
    blocks, relevance, owner, ideal = [], [], [], []
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for index, (candidates, relevant) in enumerate(zip(per_user, truth, strict=True)):
        present = [candidates[name].ids for name in sources if name in candidates and len(candidates[name].ids)]
        ideal.append(discounts[: min(len(relevant), k)].sum())
        if not present:
            continue
        ids = np.unique(np.concatenate(present))
        block = np.zeros((len(ids), len(sources)))
        for column, name in enumerate(sources):
            source = candidates.get(name)
            if source is not None and len(source.ids):
                block[np.searchsorted(ids, source.ids), column] = scaled(source.scores)
        blocks.append(block)
        relevance.append(np.fromiter((int(i) in relevant for i in ids), dtype=bool, count=len(ids)))
        owner.append(np.full(len(ids), index))
    n_users = len(per_user)
    if not blocks:
        return {name: 1.0 for name in sources}, 0.0, {name: 0.0 for name in sources}
    matrix = np.vstack(blocks)
    relevance = np.concatenate(relevance)
    owner = np.concatenate(owner)
    ideal = np.asarray(ideal)
    starts = np.searchsorted(owner, np.arange(n_users))

    def score(weights: np.ndarray) -> float:
        total = matrix @ weights
        order = np.lexsort((-total, owner))
        rank = np.arange(len(order)) - starts[owner[order]]
        top = (rank < k) & (total[order] > 0)
        gains = np.where(relevance[order] & top, discounts[np.minimum(rank, k - 1)], 0.0)
        dcg = np.bincount(owner[order], weights=gains, minlength=n_users)
        return float(np.mean(np.divide(dcg, ideal, out=np.zeros(n_users), where=ideal > 0)))

    solo = {name: score(np.eye(len(sources))[column]) for column, name in enumerate(sources)}
    weights = np.ones(len(sources))
    best = score(weights)
    for _ in range(rounds):
        improved = False
        for column in range(len(sources)):
            for value in grid:
                if value == weights[column]:
                    continue
                trial = weights.copy()
                trial[column] = value
                if not trial.any():
                    continue
                result = score(trial)
                if result > best + 1e-9:
                    best, weights, improved = result, trial, True
        if not improved:
            break
    # Solo sources: a single strong source may beat every mix on this split.
    champion = max(solo, key=solo.get)
    if solo[champion] > best:
        weights = np.eye(len(sources))[sources.index(champion)]
        best = solo[champion]
    return {name: float(weights[column]) for column, name in enumerate(sources)}, best, solo


def mmr(relevance: np.ndarray, vectors: np.ndarray | None, *, diversity: float, k: int) -> list[int]:
    """Maximal marginal relevance: positions of `k` picks, each maximising
    (1 - diversity) * relevance - diversity * (highest cosine similarity to an earlier pick).
    `vectors` are L2-normalised rows (zeros where an item has none). diversity 0 = pure relevance."""
    n = len(relevance)
    k = min(k, n)
    if diversity <= 0 or vectors is None or n == 0:
        return list(np.argsort(-relevance, kind="stable")[:k])
    rel = scaled(relevance)
    lam = 1.0 - diversity
    chosen: list[int] = []
    closest = np.zeros(n)
    available = np.ones(n, dtype=bool)
    for _ in range(k):
        value = np.where(available, lam * rel - (1 - lam) * closest, -np.inf)
        pick = int(np.argmax(value))
        chosen.append(pick)
        available[pick] = False
        closest = np.maximum(closest, vectors @ vectors[pick])
    return chosen
