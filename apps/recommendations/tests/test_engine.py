"""Engine on the real PostgreSQL/pgvector and Redis (issue 7).

Covers: training stores ALS factors, neighbours and popularity, and serving uses the factors;
dismissed, completed and consumed items are never recommended; every item has a reason; kind,
tags, category and exclude filters; MMR diversity; cold users get popular items; next lesson of a
started course; prerequisites replace the items they block; difficulty fit; tenancy (another
organization's items never appear); the per-user cache (hit, invalidated by a new interaction, by
progress and by retraining); the re-ranking hook; training through a real Celery worker; the
temporal sources of issue 18 (sequence neighbours and trending charts stored by training, served
with one lookup each and explained).
"""

import numpy as np
import pytest

from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.progress.models import ContentPrerequisite, InteractionKind
from apps.progress.services import content_embed, interaction_create, progress_complete, progress_start
from apps.progress.tests.factories import ContentItemFactory
from apps.recommendations.engine.cache import recommendation_cache_invalidate_organization
from apps.recommendations.engine.hooks import rerank_hook_register, rerank_hook_unregister
from apps.recommendations.engine.ranker import Ranker, feature_names, solo_ranker
from apps.recommendations.engine.ranking import RankRequest, difficulty_factor
from apps.recommendations.engine.sources import source_cf, source_trending, user_context_load
from apps.recommendations.models import (
    ItemFactor,
    ItemNeighbors,
    RecommendationLog,
    RecommenderModel,
    TrendingChart,
    UserFactor,
)
from apps.recommendations.services import recommendations_serve, recommender_train
from apps.recommendations.tests.rec_utils import COOKING, DATA, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(organization):
    return {**build_world(organization), "organization": organization}


def serve(organization, user, **request):
    limit = request.pop("limit", 10)
    offset = request.pop("offset", 0)
    rank_request = RankRequest(size=offset + limit, **request)
    return recommendations_serve(organization=organization, user_id=user.pk, request=rank_request, offset=offset,
                                 limit=limit)  # fmt: skip


def ids(result) -> list[int]:
    return [entry["item"]["id"] for entry in result["results"]]


def test_training_stores_factors_neighbours_and_popularity(world):
    """A training run stores ALS factors in pgvector, each item-item source's neighbours (co-occurrence,
    EASE, RP3beta), each source's tuned settings and a popularity snapshot."""
    organization = world["organization"]
    model = recommender_train(organization_id=organization.pk)
    assert model.status == RecommenderModel.Status.READY and model.version == 1
    assert model.dims == model.params["factors"] in (32, 64, 128)  # chosen on the validation split
    assert UserFactor.objects.filter(model=model).count() == 10  # every user with a positive event
    assert ItemFactor.objects.filter(model=model).count() == 11  # DATA[:5], COOKING[:5], the blockbuster
    kinds = set(ItemNeighbors.objects.filter(model=model, item=world["blockbuster"]).values_list("kind", flat=True))
    assert kinds == {"cooccurrence", "ease", "rp3beta"}  # no `sequence`: nothing ever followed the blockbuster
    assert model.popular[0][0] == world["blockbuster"].pk
    # Ten users are too few to learn a blend from: the best source on validation alone, and the validation says why.
    best = max(model.validation["solo_ndcg_at_10"], key=model.validation["solo_ndcg_at_10"].get)
    assert model.validation["blend"].startswith(f"{best} alone: 10 validation users")
    assert model.params["ranker"]["coef"][best] == 1.0 and sum(model.params["ranker"]["coef"].values()) == 1.0
    assert set(model.params["weights"]) >= {"cf", "cooccurrence", "ease", "rp3beta", "content", "popular"}
    assert model.validation["users"] > 0
    assert "ease_regularization" in model.params and "rp3beta_beta" in model.params
    again = recommender_train(organization_id=organization.pk)
    assert again.version == 2
    assert list(RecommenderModel.objects.filter(organization=organization).values_list("version", flat=True)) == [2]
    assert not UserFactor.objects.filter(model_id=model.pk).exists()  # the old version's factors are gone


