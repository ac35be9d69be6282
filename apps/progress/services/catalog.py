"""Catalog writes: create, update, delete, prerequisites and hierarchy (bulk upsert: services/bulk.py;
item embeddings: services/embeddings.py).

Rules every write path shares (API, bulk, admin):
- parents and prerequisites belong to the same organization (other ids are 400, like unknown ones);
- no cycles: an item is never its own ancestor, and the prerequisite graph stays acyclic;
- `content_hash` (title, description, tags) is kept current; when it changes, the item's vector is
  recomputed by `progress.content_embed`, enqueued on commit.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from apps.core.exceptions import ApplicationError
from apps.core.purge import delete_batch, delete_in_order
from apps.progress.events import content_changed_send
from apps.progress.models import ContentEmbedding, ContentItem, ContentPrerequisite, Interaction, Progress
from apps.progress.services.embeddings import enqueue_embedding

#: fields a client sets directly (parent and prerequisites are resolved separately)
EDITABLE = (
    "external_id", "title", "description", "body", "kind", "url", "tags", "categories", "difficulty",
    "duration_minutes", "position", "metadata", "active",
)  # fmt: skip


# --------------------------------------------------------------------------- references and cycles


def content_refs_resolve(
    *, organization, ids: list[int] | None = None, external_ids: list[str] | None = None, field_name: str
) -> list[ContentItem]:
    """Items of `organization` by ids and external ids, in the order given; 400 naming the unknown ones.

    Ids of other organizations are reported exactly like ids that do not exist.
    """
    ids, external_ids = list(ids or []), list(external_ids or [])
    by_id = {item.pk: item for item in ContentItem.objects.filter(organization=organization, pk__in=ids)} if ids else {}
    by_ext = {}
    if external_ids:
        found = ContentItem.objects.filter(organization=organization, external_id__in=external_ids)
        by_ext = {item.external_id: item for item in found}
    problems = []
    unknown_ids = [i for i in ids if i not in by_id]
    unknown_ext = [e for e in external_ids if e not in by_ext]
    if unknown_ids:
        problems.append(f"no content item with id {', '.join(map(str, unknown_ids))} in this organization")
    if unknown_ext:
        problems.append(f"no content item with external_id {', '.join(map(repr, unknown_ext))} in this organization")
    if problems:
        raise ApplicationError(
            f"{field_name}: {'; '.join(problems)}.", code="invalid_reference", extra={"field": field_name}
        )
    items, seen = [], set()
    for item in [by_id[i] for i in ids] + [by_ext[e] for e in external_ids]:
        if item.pk not in seen:
            seen.add(item.pk)
            items.append(item)
    return items


def _parent_map(organization) -> dict[int, int | None]:
    return dict(ContentItem.objects.filter(organization=organization).values_list("id", "parent_id"))


def _prerequisite_graph(organization) -> dict[int, set[int]]:
    graph: dict[int, set[int]] = {}
    for item_id, prerequisite_id in ContentPrerequisite.objects.filter(organization=organization).values_list(
        "item_id", "prerequisite_id"
    ):
        graph.setdefault(item_id, set()).add(prerequisite_id)
    return graph


def _ancestor_cycle(parents: dict, node, parent) -> bool:
    """Would `node` become its own ancestor with `parent` as its parent?"""
    seen = set()
    while parent is not None:
        if parent == node or parent in seen:
            return True
        seen.add(parent)
        parent = parents.get(parent)
    return False


def _prerequisite_cycle(graph: dict, node, prerequisites: Iterable) -> list | None:
    """A path prerequisite -> ... -> node if giving `node` these prerequisites closes a cycle."""
    for start in prerequisites:
        if start == node:
            return [node, node]
        stack, parents = [start], {start: None}
        while stack:
            current = stack.pop()
            for nxt in graph.get(current, ()):
                if nxt in parents:
                    continue
                parents[nxt] = current
                if nxt == node:
                    path, step = [], nxt
                    while step is not None:
                        path.append(step)
                        step = parents[step]
                    return [node, *reversed(path)]
                stack.append(nxt)
    return None


def _check_parent(*, organization, item: ContentItem | None, parent: ContentItem | None) -> None:
    if parent is None or item is None or item.pk is None:
        return
    if parent.pk == item.pk:
        raise ApplicationError("parent: an item cannot be its own parent.", code="cycle")
    if _ancestor_cycle(_parent_map(organization), item.pk, parent.pk):
        raise ApplicationError(
            f"parent: item {parent.pk} is inside item {item.pk}; making it the parent would create a cycle.",
            code="cycle",
        )


def _check_prerequisites(*, organization, item: ContentItem, prerequisites: list[ContentItem]) -> None:
    graph = _prerequisite_graph(organization)
    graph.pop(item.pk, None)
    path = _prerequisite_cycle(graph, item.pk, [p.pk for p in prerequisites])
    if path:
        if path[0] == path[1]:
            raise ApplicationError("prerequisites: an item cannot be its own prerequisite.", code="cycle")
        raise ApplicationError(
            f"prerequisites: this would create a cycle ({' -> '.join(map(str, path))}, where a -> b means b is "
            "a prerequisite of a).",
            code="cycle",
        )


def _set_prerequisites(*, item: ContentItem, prerequisites: list[ContentItem]) -> bool:
    wanted = {p.pk for p in prerequisites}
    current = set(ContentPrerequisite.objects.filter(item=item).values_list("prerequisite_id", flat=True))
    if wanted == current:
        return False
    ContentPrerequisite.objects.filter(item=item).exclude(prerequisite_id__in=wanted).delete()
    organization_id = item.organization_id
    ContentPrerequisite.objects.bulk_create(
        [ContentPrerequisite(organization_id=organization_id, item=item, prerequisite_id=p) for p in wanted - current]
    )
    return True


# --------------------------------------------------------------------------- create, update, delete


def _external_id_taken(organization, external_id: str, exclude_pk: int | None = None) -> ContentItem | None:
    queryset = ContentItem.objects.filter(organization=organization, external_id=external_id)
    if exclude_pk:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.first()


def _resolve_parent(*, organization, parent_id=None, parent_external_id=None) -> ContentItem | None:
    if parent_id is None and parent_external_id is None:
        return None
    ids = [parent_id] if parent_id is not None else []
    exts = [parent_external_id] if parent_external_id is not None else []
    return content_refs_resolve(organization=organization, ids=ids, external_ids=exts, field_name="parent")[0]


@transaction.atomic
def content_create(*, organization, data: dict) -> ContentItem:
    """Create an item. `data` holds EDITABLE fields plus optional `parent` / `parent_external_id` and
    `prerequisites` / `prerequisite_external_ids`."""
    if data.get("external_id") and _external_id_taken(organization, data["external_id"]):
        raise ApplicationError(
            f"external_id: {data['external_id']!r} is already used by another item of this organization.",
            code="duplicate_external_id",
        )
    parent = _resolve_parent(
        organization=organization, parent_id=data.get("parent"), parent_external_id=data.get("parent_external_id")
    )
    prerequisites = content_refs_resolve(
        organization=organization,
        ids=data.get("prerequisites"),
        external_ids=data.get("prerequisite_external_ids"),
        field_name="prerequisites",
    )
    item = ContentItem(organization=organization, parent=parent, **{k: v for k, v in data.items() if k in EDITABLE})
    if "position" not in data and parent is not None:
        last = ContentItem.objects.filter(parent=parent).aggregate(last=Max("position"))["last"]
        item.position = 0 if last is None else last + 1
    item.content_hash = item.compute_content_hash()
    item.full_clean(exclude=["organization", "parent"])
    try:
        with transaction.atomic():
            item.save()
    except IntegrityError as exc:  # a concurrent create with the same external_id
        raise ApplicationError(
            "external_id: already used by another item of this organization.", code="duplicate_external_id"
        ) from exc
    if prerequisites:
        _set_prerequisites(item=item, prerequisites=prerequisites)
    enqueue_embedding(organization.pk, [item.pk])
    content_changed_send(organization_id=organization.pk, item_ids=[item.pk])
    return item


@transaction.atomic
def content_update(*, item: ContentItem, data: dict) -> tuple[ContentItem, bool]:
    """Partial update; returns (item, changed). Re-embeds only when title/description/tags change."""
    organization = item.organization
    if data.get("external_id") and _external_id_taken(organization, data["external_id"], exclude_pk=item.pk):
        raise ApplicationError(
            f"external_id: {data['external_id']!r} is already used by another item of this organization.",
            code="duplicate_external_id",
        )
    changed = [f for f in EDITABLE if f in data and getattr(item, f) != data[f]]
    for name in changed:
        setattr(item, name, data[name])
    if "parent" in data or "parent_external_id" in data:
        parent = _resolve_parent(
            organization=organization, parent_id=data.get("parent"), parent_external_id=data.get("parent_external_id")
        )
        _check_parent(organization=organization, item=item, parent=parent)
        if item.parent_id != (parent.pk if parent else None):
            item.parent = parent
            changed.append("parent")
    prerequisites_changed = False
    if "prerequisites" in data or "prerequisite_external_ids" in data:
        prerequisites = content_refs_resolve(
            organization=organization,
            ids=data.get("prerequisites"),
            external_ids=data.get("prerequisite_external_ids"),
            field_name="prerequisites",
        )
        _check_prerequisites(organization=organization, item=item, prerequisites=prerequisites)
        prerequisites_changed = _set_prerequisites(item=item, prerequisites=prerequisites)
    if changed:
        new_hash = item.compute_content_hash()
        rehash = new_hash != item.content_hash
        item.content_hash = new_hash
        item.full_clean(exclude=["organization", "parent"])
        item.save(update_fields=[*changed, "content_hash", "updated_at"])
        if rehash:
            enqueue_embedding(organization.pk, [item.pk])
    elif prerequisites_changed:
        item.save(update_fields=["updated_at"])
    if changed or prerequisites_changed:
        content_changed_send(organization_id=organization.pk, item_ids=[item.pk])
    return item, bool(changed) or prerequisites_changed


@transaction.atomic
def content_delete(*, item: ContentItem) -> None:
    """Delete an item with its vectors, prerequisite links, progress and interactions.

    An item with children is refused (409): delete or move them first, or deactivate the item.
    """
    children = item.children.count()
    if children:
        raise ApplicationError(
            f"This item has {children} child item(s); delete or move them first, or set active=false.",
            code="has_children",
            status_code=409,
        )
    content_changed_send(organization_id=item.organization_id, item_ids=[item.pk])
    item.delete()


def organization_progress_purge_batch(*, organization_id: int, last: bool) -> int:
    """A batch of a deleted organization's progress data (`organization_purging`): interactions, progress,
    prerequisites and embeddings in the first stage; the catalog items in the last, when no other app's row
    references them any more (recommendation logs and factors, goals), by one DELETE of the batch's ids (the ORM's
    cascade would read each referencing table by item, which has no index on it) after the links from other items to
    them are cut (a course may go in another batch than its lessons). Returns how many rows went (0: none left)."""
    limit = settings.ORGANIZATION_PURGE_BATCH_ROWS
    scoped = {"organization_id": organization_id}
    if not last:
        return delete_in_order(
            [
                *(model.objects.filter(**scoped) for model in (Interaction, Progress, ContentPrerequisite)),
                # A prerequisite of another organization naming one of its items (the admin's raw id field).
                ContentPrerequisite.objects.filter(prerequisite__organization_id=organization_id),
                ContentEmbedding.objects.filter(**scoped),
            ],
            limit=limit,
        )

    def links_cut(ids: list[int]) -> None:
        ContentItem.objects.filter(parent_id__in=ids).update(parent=None)

    return delete_batch(ContentItem.objects.filter(**scoped), limit=limit, raw=True, before=links_cut)
