"""Services of apps.organizations called directly, on the real database.

Coverage:
- plan_limit_check: unlimited (null) limits, under / exactly at / over a limit, `adding` > 1, fractional usage
  in the message, the exception's status, code, message and extra;
- api_key_create: stores the hash, sorted unique scopes, past expiry refused, the plan limit counts non-revoked
  keys; expired keys do not count;
- api_key_get_by_prefix (the lookup behind api_key_authenticate): in one query, every field of the key, its
  organization and plan equal to what the ORM reads (arrays, dates, nulls), relations attached; None for
  an unknown prefix;
- organization_access_get (every org-scoped request of a member): the same, for the membership, its
  organization and plan by slug and user, the caller's own user instance attached; a non-member, an unknown slug
  and another organization's slug are the same 404;
- api_key_authenticate: a valid key (also with '_' inside its secret) returns the key and sets last_used_at,
  which is only rewritten after a minute; malformed, unknown-prefix, wrong-secret, revoked and expired keys
  raise AuthenticationFailed with their message;
- invitations_purge_expired: deletes invitations whose expiry is older than the cutoff (also accepted ones),
  keeps recent and pending ones, honours `older_than_days`, returns the count; revoked long ago are deleted too;
- organization_create at the same moment as another creation of the same slug (the other's transaction held open
  until this one waits on the slug's key): a slug chosen is "taken" (400), a slug made from the name gets another;
- plan limits at the same moment: a second API key or invitation created while the first one's transaction is
  still open waits for it (plan_limit_lock) and is refused when the first took the last place.
"""

import secrets
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed, NotFound

from apps.core.exceptions import ApplicationError, PlanLimitExceeded
from apps.core.tests.concurrency import second_while_first_is_open
from apps.core.tests.orm import assert_reads_as_the_orm
from apps.organizations.models import ApiKey, Invitation, Membership, Organization, Role, hash_secret
from apps.organizations.selectors import api_key_forget, api_key_get_by_prefix, organization_access_get
from apps.organizations.services import (
    api_key_authenticate,
    api_key_create,
    invitation_create,
    invitation_token,
    invitations_purge_expired,
    organization_create,
    plan_limit_check,
)
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, api_key_for, plan
from apps.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- plan_limit_check


def test_plan_limit_unlimited():
    """A null limit (enterprise members) never raises."""
    organization = OrganizationFactory(plan=plan("enterprise"))

    plan_limit_check(organization=organization, limit="max_members", used=10**6, adding=10**6)


@pytest.mark.parametrize(("used", "adding"), [(0, 1), (4, 1), (3, 2), (5, 0)])
def test_plan_limit_within(used, adding):
    """Up to and including the limit passes (free: 5 members)."""
    organization = OrganizationFactory(plan=plan("free"))

    plan_limit_check(organization=organization, limit="max_members", used=used, adding=adding)


def test_plan_limit_exceeded_names_the_limit():
    """One past the limit raises a 403 "plan_limit_exceeded" that names the plan, the limit and the usage."""
    organization = OrganizationFactory(plan=plan("free"))

    with pytest.raises(PlanLimitExceeded) as raised:
        plan_limit_check(organization=organization, limit="max_members", used=5)

    exc = raised.value
    assert exc.status_code == 403
    assert exc.get_codes() == "plan_limit_exceeded"
    assert str(exc.detail) == (
        "The Free plan allows 5 members (including pending invitations); this organization uses 5. "
        "Upgrade the plan or remove some first."
    )
    assert exc.extra == {"limit": "max_members", "allowed": 5, "used": 5}


def test_plan_limit_adding_several_and_fractional_usage():
    """`adding` counts in full and fractional usage is printed as is (storage MB)."""
    organization = OrganizationFactory(plan=plan("free"))
    plan_limit_check(organization=organization, limit="max_storage_mb", used=99.5, adding=0.5)

    with pytest.raises(PlanLimitExceeded) as raised:
        plan_limit_check(organization=organization, limit="max_storage_mb", used=99.5, adding=1)

    assert str(raised.value.detail).startswith(
        "The Free plan allows 100 MB of document storage; this organization uses 99.5."
    )
    assert raised.value.extra == {"limit": "max_storage_mb", "allowed": 100, "used": 99.5}


# --------------------------------------------------------------------------- api_key_create


