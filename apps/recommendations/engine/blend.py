"""Blending candidate sources with fixed weights, and MMR diversity (pure numpy).

Each source gives candidates with raw scores on its own scale (dot products, item-item sums,
decayed counts). Each list is scaled to 0..1 by its best score, then the blend is
    score(item) = sum over sources of weight[source] * scaled_score[source](item)
Fixed weights serve when there is no learnt ranker (no model yet, or too few events to learn
from) and for the sources added on top of the ranker (course order, graph: `blend_add`). The
learnt blend itself is engine.ranker (a linear model over the sources' scores and features,
trained on a validation split).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: sources learnt offline from the events; course order and graph join them when the catalog has structure
LEARNT_SOURCES = ("cf", "cooccurrence", "ease", "rp3beta", "sequence", "content", "popular", "trending")
#: fixed weights without a learnt ranker (no model yet, or too little data): history-based sources first
DEFAULT_WEIGHTS = {
    "cf": 1.0, "cooccurrence": 1.0, "ease": 1.0, "rp3beta": 1.0, "sequence": 0.5, "content": 0.5, "popular": 0.3,
    "trending": 0.3,
}  # fmt: skip


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


def blend_add(base: Blended, candidates: dict[str, Candidates], weights: dict[str, float]) -> Blended:
    """`base` (e.g. the learnt ranker's list) plus fixed-weight sources on top (course order, graph)."""
    extra = blend(candidates, weights)
    if not len(extra.ids):
        return base
    if not len(base.ids):
        return extra
    ids = np.union1d(base.ids, extra.ids)
    sources = base.sources + extra.sources
    contributions = np.zeros((len(ids), len(sources)))
    scores = np.zeros(len(ids))
    for part, offset in ((base, 0), (extra, len(base.sources))):
        rows = np.searchsorted(ids, part.ids)
        scores[rows] += part.scores
        contributions[rows, offset : offset + len(part.sources)] = part.contributions
    order = np.argsort(-scores, kind="stable")
    return Blended(ids[order], scores[order], contributions[order], sources)


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
