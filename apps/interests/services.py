"""Writes of members' interests (issue 19, docs/interests.md): set (replace-all per source), bulk sync by
external id, evidence with decay, deletion, the legacy flat `User.interests` mirror and the decay purge.

Set-based throughout: every write is a few statements whatever the number of members or values
(INSERT ... SELECT FROM unnest ... ON CONFLICT), so a sync of tens of thousands of members or a purge of
the whole table never loops over rows in Python. Each write sends `member_interests_changed` in its
transaction (graph outbox, recommendation caches).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from apps.core.exceptions import ApplicationError
from apps.core.purge import delete_in_order
from apps.interests.events import member_interests_changed_send
from apps.interests.models import (
    DECAYING_SOURCES,
    NAME_MAX_LENGTH,
    InterestCategory,
    InterestSource,
    InterestValue,
    MemberInterest,
    interest_name_normalise,
)
from apps.interests.selectors import effective_weight_sql, half_life_seconds

#: the category of interests given as bare names (the legacy flat list, plain strings in a payload)
DEFAULT_CATEGORY = "general"
TABLE = MemberInterest._meta.db_table


@dataclass(frozen=True)
class InterestInput:
    category: str
    value: str
    weight: float = 1.0


def interest_inputs_clean(raw: Iterable) -> list[InterestInput]:
    """Normalised, validated, de-duplicated (the last weight of a repeated (category, value) wins).
    Items: a bare name (category "general", weight 1) or {"value", "category"?, "weight"?}."""
    out: dict[tuple[str, str], InterestInput] = {}
    errors = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            item = {"value": item}
        if not isinstance(item, dict):
            errors.append(f"[{index}]: expected a name or an object with value, category and weight.")
            continue
        raw_value, raw_category = item.get("value", ""), item.get("category", "")
        if not isinstance(raw_value, str) or not isinstance(raw_category, str):
            errors.append(f"[{index}]: value and category are strings.")
            continue
        # Lower-casing may lengthen a name ("İ" -> 2 characters): the limit is on what was sent.
        value = interest_name_normalise(raw_value)[:NAME_MAX_LENGTH]
        category = interest_name_normalise(raw_category)[:NAME_MAX_LENGTH] or DEFAULT_CATEGORY
        weight = item.get("weight", 1.0)
        if not value:
            errors.append(f"[{index}].value: this field may not be blank.")
        elif len(raw_value.strip()) > NAME_MAX_LENGTH or len(raw_category.strip()) > NAME_MAX_LENGTH:
            errors.append(f"[{index}]: names have at most {NAME_MAX_LENGTH} characters.")
        elif isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
            errors.append(f"[{index}].weight: a number from 0 to 1.")
        else:
            out[(category, value)] = InterestInput(category, value, float(weight))
    if errors:
        raise ValidationError({"interests": errors})
    if len(out) > settings.INTERESTS_MAX_PER_MEMBER:
        raise ValidationError({"interests": [f"At most {settings.INTERESTS_MAX_PER_MEMBER} interests per member."]})
    return list(out.values())


def interest_values_ensure(*, organization_id: int, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """{(category, value): value id}, creating the missing categories and values (two INSERTs, two SELECTs;
    ON CONFLICT DO NOTHING makes concurrent writers safe). Names must be normalised already."""
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    categories = sorted({category for category, _ in pairs})
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {InterestCategory._meta.db_table} (organization_id, name, created_at) "
            "SELECT %s, name, now() FROM unnest(%s::text[]) AS t(name) ON CONFLICT DO NOTHING",
            [organization_id, categories],
        )
        cursor.execute(
            f"SELECT name, id FROM {InterestCategory._meta.db_table} WHERE organization_id = %s AND name = ANY(%s)",
            [organization_id, categories],
        )
        category_ids = dict(cursor.fetchall())
        cursor.execute(
            f"INSERT INTO {InterestValue._meta.db_table} (organization_id, category_id, name, created_at) "
            "SELECT %s, c, v, now() FROM unnest(%s::bigint[], %s::text[]) AS t(c, v) ON CONFLICT DO NOTHING",
            [organization_id, [category_ids[c] for c, _ in pairs], [v for _, v in pairs]],
        )
        cursor.execute(
            f"""SELECT v.category_id, v.name, v.id FROM {InterestValue._meta.db_table} v
                JOIN unnest(%s::bigint[], %s::text[]) AS t(c, v) ON v.category_id = t.c AND v.name = t.v
                WHERE v.organization_id = %s""",
            [[category_ids[c] for c, _ in pairs], [v for _, v in pairs], organization_id],
        )
        category_names = {category_id: name for name, category_id in category_ids.items()}
        return {(category_names[category_id], value): value_id for category_id, value, value_id in cursor.fetchall()}


def _replace(*, organization_id: int, interests: dict[int, list[InterestInput]], source: str) -> None:
    """Replace-all: each listed user's rows of `source` become exactly their list (one DELETE, one upsert)."""
    ids = interest_values_ensure(
        organization_id=organization_id, pairs=[(i.category, i.value) for items in interests.values() for i in items]
    )
    users, values, weights = [], [], []
    for user_id, items in interests.items():
        for item in items:
            users.append(user_id)
            values.append(ids[(item.category, item.value)])
            weights.append(item.weight)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""DELETE FROM {TABLE} mi WHERE mi.organization_id = %s AND mi.source = %s AND mi.user_id = ANY(%s)
                AND NOT EXISTS (SELECT 1 FROM unnest(%s::bigint[], %s::bigint[]) AS k(u, v)
                                WHERE k.u = mi.user_id AND k.v = mi.value_id)""",
            [organization_id, source, list(interests), users, values],
        )
        if users:
            # An unchanged weight keeps its row as it was (updated_at = when it was last changed).
            cursor.execute(
                f"""INSERT INTO {TABLE}
                        (organization_id, user_id, value_id, source, weight, evidence_count, item_ids, created_at,
                         updated_at)
                    SELECT %s, u, v, %s, w, 1, '[]'::jsonb, now(), now()
                    FROM unnest(%s::bigint[], %s::bigint[], %s::float8[]) AS t(u, v, w)
                    ON CONFLICT (organization_id, user_id, value_id, source) DO UPDATE
                    SET weight = EXCLUDED.weight, updated_at = now()
                    WHERE {TABLE}.weight IS DISTINCT FROM EXCLUDED.weight""",
                [organization_id, source, users, values, weights],
            )
    member_interests_changed_send(organization_id=organization_id, user_ids=interests)


def member_interests_set(*, organization, user_id: int, interests: Iterable, source: str) -> None:
    """PUT semantics: the member's `source` interests become exactly `interests` (other sources stay).
    Members set `stated` ones (me/interests), the organization `synced` ones (members/{id}/interests)."""
    if source not in (InterestSource.STATED, InterestSource.SYNCED):
        raise ValidationError({"source": ["Only stated or synced interests are set; others come from evidence."]})
    cleaned = interest_inputs_clean(interests)
    with transaction.atomic():
        _replace(organization_id=organization.pk, interests={user_id: cleaned}, source=source)


def member_interests_sync(*, organization, rows: list[dict]) -> dict:
    """Bulk replace-all of `synced` interests by external id, all or nothing.

    `rows`: [{"index", "external_id", "interests"}] (validated shape). A bad interest, a repeated or an
    unknown external id rejects the whole batch, naming every failing row as the request's field does
    ("members[3].external_id: ...", "members[1].interests[0].weight: ..."):
    a ValidationError for malformed interests, else an ApplicationError `duplicate_row` or
    `invalid_reference` (state the schema cannot express); nothing is written. Returns {"members", "interests"}.
    """
    from apps.organizations.models import Membership

    errors: list[str] = []
    duplicates: list[str] = []
    seen: dict[str, int] = {}
    cleaned: dict[str, list[InterestInput]] = {}
    for row in rows:
        ext = row["external_id"]
        if ext in seen:
            duplicates.append(
                f"members[{row['index']}].external_id: {ext!r} appears more than once (first at row {seen[ext]})."
            )
            continue
        seen[ext] = row["index"]
        try:
            cleaned[ext] = interest_inputs_clean(row["interests"])
        except ValidationError as exc:
            errors.extend(f"members[{row['index']}].interests{message}" for message in exc.message_dict["interests"])
    if errors:  # malformed rows: a 400 `invalid`
        raise ValidationError({"members": sorted(errors, key=_row_order)})
    if duplicates:  # state the schema cannot express (unique by a key inside the rows)
        raise ApplicationError(" ".join(duplicates), code="duplicate_row", extra={"members": duplicates})
    members = dict(
        Membership.objects.filter(organization=organization, external_id__in=list(seen)).values_list(
            "external_id", "user_id"
        )
    )
    unknown = [
        f"members[{index}].external_id: no member of this organization has external_id {ext!r}."
        for ext, index in seen.items()
        if ext not in members
    ]
    if unknown:
        raise ApplicationError(" ".join(unknown), code="invalid_reference", extra={"members": unknown})
    with transaction.atomic():
        _replace(
            organization_id=organization.pk,
            interests={members[ext]: items for ext, items in cleaned.items()},
            source=InterestSource.SYNCED,
        )
    return {"members": len(cleaned), "interests": sum(len(items) for items in cleaned.values())}


def _row_order(message: str) -> int:
    """The row index of a "members[3]..." message."""
    return int(message[len("members[") : message.index("]")])


def member_interest_evidence_add(
    *, organization_id: int, source: str, evidence: Iterable[tuple[int, str, str, float, list[int]]]
) -> int:
    """Add decaying evidence: (user_id, category, value, strength 0..1, matched item ids) tuples.

    A new (user, value, source) row starts at `strength`; an existing one is first decayed to now,
    then combined like independent evidence (`w + s * (1 - w)`, so it stays within 0..1 and repeated
    evidence approaches 1), its evidence_count incremented, its last-seen time moved to now and the
    item ids put first (at most 10 kept). One upsert for the whole batch. Returns the rows touched.
    """
    if source not in DECAYING_SOURCES:
        raise ValidationError({"source": ["Evidence is inferred or chat."]})
    merged: dict[tuple[int, str, str], tuple[float, list[int]]] = {}
    for user_id, category, value, strength, item_ids in evidence:
        key = (user_id, interest_name_normalise(category), interest_name_normalise(value)[:NAME_MAX_LENGTH])
        if not key[2] or not key[1]:
            continue
        strength = min(max(float(strength), 0.0), 1.0)
        old_strength, old_items = merged.get(key, (0.0, []))
        merged[key] = (old_strength + strength * (1 - old_strength), [*item_ids, *old_items])
    if not merged:
        return 0
    ids = interest_values_ensure(organization_id=organization_id, pairs=[(c, v) for _, c, v in merged])
    keys = sorted(merged)
    decayed = effective_weight_sql(TABLE)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {TABLE}
                    (organization_id, user_id, value_id, source, weight, evidence_count, item_ids, created_at,
                     updated_at)
                SELECT %s, u, v, %s, s, 1, i::jsonb, now(), now()
                FROM unnest(%s::bigint[], %s::bigint[], %s::float8[], %s::text[]) AS t(u, v, s, i)
                ON CONFLICT (organization_id, user_id, value_id, source) DO UPDATE
                SET weight = LEAST(1.0, ({decayed}) + EXCLUDED.weight * (1 - ({decayed}))),
                    evidence_count = {TABLE}.evidence_count + 1,
                    item_ids = (SELECT coalesce(jsonb_agg(d.x ORDER BY d.first), '[]'::jsonb) FROM (
                        SELECT e.x, min(e.ord) AS first
                        FROM jsonb_array_elements(EXCLUDED.item_ids || {TABLE}.item_ids) WITH ORDINALITY AS e(x, ord)
                        GROUP BY e.x ORDER BY min(e.ord) LIMIT 10) d),
                    updated_at = now()""",
            [
                organization_id,
                source,
                [key[0] for key in keys],
                [ids[(key[1], key[2])] for key in keys],
                [merged[key][0] for key in keys],
                [_json_ids(merged[key][1]) for key in keys],
                half_life_seconds(),
                half_life_seconds(),
            ],
        )
        touched = cursor.rowcount
        member_interests_changed_send(organization_id=organization_id, user_ids=[key[0] for key in keys])
    return touched


