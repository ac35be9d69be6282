"""Reads of organizations and their members. Tenant-owned reads take `organization=`."""

from __future__ import annotations

import time

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound

from apps.core.lookups import ComposedLookup
from apps.core.purge import purge_backlog
from apps.organizations.models import ApiKey, Invitation, Membership, Organization, Plan

ORG_NOT_FOUND = "Organization not found."


#: The lookups every request with an API key, and every org-scoped request of a member, starts with (composed once
#: per process, apps/core/lookups.py): a key with its organization and plan by prefix; a membership with its
#: organization and plan by the organization's slug and the user. An organization being deleted is not found (as
#: `Organization.objects` hides it).
_API_KEY_LOOKUP = ComposedLookup(((ApiKey, "k"), (Organization, "o"), (Plan, "p")),
                                 (("k", "organization"), ("o", "plan")), (("k", "prefix"),),
                                 null=(("o", "deleted_at"),))  # fmt: skip
_MEMBERSHIP_LOOKUP = ComposedLookup(((Membership, "m"), (Organization, "o"), (Plan, "p")),
                                    (("m", "organization"), ("o", "plan")), (("o", "slug"), ("m", "user")),
                                    null=(("o", "deleted_at"),))  # fmt: skip


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
        row = _API_KEY_LOOKUP.row([prefix])
        if row is None:
            return None
        if max_age > 0 and generation == _generation:  # nothing was forgotten while the row was read
            if len(_recent) >= RECENT_LIMIT:
                _recent.clear()
            _recent[prefix] = (read_at, row)
    return _API_KEY_LOOKUP.objects(row)[0]


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


def organization_access_get(*, slug: str, user, api_key: ApiKey | None) -> tuple[Organization, Membership | None]:
    """Resolve `slug` for the caller and authorize: (organization, membership or None for API keys).

    Non-members and keys of other organizations get the same 404 as a missing slug (ZU's
    `access_stream_by_id`), so nobody can probe which organizations exist.

    Every org-scoped request of a member starts here, so, as for API keys, the membership, its organization
    and plan come from one statement composed once per process (`_MEMBERSHIP_LOOKUP`, apps/core/lookups.py):
    the ORM compiled the same select on every call (1.65 -> 0.39 ms a lookup, interleaved A/B,
    docs/security.md). The membership's `user` is the caller's own instance.
    """
    if api_key is not None:
        if api_key.organization.slug != slug:
            raise NotFound(ORG_NOT_FOUND)
        return api_key.organization, None
    found = _MEMBERSHIP_LOOKUP.get([slug, user.pk])
    if found is None:
        raise NotFound(ORG_NOT_FOUND)
    membership, organization, _plan = found
    if isinstance(user, Membership._meta.get_field("user").related_model):
        Membership._meta.get_field("user").set_cached_value(membership, user)
    return organization, membership


def organization_list(*, user) -> QuerySet[Organization]:
    return Organization.objects.filter(memberships__user=user).select_related("plan").order_by("name", "id")


def membership_list(*, organization: Organization, filters: dict | None = None, own_user=None) -> QuerySet[Membership]:
    """The organization's memberships, oldest first; with `own_user` (a plain member asking: the rule of
    per-person data, permissions.sees_all_members) only that person's own, so the members of a learning
    organization cannot list each other's names and e-mail addresses."""
    from apps.organizations.filters import MembershipFilter

    queryset = Membership.objects.filter(organization=organization).select_related("user").order_by("created_at", "id")
    if own_user is not None:
        queryset = queryset.filter(user=own_user)
    return MembershipFilter(filters or {}, queryset).qs


def membership_get(*, organization: Organization, membership_id: int, own_user=None) -> Membership:
    """One membership; 404 for another organization's, and for anyone else's when `own_user` is given."""
    membership = membership_list(organization=organization, own_user=own_user).filter(pk=membership_id).first()
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


def organization_purge_backlog() -> dict:
    """Organizations deleted and not yet purged (/health/, /metrics: docs/operations.md#purges-in-progress)."""
    return purge_backlog(Organization)