def test_api_key_create_stores_only_the_hash():
    """The returned secret matches the stored hash and prefix; scopes are sorted and unique."""
    organization = OrganizationFactory()

    api_key, key = api_key_create(organization=organization, name="k", scopes=["write", "read", "write"])

    assert key.startswith(f"bk_{api_key.prefix}_")
    assert api_key.key_hash == hash_secret(key)
    assert ApiKey.objects.get(pk=api_key.pk).scopes == ["read", "write"]


def test_api_key_create_refuses_a_past_expiry():
    """An expiry in the past raises ValidationError; nothing is stored."""
    organization = OrganizationFactory()

    with pytest.raises(ValidationError) as raised:
        api_key_create(
            organization=organization, name="k", scopes=["read"], expires_at=timezone.now() - timedelta(minutes=1)
        )

    assert raised.value.message_dict == {"expires_at": ["The expiry must be in the future."]}
    assert not ApiKey.objects.filter(organization=organization).exists()


def test_api_key_create_plan_limit_counts_non_revoked_keys():
    """Free plan: 2 keys fill it; a revoked key no longer counts."""
    organization = OrganizationFactory(plan=plan("free"))
    first, _ = api_key_for(organization)
    api_key_for(organization)

    with pytest.raises(PlanLimitExceeded):
        api_key_for(organization)
    ApiKey.objects.filter(pk=first.pk).update(revoked_at=timezone.now())
    api_key_for(organization)

    assert ApiKey.objects.filter(organization=organization, revoked_at__isnull=True).count() == 2


def test_api_key_create_expired_keys_do_not_count():
    """An expired key is not active, so it should not use one of the plan's 'active API keys'."""
    organization = OrganizationFactory(plan=plan("free"))
    expired, _ = api_key_for(organization)
    api_key_for(organization)
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    assert [k.is_active for k in ApiKey.objects.filter(organization=organization)].count(True) == 1

    api_key_for(organization)  # raises PlanLimitExceeded: "... allows 2 active API keys; ... uses 2."


# --------------------------------------------------------------------------- api_key_authenticate


def test_api_key_lookup_reads_what_the_orm_reads(django_assert_num_queries):
    """Every concrete field of the key, its organization and plan, as the ORM converts them, in one query; the
    organization and plan attached (no query to reach them); an unknown prefix is None."""
    organization = OrganizationFactory(plan=plan("pro"))
    api_key, _key = api_key_for(
        organization, scopes=("read", "members:sync"), expires_at=timezone.now() + timedelta(days=3)
    )
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    expected = ApiKey.objects.select_related("organization", "organization__plan").get(pk=api_key.pk)

    with django_assert_num_queries(1):
        found = api_key_get_by_prefix(prefix=api_key.prefix)
        found_plan = found.organization.plan
    for got, want in [(found, expected), (found.organization, expected.organization),
                      (found_plan, expected.organization.plan)]:  # fmt: skip
        assert_reads_as_the_orm(got, want)
    assert found.scopes == ["members:sync", "read"] and found.expires_at is not None
    assert api_key_get_by_prefix(prefix="nosuchprefix") is None


def test_membership_lookup_reads_what_the_orm_reads(django_assert_num_queries):
    """The membership, its organization and plan, every concrete field as the ORM converts it, in one query; the
    organization, plan and the caller's own user attached (no query to reach them); anyone else gets 404."""
    organization = OrganizationFactory(plan=plan("pro"))
    membership = MembershipFactory(organization=organization, role=Role.ADMIN, external_id="crm-7")
    user = membership.user
    expected = Membership.objects.select_related("organization", "organization__plan").get(pk=membership.pk)

    with django_assert_num_queries(1):
        found_organization, found = organization_access_get(slug=organization.slug, user=user, api_key=None)
        found_plan, found_user = found.organization.plan, found.user
    assert found_organization is found.organization and found_user is user
    for got, want in [(found, expected), (found_organization, expected.organization),
                      (found_plan, expected.organization.plan)]:  # fmt: skip
        assert_reads_as_the_orm(got, want)
    assert found.role == Role.ADMIN and found.external_id == "crm-7"

    other = OrganizationFactory()
    outsider = MembershipFactory(organization=other).user
    for slug, caller in ((organization.slug, outsider), (other.slug, user), ("no-such-org", user)):
        with pytest.raises(NotFound, match="Organization not found"):
            organization_access_get(slug=slug, user=caller, api_key=None)


