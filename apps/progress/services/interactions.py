"""Interaction events: one at a time, or thousands per request.

Idempotency: an event with an `idempotency_key` is stored once per organization, whatever the
number of retries (a unique index; batch inserts use ON CONFLICT DO NOTHING). Batch rows are
checked by a small hand-written validator (no serializer per row) and resolved in bulk: one
query for the users, one for the items, one INSERT ... SELECT FROM unnest(...) for the rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.organizations.models import Membership
from apps.progress.events import interactions_recorded_send
from apps.progress.models import DEFAULT_INTERACTION_WEIGHTS, ContentItem, Interaction, InteractionKind

KINDS = frozenset(InteractionKind.values)
#: how far in the future an occurred_at may be (clock skew between systems)
FUTURE_TOLERANCE = timedelta(minutes=5)
WEIGHT_LIMIT = 100.0
RATING_MAX = 5.0
KEY_MAX = 200
EXTERNAL_ID_MAX = 255


def interaction_value_check(*, kind: str, value: float | None) -> str | None:
    """The rule of `value` per kind, as a message when broken (None when fine)."""
    if kind == InteractionKind.RATE and (value is None or not 0 <= value <= RATING_MAX):
        return f"value: a 'rate' event needs a value from 0 to {RATING_MAX:g}."
    if kind == InteractionKind.PURCHASE and value is not None and value < 0:
        return "value: a purchase amount cannot be negative."
    return None


@transaction.atomic
def interaction_create(
    *,
    organization,
    user,
    item: ContentItem,
    kind: str,
    weight: float | None = None,
    value: float | None = None,
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> tuple[Interaction, bool]:
    """Record one event; returns (interaction, created). A known idempotency_key returns the stored
    event unchanged (created=False) when it is the same event (user, item, kind: a retry); another event under it is
    a 409 `idempotency_conflict` (the client would silently lose it)."""
    problem = interaction_value_check(kind=kind, value=value)
    if problem:  # "value: ..." -> the envelope's details name the field, as for every other 400
        raise ValidationError({"value": [problem.removeprefix("value: ")]})
    if idempotency_key is not None:
        existing = Interaction.objects.filter(organization=organization, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _same_event(existing, user_id=user.pk, item_id=item.pk, kind=kind), False
    interaction = Interaction(
        organization=organization,
        user=user,
        item=item,
        kind=kind,
        weight=DEFAULT_INTERACTION_WEIGHTS[kind] if weight is None else weight,
        value=value,
        occurred_at=occurred_at or timezone.now(),
        idempotency_key=idempotency_key,
    )
    try:
        with transaction.atomic():
            interaction.save()
    except IntegrityError:  # the same key, sent concurrently
        existing = Interaction.objects.get(organization=organization, idempotency_key=idempotency_key)
        return _same_event(existing, user_id=user.pk, item_id=item.pk, kind=kind), False
    interactions_recorded_send(organization_id=organization.pk, keys=[(user.pk, item.pk, kind)])
    return interaction, True


def _conflict_reason(key: str, stored: tuple[int, int, str]) -> str:
    user_id, item_id, kind = stored
    return (
        f"idempotency_key {key!r} was already used for another event ({kind} of item {item_id} by user {user_id}); "
        "a retry sends the same event, a new event needs a new key."
    )


def _same_event(existing: Interaction, *, user_id: int, item_id: int, kind: str) -> Interaction:
    """`existing` when it is the event asked for again (a retry), else a 409 naming what the key recorded."""
    stored = (existing.user_id, existing.item_id, existing.kind)
    if stored != (user_id, item_id, kind):
        raise ApplicationError(
            _conflict_reason(existing.idempotency_key, stored), code="idempotency_conflict", status_code=409
        )
    return existing


# --------------------------------------------------------------------------- batch


ALLOWED_FIELDS = frozenset(
    [
        "idempotency_key",
        "kind",
        "item",
        "item_external_id",
        "user",
        "user_external_id",
        "weight",
        "value",
        "occurred_at",
    ]
)


@dataclass
class BatchOutcome:
    received: int = 0
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    #: rows that were not created: {"index", "idempotency_key", "status": duplicate|rejected, "reason"}
    results: list[dict] = field(default_factory=list)

    def add(self, index: int, key, status: str, reason: str = "") -> None:
        self.results.append({"index": index, "idempotency_key": key, "status": status, "reason": reason})
        if status == "duplicate":
            self.duplicates += 1
        else:
            self.rejected += 1


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _ref(row: dict, id_name: str, ext_name: str, *, required: bool) -> tuple[object, str | None]:
    """(("i", id) | ("x", external_id) | None, problem)."""
    has_id, has_ext = row.get(id_name) is not None, row.get(ext_name) is not None
    if has_id and has_ext:
        return None, f"give {id_name} or {ext_name}, not both."
    if has_id:
        return (
            (("i", row[id_name]), None)
            if _is_id(row[id_name])
            else (None, f"{id_name}: must be a positive integer id.")
        )
    if has_ext:
        value = row[ext_name]
        if isinstance(value, str) and 0 < len(value) <= EXTERNAL_ID_MAX and "\x00" not in value:
            return ("x", value), None
        return None, f"{ext_name}: must be a non-empty string of at most {EXTERNAL_ID_MAX} characters, without NUL."
    return None, (f"{id_name} or {ext_name} is required." if required else None)


def _json_type(value) -> str:
    """The JSON name of a parsed value's type, for messages ("a number", not "an int")."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {dict: "object", list: "array"}.get(type(value), "value")


