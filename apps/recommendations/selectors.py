"""Recommendation reads: logs, similar items, similar users. Every read takes `organization=`."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound

from apps.organizations.models import Membership
from apps.organizations.selectors import member_get as organization_member_get
from apps.recommendations.engine.sources import (
    active_model,
    embeddings_get,
    index_query,
    vector_from_wire,
    vector_literal,
)
from apps.recommendations.models import RecommendationLog


def member_get(*, organization, user_id: int | None = None, external_id: str | None = None) -> Membership:
    """The membership of `user_id` (or of the membership `external_id`) in the organization; 404 for
    anyone else (same as a missing id)."""
    return organization_member_get(organization=organization, user_id=user_id, external_id=external_id)


def recommendation_log_list(*, organization) -> QuerySet[RecommendationLog]:
    return RecommendationLog.objects.filter(organization=organization)


def recommendation_log_get(*, organization, log_id: int) -> RecommendationLog:
    log = recommendation_log_list(organization=organization).select_related("user", "item").filter(pk=log_id).first()
    if log is None:
        raise NotFound("Recommendation not found.")
    return log


SIMILAR_CONTENT_SQL = """
SELECT e.item_id, 1 - ((e.embedding::vector({dims})) <=> %(vec)s::vector({dims})) AS score
FROM progress_contentembedding e
WHERE e.model = %(model)s AND e.organization_id = %(org)s AND e.item_id <> %(item)s
ORDER BY (e.embedding::vector({dims})) <=> %(vec)s::vector({dims})
LIMIT %(n)s
"""


def content_similar(*, organization, item, limit: int = 10) -> list[dict]:
    """Items like `item`: content similarity (its embedding, HNSW) blended with co-occurrence
    (people who liked it also liked), each with its reason. Only active items of the organization."""
    from apps.progress.models import ContentItem

    assert item.organization_id == organization.pk
    scores: dict[int, dict[str, float]] = {}
    vectors, model_name, dims = embeddings_get(organization_id=organization.pk, item_ids=[item.pk])
    if item.pk in vectors:
        n = limit * 3
        rows = index_query(
            SIMILAR_CONTENT_SQL.format(dims=int(dims)),
            {"vec": vector_literal(vectors[item.pk]), "model": model_name, "org": organization.pk, "item": item.pk,
             "n": n},
            ef_search=max(settings.REC_HNSW_EF_SEARCH, n),
        )  # fmt: skip
        for other, score in rows:
            scores.setdefault(other, {})["content"] = max(float(score), 0.0)
    model = active_model(organization_id=organization.pk)
    if model is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT neighbors, scores FROM recommendations_itemneighbors "
                "WHERE model_id = %s AND item_id = %s AND kind = 'cooccurrence'",
                [model.pk, item.pk],
            )
            row = cursor.fetchone()
        if row:
            best = max(row[1]) or 1.0
            for other, score in zip(row[0], row[1], strict=True):
                scores.setdefault(int(other), {})["cooccurrence"] = float(score) / best
    items = {
        i.pk: i
        for i in ContentItem.objects.filter(organization=organization, active=True, pk__in=list(scores)).only(
            "id", "title", "kind", "url", "tags", "categories", "difficulty", "external_id"
        )
    }
    ranked = sorted(
        ((other, parts) for other, parts in scores.items() if other in items),
        key=lambda pair: -sum(pair[1].values()),
    )[:limit]
    out = []
    for other, parts in ranked:
        source = max(parts, key=parts.get)
        reason = f"Often liked together with {item.title}" if source == "cooccurrence" else f"Similar to {item.title}"
        out.append({"item": items[other], "score": round(sum(parts.values()), 6), "source": source, "reason": reason})
    return out


SIMILAR_USERS_SQL = """
SELECT f.user_id, 1 - ((f.factors::vector({dims})) <=> %(vec)s::vector({dims})) AS score
FROM recommendations_userfactor f
WHERE f.model_id = %(model)s AND f.dims = {dims} AND f.user_id <> %(user)s
ORDER BY (f.factors::vector({dims})) <=> %(vec)s::vector({dims})
LIMIT %(n)s
"""


def user_similar(*, organization, user_id: int, limit: int = 10) -> list[dict]:
    """Members with the closest tastes (cosine of ALS user factors, HNSW) to `user_id`'s; [] when
    the organization has no trained model or the user has no factors yet."""
    model = active_model(organization_id=organization.pk)
    if model is None or not model.dims:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT vector_send(factors) FROM recommendations_userfactor WHERE model_id = %s AND user_id = %s",
            [model.pk, user_id],
        )
        row = cursor.fetchone()
    if row is None:
        return []
    rows = index_query(
        SIMILAR_USERS_SQL.format(dims=int(model.dims)),
        {"vec": vector_literal(vector_from_wire(row[0])), "model": model.pk, "user": user_id, "n": limit * 2},
        ef_search=max(settings.REC_HNSW_EF_SEARCH, limit * 2),
    )
    members = {
        m.user_id: m
        for m in Membership.objects.filter(organization=organization, user_id__in=[r[0] for r in rows]).select_related(
            "user"
        )
    }
    return [
        {"user": members[other].user, "external_id": members[other].external_id, "score": round(float(score), 6)}
        for other, score in rows
        if other in members
    ][:limit]


TRAINING_STATES = ("idle", "queued", "running", "failed")


def recommender_training_status(*, organization) -> dict:
    """The organization's engine as operators see it (issue 18): the serving model (when trained, how
    long it took, its validation figures as the training job computed them), the latest run, and a
    state: `running` (a run is training), `queued` (asked for, not started yet), `failed` (the latest
    run failed: its error), else `idle`. One query plus one Redis GET; raises on a Redis outage."""
    from apps.recommendations.engine import cache as rec_cache
    from apps.recommendations.models import RecommenderModel

    runs = list(RecommenderModel.objects.filter(organization=organization).defer("popular").order_by("-version")[:20])
    latest = runs[0] if runs else None
    serving = next((run for run in runs if run.status == RecommenderModel.Status.READY), None)
    running = next((run for run in runs if run.status == RecommenderModel.Status.TRAINING), None)
    mark = rec_cache.training_queued_get(organization_id=organization.pk)
    queued = mark is not None and mark["after_version"] >= (latest.version if latest else 0)
    if running is not None:
        state = "running"
    elif queued:
        state = "queued"
    elif latest is not None and latest.status == RecommenderModel.Status.FAILED:
        state = "failed"
    else:
        state = "idle"
    return {
        "state": state,
        "error": latest.error if state == "failed" else "",
        "queued_at": datetime.fromtimestamp(mark["at"], tz=UTC) if queued else None,
        "latest_version": latest.version if latest else 0,
        "model": serving,
        "latest_run": latest,
    }