def test_authenticate_valid_key_sets_last_used_at():
    """A valid key returns its ApiKey (organization loaded) and records the use."""
    organization = OrganizationFactory()
    api_key, key = api_key_for(organization)
    before = timezone.now()

    found = api_key_authenticate(key=key)

    assert found.pk == api_key.pk
    assert found.organization == organization
    api_key.refresh_from_db()
    assert before <= api_key.last_used_at <= timezone.now()
    assert found.last_used_at == api_key.last_used_at


def test_authenticate_secret_with_underscores():
    """Secrets may contain '_' (token_urlsafe); only the first two parts are the scheme and prefix."""
    organization = OrganizationFactory()
    key = "bk_0a1b2c3d_se_cr_et_" + secrets.token_hex(8)
    api_key = ApiKey.objects.create(
        organization=organization, name="k", prefix="0a1b2c3d", key_hash=hash_secret(key), scopes=["read"]
    )

    assert api_key_authenticate(key=key).pk == api_key.pk


def test_authenticate_updates_last_used_at_at_most_once_a_minute():
    """A use within a minute of the last one is not written; an older one is."""
    api_key, key = api_key_for(OrganizationFactory())
    recent = timezone.now() - timedelta(seconds=30)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=recent)

    api_key_authenticate(key=key)
    api_key.refresh_from_db()
    assert api_key.last_used_at == recent

    stale = timezone.now() - timedelta(minutes=2)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=stale)
    api_key_forget()  # an update() fires no receiver: as a write by another process once the kept row is old
    api_key_authenticate(key=key)
    api_key.refresh_from_db()
    assert api_key.last_used_at > stale + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "Malformed API key: expected 'bk_<prefix>_<secret>'."),
        ("bk_only", "Malformed API key: expected 'bk_<prefix>_<secret>'."),
        ("pk_0a1b2c3d_secret", "Malformed API key: expected 'bk_<prefix>_<secret>'."),
        ("bk_ffffffff_secret", "Invalid API key."),
    ],
)
def test_authenticate_malformed_or_unknown(key, message):
    """Malformed keys and unknown prefixes raise AuthenticationFailed."""
    with pytest.raises(AuthenticationFailed) as raised:
        api_key_authenticate(key=key)

    assert str(raised.value.detail) == message


def test_authenticate_wrong_secret():
    """A known prefix with a wrong secret is refused and does not record a use."""
    api_key, _key = api_key_for(OrganizationFactory())

    with pytest.raises(AuthenticationFailed) as raised:
        api_key_authenticate(key=f"bk_{api_key.prefix}_wrong")

    assert str(raised.value.detail) == "Invalid API key."
    api_key.refresh_from_db()
    assert api_key.last_used_at is None


def test_authenticate_revoked_and_expired():
    """Revoked and expired keys are refused with their own message."""
    organization = OrganizationFactory()
    revoked, revoked_key = api_key_for(organization)
    expired, expired_key = api_key_for(organization)
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(AuthenticationFailed) as revoked_error:
        api_key_authenticate(key=revoked_key)
    with pytest.raises(AuthenticationFailed) as expired_error:
        api_key_authenticate(key=expired_key)

    assert str(revoked_error.value.detail) == "This API key has been revoked."
    assert str(expired_error.value.detail) == "This API key has expired."


# --------------------------------------------------------------------------- invitations_purge_expired


def make_invitation(organization, *, days_ago: int, expires_in_days: int, **fields) -> Invitation:
    """An invitation created `days_ago` days ago that expires `expires_in_days` after now (negative: past)."""
    now = timezone.now()
    invitation = Invitation.objects.create(
        organization=organization,
        email=f"{secrets.token_hex(4)}@example.com",
        token_hash=hash_secret(secrets.token_urlsafe(16)),
        expires_at=now + timedelta(days=expires_in_days),
        **fields,
    )
    Invitation.objects.filter(pk=invitation.pk).update(created_at=now - timedelta(days=days_ago))
    return invitation


