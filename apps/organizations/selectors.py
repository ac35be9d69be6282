"""Reads of organizations and their members. Tenant-owned reads take `organization=`."""

from __future__ import annotations

import copy
import time

from django.db import connection
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound

from apps.organizations.models import ApiKey, Invitation, Membership, Organization, Plan

ORG_NOT_FOUND = "Organization not found."


def api_key_get_by_prefix(*, prefix: str, max_age: float = 0.0) -> ApiKey | None:
    """The API key with this prefix, its organization and plan attached (as select_related would), or None.

    Every request with an API key starts here, so the statement is composed once per process from the models'
    fields and run as written: the ORM compiled the same three-table select on every call (0.30 ms of a 0.95 ms
    lookup, and the instances another 0.36 ms). Every column is converted by the fields' own database
    converters, exactly as the ORM would (tested field by field against it).

    `max_age` > 0 (authentication: API_KEY_CACHE_SECONDS) may answer from the row this process read for the
    same prefix less than `max_age` seconds ago instead of asking the database again (a round trip of 0.6 ms
    of a 5 ms cached API answer over HTTP, docs/security.md "API keys"). Only rows found are kept, at most
    RECENT_LIMIT; the instances are built from the row on every call, so no two callers share an object.
    `api_key_forget` drops what was read (receivers.py: any save or delete of a key, an organization or a plan
    in this process, on the spot and again on commit)."""
    row = None
    if max_age > 0:
        recent = _recent.get(prefix)
        if recent is not None and _clock() - recent[0] < max_age:
            row = recent[1]
    if row is None:
        generation, read_at = _generation, _clock()
        row = _api_key_row(prefix)
        if row is None:
            return None
        if max_age > 0 and generation == _generation:  # nothing was forgotten while the row was read
            if len(_recent) >= RECENT_LIMIT:
                _recent.clear()
            _recent[prefix] = (read_at, row)
    return _api_key_build(row)


def api_key_forget(*, prefix: str | None = None) -> None:
    """Drop the rows `api_key_get_by_prefix` keeps: this prefix's, or all (prefix None)."""
    global _generation
    _generation += 1
    if prefix is None:
        _recent.clear()
    else:
        _recent.pop(prefix, None)


#: rows kept by api_key_get_by_prefix(max_age=...): prefix -> (when it was read, the row as the database sent it)
_recent: dict[str, tuple[float, tuple]] = {}
RECENT_LIMIT = 10_000
_generation = 0
_clock = time.monotonic


def _api_key_row(prefix: str) -> tuple | None:
    return _row(_API_KEY_LOOKUP, [prefix])


def _api_key_build(row: tuple) -> ApiKey:
    api_key, organization, plan = _objects(_API_KEY_LOOKUP, row)
    Organization._meta.get_field("plan").set_cached_value(organization, plan)
    ApiKey._meta.get_field("organization").set_cached_value(api_key, organization)
    return api_key


#: The statements the request path runs on every call, composed once per process (`_composed`): an API key
#: with its organization and plan by prefix, a membership with its organization and plan by slug and user.
#: Each is (the models with their aliases; the foreign key that joins each next one; the WHERE columns).
_API_KEY_LOOKUP = (((ApiKey, "k"), (Organization, "o"), (Plan, "p")), (("k", "organization"), ("o", "plan")),
                   (("k", "prefix"),))  # fmt: skip
_MEMBERSHIP_LOOKUP = (((Membership, "m"), (Organization, "o"), (Plan, "p")), (("m", "organization"), ("o", "plan")),
                      (("o", "slug"), ("m", "user")))  # fmt: skip
_composed: dict[tuple, tuple] = {}


def _compose(lookup: tuple) -> tuple:
    """(SQL, [(model, attnames, [(column, converters)])]) of a `_*_LOOKUP`: every concrete field of each model,
    each next model joined by the foreign key named (on the alias named), the WHERE columns compared with %s."""
    quote = connection.ops.quote_name
    tables, joins, where = lookup
    models = dict((alias, model) for model, alias in tables)
    parts, selected = [], []
    for model, alias in tables:
        fields = model._meta.concrete_fields
        columns = []
        for field in fields:
            column = field.get_col(alias)
            columns.append((column, connection.ops.get_db_converters(column) + field.get_db_converters(connection)))
            selected.append(f"{alias}.{quote(field.column)}")
        parts.append((model, [field.attname for field in fields], columns))
    (first, first_alias), rest = tables[0], tables[1:]
    sql = f"SELECT {', '.join(selected)} FROM {quote(first._meta.db_table)} {first_alias}"
    for (model, alias), (from_alias, fk) in zip(rest, joins, strict=True):
        field = models[from_alias]._meta.get_field(fk)
        sql += f" INNER JOIN {quote(model._meta.db_table)} {alias} ON {alias}.{quote(field.target_field.column)} = "
        sql += f"{from_alias}.{quote(field.column)}"
    sql += " WHERE " + " AND ".join(f"{a}.{quote(models[a]._meta.get_field(f).column)} = %s" for a, f in where)
    return sql, parts


