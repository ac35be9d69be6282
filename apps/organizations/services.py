"""Writes and business rules of organizations, memberships, invitations, plans and API keys."""

from __future__ import annotations

import functools
import logging
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import CharField, Func, ProtectedError, Q, RestrictedError, Value
from django.db.models.functions import Cast, Concat, Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.text import slugify
from rest_framework.exceptions import AuthenticationFailed

from apps.core.exceptions import ApplicationError, PlanLimitExceeded
from apps.core.locks import transaction_lock
from apps.core.mail import Mail, mails_deliver
from apps.core.purge import PURGE_BUSY, PURGE_DONE, PURGE_MORE, purge_continue, purges_recover
from apps.core.tasks import enqueue_now, enqueue_on_commit
from apps.organizations.events import (
    member_erasing_send,
    members_changed_send,
    organization_deleted_send,
    organization_purging_send,
    plan_limit_reached_send,
)
from apps.organizations.models import (
    ApiKey,
    Invitation,
    MemberErasure,
    Membership,
    Organization,
    Plan,
    Role,
    hash_secret,
)
from apps.organizations.selectors import api_key_forget, api_key_get_by_prefix

User = get_user_model()
logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- plans

LIMIT_LABELS = {
    "max_members": "members (including pending invitations)",
    "max_bots": "bots",
    "max_documents_per_bot": "documents per bot",
    "max_file_size_mb": "MB per file",
    "max_storage_mb": "MB of document storage",
    "max_monthly_messages": "chat messages per month",
    "max_api_keys": "active API keys",
    "max_monthly_outreach_messages": "outreach e-mails per month",
}


def plan_default() -> Plan:
    return Plan.objects.get(is_default=True)


def plan_limit_check(*, organization: Organization, limit: str, used: int | float, adding: int | float = 1) -> None:
    """Raise PlanLimitExceeded (403, naming the limit) if `used + adding` passes the plan's limit.

    The helper every app calls before it creates something the plan counts.
    """
    plan = organization.plan
    allowed = getattr(plan, limit)
    if allowed is None or used + adding <= allowed:
        return
    label = LIMIT_LABELS.get(limit, limit)
    plan_limit_reached_send(organization_id=organization.pk, limit=limit, allowed=allowed, used=used)
    raise PlanLimitExceeded(
        f"The {plan.name} plan allows {allowed} {label}; this organization uses {used:g}. "
        "Upgrade the plan or remove some first.",
        extra={"limit": limit, "allowed": allowed, "used": used},
    )


def plan_limit_lock(*, organization: Organization, limit: str) -> None:
    """Until the transaction ends, the creations `limit` counts in this organization take turns (a transaction
    advisory lock), so that two at once cannot both find room that only one of them has: call it before counting
    for `plan_limit_check`, inside the transaction that creates, and before any row lock of that transaction (one
    order everywhere, so that two transactions never wait on each other). An advisory lock, not the organization's
    row: a row lock would also hold up every insert that references the organization."""
    transaction_lock(f"plan:{organization.pk}:{limit}")


# --------------------------------------------------------------------------- organizations


def _unique_slug(name: str, *, suffixed: bool = False) -> str:
    base = slugify(name)[:50] or "org"
    slug = f"{base}-{secrets.token_hex(3)}" if suffixed else base
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


@transaction.atomic
def organization_create(*, user, name: str, slug: str | None = None, plan: Plan | None = None) -> Organization:
    """Create an organization; its creator becomes its owner.

    Two creations at the same moment can both find a slug free: the one that commits second is told its slug is
    taken when it chose it, or gets another one when the slug was made from the name."""
    taken = {"slug": [f"The slug '{slug}' is taken."]}
    if slug and Organization.objects.filter(slug=slug).exists():
        raise ValidationError(taken)
    organization = Organization(name=name, slug=slug or _unique_slug(name), plan=plan or plan_default())
    organization.full_clean()
    try:
        with transaction.atomic():
            organization.save()
    except IntegrityError as exc:
        if "slug" not in (getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) or ""):
            raise
        if slug:
            raise ValidationError(taken) from exc
        organization.slug = _unique_slug(name, suffixed=True)
        organization.save()
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    members_changed_send(organization_id=organization.pk, user_ids=[user.pk])
    return organization


