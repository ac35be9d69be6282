"""Query filters of the catalog, progress and interaction lists (used by selectors).

Values arrive already validated by the views' QuerySerializers; these functions only build SQL.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet


def content_filter(queryset: QuerySet, filters: dict) -> QuerySet:
    if filters.get("kind"):
        queryset = queryset.filter(kind__in=filters["kind"])
    if filters.get("tags"):
        # every tag given (tags @> ARRAY[...], GIN index)
        queryset = queryset.filter(tags__contains=filters["tags"])
    if filters.get("category"):
        queryset = queryset.filter(categories__contains=[filters["category"]])
    if filters.get("difficulty") is not None:
        queryset = queryset.filter(difficulty=filters["difficulty"])
    if filters.get("difficulty_min") is not None:
        queryset = queryset.filter(difficulty__gte=filters["difficulty_min"])
    if filters.get("difficulty_max") is not None:
        queryset = queryset.filter(difficulty__lte=filters["difficulty_max"])
    if filters.get("active") is not None:
        queryset = queryset.filter(active=filters["active"])
    if filters.get("top_level"):
        queryset = queryset.filter(parent__isnull=True)
    if filters.get("parent") is not None:
        queryset = queryset.filter(parent_id=filters["parent"])
    if filters.get("external_id"):
        queryset = queryset.filter(external_id=filters["external_id"])
    if filters.get("q"):
        q = filters["q"]
        queryset = queryset.filter(
            Q(title__icontains=q) | Q(description__icontains=q) | Q(tags__contains=[q.lower()]) | Q(external_id=q)
        )
    return queryset


def progress_filter(queryset: QuerySet, filters: dict) -> QuerySet:
    if filters.get("user") is not None:
        queryset = queryset.filter(user_id=filters["user"])
    if filters.get("status"):
        queryset = queryset.filter(status=filters["status"])
    if filters.get("item") is not None:
        queryset = queryset.filter(item_id=filters["item"])
    if filters.get("parent") is not None:
        queryset = queryset.filter(item__parent_id=filters["parent"])
    return queryset


def interaction_filter(queryset: QuerySet, filters: dict) -> QuerySet:
    if filters.get("user") is not None:
        queryset = queryset.filter(user_id=filters["user"])
    if filters.get("item") is not None:
        queryset = queryset.filter(item_id=filters["item"])
    if filters.get("kind"):
        queryset = queryset.filter(kind__in=filters["kind"])
    if filters.get("occurred_from"):
        queryset = queryset.filter(occurred_at__gte=filters["occurred_from"])
    if filters.get("occurred_to"):
        queryset = queryset.filter(occurred_at__lt=filters["occurred_to"])
    return queryset