def _json_ids(item_ids: list[int]) -> str:
    unique = list(dict.fromkeys(int(item) for item in item_ids))[:10]
    return "[" + ",".join(str(item) for item in unique) + "]"


def member_interests_delete(*, organization_id: int, user_ids: Iterable[int], sources=None) -> int:
    """Delete the members' interests in the organization (all sources, or these). Returns rows deleted."""
    user_ids = sorted(set(user_ids))
    rows = MemberInterest.objects.filter(organization_id=organization_id, user_id__in=user_ids)
    if sources is not None:
        rows = rows.filter(source__in=list(sources))
    with transaction.atomic():
        deleted, _ = rows.delete()
        if deleted:
            member_interests_changed_send(organization_id=organization_id, user_ids=user_ids)
    return deleted


def interests_decay_purge() -> int:
    """Delete decaying evidence whose weight has fallen under INTERESTS_PURGE_BELOW (one DELETE over
    the whole table; the selectors already hide it below INTERESTS_MIN_WEIGHT). Returns rows deleted.
    No event: what is deleted was already invisible."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {TABLE} mi WHERE mi.source = ANY(%s) AND {effective_weight_sql()} < %s",
            [[str(source) for source in DECAYING_SOURCES], half_life_seconds(), settings.INTERESTS_PURGE_BELOW],
        )
        return cursor.rowcount


# --------------------------------------------------------------------------- the legacy flat User.interests


def legacy_interests_mirror(*, user_ids: Iterable[int], organization_id: int | None = None) -> int:
    """Mirror the flat `User.interests` (users/me, member sync) into each membership's structured rows:
    category "general", weight 1, source `synced` for accounts the organization manages (no usable
    password: only member sync writes them) and `stated` for everyone else. Replaces that source's
    "general" rows only; other categories and sources are untouched. Returns the members mirrored."""
    from apps.organizations.models import Membership

    User = get_user_model()
    user_ids = sorted(set(user_ids))
    users = {u.pk: u for u in User.objects.filter(pk__in=user_ids).only("id", "password", "interests")}
    memberships = Membership.objects.filter(user_id__in=list(users))
    if organization_id is not None:
        memberships = memberships.filter(organization_id=organization_id)
    by_org: dict[int, list[int]] = {}
    for org_id, user_id in memberships.order_by("organization_id", "user_id").values_list("organization_id", "user_id"):
        by_org.setdefault(org_id, []).append(user_id)
    for org_id, members in by_org.items():
        for source in (InterestSource.STATED, InterestSource.SYNCED):
            chosen = [u for u in members if (users[u].has_usable_password()) == (source == InterestSource.STATED)]
            if not chosen:
                continue
            lists = {
                u: [InterestInput(DEFAULT_CATEGORY, interest_name_normalise(tag)[:NAME_MAX_LENGTH]) for tag in
                    dict.fromkeys(users[u].interests or []) if interest_name_normalise(tag)]
                for u in chosen
            }  # fmt: skip
            _replace_category(organization_id=org_id, interests=lists, source=source, category=DEFAULT_CATEGORY)
    return sum(len(members) for members in by_org.values())


def _replace_category(*, organization_id: int, interests: dict[int, list[InterestInput]], source: str, category: str):
    """`_replace` limited to one category: the other categories' rows of `source` stay."""
    ids = interest_values_ensure(
        organization_id=organization_id, pairs=[(i.category, i.value) for items in interests.values() for i in items]
    )
    keep_users, keep_values = [], []
    for user_id, items in interests.items():
        for item in items:
            keep_users.append(user_id)
            keep_values.append(ids[(item.category, item.value)])
    with connection.cursor() as cursor:
        cursor.execute(
            f"""DELETE FROM {TABLE} mi USING {InterestValue._meta.db_table} v, {InterestCategory._meta.db_table} c
                WHERE mi.organization_id = %s AND mi.source = %s AND mi.user_id = ANY(%s)
                  AND v.id = mi.value_id AND c.id = v.category_id AND c.name = %s
                  AND NOT EXISTS (SELECT 1 FROM unnest(%s::bigint[], %s::bigint[]) AS k(u, v)
                                  WHERE k.u = mi.user_id AND k.v = mi.value_id)""",
            [organization_id, source, list(interests), category, keep_users, keep_values],
        )
        if keep_users:
            cursor.execute(
                f"""INSERT INTO {TABLE}
                        (organization_id, user_id, value_id, source, weight, evidence_count, item_ids, created_at,
                         updated_at)
                    SELECT %s, u, v, %s, 1.0, 1, '[]'::jsonb, now(), now()
                    FROM unnest(%s::bigint[], %s::bigint[]) AS t(u, v)
                    ON CONFLICT (organization_id, user_id, value_id, source) DO NOTHING""",
                [organization_id, source, keep_users, keep_values],
            )
    member_interests_changed_send(organization_id=organization_id, user_ids=interests)