def organization_update(*, organization: Organization, data: dict, actor: Membership | None = None) -> Organization:
    """Rename (admins); switching admins' access to personality profiles is a privacy choice: owners only."""
    if "personality_admin_access" in data and not (actor is not None and actor.has_role(Role.OWNER)):
        raise ApplicationError(
            "Only an owner can change whether admins see personality profiles.",
            status_code=403,
            code="permission_denied",
        )
    fields = [f for f in ("name", "personality_admin_access") if f in data]
    for field in fields:
        setattr(organization, field, data[field])
    organization.full_clean()
    organization.save(update_fields=[*fields, "updated_at"])
    return organization


# --------------------------------------------------------------------------- memberships


# --------------------------------------------------------------------------- deleting an organization
# docs/api.md#deleting-an-organization: hidden at once, purged by a worker (the same shape as a bot's deletion).


def organization_delete(*, organization: Organization, actor: Membership | None, confirm: str) -> None:
    """Delete an organization for its owner: from this commit on it is gone for everyone (`Organization.objects` and
    the request lookups hide it; its slug is free again), its API keys and invitations are void, every app stops
    acting for it (`organization_deleted`: bots hidden, campaigns stopped), and a worker purges its rows in batches
    (`organization_purge`, published after commit; the recovery sweep publishes it again if that is lost).
    `confirm` must repeat the slug: nothing of it can be brought back."""
    if actor is None or not actor.has_role(Role.OWNER):
        raise ApplicationError(
            "Only an owner, signed in, can delete an organization.", status_code=403, code="permission_denied"
        )
    if confirm != organization.slug:
        raise ValidationError(
            {
                "confirm": [
                    f"Repeat the organization's slug ('{organization.slug}') to confirm: its bots, documents, "
                    "conversations, catalog, members' progress and every other record of it are deleted for good."
                ]
            }
        )
    organization_mark_deleted(organization=organization)


def organization_mark_deleted(*, organization: Organization) -> None:
    """`organization_delete` without its checks (the staff's delete in the admin, whose confirmation page is the
    confirmation): hidden for everyone from this commit on, the purge published."""
    now = timezone.now()
    freed = f"deleted-{organization.pk}-{secrets.token_hex(4)}"
    with transaction.atomic():
        # The rows that point to the organization first, its own row last: a request holding one of them only needs a
        # key-share lock on the organization row at its commit, which the update below (a new slug: a unique key)
        # would refuse it — taken first, the two would wait for each other.
        ApiKey.objects.filter(organization_id=organization.pk).delete()
        Invitation.objects.filter(organization_id=organization.pk).delete()
        organization_deleted_send(organization_id=organization.pk)
        if not Organization.objects.filter(pk=organization.pk).update(
            deleted_at=now, purge_published_at=now, updated_at=now, slug=freed
        ):
            transaction.set_rollback(True)  # deleted meanwhile by another request
            return
        api_key_forget()
        transaction.on_commit(api_key_forget)
        _organization_purge_enqueue(organization.pk)
    organization.deleted_at = organization.purge_published_at = now
    organization.slug = freed


def _organization_purge_enqueue(organization_id: int, countdown: float = 0) -> None:
    from workers.tasks.organizations import organization_purge_task

    enqueue_on_commit(organization_purge_task, organization_id, **({"countdown": countdown} if countdown else {}))


