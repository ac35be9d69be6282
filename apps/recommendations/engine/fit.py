"""Model fitting (pure numpy/scipy/implicit): what the training task computes per organization.

- `als_fit`: implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) with the
  `implicit` library; its user and item factors go to pgvector, so serving is an index query.
- `cooccurrence_fit`: item-to-item similarity from co-occurrence in users' positive histories
  (cosine with shrinkage, top-k neighbours per item).
- `popularity_fit`: popularity with exponential time decay ("trending"), for cold start.
- `history_weights`: how much each past event of a user counts, decayed by recency (in events,
  so it means the same for a catalog used daily and one used yearly).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from apps.recommendations.engine.data import Events


def confidence_matrix(events: Events, n_users: int, n_items: int) -> sp.csr_matrix:
    """users x items, log(1 + summed positive weight) of each pair (repeated views do not swamp)."""
    mask = events.positive
    matrix = sp.coo_matrix(
        (events.weights[mask].astype(np.float32), (events.users[mask], events.items[mask])), shape=(n_users, n_items)
    ).tocsr()
    matrix.sum_duplicates()
    matrix.data = np.log1p(matrix.data).astype(np.float32)
    return matrix


def als_fit(
    matrix: sp.csr_matrix,
    *,
    factors: int,
    regularization: float,
    alpha: float,
    iterations: int,
    seed: int = 7,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """(user factors, item factors) of implicit ALS on a users x items confidence matrix."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    # implicit asks for single-threaded BLAS (it parallelises itself) and checks it on creation.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            random_state=seed,
            num_threads=threads,
        )
        model.fit(matrix, show_progress=False)
    return np.asarray(model.user_factors, dtype=np.float32), np.asarray(model.item_factors, dtype=np.float32)


def cooccurrence_fit(matrix: sp.csr_matrix, *, neighbors: int = 50, shrink: float = 10.0) -> sp.csr_matrix:
    """items x items: for each item its `neighbors` most similar items by co-occurrence,
    sim(i, j) = |U_i & U_j| / (sqrt(|U_i| |U_j|) + shrink) (shrinkage damps pairs seen by few users)."""
    binary = matrix.copy().tocsr()
    binary.data = np.ones_like(binary.data, dtype=np.float32)
    counts = np.asarray(binary.sum(axis=0)).ravel().astype(np.float32)
    co = (binary.T @ binary).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    rows, cols, values = [], [], []
    norms = np.sqrt(counts)
    for item in range(co.shape[0]):
        start, end = co.indptr[item], co.indptr[item + 1]
        if start == end:
            continue
        other = co.indices[start:end]
        sim = co.data[start:end] / (norms[item] * norms[other] + shrink)
        if len(sim) > neighbors:
            keep = np.argpartition(-sim, neighbors)[:neighbors]
            other, sim = other[keep], sim[keep]
        rows.append(np.full(len(other), item, dtype=np.int32))
        cols.append(other.astype(np.int32))
        values.append(sim.astype(np.float32))
    n = co.shape[0]
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    return sp.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def popularity_fit(events: Events, n_items: int, *, reference_time: float, half_life_days: float | None) -> np.ndarray:
    """Per item: number of positive events, each decayed by its age at `reference_time`."""
    mask = events.positive
    if half_life_days:
        age_days = np.maximum(reference_time - events.times[mask], 0) / 86400.0
        decay = np.power(0.5, age_days / half_life_days)
    else:
        decay = np.ones(int(mask.sum()))
    return np.bincount(events.items[mask], weights=decay, minlength=n_items).astype(np.float64)


def history_weights(times: np.ndarray, weights: np.ndarray, *, half_life_events: float | None) -> np.ndarray:
    """Weight of each of a user's positive events: its signal weight, halved every
    `half_life_events` newer events (the newest counts fully)."""
    if len(times) == 0:
        return np.zeros(0)
    order = np.argsort(-times, kind="stable")
    rank = np.empty(len(times))
    rank[order] = np.arange(len(times))
    decay = np.power(0.5, rank / half_life_events) if half_life_events else np.ones(len(times))
    return np.log1p(np.asarray(weights, dtype=np.float64)) * decay