def test_serving_uses_the_stored_factors(world):
    """The CF source is the HNSW inner-product search over the stored item factors for the stored user factor."""
    organization, user = world["organization"], world["data_fans"][0]
    model = recommender_train(organization_id=organization.pk)
    context = user_context_load(organization_id=organization.pk, user_id=user.pk)
    found = source_cf(context, limit=5).candidates
    user_vector = np.asarray(UserFactor.objects.get(model=model, user=user).factors)
    stored = ItemFactor.objects.filter(model=model).exclude(item_id__in=context.excluded)
    exact = sorted(
        (
            (item, float(np.dot(np.asarray(vector), user_vector)))
            for item, vector in stored.values_list("item_id", "factors")
        ),
        key=lambda pair: -pair[1],
    )[:5]
    assert list(found.ids) == [item for item, _ in exact]
    np.testing.assert_allclose(found.scores, [score for _, score in exact], rtol=1e-4, atol=1e-6)


def test_data_fans_get_data_items_with_reasons(world):
    """A data fan's unseen data items rank high, and every item carries a source and a reason."""
    organization, user = world["organization"], world["data_fans"][0]  # liked DATA[:3]
    recommender_train(organization_id=organization.pk)
    result = serve(organization, user, limit=5)
    top = ids(result)
    assert top[0] in {world["items"][title].pk for title in DATA[3:]}
    for entry in result["results"]:
        assert entry["reason"].strip() and entry["source"]
        assert entry["log_id"] and entry["position"] >= 1
    reasons = {entry["reason"] for entry in result["results"]}
    assert any(r.startswith(("Popular with people who liked", "Because you liked", "Liked by people")) for r in reasons)


def test_completed_consumed_and_dismissed_are_never_recommended(world):
    """Completed, dismissed (final) and rated items never come back, whatever their popularity."""
    organization, user = world["organization"], world["data_fans"][0]
    items = world["items"]
    progress_complete(organization=organization, user=user, item=items[DATA[3]])
    interaction_create(organization=organization, user=user, item=items[DATA[4]], kind=InteractionKind.DISMISS)
    interaction_create(organization=organization, user=user, item=world["blockbuster"], kind="rate", value=5)
    interaction_create(organization=organization, user=user, item=items[DATA[5]], kind=InteractionKind.DISMISS)
    interaction_create(organization=organization, user=user, item=items[DATA[5]], kind=InteractionKind.LIKE)
    recommender_train(organization_id=organization.pk)
    shown = set(ids(serve(organization, user, limit=50)))
    assert shown  # the rest of the catalog is still there
    assert not shown & {items[DATA[3]].pk, items[DATA[4]].pk, items[DATA[5]].pk, world["blockbuster"].pk}


def test_filters_kind_tags_category_exclude(world):
    """Business filters: every result matches kind, tags and category; excluded ids never appear."""
    organization, user = world["organization"], world["data_fans"][1]
    recommender_train(organization_id=organization.pk)
    videos = serve(organization, user, kinds=["video"], limit=20)["results"]
    assert videos and {entry["item"]["kind"] for entry in videos} == {"video"}
    tagged = serve(organization, user, tags=["music", "python"], limit=20)["results"]
    assert tagged and all({"music", "python"} & set(entry["item"]["tags"]) for entry in tagged)
    food = serve(organization, user, category="food", limit=20)["results"]
    assert food and all("food" in entry["item"]["categories"] for entry in food)
    first = ids(serve(organization, user, limit=3))
    again = ids(serve(organization, user, exclude=first, limit=10))
    assert not set(first) & set(again)