def _validate(row, *, now: datetime, default_user: int | None, own_user_only: bool) -> tuple[tuple | None, str | None]:
    """A light validator of one batch row: (values, None) or (None, reason)."""
    if not isinstance(row, dict):
        return None, "each event must be a JSON object."
    unknown = row.keys() - ALLOWED_FIELDS
    if unknown:
        return None, f"unknown field(s): {', '.join(sorted(unknown))}."
    key = row.get("idempotency_key")
    if key is None:
        return None, f"idempotency_key: required, a non-empty string of at most {KEY_MAX} characters, without NUL."
    if not isinstance(key, str) or not 0 < len(key) <= KEY_MAX or "\x00" in key:
        given = "" if isinstance(key, str) else f" (given a {_json_type(key)}: quote it)"
        return None, f"idempotency_key: must be a non-empty string of at most {KEY_MAX} characters, without NUL{given}."
    kind = row.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        return None, f"kind: must be one of {', '.join(InteractionKind.values)}."
    item_ref, problem = _ref(row, "item", "item_external_id", required=True)
    if problem:
        return None, problem
    user_ref, problem = _ref(row, "user", "user_external_id", required=default_user is None)
    if problem:
        return None, problem
    if user_ref is None:
        user_ref = ("i", default_user)
    elif own_user_only and user_ref != ("i", default_user):
        return None, "user: members record only their own events."
    weight = row.get("weight")
    if weight is None:
        weight = DEFAULT_INTERACTION_WEIGHTS[kind]
    elif not _is_number(weight) or abs(weight) > WEIGHT_LIMIT:
        return None, f"weight: must be a number from -{WEIGHT_LIMIT:g} to {WEIGHT_LIMIT:g}."
    value = row.get("value")
    if value is not None and not _is_number(value):
        return None, "value: must be a number or null."
    problem = interaction_value_check(kind=kind, value=value)
    if problem:
        return None, problem
    occurred = row.get("occurred_at")
    if occurred is None:
        occurred = now
    else:
        if not isinstance(occurred, str):
            return None, "occurred_at: must be an ISO 8601 date-time string."
        try:
            occurred = datetime.fromisoformat(occurred)
        except ValueError:
            return None, "occurred_at: must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z."
        if occurred.tzinfo is None:
            return None, "occurred_at: include a time zone (e.g. a trailing Z for UTC)."
        if occurred > now + FUTURE_TOLERANCE:
            return None, "occurred_at: cannot be in the future."
        if occurred.year < 1970:
            return None, "occurred_at: cannot be before 1970-01-01."
    return (key, kind, item_ref, user_ref, float(weight), None if value is None else float(value), occurred), None


INSERT_SQL = """
INSERT INTO progress_interaction
    (organization_id, user_id, item_id, kind, weight, value, occurred_at, idempotency_key, created_at)
SELECT %s, t.user_id, t.item_id, t.kind, t.weight, t.value, t.occurred_at, t.idempotency_key, %s
FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], %s::float8[], %s::float8[], %s::timestamptz[], %s::varchar[])
    AS t(user_id, item_id, kind, weight, value, occurred_at, idempotency_key)
ON CONFLICT DO NOTHING
RETURNING idempotency_key, user_id, item_id, kind
"""