def _composition(lookup: tuple) -> tuple:
    composed = _composed.get(lookup)
    if composed is None:
        composed = _composed[lookup] = _compose(lookup)
    return composed


def _row(lookup: tuple, params: list) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(_composition(lookup)[0], params)
        return cursor.fetchone()


def _objects(lookup: tuple, row: tuple) -> list:
    """The models' instances of a row of `lookup`, each column converted as the ORM converts it."""
    objects, start = [], 0
    for model, attnames, columns in _composition(lookup)[1]:
        values = []
        for value, (column, converters) in zip(row[start : start + len(columns)], columns, strict=True):
            if isinstance(value, list | dict):  # an array or JSON value: each caller gets its own
                value = copy.deepcopy(value)
            for converter in converters:
                value = converter(value, column, connection)
            values.append(value)
        objects.append(model.from_db(connection.alias, attnames, values))
        start += len(columns)
    return objects


def organization_access_get(*, slug: str, user, api_key: ApiKey | None) -> tuple[Organization, Membership | None]:
    """Resolve `slug` for the caller and authorize: (organization, membership or None for API keys).

    Non-members and keys of other organizations get the same 404 as a missing slug (ZU's
    `access_stream_by_id`), so nobody can probe which organizations exist.

    Every org-scoped request of a member starts here, so, as for API keys, the membership, its organization
    and plan come from one statement composed once per process (`_MEMBERSHIP_LOOKUP`): the ORM compiled the
    same select on every call (1.65 -> 0.39 ms a lookup, interleaved A/B, docs/security.md). The
    membership's `user` is the caller's own instance.
    """
    if api_key is not None:
        if api_key.organization.slug != slug:
            raise NotFound(ORG_NOT_FOUND)
        return api_key.organization, None
    row = _row(_MEMBERSHIP_LOOKUP, [slug, user.pk])
    if row is None:
        raise NotFound(ORG_NOT_FOUND)
    membership, organization, plan = _objects(_MEMBERSHIP_LOOKUP, row)
    Organization._meta.get_field("plan").set_cached_value(organization, plan)
    Membership._meta.get_field("organization").set_cached_value(membership, organization)
    if isinstance(user, Membership._meta.get_field("user").related_model):
        Membership._meta.get_field("user").set_cached_value(membership, user)
    return organization, membership


def organization_list(*, user) -> QuerySet[Organization]:
    return Organization.objects.filter(memberships__user=user).select_related("plan").order_by("name", "id")


def membership_list(*, organization: Organization, filters: dict | None = None) -> QuerySet[Membership]:
    from apps.organizations.filters import MembershipFilter

    queryset = Membership.objects.filter(organization=organization).select_related("user").order_by("created_at", "id")
    return MembershipFilter(filters or {}, queryset).qs


def membership_get(*, organization: Organization, membership_id: int) -> Membership:
    membership = membership_list(organization=organization).filter(pk=membership_id).first()
    if membership is None:
        raise NotFound("Member not found.")
    return membership


def member_get(*, organization: Organization, user_id: int | None = None, external_id: str | None = None) -> Membership:
    """The membership of a user in the organization, by user id or by the membership's `external_id`
    (issue 18: other backends address people by their own ids); 404 for anyone else, like a missing id."""
    queryset = Membership.objects.filter(organization=organization).select_related("user")
    if user_id is not None:
        membership = queryset.filter(user_id=user_id).first()
    elif external_id is not None:
        membership = queryset.filter(external_id=external_id).first()
    else:
        raise TypeError("member_get needs user_id or external_id")
    if membership is None:
        raise NotFound("User not found.")
    return membership


def invitation_list(*, organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(organization=organization).select_related("invited_by").order_by("-created_at")


def invitation_get(*, organization: Organization, invitation_id: int) -> Invitation:
    invitation = invitation_list(organization=organization).filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("Invitation not found.")
    return invitation


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(organization=organization).select_related("created_by").order_by("-created_at")


def api_key_get(*, organization: Organization, api_key_id: int) -> ApiKey:
    api_key = api_key_list(organization=organization).filter(pk=api_key_id).first()
    if api_key is None:
        raise NotFound("API key not found.")
    return api_key


def plan_list() -> QuerySet[Plan]:
    return Plan.objects.order_by("id")