def organization_purge(*, organization_id: int, budget_seconds: float | None = None) -> str:
    """Purge a deleted organization in rounds of `organization_purging`, each app deleting a batch of its rows per
    transaction: first every app's own rows (the bots through their own purge, interactions, progress, recommendation
    models and logs, personality data, boards and their files, campaigns, webhooks, graph outbox rows; the
    organization's invitations, keys and a batch of memberships beside them), then (`last`) the catalog and what is
    kept outside the database (graph nodes, Redis keys); then one transaction deletes the organization row (with what
    cascades from it), and one more `last` round after it takes what runs in flight wrote meanwhile. PURGE_DONE when it
    is gone (an organization not deleted is never touched); PURGE_MORE when `budget_seconds` was spent after a round;
    PURGE_BUSY when a round or the last transaction met a row in use, a deadlock or a row written meanwhile: rolled
    back whole, nothing half-deleted. The caller publishes the rest either way (`organization_purge_continue`)."""
    if not Organization.all_objects.filter(pk=organization_id, deleted_at__isnull=False).exists():
        return PURGE_DONE
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    try:
        for last in (False, True):
            while organization_purging_send(organization_id=organization_id, last=last) + (
                0 if last else _organization_rows_delete_batch(organization_id)
            ):
                if deadline is not None and time.monotonic() >= deadline:
                    return PURGE_MORE
        with transaction.atomic():
            organization = (
                Organization.all_objects.select_for_update(nowait=True)
                .filter(pk=organization_id, deleted_at__isnull=False)
                .first()
            )
            if organization is not None:
                # What came in after the rounds (a member sync through an API key read before the delete, a row
                # skipped as locked): its managed accounts are anonymised like the others.
                late = list(
                    Membership.objects.filter(organization_id=organization_id).values_list("user_id", flat=True)
                )
                Membership.objects.filter(organization_id=organization_id).delete()
                _managed_accounts_anonymise(late)
                organization.delete()  # a row left in a PROTECTing table: ProtectedError, or IntegrityError at commit
    except (OperationalError, IntegrityError, ProtectedError, RestrictedError) as exc:
        # A lock not available, a deadlock, a row written meanwhile: rolled back whole, tried again.
        logger.warning(
            "organization_purge_busy",
            extra={"organization_id": organization_id, "reason": str(exc).splitlines()[0][:200]},
            exc_info=True,
        )
        return PURGE_BUSY
    # Once more after the row is gone: graph nodes a drain in flight projected, Redis keys a run in flight wrote.
    try:
        organization_purging_send(organization_id=organization_id, last=True)
    except Exception:
        logger.exception("organization_purge_leftovers", extra={"organization_id": organization_id})
    return PURGE_DONE


def _organization_rows_delete_batch(organization_id: int) -> int:
    """The deleted organization's own rows, a round's share: invitations and API keys written since the delete (a
    request already past its lookups; they may not be accepted, mailed or used), then a batch of memberships — the
    accounts a member sync made for them that now belong to no organization are anonymised (as on an erasure)."""
    with transaction.atomic():
        late = Invitation.objects.filter(organization_id=organization_id).delete()[0]
        late += ApiKey.objects.filter(organization_id=organization_id).delete()[0]
    return late + _memberships_delete_batch(organization_id)


def _memberships_delete_batch(organization_id: int) -> int:
    with transaction.atomic():
        rows = list(
            Membership.objects.filter(organization_id=organization_id)
            .select_for_update(skip_locked=True)
            .values_list("pk", "user_id")[: settings.ORGANIZATION_PURGE_BATCH_ROWS]
        )
        if not rows:
            return 0
        Membership.objects.filter(pk__in=[pk for pk, _user_id in rows]).delete()
        _managed_accounts_anonymise([user_id for _pk, user_id in rows])
    return len(rows)


def organization_purge_continue(*, organization_id: int, countdown: float = 0) -> None:
    """Publish the rest of a purge (after `countdown` seconds), noting the publish (the recovery sweep's lease)."""
    purge_continue(Organization, organization_id, enqueue=_organization_purge_enqueue, countdown=countdown)


def organizations_purge_recover(*, now=None) -> int:
    """Publish again the organizations' purges quiet for longer than RECOVERY_LEASE_SECONDS (`core.purge.
    purges_recover`; a running purge publishes its continuation every ORGANIZATION_PURGE_BUDGET_SECONDS, a round that
    failed for another reason than a busy row, such as a graph outage, is taken up this way). Returns how many."""
    return purges_recover(Organization, enqueue=_organization_purge_enqueue, now=now)


def _owners_locked(organization: Organization) -> list[Membership]:
    """The owners, row-locked so that two concurrent demotions cannot leave none."""
    return list(Membership.objects.select_for_update().filter(organization=organization, role=Role.OWNER))