def test_purge_deletes_invitations_expired_before_the_cutoff():
    """Expired > 30 days ago (pending or accepted) are deleted; recent, pending and other ones are kept."""
    organization = OrganizationFactory()
    old_expired = make_invitation(organization, days_ago=40, expires_in_days=-33)
    old_accepted = make_invitation(
        organization, days_ago=45, expires_in_days=-38, accepted_at=timezone.now() - timedelta(days=44)
    )
    recent_expired = make_invitation(organization, days_ago=30, expires_in_days=-23)
    pending = make_invitation(organization, days_ago=1, expires_in_days=6)

    deleted = invitations_purge_expired()

    assert deleted == 2
    remaining = set(Invitation.objects.filter(organization=organization).values_list("pk", flat=True))
    assert remaining == {recent_expired.pk, pending.pk}
    assert old_expired.pk not in remaining and old_accepted.pk not in remaining


def test_purge_older_than_days():
    """`older_than_days` moves the cutoff."""
    organization = OrganizationFactory()
    make_invitation(organization, days_ago=30, expires_in_days=-23)
    pending = make_invitation(organization, days_ago=1, expires_in_days=6)

    assert invitations_purge_expired(older_than_days=30) == 0
    assert invitations_purge_expired(older_than_days=10) == 1
    assert list(Invitation.objects.filter(organization=organization)) == [pending]


def test_purge_deletes_invitations_revoked_before_the_cutoff():
    """An invitation revoked 31 days ago (its expiry only 25 days ago) is purged, as the docstring says."""
    organization = OrganizationFactory()
    make_invitation(organization, days_ago=32, expires_in_days=-25, revoked_at=timezone.now() - timedelta(days=31))

    assert invitations_purge_expired(older_than_days=30) == 1


# --------------------------------------------------------------------------- organization_create at the same moment


def _create_beside_an_open_creation(first: dict, second: dict) -> dict:
    """`organization_create(**first)` held open until `organization_create(**second)` has looked (and found the slug
    free) and waits on the slug's key (`second_while_first_is_open`)."""
    plan("free")  # the default plan (a transactional test before this one may have flushed the seeded plans)
    return second_while_first_is_open(lambda: organization_create(**first), lambda: organization_create(**second))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_slug_chosen_at_the_same_moment_as_another_is_taken():
    """Both requests found "acme" free; the second to commit is told it is taken (a 500 before), and has no
    organization."""
    first, second = UserFactory(), UserFactory()
    result = _create_beside_an_open_creation(
        {"user": first, "name": "Acme", "slug": "acme"}, {"user": second, "name": "Acme Two", "slug": "acme"}
    )
    assert isinstance(result.get("error"), ValidationError), result
    assert result["error"].message_dict == {"slug": ["The slug 'acme' is taken."]}
    assert list(Organization.objects.values_list("slug", flat=True)) == ["acme"]
    assert not Membership.objects.filter(user=second).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_slug_made_from_the_name_at_the_same_moment_as_another_gets_another():
    first, second = UserFactory(), UserFactory()
    result = _create_beside_an_open_creation({"user": first, "name": "Acme"}, {"user": second, "name": "Acme"})
    assert "error" not in result, result.get("error")
    organization = result["value"]
    assert organization.slug.startswith("acme-") and len(organization.slug) == len("acme-") + 6
    assert sorted(Organization.objects.values_list("slug", flat=True)) == ["acme", organization.slug]
    assert Membership.objects.get(user=second).organization == organization