def test_diversity_spreads_the_list(world):
    """diversity=1 gives a list whose items are less alike (content embeddings) than diversity=0."""
    from apps.recommendations.engine.sources import embeddings_get

    organization, user = world["organization"], world["data_fans"][0]
    recommender_train(organization_id=organization.pk)
    plain = ids(serve(organization, user, limit=6))
    diverse = ids(serve(organization, user, limit=6, diversity=1.0))
    assert plain != diverse

    def mean_similarity(chosen):
        vectors, _, _ = embeddings_get(organization_id=organization.pk, item_ids=chosen)
        matrix = np.vstack([vectors[i] for i in chosen])
        sims = matrix @ matrix.T
        return (sims.sum() - np.trace(sims)) / (len(chosen) * (len(chosen) - 1))

    assert mean_similarity(diverse) < mean_similarity(plain)


def test_cold_user_gets_popular_items(world):
    """A member with no history gets the most popular items first, explained as popular."""
    organization = world["organization"]
    newcomer = MembershipFactory(organization=organization, role=Role.MEMBER).user
    recommender_train(organization_id=organization.pk)
    result = serve(organization, newcomer, limit=5)
    assert ids(result)[0] == world["blockbuster"].pk
    assert result["results"][0]["reason"] == "Popular right now"
    assert len(result["results"]) == 5


def test_cold_organization_without_model(world):
    """Before any training, a user with history still gets items (live popularity, newest items)."""
    organization, user = world["organization"], world["cooks"][0]
    result = serve(organization, user, limit=5)
    assert result["model_version"] is None
    assert len(result["results"]) == 5
    assert all(entry["reason"] for entry in result["results"])


def test_next_in_course_and_prerequisites(world, django_capture_on_commit_callbacks):
    """After lesson 1, lesson 2 comes as 'Next in Python Course'; the advanced item (needs lesson 3) is
    replaced by its prerequisite while lesson 3 is not completed."""
    organization, user = world["organization"], world["data_fans"][2]
    lessons = world["lessons"]
    progress_complete(organization=organization, user=user, item=lessons[0])
    recommender_train(organization_id=organization.pk)
    result = serve(organization, user, limit=50)
    by_id = {entry["item"]["id"]: entry for entry in result["results"]}
    assert by_id[lessons[1].pk]["reason"] == "Next in Python Course"
    assert ids(result)[0] == lessons[1].pk
    assert world["advanced"].pk not in by_id
    # Like the advanced item's neighbourhood: it becomes wanted, so its missing prerequisite is proposed.
    for other in [fan for fan in world["data_fans"] if fan != user]:
        world["like"](other, world["advanced"])
        world["like"](other, lessons[1])
    world["like"](user, lessons[1])
    with django_capture_on_commit_callbacks(execute=True):
        recommender_train(organization_id=organization.pk)
    by_id = {entry["item"]["id"]: entry for entry in serve(organization, user, limit=50)["results"]}
    assert world["advanced"].pk not in by_id
    assert lessons[2].pk in by_id
    with django_capture_on_commit_callbacks(execute=True):  # the cached list is invalidated on commit
        progress_start(organization=organization, user=user, item=lessons[2])
        progress_complete(organization=organization, user=user, item=lessons[2])
    shown = ids(serve(organization, user, limit=50))
    assert world["advanced"].pk in shown


def test_missing_prerequisite_is_proposed_in_place_of_the_item_it_unlocks(world):
    """An item the user would get but whose prerequisite is not completed is replaced by that
    prerequisite, explained as 'Needed before ...'."""
    organization, user = world["organization"], world["cooks"][0]
    basics = ContentItemFactory(organization=organization, title="Pastry basics", kind="video", tags=["cooking"])
    advanced = ContentItemFactory(organization=organization, title="Advanced pastry", kind="video", tags=["cooking"])
    ContentPrerequisite.objects.create(organization=organization, item=advanced, prerequisite=basics)
    for cook in world["cooks"][1:]:
        world["like"](cook, advanced)
    recommender_train(organization_id=organization.pk)
    by_id = {entry["item"]["id"]: entry for entry in serve(organization, user, limit=50)["results"]}
    assert advanced.pk not in by_id
    assert by_id[basics.pk]["reason"] == "Needed before Advanced pastry"
    assert by_id[basics.pk]["source"] == "prerequisite"