@transaction.atomic
def interaction_batch_ingest(
    *, organization, events: list, default_user_id: int | None = None, own_user_only: bool = False
) -> BatchOutcome:
    """Store a batch of events, each with its idempotency_key; a bad row never stops the others.

    `default_user_id` fills rows without a user (a member's own batch); with `own_user_only`, rows
    naming another user are rejected. Already-stored keys (and repeats within the batch) are
    reported as duplicates and not stored again.
    """
    now = timezone.now()
    outcome = BatchOutcome(received=len(events))
    valid: list[tuple[int, tuple]] = []
    seen_keys: dict[str, tuple[int, tuple]] = {}  # key -> (its first row, that row's kind, item and user)
    for index, row in enumerate(events):
        values, problem = _validate(row, now=now, default_user=default_user_id, own_user_only=own_user_only)
        key = row.get("idempotency_key") if isinstance(row, dict) else None
        if problem:
            outcome.add(index, key if isinstance(key, str) else None, "rejected", problem)
            continue
        event = values[1:4]  # kind, item reference, user reference
        if key in seen_keys and seen_keys[key][1] != event:
            outcome.add(index, key, "rejected", f"idempotency_key {key!r} is used by row {seen_keys[key][0]} for "
                        "another event; a new event needs a new key.")  # fmt: skip
            continue
        if key in seen_keys:
            outcome.add(index, key, "duplicate", f"same idempotency_key as row {seen_keys[key][0]}.")
            continue
        seen_keys[key] = (index, event)
        valid.append((index, values))
    if not valid:
        return outcome

    # users and items, each in one query
    user_ids = {v[3][1] for _, v in valid if v[3][0] == "i"}
    user_exts = {v[3][1] for _, v in valid if v[3][0] == "x"}
    users: dict[tuple, int] = {}
    for user_id, external_id in Membership.objects.filter(
        Q(user_id__in=user_ids) | Q(external_id__in=user_exts), organization=organization
    ).values_list("user_id", "external_id"):
        users[("i", user_id)] = user_id
        if external_id is not None:
            users[("x", external_id)] = user_id
    item_ids = {v[2][1] for _, v in valid if v[2][0] == "i"}
    item_exts = {v[2][1] for _, v in valid if v[2][0] == "x"}
    items: dict[tuple, int] = {}
    for item_id, external_id in ContentItem.objects.filter(
        Q(pk__in=item_ids) | Q(external_id__in=item_exts), organization=organization
    ).values_list("id", "external_id"):
        items[("i", item_id)] = item_id
        if external_id is not None:
            items[("x", external_id)] = item_id

    columns: tuple[list, ...] = ([], [], [], [], [], [], [])
    row_of_key: dict[str, int] = {}
    for index, (key, kind, item_ref, user_ref, weight, value, occurred) in valid:
        user_id = users.get(user_ref)
        if user_id is None:
            name = "user" if user_ref[0] == "i" else "user_external_id"
            outcome.add(index, key, "rejected", f"{name} {user_ref[1]!r} is not a member of this organization.")
            continue
        item_id = items.get(item_ref)
        if item_id is None:
            name = "item" if item_ref[0] == "i" else "item_external_id"
            outcome.add(index, key, "rejected", f"{name} {item_ref[1]!r} matches no content item of this organization.")
            continue
        for column, cell in zip(columns, (user_id, item_id, kind, weight, value, occurred, key), strict=True):
            column.append(cell)
        row_of_key[key] = index
    if row_of_key:
        with connection.cursor() as cursor:
            cursor.execute(INSERT_SQL, [organization.pk, now, *columns])
            stored = cursor.fetchall()
        created = {row[0] for row in stored}
        outcome.created = len(created)
        # The same event as a single write (STYLE.md §9): the graph outbox, the users' cached
        # recommendations and their personality evidence follow from it.
        interactions_recorded_send(organization_id=organization.pk, keys=(tuple(row[1:]) for row in stored))
        repeated = [key for key in row_of_key if key not in created]
        if repeated:  # retries, or another event under a key already used: one query, only then
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT idempotency_key, user_id, item_id, kind FROM {Interaction._meta.db_table} "
                    "WHERE organization_id = %s AND idempotency_key = ANY(%s)",
                    [organization.pk, repeated],
                )
                stored_events = {row[0]: tuple(row[1:]) for row in cursor.fetchall()}
            sent = dict(zip(columns[6], zip(columns[0], columns[1], columns[2], strict=True), strict=True))
            for key in repeated:
                index, stored = row_of_key[key], stored_events.get(key)
                if stored is not None and stored != sent[key]:
                    outcome.add(index, key, "rejected", _conflict_reason(key, stored))
                else:
                    outcome.add(index, key, "duplicate", "already recorded (same idempotency_key).")
    outcome.results.sort(key=lambda result: result["index"])
    return outcome