@transaction.atomic
def membership_role_change(*, membership: Membership, role: str, actor: Membership) -> Membership:
    """Admins switch members and admins; only owners grant or take the owner role."""
    assert membership.organization_id == actor.organization_id
    if Role.OWNER in (role, membership.role) and not actor.has_role(Role.OWNER):
        raise ApplicationError(
            "Only an owner can grant or remove the owner role.", status_code=403, code="permission_denied"
        )
    if membership.role == Role.OWNER and role != Role.OWNER:
        owners = _owners_locked(membership.organization)
        if len(owners) <= 1:
            raise ApplicationError(
                "The last owner cannot be demoted; make someone else owner first.", code="last_owner"
            )
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    members_changed_send(organization_id=membership.organization_id, user_ids=[membership.user_id])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Membership) -> None:
    """Remove a member. Anyone may leave; admins remove members and admins; owners anyone."""
    _removal_check(membership=membership, actor=actor)
    membership.delete()
    members_changed_send(organization_id=membership.organization_id, user_ids=[membership.user_id])


def _removal_check(*, membership: Membership, actor: Membership | None) -> None:
    """Who may remove whom: anyone themselves; admins members and admins; owners anyone; an API key (`actor` None)
    as an admin; never the last owner."""
    assert actor is None or membership.organization_id == actor.organization_id
    if actor is None or membership.pk != actor.pk:
        if actor is not None and not actor.has_role(Role.ADMIN):
            raise ApplicationError("Only admins can remove other members.", status_code=403, code="permission_denied")
        if membership.role == Role.OWNER and (actor is None or not actor.has_role(Role.OWNER)):
            raise ApplicationError("Only an owner can remove an owner.", status_code=403, code="permission_denied")
    if membership.role == Role.OWNER and len(_owners_locked(membership.organization)) <= 1:
        raise ApplicationError("The last owner cannot be removed; make someone else owner first.", code="last_owner")


@transaction.atomic
def member_erase(*, membership: Membership, actor: Membership | None) -> None:
    """Remove a member and erase what the organization keeps of them (docs/api.md#erasing-a-member): their progress and
    interactions, conversations and messages, recommendation logs and factors, personality data, campaign messages (the
    `member_erasing` event, one receiver per app), the invitations that named them, then the membership, whose
    `members_changed` takes their interests, goals and boards and removes them from the graph. The same rules as
    removing (`actor` None: an API key). Their account and what they have in other organizations stay."""
    # Locked first: the role the rules read cannot change meanwhile, nor can a concurrent erasure run twice.
    membership = Membership.objects.select_for_update().select_related("user").filter(pk=membership.pk).first()
    if membership is None:
        return
    _removal_check(membership=membership, actor=actor)
    organization_id, user = membership.organization_id, membership.user
    member_erasing_send(organization_id=organization_id, user_id=user.pk)
    # The invitations that named them (their address, who accepted).
    Invitation.objects.filter(organization_id=organization_id).filter(
        Q(accepted_by_id=user.pk) | Q(email__iexact=user.email)
    ).delete()
    membership.delete()
    members_changed_send(organization_id=organization_id, user_ids=[user.pk])
    _managed_accounts_anonymise([user.pk])
    # A write of theirs already under way (an interaction batch that read the membership before this commit, a
    # training that loaded their events) may land after it: the same erasure runs again a while later, published
    # with a countdown and noted in the database, so that a publish lost with the broker down is run by the sweep.
    from workers.tasks.organizations import member_erase_settle_task

    MemberErasure.objects.update_or_create(
        organization_id=organization_id,
        user_id=user.pk,
        defaults={"settle_at": timezone.now() + timedelta(seconds=settings.MEMBER_ERASE_SETTLE_SECONDS)},
    )
    enqueue_on_commit(
        member_erase_settle_task, organization_id, user.pk, countdown=settings.MEMBER_ERASE_SETTLE_SECONDS
    )


