"""Member sync: upsert an organization's members by `external_id` for systems that own their users.

`POST /api/v1/orgs/{org}/members/sync/` (view in apps/organizations/api/views.py). Idempotent like the
catalog bulk upsert: the same payload twice gives "unchanged" (or "invited") everywhere the second
time; each row is created / updated / unchanged / invited / rejected (with reasons), and a bad row
never stops the others. Rows are matched on the membership's external_id, then on the e-mail address.

Accounts are global (one login per e-mail across organizations), so a sync only *creates
memberships* for, and only rewrites the profile (e-mail, full name, interests) of, a *managed*
account: one without a usable password that belongs to no other organization (a new account, or
one an earlier sync of this organization created). Anyone else - a person with their own password,
or a member of another organization - is never linked without their consent: the row sends them an
ordinary invitation (role member, `services.invitation_create`, e-mailed on commit) and reports
"invited"; while that invitation is pending, the same row again reports "invited" without sending
another. The external_id cannot be attached before they accept; once they are a member, the row
links it ("updated") like any existing member's, but their profile stays theirs (a note says so).
New accounts get no usable password (they sign in once someone sets one, e.g. password reset).
New members get the `member` role; existing roles are never changed. The plan's member limit
applies (pending invitations count), row by row.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.organizations.events import members_changed_send
from apps.organizations.models import Invitation, Membership, Role
from apps.organizations.services import invitations_create, plan_limit_lock, seats_used
from apps.users.events import user_profile_changed_send

User = get_user_model()

PROFILE_FIELDS = ("full_name", "interests")
#: what a sync writes to the managed accounts it changed (bulk_update; sent as user_profile_changed fields)
SYNCED_USER_FIELDS = ["email", *PROFILE_FIELDS]

INVITED_NOTE = (
    "An invitation is being e-mailed to this address; the person joins when they accept it. The external_id cannot be "
    "attached before then: send this row again after they accept."
)
STILL_INVITED_NOTE = (
    "An invitation to this address is pending (no new one was sent); the person joins when they accept it. The "
    "external_id cannot be attached before then: send this row again after they accept."
)


@dataclass
class MemberSyncRow:
    index: int
    data: dict | None = None
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status: str = ""
    user: object = None
    membership: Membership | None = None
    invitation: Invitation | None = None

    @property
    def external_id(self) -> str | None:
        return self.data.get("external_id") if self.data else None

    def reject(self, message: str) -> None:
        self.status = "rejected"
        self.errors.append(message)


def members_sync(*, organization, rows: list[MemberSyncRow], actor: Membership | None = None) -> list[MemberSyncRow]:
    """Upsert members (rows validated beforehand: external_id, email, optional full_name and
    interests). One transaction; queries per batch, not per row (the "invited" rows too: their
    invitations are made together). `actor`: the calling admin's membership, named as the
    inviter; None for API keys (the invitation then comes from the organization, no person)."""
    with transaction.atomic():
        # Syncs of one organization (and invitations) take turns for its seats: two at once cannot both find the
        # room only one has.
        plan_limit_lock(organization=organization, limit="max_members")
        try:
            _sync(organization=organization, rows=rows, actor=actor)
        except IntegrityError as exc:  # a concurrent sync created the same account or external_id
            raise ApplicationError(
                "Another request changed these members at the same time; send the batch again.",
                code="conflict",
                status_code=409,
            ) from exc
    return rows


def _sync(*, organization, rows: list[MemberSyncRow], actor: Membership | None) -> None:
    live = []
    by_ext: dict[str, int] = {}
    by_email: dict[str, int] = {}
    for row in rows:
        if row.errors:
            row.status = "rejected"
            continue
        row.data["email"] = User.objects.normalize_email(row.data["email"]).lower()
        ext, email = row.data["external_id"], row.data["email"]
        if ext in by_ext:
            row.reject(f"external_id {ext!r} appears more than once (first at row {by_ext[ext]}).")
        elif email in by_email:
            row.reject(f"email {email} appears more than once (first at row {by_email[email]}).")
        else:
            by_ext[ext], by_email[email] = row.index, row.index
            live.append(row)
    if not live:
        return

    memberships = Membership.objects.filter(organization=organization).select_related("user")
    member_by_ext = {m.external_id: m for m in memberships.filter(external_id__in=list(by_ext))}
    users_by_email = {
        u.email_lower: u
        for u in User.objects.annotate(email_lower=Lower("email")).filter(email_lower__in=list(by_email))
    }
    known_users = {m.user_id for m in member_by_ext.values()} | {u.pk for u in users_by_email.values()}
    member_by_user = {m.user_id: m for m in memberships.filter(user_id__in=known_users)}
    elsewhere = set(
        Membership.objects.filter(user_id__in=known_users)
        .exclude(organization=organization)
        .values_list("user_id", flat=True)
    )

    def managed(user) -> bool:
        return not user.has_usable_password() and user.pk not in elsewhere

    pending_by_email = {
        invitation.email_lower: invitation
        for invitation in Invitation.objects.pending()
        .filter(organization=organization)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower__in=list(by_email))
    }

    new_users, new_members, changed_users, changed_members, to_invite = [], [], {}, {}, []
    allowed = organization.plan.max_members
    used = seats_used(organization)
    for row in live:
        ext, email = row.data["external_id"], row.data["email"]
        membership = member_by_ext.get(ext)
        if membership is None:
            owner = users_by_email.get(email)
            if owner is not None and owner.pk in member_by_user:
                membership = member_by_user[owner.pk]
                if membership.external_id is not None:
                    row.reject(f"{email} is already a member with external_id {membership.external_id!r}.")
                    continue
        if membership is not None:
            user = membership.user
            row_changed = False
            if membership.external_id != ext:
                membership.external_id = ext
                changed_members[membership.pk] = membership
                row_changed = True
            if user.email.lower() != email:
                holder = users_by_email.get(email)
                if holder is not None and holder.pk != user.pk:
                    row.reject(f"email {email} belongs to another account.")
                    continue
                if not managed(user):
                    row.reject(
                        f"external_id {ext!r} is linked to {user.email}, an account with its own login; "
                        "a sync cannot change its e-mail."
                    )
                    continue
                user.email = email
                changed_users[user.pk] = user
                row_changed = True
            row_changed |= _profile(row, user, managed(user), changed_users)
            row.user, row.membership = user, membership
            row.status = "updated" if row_changed else "unchanged"
            continue
        # a new member of this organization
        user = users_by_email.get(email)
        if user is not None and not managed(user):
            # Someone else's account (own password or another organization): invite, never link.
            pending = pending_by_email.get(email)
            if pending is not None:  # already counted in `used`; no second e-mail
                row.status, row.invitation = "invited", pending
                row.notes.append(STILL_INVITED_NOTE)
                continue
        if allowed is not None and used + 1 > allowed:
            row.reject(
                f"The {organization.plan.name} plan allows {allowed} members (including pending invitations); "
                "upgrade the plan or remove some first."
            )
            continue
        used += 1
        if user is not None and not managed(user):
            row.status = "invited"
            row.notes.append(INVITED_NOTE)
            to_invite.append(row)
            continue
        if user is None:
            user = User(
                email=email,
                full_name=row.data.get("full_name", ""),
                interests=row.data.get("interests", []),
                # unusable, as make_password(None) makes it, at a 40th of its cost (0.21 s for 5,000 rows)
                password=UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(30),
            )
            new_users.append(user)
            users_by_email[email] = user
        else:
            _profile(row, user, managed(user), changed_users)
        membership = Membership(organization=organization, user=user, role=Role.MEMBER, external_id=ext)
        new_members.append(membership)
        row.user, row.membership = user, membership
        row.status = "created"

    if changed_users:
        for user in changed_users.values():
            user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
        User.objects.bulk_update(list(changed_users.values()), SYNCED_USER_FIELDS, batch_size=1000)
    if new_users:
        User.objects.bulk_create(new_users, batch_size=1000)
    for membership in new_members:
        membership.user_id = membership.user.pk
    if new_members:
        Membership.objects.bulk_create(new_members, batch_size=1000)
    if changed_members:
        now = timezone.now()
        for membership in changed_members.values():
            membership.updated_at = now
        Membership.objects.bulk_update(list(changed_members.values()), ["external_id", "updated_at"], batch_size=1000)
    if to_invite:
        _invite(organization=organization, rows=to_invite, actor=actor)
    # The same events as the single paths (STYLE.md §9), once per batch.
    if changed_users:
        user_profile_changed_send(user_ids=list(changed_users), fields=SYNCED_USER_FIELDS)
    members_changed_send(
        organization_id=organization.pk, user_ids=[row.user.pk for row in live if row.status in ("created", "updated")]
    )


def _invite(*, organization, rows: list[MemberSyncRow], actor: Membership | None) -> None:
    """One invitation (role member) per row, all made by one service call after this batch's memberships exist
    (so its plan check counts them): a constant number of queries, not a handful per row. The service e-mails
    each on commit."""
    try:
        made = invitations_create(
            organization=organization, emails=[row.data["email"] for row in rows], role=Role.MEMBER, actor=actor
        )
    except ApplicationError as exc:  # the rows were checked against the plan under its lock; kept as a safety net
        for row in rows:
            row.notes.clear()
            row.reject(str(exc.detail))
        return
    for row, invitation in zip(rows, made, strict=True):
        row.invitation = invitation


def _profile(row: MemberSyncRow, user, is_managed: bool, changed_users: dict) -> bool:
    """Apply full_name / interests to a managed account; note it when a row would change another's."""
    wanted = {name: row.data[name] for name in PROFILE_FIELDS if name in row.data}
    differing = [name for name, value in wanted.items() if getattr(user, name) != value]
    if not differing:
        return False
    if not is_managed:
        row.notes.append(
            f"{', '.join(differing)} not changed: {user.email} has an account of their own (or belongs to another "
            "organization), so only they can edit their profile."
        )
        return False
    for name in differing:
        setattr(user, name, wanted[name])
    if user.pk:
        changed_users[user.pk] = user
    return True
