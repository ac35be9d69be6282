"""The engine's pure parts (no database): hold-out split, metrics, blending, the learnt ranker, MMR,
co-occurrence, EASE, RP3beta and popularity fitting, signal rules (issues 7 and 18); the temporal
pieces of issue 18: per-user recency weights in ALS's training, the trending charts at a user's
time, the sequential "what people take next" neighbours, and their choice on the validation split."""

import json

import numpy as np
import pytest

from apps.recommendations.engine.blend import Candidates, blend, blend_add, mmr, scaled
from apps.recommendations.engine.data import Events, SignalRules
from apps.recommendations.engine.fit import (
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
from apps.recommendations.engine.offline import EngineParams, OfflineModel, blend_learn
from apps.recommendations.engine.ranker import Ranker, ranker_learn, solo_ranker


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


def _two_sources(rng, users=200):
    per_user, truth = [], []
    for _ in range(users):
        good_ids = rng.choice(1000, size=20, replace=False)
        noise_ids = rng.choice(1000, size=20, replace=False)
        per_user.append({
            "good": Candidates(good_ids, np.linspace(1, 0.1, 20)),
            "noise": Candidates(noise_ids, np.linspace(1, 0.1, 20)),
        })  # fmt: skip
        truth.append({int(good_ids[0]), int(good_ids[1])})
    return per_user, truth


def test_ranker_learns_the_informative_source():
    """On users whose truth is what source 'good' ranks first, the ranker weighs 'good' over 'noise',
    its coefficients survive JSON, and it ranks 'good's top items first."""
    per_user, truth = _two_sources(np.random.default_rng(0))
    ranker, figures = ranker_learn(
        per_user, truth, history_lengths=[10] * len(per_user), recent=[None] * len(per_user),
        sources=("good", "noise"), recent_source=None,
    )  # fmt: skip
    assert figures["importance"]["good"] > figures["importance"]["noise"]
    assert figures["ndcg_at_10"] >= figures["solo_ndcg_at_10"]["good"] > figures["solo_ndcg_at_10"]["noise"]
    again = Ranker.from_dict(json.loads(json.dumps(ranker.as_dict())))
    ranked = again.score(per_user[0], history_length=10)
    assert ranked.ids[0] == per_user[0]["good"].ids[0] and ranked.scores[0] == 1.0
    assert ranked.main_source(0) == "good"


def test_ranker_needs_enough_users_and_falls_back_to_the_best_source():
    """Below MIN_USERS validation users with a held-out candidate, the best source alone is kept."""
    per_user, truth = _two_sources(np.random.default_rng(1), users=20)
    ranker, figures = ranker_learn(
        per_user, truth, history_lengths=[10] * 20, recent=[None] * 20, sources=("good", "noise"), recent_source=None
    )
    assert figures["blend"].startswith("good alone: 20 validation users")
    assert ranker.as_dict() == solo_ranker(("good", "noise"), "good").as_dict()


def test_a_source_that_finds_next_to_nothing_is_also_tried_left_out():
    """A source whose validation nDCG alone is under WEAK_SOURCE_SHARE of the best one's is cross-fitted out as
    well as in. Left out, it is as if it had never been asked: the candidates only it brought leave the fit
    too (they have no feature left; in the softmax they would still move the weights)."""
    from apps.recommendations.engine.ranker import ValidationRows, _fit

    rng = np.random.default_rng(3)
    per_user, truth = [], []
    for _ in range(200):
        good, second, noise = (rng.choice(1000, size=20, replace=False) for _ in range(3))
        per_user.append({
            "good": Candidates(good, np.linspace(1, 0.1, 20)),
            "second": Candidates(second, np.linspace(1, 0.1, 20)),
            "noise": Candidates(noise, np.linspace(1, 0.1, 20)),
        })  # fmt: skip
        truth.append({int(good[0]), int(second[0])})
    history, recent = [10] * 200, [None] * 200
    _ranker, figures = ranker_learn(
        per_user, truth, history_lengths=history, recent=recent, sources=("good", "second", "noise"),
        recent_source=None,
    )  # fmt: skip
    assert figures["solo_ndcg_at_10"]["noise"] < 0.1 * figures["solo_ndcg_at_10"]["good"]
    assert {"all, l2 0.01", "without noise, l2 0.01"} <= set(figures["cross_fitted"])

    rows = ValidationRows.build(per_user, truth, history, recent, ("good", "second", "noise"))
    kept = np.array([0, 1, 2, 3, 4, 5, 9])  # good's and second's three features, and `recent`
    left_out = _fit(rows, np.ones(len(rows.owner), dtype=bool), columns=kept, l2=0.01)
    never_asked = [{name: found for name, found in candidates.items() if name != "noise"} for candidates in per_user]
    rows_without = ValidationRows.build(never_asked, truth, history, recent, ("good", "second"))
    alone = _fit(rows_without, np.ones(len(rows_without.owner), dtype=bool), columns=np.arange(7), l2=0.01)
    assert left_out[[6, 7, 8]].tolist() == [0.0, 0.0, 0.0]
    assert left_out[kept] == pytest.approx(alone, rel=1e-4, abs=1e-6)


def test_leaving_a_weak_source_out_is_kept_only_when_better_beyond_noise():
    """The best setting with every source stays unless one without the weak sources beats it by more than one
    standard error of the users' paired differences; a larger mean won by a few users' luck does not count."""
    from apps.recommendations.engine.ranker import _setting_choose

    rng = np.random.default_rng(5)
    base = rng.random(50) * 0.5
    steady = base + 0.01  # every user a little better
    lucky = base.copy()
    lucky[0] += 1.0  # one user found everything, the others a little worse: the mean higher than `steady`'s
    lucky[1:] -= 0.005
    assert lucky.mean() > steady.mean() > base.mean()
    for alternative, expected in ((steady, ("without content", 0.01)), (lucky, ("all", 0.01))):
        crossed = {("all", 0.01): base.mean(), ("all", 0.1): base.mean() - 0.02,
                   ("without content", 0.01): alternative.mean()}  # fmt: skip
        per_user = {("all", 0.01): base, ("all", 0.1): base - 0.02, ("without content", 0.01): alternative}
        assert _setting_choose(crossed, per_user) == expected
    assert _setting_choose({("all", 0.1): 0.2}, {("all", 0.1): base}) == ("all", 0.1)


def test_blend_add_puts_fixed_sources_on_top_of_the_ranker():
    """Course/graph candidates with fixed weights are added to the ranker's scores, contributions kept."""
    ranker = solo_ranker(("a",), "a")
    learnt = ranker.score({"a": Candidates(np.array([1, 2]), np.array([2.0, 1.0]))}, history_length=3)
    result = blend_add(learnt, {"course": Candidates(np.array([2, 3]), np.array([1.0, 1.0]))}, {"course": 1.5})
    assert result.ids.tolist() == [2, 3, 1]
    assert result.sources == ("a", "course") and result.main_source(0) == "course"


def test_ease_and_rp3beta_link_items_liked_together():
    """Two blocks of items liked by two groups: each item's EASE and RP3beta neighbours stay in its
    block; RP3beta rows sum to 1; EASE keeps no self-weight."""
    rows = [(user, item) for user in range(20) for item in ((0, 1, 2) if user < 10 else (3, 4, 5))]
    rows += [(0, 3), (10, 0)]  # a little noise across blocks
    matrix = confidence_matrix(
        Events(np.array([u for u, _ in rows]), np.array([i for _, i in rows]), np.zeros(len(rows)),
               np.ones(len(rows), dtype=np.float32), np.zeros(len(rows), bool), np.zeros(len(rows), bool)),
        20, 6,
    )  # fmt: skip
    ease = ease_fit(matrix, regularization=1.0, neighbors=2).toarray()
    rp3 = rp3beta_fit(matrix, alpha=1.0, beta=0.5, neighbors=2).toarray()
    for item in range(6):
        block = range(0, 3) if item < 3 else range(3, 6)
        assert set(np.flatnonzero(ease[item])) <= set(block) - {item}
        assert set(np.flatnonzero(rp3[item])) <= set(block) - {item}
        assert rp3[item].sum() == pytest.approx(1.0, abs=1e-5)


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


DAY = 86400.0


def _events(users, items, times, weights=None) -> Events:
    n = len(users)
    return Events(
        users=np.asarray(users), items=np.asarray(items), times=np.asarray(times, dtype=float),
        weights=np.ones(n, dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32),
        consumed=np.zeros(n, bool), dismissed=np.zeros(n, bool),
    )  # fmt: skip


def test_recency_weights_halve_per_newer_event_of_the_same_user():
    """Issue 18: each user's newest event weighs 1, halved per `half_life` newer events of that user
    (the order of the rows does not matter); no half-life: all 1."""
    users = np.array([0, 1, 0, 0, 1])
    times = np.array([3.0, 5.0, 1.0, 2.0, 9.0])
    assert recency_weights(users, times, half_life_events=1).tolist() == pytest.approx([1, 0.5, 0.25, 0.5, 1])
    assert recency_weights(users, times, half_life_events=None).tolist() == [1.0] * 5


def test_trending_charts_follow_time_and_only_count_the_past():
    """Issue 18: the chart of a day counts only events up to its end, decayed by age: item 0 leads
    while it is new, item 1 after its own burst; without decay, the cumulative count."""
    events = _events(
        [0, 1, 2, 3, 4, 5], [0, 0, 0, 1, 1, 1], [0, 0.1 * DAY, 0.2 * DAY, 20 * DAY, 20.1 * DAY, 20.2 * DAY]
    )
    start, width, charts = trending_fit(events, 3, half_life_days=1.0, top=2)
    assert start == 0 and width == DAY and len(charts) == 21
    assert charts[0][0].tolist() == [0] and charts[19][0].tolist() == [0]  # item 1 not seen yet: never future
    assert charts[20][0].tolist() == [1, 0]
    assert charts[0][1][0] == pytest.approx(sum(0.5 ** (1 - t) for t in (0, 0.1, 0.2)))
    assert trending_bucket(19.5 * DAY, start=start, width=width, buckets=len(charts)) == 19
    assert trending_bucket(400 * DAY, start=start, width=width, buckets=len(charts)) == 20  # later: the latest chart
    _, _, cumulative = trending_fit(events, 3, half_life_days=None, top=3)
    assert cumulative[20][1].tolist() == [3.0, 3.0]
    _, wide, few = trending_fit(events, 3, half_life_days=None, top=3, max_buckets=4)
    assert len(few) <= 4 and wide > DAY


def test_sequence_neighbours_are_what_follows():
    """Issue 18: b is a `sequence` neighbour of a when users take b within the next few positives after
    a, the nearer the stronger; the reverse direction only when it also happens."""
    users = [0, 0, 0, 1, 1, 1, 2, 2]
    items = [0, 1, 2, 0, 1, 3, 0, 1]
    times = [1, 2, 3, 1, 2, 3, 1, 2]
    following = sequence_fit(_events(users, items, times), 4, window=2, neighbors=5, shrink=0.0).toarray()
    assert following[0, 1] > following[0, 2] > 0  # next vs two steps later
    assert following[1, 0] == 0 and following[2, 0] == 0  # nobody goes back
    assert following[1, 2] > 0 and following[1, 3] > 0 and following[3].sum() == 0


def test_offline_trending_source_uses_the_users_latest_time():
    """Issue 18: offline, the trending source of a user is the chart of their latest event's bucket
    (what was new then), minus what they already consumed."""
    events = _events(
        [0, 1, 2, 0, 3, 4, 5], [0, 0, 0, 2, 1, 1, 1],
        [0, 0.1 * DAY, 0.2 * DAY, 0.3 * DAY, 30 * DAY, 30.1 * DAY, 30.2 * DAY],
    )  # fmt: skip
    events.consumed[:] = True
    model = OfflineModel(events, n_users=6, n_items=3, params=EngineParams(trending_half_life_days=3.0)).fit(
        cf=False, sources=("trending",)
    )
    assert model.candidates(0, ("trending",))["trending"].ids.tolist() == []  # 0 and 2: both consumed
    assert model.candidates(1, ("trending",))["trending"].ids.tolist() == [2]  # on day 0: item 1 is the future
    assert model.candidates(3, ("trending",))["trending"].ids.tolist() == [0, 2]


def test_validation_chooses_the_temporal_settings():
    """Issue 18: the validation split chooses ALS's recency half-life ("none" included) and the trending
    half-life, and the sequence and trending sources join the learnt blend."""
    rng = np.random.default_rng(3)
    rows = []
    for user in range(80):
        cluster = user % 2
        for step, item in enumerate(rng.choice(np.arange(cluster * 30, cluster * 30 + 30), size=12, replace=False)):
            rows.append((user, int(item), "like", 1.0, None, (user % 20) * DAY + step * 3600.0))
    events = Events.from_rows(rows, SignalRules()).indexed(np.arange(60))
    choice = blend_learn(events, n_users=80, n_items=60, params=EngineParams(factors=8, iterations=5))
    validation = choice.validation
    assert choice.params.cf_half_life in (None, 50.0, 150.0)
    assert validation["cf_half_life"] == choice.params.cf_half_life
    assert choice.params.trending_half_life_days == validation["trending_half_life_days"]
    assert {"sequence", "trending"} <= set(validation["solo_ndcg_at_10"])
    assert {"sequence", "trending"} <= set(choice.params.ranker["sources"])


def _taste_events(seed: int, *, n_users: int = 150, n_items: int = 400, topics: int = 8, per_user: int = 30) -> Events:
    """Users with a taste over a few topics take popular items of those topics, one an hour."""
    rng = np.random.default_rng(seed)
    item_topic = rng.integers(topics, size=n_items)
    popularity = rng.lognormal(0, 1.0, size=n_items)
    users, items, times = [], [], []
    for user in range(n_users):
        taste = rng.dirichlet(np.full(topics, 0.3))
        p = taste[item_topic] * popularity
        users += [user] * per_user
        items += rng.choice(n_items, size=per_user, replace=False, p=p / p.sum()).tolist()
        times += (user * 1e5 + np.arange(per_user) * 3600.0).tolist()
    events = _events(users, items, times)
    events.consumed[:] = True  # taken: never recommended again
    return events


def test_ease_lambda_is_chosen_at_the_chosen_history_weights():
    """EASE's lambda is the best one for the history weights the model serves with: chosen again once the
    history half-life is known (here the whole history, where the default half-life of 10 events favoured a
    stronger lambda: 200 instead of 50 before the second pass)."""
    events = _taste_events(4)
    params = EngineParams(factors=8, iterations=5)
    choice = blend_learn(events, n_users=150, n_items=400, params=params, sources=("ease",), tune_cf=False)
    assert choice.params.history_half_life != params.history_half_life  # the second pass had work to do
    split = temporal_holdout(events.users, events.items, events.times, events.positive)
    model = OfflineModel(events.subset(split.train), n_users=150, n_items=400, params=choice.params)
    model.fit(cf=False, sources=("ease",))
    figures = {}
    for regularization in (50.0, 200.0, 800.0):
        model.fit_ease(regularization)
        recommended = {user: model.recommend(user, weights={"ease": 1.0}, sources=("ease",)) for user in split.test}
        figures[regularization] = ranking_metrics(recommended, split.test, n_items=400)["ndcg"]
    assert choice.params.ease_regularization == max(figures, key=lambda key: (figures[key], key))
    assert choice.validation["ease_regularization"] == choice.params.ease_regularization