def account_memberships_erase(*, user_id: int) -> int:
    """A person deletes their account (`user_deleting`): each organization they belong to erases them, as they could
    themselves (`member_erase`); being the last owner of one is refused, naming it. Returns how many."""
    memberships = list(
        Membership.objects.filter(user_id=user_id, organization__deleted_at__isnull=True)
        .select_related("organization")
        .order_by("organization_id")
    )
    for membership in memberships:
        try:
            member_erase(membership=membership, actor=membership)
        except ApplicationError as exc:
            if exc.get_codes() != "last_owner":
                raise
            organization = membership.organization
            raise ApplicationError(
                f"You are the last owner of {organization.name} ({organization.slug}): make someone else owner there, "
                "or delete the organization, first.",
                code="last_owner",
            ) from exc
    return len(memberships)


def member_erase_settle(*, organization_id: int, user_id: int) -> bool:
    """The erasure's second pass (`member_erase` publishes it): while the person is still not a member, what a write
    already under way at the erasure left of them is deleted the same way (the deletes are idempotent), and the graph
    is told again. False when they are a member again (joined since: their new data is theirs), or when the organization
    was deleted since (its purge takes everything). Either way the pass is no longer due (`MemberErasure`), unless a
    later erasure of the same person made it due later."""
    with transaction.atomic():
        done = Organization.objects.filter(pk=organization_id).exists() and not (
            Membership.objects.filter(organization_id=organization_id, user_id=user_id).exists()
        )
        if done:
            member_erasing_send(organization_id=organization_id, user_id=user_id)
            members_changed_send(organization_id=organization_id, user_ids=[user_id])
        MemberErasure.objects.filter(
            organization_id=organization_id, user_id=user_id, settle_at__lte=timezone.now()
        ).delete()
    return done


def member_erasures_recover(*, now=None) -> int:
    """Run the second passes still due RECOVERY_PENDING_GRACE_SECONDS after their time (a publish lost with the broker
    down at the erasure, a worker lost): at most 100 per call, each in its own transaction. Returns how many (beat,
    through `maintenance.work_recover_stuck`)."""
    now = now or timezone.now()
    due = MemberErasure.objects.filter(settle_at__lt=now - timedelta(seconds=settings.RECOVERY_PENDING_GRACE_SECONDS))
    count = 0
    for organization_id, user_id in due.order_by("settle_at").values_list("organization_id", "user_id")[:100]:
        member_erase_settle(organization_id=organization_id, user_id=user_id)
        count += 1
    return count


def _managed_accounts_anonymise(user_ids: list[int]) -> int:
    """The accounts a member sync created (no usable password) among `user_ids` that belong to no organization any
    more hold only what an organization wrote: their e-mail, name and interests are erased and they can no longer sign
    in. Returns how many. The accounts are locked first (in id order): two organizations removing the same person at
    once would each still see the other's membership, and neither would anonymise them."""
    managed = User.objects.filter(pk__in=user_ids, password__startswith=UNUSABLE_PASSWORD_PREFIX)
    locked = list(managed.order_by("pk").select_for_update(no_key=True).values_list("pk", flat=True))
    if not locked:
        return 0
    return (
        User.objects.filter(pk__in=locked)
        .exclude(pk__in=Membership.objects.filter(user_id__in=user_ids).values("user_id"))
        .update(
            # A random part: an address anyone could register before the erasure would make it fail on the unique key.
            email=Concat(
                Value("erased-"),
                Cast("id", CharField()),
                Value("-"),
                Cast(Func(function="gen_random_uuid"), output_field=CharField()),
                Value("@erased.invalid"),
                output_field=CharField(),
            ),
            full_name="",
            interests=[],
            is_active=False,
        )
    )


# --------------------------------------------------------------------------- invitations


def _public_url(path: str) -> str:
    return f"{settings.BEACON_PUBLIC_URL}{path}"


def seats_used(organization: Organization) -> int:
    """What the plan's member limit counts: members and pending invitations."""
    return organization.memberships.count() + Invitation.objects.pending().filter(organization=organization).count()


def _invitation_new(*, organization: Organization, email: str, role: str, actor: Membership | None) -> Invitation:
    """An unsaved invitation of `email` (normalised). Its `token_hash` is a placeholder until the row has its id and
    creation time, from which its token is derived (`invitation_token`)."""
    return Invitation(
        organization=organization,
        email=email,
        role=role,
        token_hash=hash_secret(secrets.token_urlsafe(32)),
        invited_by=actor.user if actor else None,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
    )