def test_difficulty_fit():
    """Items more than one step above the user's level are demoted; unknown levels change nothing."""
    assert difficulty_factor(3, 2.0) == 1.0
    assert difficulty_factor(5, 2.0) == 0.25
    assert difficulty_factor(1, 4.0) == 0.8
    assert difficulty_factor(None, 2.0) == difficulty_factor(4, None) == 1.0


def test_other_organizations_items_never_appear(world):
    """Organization B's very popular items never appear in A's lists (sources and fill)."""
    organization = world["organization"]
    other = OrganizationFactory()
    b_items = [ContentItemFactory(organization=other, title=f"B item {n}", kind="article") for n in range(5)]
    b_users = [MembershipFactory(organization=other, role=Role.MEMBER).user for _ in range(6)]
    for user in b_users:
        for item in b_items:
            interaction_create(organization=other, user=user, item=item, kind=InteractionKind.LIKE)
    recommender_train(organization_id=organization.pk)
    recommender_train(organization_id=other.pk)
    b_ids = {item.pk for item in b_items}
    for user in [*world["data_fans"], *world["cooks"]]:
        assert not set(ids(serve(organization, user, limit=50))) & b_ids


def test_cache_hit_and_invalidation(world, django_capture_on_commit_callbacks):
    """Second request: cache hit, same list. A new interaction, a progress change and a retraining
    each make the next request a miss (invalidation runs on commit)."""
    organization, user = world["organization"], world["cooks"][0]
    commit = lambda: django_capture_on_commit_callbacks(execute=True)  # noqa: E731
    with commit():
        recommender_train(organization_id=organization.pk)
    first = serve(organization, user)
    second = serve(organization, user)
    assert not first["cached"] and second["cached"]
    assert ids(first) == ids(second)
    assert [e["reason"] for e in first["results"]] == [e["reason"] for e in second["results"]]
    assert first["request_id"] != second["request_id"]

    target = first["results"][0]["item"]["id"]
    with commit():
        interaction_create(organization=organization, user=user, item=type(world["blockbuster"]).objects.get(pk=target),
                           kind=InteractionKind.DISMISS)  # fmt: skip
    third = serve(organization, user)
    assert not third["cached"] and target not in ids(third)
    assert serve(organization, user)["cached"]

    with commit():
        progress_start(organization=organization, user=user, item=world["lessons"][0])
    assert not serve(organization, user)["cached"]
    assert serve(organization, user)["cached"]

    other = world["cooks"][1]
    serve(organization, other)
    assert serve(organization, other)["cached"]
    with commit():
        recommender_train(organization_id=organization.pk)
    assert not serve(organization, user)["cached"]
    assert not serve(organization, other)["cached"]


def test_rerank_hook_reweights_and_explains(world):
    """A registered hook (issue 8's personality fit plugs in here) multiplies scores and may explain."""
    organization, user = world["organization"], world["cooks"][0]
    recommender_train(organization_id=organization.pk)
    target = world["items"]["Guitar chords for beginners"].pk

    def hook(*, organization_id, user_id, items):
        return {target: (1000.0, "Fits your curious, open profile")}

    rerank_hook_register(hook)
    try:
        result = serve(organization, user, limit=3)
    finally:
        rerank_hook_unregister(hook)
    assert result["results"][0]["item"]["id"] == target
    assert result["results"][0]["reason"] == "Fits your curious, open profile"


