"""Catalog writes: create, update, delete, bulk upsert by external_id, prerequisites, hierarchy,
and the item embeddings (computed in the background when title, description or tags change).

Rules every write path shares (API, bulk, admin):
- parents and prerequisites belong to the same organization (other ids are 400, like unknown ones);
- no cycles: an item is never its own ancestor, and the prerequisite graph stays acyclic;
- `content_hash` (title, description, tags) is kept current; when it changes, the item's vector is
  recomputed by `progress.content_embed`, enqueued on commit.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from apps.core.embeddings import get_embedder
from apps.core.exceptions import ApplicationError
from apps.progress.models import ContentEmbedding, ContentItem, ContentPrerequisite

logger = logging.getLogger(__name__)

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


def _enqueue_embedding(organization_id: int, item_ids: list[int]) -> None:
    """Embed these items after the transaction commits, in tasks of CONTENT_EMBED_TASK_SIZE ids."""
    from workers.tasks.progress import content_embed_task

    size = settings.CONTENT_EMBED_TASK_SIZE
    for start in range(0, len(item_ids), size):
        content_embed_task.delay_on_commit(organization_id, item_ids[start : start + size])


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
    _enqueue_embedding(organization.pk, [item.pk])
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
            _enqueue_embedding(organization.pk, [item.pk])
    elif prerequisites_changed:
        item.save(update_fields=["updated_at"])
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
    item.delete()


# --------------------------------------------------------------------------- bulk upsert


@dataclass
class BulkRow:
    """One row of a bulk upsert: its index in the payload, its validated data or its errors."""

    index: int
    data: dict | None = None
    errors: list[str] = field(default_factory=list)
    external_id: str | None = None
    status: str = ""  # created | updated | unchanged | rejected
    item: ContentItem | None = None
    parent_key: object = None
    prerequisite_keys: list | None = None

    def reject(self, message: str) -> None:
        self.status = "rejected"
        self.errors.append(message)


def _key_of(item: ContentItem) -> tuple:
    return ("x", item.external_id) if item.external_id is not None else ("i", item.pk)


def content_bulk_upsert(*, organization, rows: list[BulkRow]) -> list[BulkRow]:
    """Upsert items by external_id in one transaction. Idempotent: the same payload twice gives
    "unchanged" everywhere the second time. A rejected row never stops the others.

    Each row's data holds EDITABLE fields (external_id required), and optionally
    `parent_external_id` (null = top level) and `prerequisite_external_ids`; references may point
    at rows of the same payload (in any order) or at existing items. Omitted fields keep their
    stored value (new items get the defaults).
    """
    with transaction.atomic():
        _bulk_upsert(organization=organization, rows=rows)
    return rows


def _bulk_upsert(*, organization, rows: list[BulkRow]) -> None:
    live = [row for row in rows if not row.errors]
    for row in rows:
        if row.errors:
            row.status = "rejected"

    # 1. one row per external_id
    first_row: dict[str, BulkRow] = {}
    for row in live:
        row.external_id = row.data["external_id"]
        if row.external_id in first_row:
            first = first_row[row.external_id].index
            row.reject(f"external_id {row.external_id!r} appears more than once (first at row {first}).")
        else:
            first_row[row.external_id] = row
    live = [row for row in live if row.status != "rejected"]

    # 2. existing items: the payload's and the ones it refers to (two queries)
    referenced = set()
    for row in live:
        if row.data.get("parent_external_id"):
            referenced.add(row.data["parent_external_id"])
        referenced.update(row.data.get("prerequisite_external_ids") or [])
    existing = {
        item.external_id: item
        for item in ContentItem.objects.filter(organization=organization, external_id__in=set(first_row) | referenced)
    }
    payload = {row.external_id: row for row in live}
    for row in live:
        row.item = existing.get(row.external_id)

    # 3. whole-catalog structure (parents and prerequisites) keyed so that new rows have keys too
    id_to_key = {}
    parents: dict = {}
    for item_id, external_id, parent_id in ContentItem.objects.filter(organization=organization).values_list(
        "id", "external_id", "parent_id"
    ):
        id_to_key[item_id] = ("x", external_id) if external_id is not None else ("i", item_id)
        parents[item_id] = parent_id
    parents = {id_to_key[k]: (id_to_key[v] if v else None) for k, v in parents.items()}
    graph: dict = {}
    for item_id, prerequisite_id in ContentPrerequisite.objects.filter(organization=organization).values_list(
        "item_id", "prerequisite_id"
    ):
        graph.setdefault(id_to_key[item_id], set()).add(id_to_key[prerequisite_id])

    # 4. resolve references and refuse cycles, row by row (a refused row keeps the stored structure)
    def resolvable(external_id: str) -> bool:
        target = payload.get(external_id)
        return (target is not None and target.status != "rejected") or external_id in existing

    for row in live:
        key = ("x", row.external_id)
        data = row.data
        if "parent_external_id" in data:
            parent_ext = data["parent_external_id"]
            if parent_ext is not None and not resolvable(parent_ext):
                row.reject(f"parent_external_id {parent_ext!r} matches no item in this request or the catalog.")
                continue
            row.parent_key = ("x", parent_ext) if parent_ext is not None else None
            if row.parent_key == key:
                row.reject("parent_external_id: an item cannot be its own parent.")
                continue
            if _ancestor_cycle(parents, key, row.parent_key):
                row.reject(f"parent_external_id {parent_ext!r} is inside this item; that would create a cycle.")
                continue
        if "prerequisite_external_ids" in data:
            unknown = [e for e in data["prerequisite_external_ids"] if not resolvable(e)]
            if unknown:
                row.reject(
                    f"prerequisite_external_ids {', '.join(map(repr, unknown))} match no item in this request "
                    "or the catalog."
                )
                continue
            row.prerequisite_keys = [("x", e) for e in dict.fromkeys(data["prerequisite_external_ids"])]
            old = graph.pop(key, None)
            path = _prerequisite_cycle(graph, key, row.prerequisite_keys)
            if path:
                if old is not None:
                    graph[key] = old
                shown = " -> ".join(k[1] if k[0] == "x" else f"#{k[1]}" for k in path)
                row.reject(f"prerequisite_external_ids would create a cycle ({shown}).")
                continue
            graph[key] = set(row.prerequisite_keys)
        if "parent_external_id" in data:
            parents[key] = row.parent_key

    # 5. a new row whose parent or prerequisite was refused is refused too (until nothing changes)
    changed = True
    while changed:
        changed = False
        for row in live:
            if row.status == "rejected":
                continue
            refs = ([row.parent_key[1]] if row.parent_key else []) + [k[1] for k in row.prerequisite_keys or []]
            bad = [e for e in refs if not resolvable(e)]
            if bad:
                row.reject(f"refers to {', '.join(map(repr, bad))}, which was rejected in this request.")
                changed = True
    live = [row for row in live if row.status != "rejected"]

    # 6. field changes
    to_create, to_update, update_fields, embed = [], [], set(), []
    for row in live:
        values = {k: v for k, v in row.data.items() if k in EDITABLE}
        if row.item is None:
            row.item = ContentItem(organization=organization, **values)
            row.item.content_hash = row.item.compute_content_hash()
            row.status = "created"
            to_create.append(row.item)
            continue
        item = row.item
        fields_changed = [k for k, v in values.items() if getattr(item, k) != v]
        for name in fields_changed:
            setattr(item, name, values[name])
        if fields_changed:
            new_hash = item.compute_content_hash()
            if new_hash != item.content_hash:
                item.content_hash = new_hash
                fields_changed.append("content_hash")
                embed.append(item)
            to_update.append(item)
            update_fields.update(fields_changed)
            row.status = "updated"
        else:
            row.status = "unchanged"
    try:
        ContentItem.objects.bulk_create(to_create, batch_size=1000)
    except IntegrityError as exc:  # a concurrent request created one of these external_ids
        raise ApplicationError(
            "Another request changed these items at the same time; send the batch again.",
            code="conflict",
            status_code=409,
        ) from exc
    embed += to_create
    if to_update:
        ContentItem.objects.bulk_update(to_update, [*sorted(update_fields), "updated_at"], batch_size=1000)

    # 7. parents and prerequisites, now that every row has an id
    key_to_id = {("x", ext): item.pk for ext, item in existing.items()}
    key_to_id.update({("x", row.external_id): row.item.pk for row in live})
    parent_updates = []
    for row in live:
        if "parent_external_id" not in row.data:
            continue
        parent_id = key_to_id[row.parent_key] if row.parent_key else None
        if row.item.parent_id != parent_id:
            row.item.parent_id = parent_id
            parent_updates.append(row.item)
            if row.status == "unchanged":
                row.status = "updated"
    if parent_updates:
        ContentItem.objects.bulk_update(parent_updates, ["parent", "updated_at"], batch_size=1000)

    wanted = {
        row.item.pk: {key_to_id[k] for k in row.prerequisite_keys} for row in live if row.prerequisite_keys is not None
    }
    if wanted:
        current: dict[int, set[int]] = {pk: set() for pk in wanted}
        for item_id, prerequisite_id in ContentPrerequisite.objects.filter(item_id__in=list(wanted)).values_list(
            "item_id", "prerequisite_id"
        ):
            current[item_id].add(prerequisite_id)
        stale = [pk for pk in wanted if wanted[pk] != current[pk]]
        if stale:
            ContentPrerequisite.objects.filter(item_id__in=stale).delete()
            ContentPrerequisite.objects.bulk_create(
                [
                    ContentPrerequisite(organization=organization, item_id=pk, prerequisite_id=p)
                    for pk in stale
                    for p in sorted(wanted[pk])
                ],
                batch_size=1000,
            )
            stale_set = set(stale)
            touched = []
            for row in live:
                if row.item.pk in stale_set and row.status == "unchanged":
                    row.status = "updated"
                    touched.append(row.item.pk)
            if touched:
                ContentItem.objects.filter(pk__in=touched).update(updated_at=timezone.now())
    if embed:
        _enqueue_embedding(organization.pk, sorted(item.pk for item in embed))


# --------------------------------------------------------------------------- embeddings


def content_embedding_index_name(model: str) -> str:
    return "contentemb_hnsw_" + hashlib.sha1(model.encode()).hexdigest()[:12]


_indexes_seen: set[str] = set()


def content_embedding_index_ensure(*, model: str, dimensions: int) -> str:
    """Create (once) the partial HNSW cosine index of one embedding model. Returns its name.

    The default model's index comes with migration 0001. Checked before any DDL and remembered
    per process (CREATE INDEX fails inside a transaction with pending deferred constraint checks).
    """
    name = content_embedding_index_name(model)
    if name in _indexes_seen:
        return name
    literal = model.replace("'", "''")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_class WHERE relname = %s AND relkind = 'i'", [name])
        if not cursor.fetchone():
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON progress_contentembedding "
                f"USING hnsw ((embedding::vector({int(dimensions)})) vector_cosine_ops) WHERE model = '{literal}'"
            )
    _indexes_seen.add(name)
    return name


def content_embed(*, organization_id: int, item_ids: list[int], force: bool = False) -> int:
    """Compute the current model's vectors of these items (of this organization) whose vector is
    missing or stale (content_hash differs); upsert on (item, model). Returns how many were written.

    Idempotent: a second run finds every vector current and writes nothing. Unknown ids, and ids
    of another organization, are skipped.
    """
    embedder = get_embedder()
    items = list(
        ContentItem.objects.filter(organization_id=organization_id, pk__in=item_ids)
        .only("id", "organization_id", "title", "description", "tags", "content_hash")
        .order_by("id")
    )
    if not items:
        return 0
    if not force:
        current = dict(
            ContentEmbedding.objects.filter(item__in=items, model=embedder.name).values_list("item_id", "content_hash")
        )
        items = [item for item in items if current.get(item.pk) != item.content_hash]
    if not items:
        return 0
    content_embedding_index_ensure(model=embedder.name, dimensions=embedder.dimensions)
    written = 0
    size = settings.EMBEDDING_BATCH_SIZE * 4
    for start in range(0, len(items), size):
        batch = items[start : start + size]
        vectors = embedder.encode([item.embed_text for item in batch])
        ContentEmbedding.objects.bulk_create(
            [
                ContentEmbedding(
                    organization_id=item.organization_id,
                    item_id=item.pk,
                    model=embedder.name,
                    content_hash=item.content_hash,
                    embedding=vector,
                )
                for item, vector in zip(batch, vectors, strict=True)
            ],
            update_conflicts=True,
            unique_fields=["item", "model"],
            update_fields=["embedding", "content_hash", "updated_at"],
        )
        written += len(batch)
    return written


def content_embed_missing(*, organization=None, enqueue: bool = True) -> int:
    """Items whose vector for the current model is missing or stale: enqueue them (or embed them
    now with `enqueue=False`). Returns how many items that concerns."""
    from django.db.models import Exists, OuterRef

    embedder = get_embedder()
    current = ContentEmbedding.objects.filter(
        item=OuterRef("pk"), model=embedder.name, content_hash=OuterRef("content_hash")
    )
    queryset = ContentItem.objects.filter(~Exists(current))
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    by_org: dict[int, list[int]] = {}
    for organization_id, item_id in queryset.order_by("organization_id", "id").values_list("organization_id", "id"):
        by_org.setdefault(organization_id, []).append(item_id)
    total = 0
    for organization_id, ids in by_org.items():
        total += len(ids)
        if enqueue:
            with transaction.atomic():
                _enqueue_embedding(organization_id, ids)
        else:
            content_embed(organization_id=organization_id, item_ids=ids)
    return total