def invitation_token(*, invitation: Invitation) -> str:
    """The invitation's token: an HMAC (SECRET_KEY) of its id, address and creation time, so the worker that mails
    it makes the same token the request stored the hash of, however many times it is mailed (a duplicated or
    retried task, a sweep), and no token is ever stored, published or returned. A new SECRET_KEY (without it in
    SECRET_KEY_FALLBACKS) voids the open invitations, as it voids password reset links."""
    created = int(invitation.created_at.timestamp() * 1_000_000)
    return salted_hmac(
        "beacon.organizations.invitation", f"{invitation.pk}:{invitation.email}:{created}", algorithm="sha256"
    ).hexdigest()


def invitations_mail_send(*, organization_id: int, invitation_ids: list[int]) -> tuple[int, list[int]]:
    """Mail these invitations of the organization over one connection (the `mail.invitations` task). Each is read
    again right before its message goes, so one revoked, accepted or expired meanwhile is not mailed. Marks the
    ones handed to the mail server (or refused by it for good) `mailed_at`. Returns (how many went out, the ids the
    mail server could not take now: worth trying again)."""
    invitations = list(
        Invitation.objects.filter(
            organization_id=organization_id,
            pk__in=invitation_ids,
            mailed_at__isnull=True,
            organization__deleted_at__isnull=True,
        )
        .select_related("organization", "invited_by")
        .order_by("pk")
    )
    mails = [
        Mail.render(
            to=invitation.email,
            subject=f"You are invited to {invitation.organization.name} on Beacon",
            template="emails/invitation.txt",
            context={
                "organization": invitation.organization,
                "invitation": invitation,
                "inviter": invitation.invited_by,
                "token": invitation_token(invitation=invitation),
                "accept_url": _public_url("/api/v1/invitations/accept/"),
            },
        )
        for invitation in invitations
    ]
    skipped: list[int] = []

    def still_wanted(index: int) -> bool:
        if Invitation.objects.pending().filter(pk=invitations[index].pk).exists():
            return True
        skipped.append(index)
        return False

    unsent = mails_deliver(mails, still_wanted=still_wanted)
    done = [invitation.pk for index, invitation in enumerate(invitations) if index not in unsent]
    Invitation.objects.filter(pk__in=done).update(mailed_at=timezone.now())
    return len(mails) - len(unsent) - len(skipped), [invitations[index].pk for index in unsent]


def invitations_mail_publish(*, organization_id: int, invitation_ids: list[int]) -> bool:
    """Publish `mail.invitations` for these invitations, INVITATIONS_PER_TASK to a task; False when the broker did
    not take them all (the recovery sweep publishes them again later)."""
    from workers.tasks.organizations import INVITATIONS_PER_TASK, invitations_mail_task

    published = True
    for start in range(0, len(invitation_ids), INVITATIONS_PER_TASK):
        batch = invitation_ids[start : start + INVITATIONS_PER_TASK]
        published = enqueue_now(invitations_mail_task, organization_id, batch) and published
    return published


def invitations_mail_recover(*, older_than: timedelta = timedelta(hours=1)) -> int:
    """Beat (`maintenance.invitations_mail_recover`): publish again the pending invitations still not mailed an hour
    after their creation (their publish was lost, or the mail server stayed down past the task's retries). Returns
    how many were published. A duplicate is harmless: the token is the same (`invitation_token`)."""
    waiting = (
        Invitation.objects.pending()
        .filter(mailed_at__isnull=True, created_at__lt=timezone.now() - older_than)
        .order_by("organization_id", "pk")
        .values_list("organization_id", "pk")
    )
    by_organization: dict[int, list[int]] = {}
    for organization_id, invitation_id in waiting:
        by_organization.setdefault(organization_id, []).append(invitation_id)
    for organization_id, ids in by_organization.items():
        invitations_mail_publish(organization_id=organization_id, invitation_ids=ids)
    return sum(len(ids) for ids in by_organization.values())