def test_a_stored_ranker_serves_and_explains(world):
    """A learnt ranker stored as JSON with the model ranks by its coefficients: weight on EASE alone
    puts the cook's EASE neighbours first, explained by the history item that led there."""
    organization, user = world["organization"], world["cooks"][0]
    model = recommender_train(organization_id=organization.pk)
    sources = ("cf", "cooccurrence", "ease", "rp3beta", "content", "popular")
    model.params["ranker"] = solo_ranker(sources, "ease").as_dict()
    model.save(update_fields=["params"])
    recommendation_cache_invalidate_organization(organization_id=organization.pk)
    result = serve(organization, user, limit=3)
    assert result["results"][0]["source"] == "ease"
    assert result["results"][0]["reason"].startswith("Chosen by people who also liked ")
    cooking = {world["items"][title].pk for title in COOKING}
    assert ids(result)[0] in cooking


def test_cold_items_are_reached_through_content_similarity(world):
    """An item nobody interacted with yet (no neighbours, no factors, not popular) still reaches a
    user whose history resembles it, through the content source, under the learnt blend."""
    organization, user = world["organization"], world["cooks"][0]
    fresh = ContentItemFactory(organization=organization, title="Baking focaccia bread at home", kind="video",
                               tags=["cooking"])  # fmt: skip
    content_embed(organization_id=organization.pk, item_ids=[fresh.pk])
    model = recommender_train(organization_id=organization.pk)
    assert not ItemNeighbors.objects.filter(model=model, item=fresh).exists()
    sources = tuple(model.params["ranker"]["sources"])
    model.params["ranker"] = Ranker(sources, np.ones(len(feature_names(sources))) * 0.5).as_dict()
    model.save(update_fields=["params"])
    recommendation_cache_invalidate_organization(organization_id=organization.pk)
    by_id = {entry["item"]["id"]: entry for entry in serve(organization, user, limit=20)["results"]}
    assert fresh.pk in by_id
    assert by_id[fresh.pk]["source"] == "content"
    assert "content" in by_id[fresh.pk]["sources"]  # (and "new in the catalog" from popular, nothing learnt)
    assert not {"cf", "cooccurrence", "ease", "rp3beta"} & set(by_id[fresh.pk]["sources"])


def test_cooks_get_cooking(world):
    """Taste clusters: a cook's top unseen items are cooking videos."""
    organization, user = world["organization"], world["cooks"][0]  # liked COOKING[:3]
    recommender_train(organization_id=organization.pk)
    top = ids(serve(organization, user, limit=3))
    assert set(top) <= {world["items"][title].pk for title in COOKING[3:]} | {world["lessons"][0].pk}
    assert top[0] in {world["items"][title].pk for title in COOKING[3:]}


@pytest.mark.worker
# serialized_rollback like the other worker tests of this app: a plain transactional test before
# a serialized one would leave post_migrate rows (content types) that its restore then duplicates.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_training_through_a_celery_worker(celery_worker, organization):
    """recommendations.train runs in a real worker and leaves a ready model whose factors serve."""
    from workers.tasks.recommendations import recommender_train_task

    world = build_world(organization, embed=False)
    result = recommender_train_task.apply_async(args=[organization.pk], ignore_result=False)
    assert result.get(timeout=90) == 1
    model = RecommenderModel.objects.get(organization=organization)
    assert model.status == RecommenderModel.Status.READY
    assert UserFactor.objects.filter(model=model, user=world["data_fans"][0]).exists()


def test_training_an_organization_without_events(organization):
    """No events: a ready model without CF (dims 0) and no popularity; members still get the newest items."""
    items = [ContentItemFactory(organization=organization, title=f"Fresh {n}") for n in range(3)]
    member = MembershipFactory(organization=organization, role=Role.MEMBER).user
    model = recommender_train(organization_id=organization.pk)
    assert model.status == RecommenderModel.Status.READY and model.dims == 0 and model.popular == []
    result = serve(organization, member, limit=3)
    assert ids(result) == [item.pk for item in reversed(items)]
    assert {entry["reason"] for entry in result["results"]} == {"New in the catalog"}


