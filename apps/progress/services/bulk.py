"""Catalog bulk upsert by external_id (thousands of rows per request, one transaction).

Queries per batch, not per row: the payload's items and the items it refers to (one query), the
organization's structure (parents and prerequisite links, two queries), then bulk writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.progress.events import content_changed_send
from apps.progress.models import ContentItem, ContentPrerequisite
from apps.progress.services.catalog import EDITABLE, _ancestor_cycle, _prerequisite_cycle
from apps.progress.services.embeddings import enqueue_embedding


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

    def rejected_here(names: list[str]) -> bool:
        """All these missing references are rows of this request that were rejected."""
        refused = {row.external_id for row in rows if row.status == "rejected" and row.external_id}
        return all(name in refused for name in names)

    for row in live:
        key = ("x", row.external_id)
        data = row.data
        if "parent_external_id" in data:
            parent_ext = data["parent_external_id"]
            if parent_ext is not None and not resolvable(parent_ext):
                if rejected_here([parent_ext]):
                    row.reject(f"refers to {parent_ext!r}, which was rejected in this request.")
                else:
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
                if rejected_here(unknown):
                    row.reject(f"refers to {', '.join(map(repr, unknown))}, which was rejected in this request.")
                else:
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
        # One UPDATE ... FROM unnest() (bulk_update would build a CASE per row).
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ContentItem._meta.db_table} AS c SET parent_id = v.parent_id, updated_at = %s "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, parent_id) "
                "WHERE c.id = v.id AND c.organization_id = %s",
                [
                    timezone.now(),
                    [i.pk for i in parent_updates],
                    [i.parent_id for i in parent_updates],
                    organization.pk,
                ],
            )

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
        enqueue_embedding(organization.pk, sorted(item.pk for item in embed))
    written = [row.item.pk for row in live if row.status in ("created", "updated")]
    if written:
        content_changed_send(organization_id=organization.pk, item_ids=written)