# --------------------------------------------------------------------------- plan limits at the same moment


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_api_keys_at_once_cannot_pass_the_limit_together():
    """Free plan: 2 keys. With one key, two creations at once both found room for one more before (4 keys were
    seen in a drill with three); now the second waits for the first and is refused."""
    organization = OrganizationFactory(plan=plan("free"))
    api_key_create(organization=organization, name="one", scopes=["read"])
    result = second_while_first_is_open(
        lambda: api_key_create(organization=organization, name="two", scopes=["read"]),
        lambda: api_key_create(organization=organization, name="three", scopes=["read"]),
    )
    assert isinstance(result.get("error"), PlanLimitExceeded), result
    assert result["error"].extra == {"limit": "max_api_keys", "allowed": 2, "used": 2}
    assert ApiKey.objects.filter(organization=organization).count() == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_invitations_at_once_cannot_pass_the_members_limit_together():
    """Free plan: 5 members, pending invitations included. At 4, two invitations at once: one is refused."""
    organization = OrganizationFactory(plan=plan("free"))
    owner = MembershipFactory(organization=organization, role=Role.OWNER)
    for _ in range(3):
        MembershipFactory(organization=organization, role=Role.MEMBER)

    def invite(email):
        return lambda: invitation_create(organization=organization, email=email, role=Role.MEMBER, actor=owner)

    result = second_while_first_is_open(invite("first@example.com"), invite("second@example.com"))
    assert isinstance(result.get("error"), PlanLimitExceeded), result
    assert result["error"].extra == {"limit": "max_members", "allowed": 5, "used": 5}
    assert list(Invitation.objects.filter(organization=organization).values_list("email", flat=True)) == [
        "first@example.com"
    ]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_invitations_wait_for_the_seats_before_they_lock_an_invitation():
    """One lock order everywhere: the seats' turn (plan_limit_lock), then invitation rows. Member sync, which invites,
    takes them in that order; an invitation (re-inviting an address) or an acceptance that locked its invitation row
    first and then waited for the seats could deadlock with it. While this connection holds the seats, each of them
    waits without having locked the invitation: this connection can still lock it at once (NOWAIT)."""
    from django.db import transaction

    from apps.core.tests.concurrency import in_another_connection, wait_until_a_lock_is_awaited
    from apps.organizations.services import invitation_accept, plan_limit_lock

    organization = OrganizationFactory(plan=plan("free"))
    owner = MembershipFactory(organization=organization, role=Role.OWNER)
    invited = invitation_create(organization=organization, email="x@example.com", role=Role.MEMBER, actor=owner)
    accepted = invitation_create(organization=organization, email="y@example.com", role=Role.MEMBER, actor=owner)
    token = invitation_token(invitation=accepted)
    calls = {
        "re-invite": (
            invited,
            lambda: invitation_create(organization=organization, email="x@example.com", role=Role.MEMBER, actor=owner),
        ),
        "accept": (accepted, lambda: invitation_accept(token=token, password="a-long-password-for-y")),
    }
    for name, (invitation, call) in calls.items():
        result = {}
        other = in_another_connection(result, call)
        with transaction.atomic():
            plan_limit_lock(organization=organization, limit="max_members")
            other.start()
            wait_until_a_lock_is_awaited(result)
            # raises (could not obtain lock) if the other call had locked the invitation before waiting
            list(Invitation.objects.select_for_update(nowait=True).filter(pk=invitation.pk))
        other.join(timeout=60)
        assert "error" not in result, (name, result.get("error"))


def test_invitations_in_one_call_follow_the_rules_of_one():
    """`invitations_create` (member sync's invited rows): one invitation and one e-mail per address, open ones
    replaced; a member among the addresses, a repeated address or too few seats for all of them -> an error naming
    the problem and nothing created."""
    from apps.organizations.services import invitations_create

    organization = OrganizationFactory(plan=plan("free"))  # 5 members
    owner = MembershipFactory(organization=organization, role=Role.OWNER)
    member = MembershipFactory(organization=organization).user
    old = invitation_create(organization=organization, email="a@example.com", role=Role.MEMBER, actor=owner)
    made = invitations_create(
        organization=organization, emails=["A@example.com", "b@example.com"], role=Role.MEMBER, actor=owner
    )
    assert [invitation.email for invitation in made] == ["a@example.com", "b@example.com"]
    assert all(invitation.pk and invitation.invited_by_id == owner.user_id for invitation in made)
    assert Invitation.objects.get(pk=old.pk).revoked_at is not None
    assert Invitation.objects.filter(organization=organization, revoked_at__isnull=True).count() == 2
    before = set(Invitation.objects.values_list("pk", "revoked_at"))
    with pytest.raises(ApplicationError) as error:
        invitations_create(
            organization=organization, emails=["c@example.com", member.email.upper()], role=Role.MEMBER, actor=owner
        )
    assert error.value.detail == f"{member.email.lower()} is already a member of this organization."
    with pytest.raises(ValidationError):
        invitations_create(
            organization=organization, emails=["c@example.com", "C@example.com"], role="member", actor=owner
        )
    with pytest.raises(PlanLimitExceeded):  # 2 members + 2 pending + 2 more > 5
        invitations_create(
            organization=organization, emails=["c@example.com", "d@example.com"], role="member", actor=owner
        )
    assert set(Invitation.objects.values_list("pk", "revoked_at")) == before