def test_graph_candidates_come_from_the_background_cache(world, django_capture_on_commit_callbacks, settings):
    """The request never calls the graph: without cached graph rows it enqueues one refresh (on commit);
    rows cached for the user's current version serve with the graph's own reason."""
    from apps.recommendations.engine import cache as rec_cache
    from apps.recommendations.engine.sources import graph_candidates_refresh

    organization, user = world["organization"], world["cooks"][0]
    recommender_train(organization_id=organization.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        serve(organization, user)
    assert len(callbacks) == 1  # recommendations.graph_refresh, once
    with django_capture_on_commit_callbacks() as callbacks:
        serve(organization, user, limit=5)  # the claim holds for a minute: no second task
    assert callbacks == []

    found = graph_candidates_refresh(organization_id=organization.pk, user_id=user.pk)  # what the task runs
    rows, fresh = rec_cache.graph_rows_get(organization_id=organization.pk, user_id=user.pk)
    assert fresh and len(rows) == found

    target = world["items"]["Songwriting workshop"]
    version = rec_cache.user_version(organization_id=organization.pk, user_id=user.pk)
    rec_cache.graph_rows_set(
        organization_id=organization.pk,
        user_id=user.pk,
        rows=[[target.pk, 50.0, "Completed next by 3 people like you"]],
        version=version,
    )
    settings.REC_WEIGHT_GRAPH = 10.0  # the graph dominates this item's score
    result = serve(organization, user, limit=20)
    assert not result["cached"]  # fresh graph rows make the cached lists stale
    first = result["results"][0]
    assert first["item"]["id"] == target.pk and first["source"] == "graph"
    assert first["reason"] == "Completed next by 3 people like you"


def test_training_stores_sequence_neighbours_and_trending_charts(world):
    """Issue 18: training stores what people take next (ItemNeighbors kind `sequence`) and the trending
    chart of each time bucket with its grid in the model's params."""
    organization, items = world["organization"], world["items"]
    model = recommender_train(organization_id=organization.pk)
    following = ItemNeighbors.objects.get(model=model, item=items[DATA[0]], kind="sequence")
    assert following.neighbors[0] == items[DATA[1]].pk  # every data fan liked DATA[1] right after DATA[0]
    grid = model.params["trending"]
    assert grid["buckets"] == 1 and grid["width"] == 86400.0  # all events within a day
    chart = TrendingChart.objects.get(model=model, bucket=0)
    assert chart.organization_id == organization.pk
    assert chart.items[0] == world["blockbuster"].pk and chart.scores == sorted(chart.scores, reverse=True)
    assert "trending_half_life_days" in model.params and "cf_half_life" in model.params


def test_trending_source_is_one_lookup_of_the_users_chart(world, django_assert_num_queries):
    """Issue 18: the trending source reads the stored chart of the bucket of the user's latest event in
    one query, without the items the user consumed."""
    organization, cook = world["organization"], world["cooks"][0]
    recommender_train(organization_id=organization.pk)
    context = user_context_load(organization_id=organization.pk, user_id=cook.pk)
    with django_assert_num_queries(1):
        found = source_trending(context, limit=3)
    assert world["blockbuster"].pk not in found.candidates.ids  # liked (consumed) by the cook
    assert (
        list(found.candidates.ids)
        == [item for item in TrendingChart.objects.get(bucket=0).items if item not in context.excluded][:3]
    )
    assert set(found.evidence.values()) == {"now"}


def test_trending_source_of_a_returning_user_is_the_chart_of_their_last_visit(world):
    """Issue 18: when newer charts exist than the bucket of the user's latest event, the user gets the
    chart of their own time, explained as such (evidence "then")."""
    organization, cook = world["organization"], world["cooks"][0]
    model = recommender_train(organization_id=organization.pk)
    model.params["trending"]["buckets"] = 2  # a newer day than anybody's latest event
    model.save(update_fields=["params"])
    TrendingChart.objects.create(organization=organization, model=model, bucket=1, items=[world["lessons"][0].pk],
                                 scores=[9.0])  # fmt: skip
    recommendation_cache_invalidate_organization(organization_id=organization.pk)
    context = user_context_load(organization_id=organization.pk, user_id=cook.pk)
    found = source_trending(context, limit=3)
    assert world["lessons"][0].pk not in found.candidates.ids  # that chart is not the cook's day
    assert len(found.candidates.ids) and set(found.evidence.values()) == {"then"}


@pytest.mark.parametrize(("source", "reason"), [("sequence", "Often next after Intro to pandas dataframes"),
                                                ("trending", "Trending now")])  # fmt: skip
def test_temporal_sources_serve_with_their_reasons(world, source, reason):
    """Issue 18: a ranker weighting one temporal source alone serves its items, logged under that
    source with its reason."""
    organization, items = world["organization"], world["items"]
    model = recommender_train(organization_id=organization.pk)
    sources = ("cf", "cooccurrence", "ease", "rp3beta", "sequence", "content", "popular", "trending")
    model.params["ranker"] = solo_ranker(sources, source).as_dict()
    model.save(update_fields=["params"])
    recommendation_cache_invalidate_organization(organization_id=organization.pk)
    newcomer = MembershipFactory(organization=organization, role=Role.MEMBER).user
    world["like"](newcomer, items[DATA[0]])
    result = serve(organization, newcomer, limit=3)
    first = result["results"][0]
    assert (first["source"], first["reason"]) == (source, reason)
    expected = items[DATA[1]].pk if source == "sequence" else world["blockbuster"].pk
    assert first["item"]["id"] == expected
    assert RecommendationLog.objects.get(pk=first["log_id"]).source == source


def test_the_list_lookup_reads_what_list_key_and_list_set_name_in_one_round_trip():
    """`list_lookup` (the serving path: one Redis script) finds the list under the key `list_key` makes from
    the same versions, misses after any version moves (user, organization, graph epoch), and counts each
    hit and miss; a Redis outage is (None, None) so the list is computed and not cached."""
    from django.core.cache import cache

    from apps.recommendations.engine import cache as rec_cache

    organization_id, user_id, params = 9_000_001, 9_000_002, {"size": 10, "kinds": ["video"]}

    def lookup():
        return rec_cache.list_lookup(organization_id=organization_id, user_id=user_id, params=params)

    def counted():
        names = [rec_cache._stats_key(organization_id, name) for name in ("hits", "misses")]
        found = cache.get_many(names)
        return tuple(int(found.get(name, 0)) for name in names)

    before = counted()
    key, value = lookup()
    assert key == rec_cache.list_key(organization_id=organization_id, user_id=user_id, params=params)
    assert value is None
    rec_cache.list_set(key, {"results": [{"item": 1}], "model_version": 3})
    assert lookup() == (key, {"results": [{"item": 1}], "model_version": 3})
    assert counted() == (before[0] + 1, before[1] + 1)
    for bump in (
        lambda: rec_cache.recommendation_cache_invalidate_user(organization_id=organization_id, user_id=user_id),
        lambda: rec_cache.recommendation_cache_invalidate_organization(organization_id=organization_id),
        lambda: rec_cache.graph_rows_set(organization_id=organization_id, user_id=user_id, rows=[], version=0),
    ):
        bump()
        moved, value = lookup()
        assert value is None and moved != key
        assert moved == rec_cache.list_key(organization_id=organization_id, user_id=user_id, params=params)
        key = moved


def test_the_list_lookup_fails_open():
    """Redis unreachable: no key and no list (the list is computed and not cached), no error."""
    from django.test import override_settings

    from apps.core.tests.test_failsoft import closed_port, short_timeout_cache
    from apps.recommendations.engine import cache as rec_cache

    with override_settings(CACHES=short_timeout_cache(f"redis://127.0.0.1:{closed_port()}/0")):
        assert rec_cache.list_lookup(organization_id=1, user_id=2, params={}) == (None, None)


def test_invalidating_many_users_bumps_each_in_a_round_trip_per_thousand(
    redis_round_trips, django_capture_on_commit_callbacks
):
    """Drill C: a 5,000-event batch names about 4,400 users, and their versions were bumped one by one (two
    round trips each, 0.55-1.0 s after the commit). Now: on commit, a known version moves by exactly one and a
    missing one gets a value never used before, in one round trip per 1,000 users."""
    from django.core.cache import cache

    from apps.recommendations.engine import cache as rec_cache

    organization_id, users = 9_000_003, list(range(1, 2501))
    for user_id in users[:2]:  # known versions (and the script loaded)
        rec_cache.recommendation_cache_invalidate_user(organization_id=organization_id, user_id=user_id)
    known = {user_id: rec_cache.user_version(organization_id=organization_id, user_id=user_id) for user_id in users[:2]}
    assert 0 not in known.values()
    with django_capture_on_commit_callbacks() as callbacks:
        rec_cache.recommendation_cache_invalidate_users(organization_id=organization_id, user_ids=users[::-1] + users)
        assert rec_cache.user_version(organization_id=organization_id, user_id=users[-1]) == 0  # not before commit
    before = redis_round_trips()
    for callback in callbacks:
        callback()
    assert redis_round_trips() - before == 3
    versions = cache.get_many([rec_cache._user_key(organization_id, user_id) for user_id in users])
    assert len(versions) == len(users)
    assert [versions[rec_cache._user_key(organization_id, u)] for u in known] == [v + 1 for v in known.values()]
    assert min(versions[rec_cache._user_key(organization_id, user_id)] for user_id in users[2:]) > max(known.values())


def test_invalidating_users_fails_open(django_capture_on_commit_callbacks):
    """Redis unreachable: the invalidation is skipped (noted as a cache outage), the caller never sees an error."""
    from django.test import override_settings

    from apps.core.outages import outage_counts
    from apps.core.tests.test_failsoft import closed_port, short_timeout_cache
    from apps.recommendations.engine import cache as rec_cache

    before = outage_counts().get("cache", 0)
    with (
        override_settings(CACHES=short_timeout_cache(f"redis://127.0.0.1:{closed_port()}/0")),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        rec_cache.recommendation_cache_invalidate_users(organization_id=1, user_ids=[2, 3])
    assert len(callbacks) == 1
    assert outage_counts().get("cache", 0) == before + 1


def test_a_content_reason_never_names_the_item_it_explains():
    """An item viewed and recommended again (views do not exclude it) is closest to itself in its own history: its
    reason names the nearest other item the person engaged with ("Because you viewed JS lesson 2" on JS lesson 2
    itself, found by an outside drill)."""
    from apps.recommendations.engine.ranking import explain
    from apps.recommendations.engine.sources import UserContext

    lesson, other = np.array([1.0, 0.0]), np.array([0.8, 0.6])
    context = UserContext(
        organization_id=1, user_id=1, model=None, history_items=[2, 3], history_kinds=["view", "complete"],
        vectors={2: lesson, 3: other},
    )  # fmt: skip
    items = {2: {"title": "JS lesson 2"}, 3: {"title": "JS lesson 1"}}
    entry = {"id": 2, "contributions": {"content": 1.0}}

    assert explain(entry, context, items, {}, context.vectors, None) == ("content", "Because you completed JS lesson 1")
    alone = UserContext(organization_id=1, user_id=1, model=None, history_items=[2], history_kinds=["view"],
                        vectors={2: lesson})  # fmt: skip
    assert explain(entry, alone, items, {}, alone.vectors, None) == ("content", "Similar to what you engaged with")