def invitation_create(*, organization: Organization, email: str, role: str, actor: Membership | None) -> Invitation:
    """Invite an e-mail address. Re-inviting replaces an open invitation.

    `actor` None: the organization itself invites (member sync called with an API key); the
    invitation has no `invited_by` and the e-mail names no person. Such invitations cannot be owners.
    """
    return invitations_create(organization=organization, emails=[email], role=role, actor=actor)[0]


@transaction.atomic
def invitations_create(
    *, organization: Organization, emails: list[str], role: str, actor: Membership | None
) -> list[Invitation]:
    """Invite several e-mail addresses at once (member sync's "invited" rows); returns the invitations, in order.
    The rules of one invitation, checked for the whole batch in a constant number of queries: none may already be
    a member (409-style ApplicationError naming them), open invitations of these addresses are replaced, and the
    plan's member limit must hold them all (nothing is created otherwise). One e-mail each, made and delivered by
    a worker after commit (`mail.invitations`, apps/core/mail.py: the token is derived there, never stored,
    published or returned). A sync of 2,000 such rows in an organization of 20,000 members took 23.8 s one
    invitation at a time (two COUNTs of the organization's members and invitations per row)."""
    emails = [User.objects.normalize_email(email).lower() for email in emails]
    if len(set(emails)) != len(emails):
        raise ValidationError({"emails": ["Each address may be invited once per call."]})
    if role == Role.OWNER and (actor is None or not actor.has_role(Role.OWNER)):
        raise ApplicationError("Only an owner can invite an owner.", status_code=403, code="permission_denied")
    if not emails:
        return []
    # The seats' turn first, then the invitation rows: the order of member sync (which invites) and of acceptance.
    plan_limit_lock(organization=organization, limit="max_members")
    members = sorted(
        organization.memberships.annotate(email_lower=Lower("user__email"))
        .filter(email_lower__in=emails)
        .values_list("email_lower", flat=True)
    )
    if members:
        shown = ", ".join(members[:10]) + (", ..." if len(members) > 10 else "")
        verb = "is already a member" if len(members) == 1 else "are already members"
        raise ApplicationError(f"{shown} {verb} of this organization.", code="already_member")
    Invitation.objects.annotate(email_lower=Lower("email")).filter(
        organization=organization, email_lower__in=emails, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    used = seats_used(organization)
    plan_limit_check(organization=organization, limit="max_members", used=used, adding=len(emails))
    made = [_invitation_new(organization=organization, email=email, role=role, actor=actor) for email in emails]
    Invitation.objects.bulk_create(made, batch_size=1000)
    for invitation in made:  # the hash of the token derived from the saved row
        invitation.token_hash = hash_secret(invitation_token(invitation=invitation))
    Invitation.objects.bulk_update(made, ["token_hash"], batch_size=1000)
    ids = [invitation.pk for invitation in made]
    transaction.on_commit(
        functools.partial(invitations_mail_publish, organization_id=organization.pk, invitation_ids=ids), robust=True
    )
    return made


def invitation_revoke(*, invitation: Invitation) -> Invitation:
    if invitation.status != Invitation.Status.PENDING:
        raise ApplicationError(f"This invitation is already {invitation.status}.", code="invitation_closed")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at", "updated_at"])
    return invitation


def invitation_get_by_token(*, token: str, lock: bool = False) -> Invitation:
    queryset = Invitation.objects.select_related("organization", "organization__plan")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    invitation = queryset.filter(token_hash=hash_secret(token), organization__deleted_at__isnull=True).first()
    if invitation is None:
        raise ApplicationError("This invitation token is not valid.", code="invitation_invalid", status_code=404)
    return invitation


_CLOSED_MESSAGES = {
    Invitation.Status.ACCEPTED: ("invitation_used", "This invitation has already been used."),
    Invitation.Status.REVOKED: ("invitation_revoked", "This invitation was revoked."),
    Invitation.Status.EXPIRED: ("invitation_expired", "This invitation has expired; ask for a new one."),
}


@transaction.atomic
def invitation_accept(
    *, token: str, user=None, password: str | None = None, full_name: str = ""
) -> tuple[Membership, object, bool]:
    """Accept an invitation: (membership, user, created_account).

    A signed-in user must hold the invited e-mail. Anonymous callers give the password of the
    existing account with that e-mail, or a new password to register it.
    """
    # The seats' turn first, then the invitation's row (the order invitation_create and member sync take them in).
    plan_limit_lock(organization=invitation_get_by_token(token=token).organization, limit="max_members")
    invitation = invitation_get_by_token(token=token, lock=True)
    if invitation.status != Invitation.Status.PENDING:
        code, message = _CLOSED_MESSAGES[invitation.status]
        raise ApplicationError(message, code=code)
    created = False
    if user is not None:
        if user.email.lower() != invitation.email.lower():
            raise ApplicationError(
                f"This invitation is for {invitation.email}, not for {user.email}.",
                code="invitation_wrong_email",
                status_code=403,
            )
    else:
        if not password:
            raise ValidationError({"password": ["Give the password of your account, or a new one to register."]})
        user = User.objects.filter(email__iexact=invitation.email).first()
        if user is not None:
            if not user.check_password(password) or not user.is_active:
                raise AuthenticationFailed(f"An account for {invitation.email} exists; the password does not match it.")
        else:
            from apps.users.services import password_validate

            password_validate(password, User(email=invitation.email, full_name=full_name))
            user = User.objects.create_user(email=invitation.email, password=password, full_name=full_name)
            created = True
    if invitation.organization.memberships.filter(user=user).exists():
        raise ApplicationError("You are already a member of this organization.", code="already_member")
    # The invitation itself counted as a pending member; accepting it does not add one.
    plan_limit_check(
        organization=invitation.organization,
        limit="max_members",
        used=seats_used(invitation.organization) - 1,
    )
    membership = Membership.objects.create(organization=invitation.organization, user=user, role=invitation.role)
    members_changed_send(organization_id=membership.organization_id, user_ids=[user.pk])
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    return membership, user, created


def invitations_purge_expired(*, older_than_days: int = 30) -> int:
    """Delete invitations that expired, were revoked or accepted more than N days ago."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    closed = Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff) | Q(accepted_at__lt=cutoff)
    deleted, _ = Invitation.objects.filter(closed).delete()
    return deleted


# --------------------------------------------------------------------------- API keys


@transaction.atomic
def api_key_create(
    *, organization: Organization, name: str, scopes: list[str], created_by=None, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns (api_key, secret). The secret is shown once and stored hashed."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["The expiry must be in the future."]})
    now = timezone.now()
    plan_limit_lock(organization=organization, limit="max_api_keys")
    active = (
        ApiKey.objects.filter(organization=organization, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .count()
    )
    plan_limit_check(organization=organization, limit="max_api_keys", used=active)
    for _attempt in range(5):
        key, prefix, key_hash = ApiKey.generate()
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    organization=organization,
                    name=name,
                    prefix=prefix,
                    key_hash=key_hash,
                    scopes=sorted(set(scopes)),
                    created_by=created_by,
                    expires_at=expires_at,
                )
            return api_key, key
        except IntegrityError:  # prefix collision: 1 in 4 billion, try another
            continue
    raise ApplicationError("Could not generate a unique key; try again.", code="key_generation_failed")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke the key: refused at once by this process, within API_KEY_CACHE_SECONDS by every other one."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
    return api_key


LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_authenticate(*, key: str) -> ApiKey:
    """The active key for this secret, or AuthenticationFailed. Updates last_used_at (per minute).

    The key's row may be one this process read less than API_KEY_CACHE_SECONDS ago (selectors); the secret, the
    revocation and the expiry are checked on every call against it."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "bk":
        raise AuthenticationFailed("Malformed API key: expected 'bk_<prefix>_<secret>'.")
    api_key = api_key_get_by_prefix(prefix=parts[1], max_age=settings.API_KEY_CACHE_SECONDS)
    if api_key is None or not secrets.compare_digest(api_key.key_hash, hash_secret(key)):
        raise AuthenticationFailed("Invalid API key.")
    if api_key.revoked_at is not None:
        raise AuthenticationFailed("This API key has been revoked.")
    if not api_key.is_active:
        raise AuthenticationFailed("This API key has expired.")
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key_forget(prefix=api_key.prefix)  # the kept row has the old time: read the new one next
        api_key.last_used_at = now
    return api_key