def member_inferred_interests_replace(*, organization_id: int, rows: Iterable[tuple]) -> int:
    """Replace the `inferred` interests of the members present in `rows` (members absent keep theirs, which
    go on decaying): (user_id, category, value, weight 0..1, last seen, evidence count, item ids) tuples,
    computed from behaviour by a background job. `updated_at` is the last behaviour seen, so the read-time
    decay counts from it. Set-based: one DELETE and one upsert whatever the number of rows. Returns rows."""
    rows = [
        (user_id, interest_name_normalise(category), interest_name_normalise(value)[:NAME_MAX_LENGTH], *rest)
        for user_id, category, value, *rest in rows
    ]
    rows = [row for row in rows if row[1] and row[2]]
    if not rows:
        return 0
    ids = interest_values_ensure(organization_id=organization_id, pairs=[(row[1], row[2]) for row in rows])
    best: dict[tuple[int, int], tuple] = {}
    for user_id, category, value, weight, last_seen, count, item_ids in rows:
        best[(user_id, ids[(category, value)])] = (min(max(float(weight), 0.0), 1.0), last_seen, int(count), item_ids)
    keys = sorted(best)
    users = sorted({user_id for user_id, _ in keys})
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""DELETE FROM {TABLE} mi WHERE mi.organization_id = %s AND mi.source = %s AND mi.user_id = ANY(%s)
                AND NOT EXISTS (SELECT 1 FROM unnest(%s::bigint[], %s::bigint[]) AS k(u, v)
                                WHERE k.u = mi.user_id AND k.v = mi.value_id)""",
            [organization_id, InterestSource.INFERRED, users, [k[0] for k in keys], [k[1] for k in keys]],
        )
        cursor.execute(
            f"""INSERT INTO {TABLE}
                    (organization_id, user_id, value_id, source, weight, evidence_count, item_ids, created_at,
                     updated_at)
                SELECT %s, u, v, %s, w, n, i::jsonb, now(), t
                FROM unnest(%s::bigint[], %s::bigint[], %s::float8[], %s::int[], %s::text[], %s::timestamptz[])
                     AS x(u, v, w, n, i, t)
                ON CONFLICT (organization_id, user_id, value_id, source) DO UPDATE
                SET weight = EXCLUDED.weight, evidence_count = EXCLUDED.evidence_count,
                    item_ids = EXCLUDED.item_ids, updated_at = EXCLUDED.updated_at""",
            [
                organization_id,
                InterestSource.INFERRED,
                [k[0] for k in keys],
                [k[1] for k in keys],
                [best[k][0] for k in keys],
                [best[k][2] for k in keys],
                [_json_ids(best[k][3]) for k in keys],
                [best[k][1] for k in keys],
            ],
        )
        member_interests_changed_send(organization_id=organization_id, user_ids=users)
    return len(keys)


def organization_interests_purge_batch(*, organization_id: int) -> int:
    """A batch of a deleted organization's interests (`organization_purging`): members' interests, then the values
    and categories. Returns how many rows went (0: none left)."""
    return delete_in_order(
        [
            model.objects.filter(organization_id=organization_id)
            for model in (MemberInterest, InterestValue, InterestCategory)
        ],
        limit=settings.ORGANIZATION_PURGE_BATCH_ROWS,
    )
