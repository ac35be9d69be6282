"""The engine's pure parts (no database): hold-out split, metrics, blending, weight learning, MMR,
co-occurrence and popularity fitting, signal rules (issue 7)."""

import numpy as np
import pytest

from apps.recommendations.engine.blend import Candidates, blend, blend_weights_learn, mmr, scaled
from apps.recommendations.engine.data import Events, SignalRules
from apps.recommendations.engine.fit import confidence_matrix, cooccurrence_fit, history_weights, popularity_fit
from apps.recommendations.engine.metrics import ranking_metrics, temporal_holdout
from apps.recommendations.engine.offline import EngineParams, OfflineModel, blend_learn


def test_temporal_holdout_keeps_the_latest_positives_and_drops_later_events():
    """The last 20% of each user's positives (at least one) are held out, with the user's later events."""
    users = np.array([1, 1, 1, 1, 1, 1, 2, 2, 3])
    items = np.array([10, 11, 12, 13, 14, 15, 10, 11, 12])
    times = np.array([1, 2, 3, 4, 5, 6, 1, 2, 1], dtype=float)
    positive = np.array([True, True, True, False, True, False, True, True, True])
    split = temporal_holdout(users, items, times, positive, fraction=0.2)
    assert split.test == {1: {14}, 2: {11}}  # user 3 has one positive: kept for training
    assert split.train.tolist() == [True, True, True, True, False, False, True, False, True]


def test_ranking_metrics_by_hand():
    """precision, recall, nDCG (binary) and coverage match a hand computation."""
    recommended = {1: [5, 6, 7], 2: [8, 9, 5]}
    test = {1: {6}, 2: {1, 2}}
    m = ranking_metrics(recommended, test, k=3, n_items=10)
    assert m["precision"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["recall"] == pytest.approx((1 + 0) / 2)
    assert m["ndcg"] == pytest.approx(((1 / np.log2(3)) / 1.0 + 0) / 2)
    assert m["coverage"] == pytest.approx(5 / 10)


def test_signal_rules():
    """Low ratings and dismissals are not positive; consumed kinds are marked."""
    rules = SignalRules()
    assert rules.weight("rate", 2.0, 5) == 2.0 and rules.weight("rate", 2.0, 3) == 0.0
    assert rules.weight("dismiss", -2.0, None) == 0.0 and rules.weight("view", 1.0, None) == 1.0
    rows = [(1, 5, "rate", 2.0, 2.0, 0), (1, 6, "view", 1.0, None, 1), (1, 7, "dismiss", -2, None, 2)]
    events = Events.from_rows(rows, rules)
    assert events.positive.tolist() == [False, True, False]
    assert events.consumed.tolist() == [True, False, False] and events.dismissed.tolist() == [False, False, True]


def test_blend_scales_each_source_and_weights_it():
    """Each source is scaled by its best score, then weighted; contributions explain the total."""
    a = Candidates(np.array([1, 2]), np.array([10.0, 5.0]))
    b = Candidates(np.array([2, 3]), np.array([1.0, 0.5]))
    result = blend({"a": a, "b": b}, {"a": 1.0, "b": 2.0})
    assert result.ids.tolist() == [2, 1, 3]  # ties keep id order
    assert result.scores.tolist() == pytest.approx([2.5, 1.0, 1.0])
    assert result.main_source(0) == "b"
    assert scaled(np.array([-1.0, 2.0, 4.0])).tolist() == [0.0, 0.5, 1.0]


def test_weight_learning_prefers_the_informative_source():
    """On users whose truth is what source 'good' ranks first, the learnt weights favour 'good'."""
    rng = np.random.default_rng(0)
    per_user, truth = [], []
    for _ in range(200):
        good_ids = rng.choice(1000, size=20, replace=False)
        noise_ids = rng.choice(1000, size=20, replace=False)
        per_user.append({
            "good": Candidates(good_ids, np.linspace(1, 0.1, 20)),
            "noise": Candidates(noise_ids, np.linspace(1, 0.1, 20)),
        })  # fmt: skip
        truth.append({int(good_ids[0]), int(good_ids[1])})
    weights, best, solo = blend_weights_learn(per_user, truth, sources=("good", "noise"))
    assert weights["good"] > weights["noise"]
    assert best >= solo["good"] > solo["noise"]


def test_mmr_diversity():
    """diversity 0 keeps the relevance order; diversity 1 avoids near-duplicates."""
    relevance = np.array([1.0, 0.99, 0.5])
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert mmr(relevance, vectors, diversity=0.0, k=2) == [0, 1]
    assert mmr(relevance, vectors, diversity=0.7, k=2) == [0, 2]


def test_cooccurrence_and_popularity_fit():
    """Items liked by the same users are neighbours; popularity decays with age."""
    events = Events(
        users=np.array([0, 0, 1, 1, 2]), items=np.array([0, 1, 0, 1, 2]), times=np.array([0, 0, 0, 0, 86400.0 * 10]),
        weights=np.ones(5, dtype=np.float32), consumed=np.zeros(5, bool), dismissed=np.zeros(5, bool),
    )  # fmt: skip
    matrix = confidence_matrix(events, 3, 3)
    neighbours = cooccurrence_fit(matrix, neighbors=5, shrink=0.0)
    assert neighbours[0, 1] == pytest.approx(1.0) and neighbours[0, 2] == 0
    popularity = popularity_fit(events, 3, reference_time=86400.0 * 10, half_life_days=10)
    assert popularity.tolist() == pytest.approx([1.0, 1.0, 1.0])  # two events at half weight vs one fresh
    assert history_weights(np.array([1.0, 2.0, 3.0]), np.ones(3), half_life_events=1).tolist() == pytest.approx(
        np.log1p(1) * np.array([0.25, 0.5, 1.0])
    )


def test_offline_blend_beats_noise_on_clustered_tastes():
    """On two taste clusters, the learnt blend recommends within the user's cluster."""
    rng = np.random.default_rng(1)
    rows = []
    for user in range(60):
        cluster = user % 2
        for step, item in enumerate(rng.choice(np.arange(cluster * 30, cluster * 30 + 30), size=12, replace=False)):
            rows.append((user, int(item), "like", 3.0, None, step * 60.0 + user))
    events = Events.from_rows(rows, SignalRules()).indexed(np.arange(60))
    choice = blend_learn(events, n_users=60, n_items=60, params=EngineParams(factors=8, iterations=5), tune_cf=False)
    model = OfflineModel(events, n_users=60, n_items=60, params=choice.params).fit()
    for user in range(10):
        cluster = int(events.user_ids[user]) % 2
        assert all(cluster * 30 <= int(events.item_ids[i]) < cluster * 30 + 30 for i in model.recommend(user, k=5))
