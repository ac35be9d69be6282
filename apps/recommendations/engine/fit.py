"""Model fitting (pure numpy/scipy/implicit): what the training task computes per organization.

- `als_fit`: implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) with the
  `implicit` library; its user and item factors go to pgvector, so serving is an index query.
- `cooccurrence_fit`: item-to-item similarity from co-occurrence in users' positive histories
  (cosine with shrinkage, top-k neighbours per item).
- `ease_fit` / `rp3beta_fit`: item-item models that usually beat ALS on implicit top-N tasks:
  EASE (closed-form regression, dense inverse: catalogs up to REC_EASE_MAX_ITEMS items) and
  RP3beta (popularity-penalised random walks, sparse, any size); both kept as top-k neighbours.
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


def rows_top_k(matrix: sp.spmatrix, k: int, *, positive_only: bool = True) -> sp.csr_matrix:
    """The `k` largest entries of each row of a sparse items x items matrix (float32 CSR); with
    `positive_only`, entries <= 0 are dropped first (they never raise a candidate's score)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    if positive_only:
        matrix.data[matrix.data < 0] = 0
    matrix.setdiag(0)
    matrix.eliminate_zeros()
    rows, cols, values = [], [], []
    for item in range(matrix.shape[0]):
        start, end = matrix.indptr[item], matrix.indptr[item + 1]
        if start == end:
            continue
        other, value = matrix.indices[start:end], matrix.data[start:end]
        if len(value) > k:
            keep = np.argpartition(-value, k)[:k]
            other, value = other[keep], value[keep]
        rows.append(np.full(len(other), item, dtype=np.int32))
        cols.append(other.astype(np.int32))
        values.append(value.astype(np.float32))
    if not rows:
        return sp.csr_matrix(matrix.shape, dtype=np.float32)
    return sp.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=matrix.shape)


def cooccurrence_fit(matrix: sp.csr_matrix, *, neighbors: int = 50, shrink: float = 10.0) -> sp.csr_matrix:
    """items x items: for each item its `neighbors` most similar items by co-occurrence,
    sim(i, j) = |U_i & U_j| / (sqrt(|U_i| |U_j|) + shrink) (shrinkage damps pairs seen by few users)."""
    binary = matrix.copy().tocsr()
    binary.data = np.ones_like(binary.data, dtype=np.float32)
    norms = np.sqrt(np.asarray(binary.sum(axis=0)).ravel().astype(np.float32))
    co = (binary.T @ binary).tocoo()
    co.data = co.data / (norms[co.row] * norms[co.col] + shrink)
    return rows_top_k(co, neighbors)


def ease_fit(matrix: sp.csr_matrix, *, regularization: float, neighbors: int) -> sp.csr_matrix:
    """EASE (Steck 2019): the closed-form item-item regression B = I - P diag(1/diag(P)),
    P = (X'X + lambda I)^-1, on the binary users x items matrix; the score of j for a user is
    sum over their history h of B[h, j]. Kept as each item's `neighbors` largest positive weights,
    so serving is the same lookup as co-occurrence. Only items with a positive event enter the
    inverse (dense: memory items^2 x 4 bytes, time ~ items^3; see REC_EASE_MAX_ITEMS)."""
    import scipy.linalg

    binary = matrix.copy().tocsr()
    binary.data = np.ones_like(binary.data, dtype=np.float32)
    n = binary.shape[1]
    active = np.flatnonzero(np.asarray(binary.sum(axis=0)).ravel() > 0)
    if len(active) < 2:
        return sp.csr_matrix((n, n), dtype=np.float32)
    sub = binary[:, active]
    gram = (sub.T @ sub).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += regularization
    weights = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
    del gram
    weights /= -np.diag(weights).copy()[None, :]  # in place: one dense matrix alive at a time
    np.fill_diagonal(weights, 0)
    # top-k per row on the dense block, then back to the full item axis
    k = min(neighbors, len(active) - 1)
    keep = np.argpartition(-weights, k, axis=1)[:, :k]
    values = np.take_along_axis(weights, keep, axis=1)
    mask = values > 0
    rows = np.repeat(active, k).reshape(len(active), k)[mask]
    return sp.csr_matrix((values[mask], (rows, active[keep[mask]])), shape=(n, n), dtype=np.float32)


def rp3beta_fit(matrix: sp.csr_matrix, *, alpha: float, beta: float, neighbors: int) -> sp.csr_matrix:
    """RP3beta (Paudel et al. 2017): the three-step random walk item -> user -> item, each step's
    transition probabilities raised to `alpha`, divided by the target's popularity^`beta` (damps
    the blockbusters), each row's `neighbors` best kept and normalised to sum 1. Sparse: scales to
    any catalog the co-occurrence matrix fits."""
    binary = matrix.copy().tocsr()
    binary.data = np.ones_like(binary.data, dtype=np.float32)
    user_degree = np.asarray(binary.sum(axis=1)).ravel()
    item_degree = np.asarray(binary.sum(axis=0)).ravel()
    to_items = sp.diags(1.0 / np.maximum(user_degree, 1)) @ binary  # P(item | user)
    to_users = sp.diags(1.0 / np.maximum(item_degree, 1)) @ binary.T.tocsr()  # P(user | item)
    if alpha != 1.0:
        to_items.data **= alpha
        to_users.data **= alpha
    walk = (to_users @ to_items).tocoo()
    walk.data = walk.data / np.power(np.maximum(item_degree[walk.col], 1), beta)
    top = rows_top_k(walk, neighbors)
    sums = np.asarray(top.sum(axis=1)).ravel()
    return (sp.diags(1.0 / np.where(sums > 0, sums, 1.0)) @ top).tocsr().astype(np.float32)


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


def recency_weights(users: np.ndarray, times: np.ndarray, *, half_life_events: float | None) -> np.ndarray:
    """Training weight of each event by its recency within its user's own history: 1 for the user's
    newest event, halved every `half_life_events` newer events of the same user (None: all 1). Tastes
    drift, so what a user did lately says more about what they want next (Koren 2009 "timeSVD++"
    and Ding & Li 2005 decay a user's older feedback in the same spirit; counted in events, as
    `history_weights`, so it means the same for daily and yearly users)."""
    if not half_life_events or len(users) == 0:
        return np.ones(len(users))
    order = np.lexsort((-times, users))  # per user, newest first
    starts = np.flatnonzero(np.r_[True, users[order][1:] != users[order][:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    out = np.empty(len(users))
    out[order] = np.power(0.5, rank / half_life_events)
    return out


def trending_fit(
    events: Events, n_items: int, *, half_life_days: float | None, top: int, max_buckets: int = 400
) -> tuple[float, float, list[tuple[np.ndarray, np.ndarray]]]:
    """What was trending at each moment of the data: (start, bucket seconds, per bucket (items, scores)).

    Time is cut into buckets (a day, wider when the data spans more than `max_buckets` days); the
    score of an item at the end of bucket b is its positive events up to that moment, each halved
    every `half_life_days` of age (None: counted fully, i.e. popularity as of then). Only the past
    counts: at serving, a user is shown the chart of the bucket of their latest event, which for an
    active user is today's. Each bucket keeps its `top` items (best first)."""
    mask = events.positive
    if not mask.any():
        return 0.0, 86400.0, []
    times, items = events.times[mask], events.items[mask]
    start = float(times.min())
    width = max(86400.0, (float(times.max()) - start) / max_buckets + 1.0)
    bucket = ((times - start) // width).astype(np.int64)
    n_buckets = int(bucket.max()) + 1
    factor = 0.5 ** (width / 86400.0 / half_life_days) if half_life_days else 1.0
    # within a bucket, an event's age at the bucket's end
    end = start + (bucket + 1) * width
    weight = np.power(0.5, (end - times) / 86400.0 / half_life_days) if half_life_days else np.ones(len(times))
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(n_buckets + 1))
    scores = np.zeros(n_items)
    out = []
    for b in range(n_buckets):
        scores *= factor
        rows = order[bounds[b] : bounds[b + 1]]
        if len(rows):
            np.add.at(scores, items[rows], weight[rows])
        k = min(top, int((scores > 0).sum()))
        best = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
        best = best[np.argsort(-scores[best], kind="stable")]
        out.append((best.astype(np.int64), scores[best].astype(np.float64)))
    return start, width, out


def trending_bucket(moment: float, *, start: float, width: float, buckets: int) -> int:
    """The bucket of `moment` (clipped to the known ones: later moments get the latest chart)."""
    return int(min(max((moment - start) // width, 0), buckets - 1))


def sequence_fit(
    events: Events, n_items: int, *, window: int = 3, neighbors: int = 50, shrink: float = 10.0
) -> sp.csr_matrix:
    """items x items: what people take next. Each user's positive events in time order; item a is
    followed by b when b comes within the `window` next positives (weight 1 / steps). Scored
    count(a -> b) / (sqrt(n_a n_b) + shrink), the co-occurrence normalisation, so blockbusters do
    not follow everything; each item's `neighbors` best kept (stored as ItemNeighbors kind `sequence`)."""
    mask = events.positive
    users, items, times = events.users[mask], events.items[mask], events.times[mask]
    order = np.lexsort((times, users))
    users, items = users[order], items[order]
    rows, cols, vals = [], [], []
    for step in range(1, window + 1):
        same = users[step:] == users[:-step]
        rows.append(items[:-step][same])
        cols.append(items[step:][same])
        vals.append(np.full(int(same.sum()), 1.0 / step, dtype=np.float32))
    if not rows or not sum(len(r) for r in rows):
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    counts = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items)
    ).tocsr()
    counts.sum_duplicates()
    degree = np.sqrt(np.bincount(items, minlength=n_items).astype(np.float32))
    coo = counts.tocoo()
    coo.data = coo.data / (degree[coo.row] * degree[coo.col] + shrink)
    return rows_top_k(coo, neighbors)
