"""Invitations API: /api/v1/orgs/{slug}/invitations/[{id}/], /api/v1/invitations/preview/ and /accept/.

Coverage:
- create: admin invites (201, whole body, stored hash of the token, one e-mail sent on commit that carries the
  token and the accept URL); member 403; admin cannot invite an owner (403) but an owner can; an existing
  member (any letter case) -> 400 "already_member"; re-inviting an e-mail revokes the previous open invitation
  (whose token then says "invitation_revoked"); plan member limit (members + pending invitations) -> 403
  "plan_limit_exceeded" naming the limit; non-member 404; no rows and no e-mail after any refusal;
- list/detail/revoke: admin lists and reads (query count does not grow with the rows); member 403; another
  organization's invitation id 404; revoke (200, status "revoked"), revoking twice -> 400 "invitation_closed";
- preview: anonymous, with the token: organization, e-mail, role, status, expiry, whether the account exists;
  an expired invitation shows status "expired"; unknown token 404;
- accept: (a) anonymous new e-mail + password registers the account (tokens that work, membership with the
  invited role); anonymous with the existing account's password joins without registering; (b) signed-in
  user with the invited e-mail joins (no tokens); (c) signed-in user with another e-mail -> 403
  "invitation_wrong_email"; (d) anonymous with the wrong password -> 401; missing or weak password -> 400;
  (e) expired -> 400 "invitation_expired"; (f) reused -> 400 "invitation_used"; (g) revoked -> 400
  "invitation_revoked"; (h) unknown token -> 404; accepting the invitation that fills the plan is allowed
  (it was already counted); no half-written User/Membership/Invitation rows after any failure.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.organizations.models import Invitation, Membership, Role, hash_secret
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, plan
from apps.organizations.tests.utils import (
    FREE_PLAN,
    PASSWORD,
    PRO_PLAN,
    error,
    iso,
    org_body,
    org_url,
    token_from_mail,
)
from apps.users.tests.factories import UserFactory
from apps.users.tests.utils import user_body
from conftest import client_for

pytestmark = pytest.mark.django_db
User = get_user_model()

PREVIEW_URL = "/api/v1/invitations/preview/"
ACCEPT_URL = "/api/v1/invitations/accept/"
NEW_PASSWORD = "a-long-and-unusual-passphrase-42"


def counts() -> tuple[int, int, int]:
    """(users, memberships, invitations): unchanged after a refused request."""
    return User.objects.count(), Membership.objects.count(), Invitation.objects.count()


@pytest.fixture
def invite(django_capture_on_commit_callbacks, mail_sent):
    """POST an invitation as `actor` with the on-commit e-mail executed; returns (response, token or None)."""

    def _invite(actor, organization, email, role=None):
        sent = len(mail_sent)
        payload = {"email": email} if role is None else {"email": email, "role": role}
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(actor).post(org_url(organization, "invitations/"), payload)
        new_mail = mail_sent[sent:]
        return response, (token_from_mail(new_mail[0]) if new_mail else None)

    return _invite


def invitation_body(invitation, status="pending") -> dict:
    return {
        "id": invitation.id,
        "email": invitation.email,
        "role": invitation.role,
        "status": status,
        "invited_by": invitation.invited_by.email if invitation.invited_by else None,
        "created_at": iso(invitation.created_at),
        "expires_at": iso(invitation.expires_at),
        "accepted_at": iso(invitation.accepted_at),
    }


def accept_body(organization, user, role, *, account_created, plan=PRO_PLAN) -> dict:
    """The accept response without the (varying) JWT pair."""
    organization_body = org_body(organization, role, plan)
    del organization_body["role"]
    return {
        "organization": organization_body,
        "role": role,
        "user": user_body(user),
        "account_created": account_created,
    }


# --------------------------------------------------------------------------- create


def test_admin_creates_invitation_and_the_email_carries_the_token(
    organization, admin_user, django_capture_on_commit_callbacks, mail_sent
):
    """Admin invites: 201 with the invitation, one e-mail after commit carrying a token minted when mailed, only
    its hash stored."""
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(admin_user).post(
            org_url(organization, "invitations/"), {"email": "New.Person@EXAMPLE.com", "role": "admin"}
        )

    assert response.status_code == 201, response.data
    invitation = Invitation.objects.get(organization=organization)
    assert response.json() == {
        "id": invitation.id,
        "email": "new.person@example.com",
        "role": "admin",
        "status": "pending",
        "invited_by": admin_user.email,
        "created_at": iso(invitation.created_at),
        "expires_at": iso(invitation.expires_at),
        "accepted_at": None,
    }
    assert invitation.invited_by == admin_user
    assert before + timedelta(days=7) <= invitation.expires_at <= timezone.now() + timedelta(days=7)
    assert len(callbacks) == 1
    assert len(mail_sent) == 1
    message = mail_sent[0]
    assert message.to == ["new.person@example.com"]
    assert message.subject == f"You are invited to {organization.name} on Beacon"
    token = token_from_mail(message)
    invitation.refresh_from_db()  # the token is minted when the invitation is mailed
    assert invitation.token_hash == hash_secret(token)
    assert token not in {invitation.token_hash, invitation.email}
    assert "http://testserver/api/v1/invitations/accept/" in message.body
    assert f"join {organization.name} on Beacon as admin" in message.body


def test_member_cannot_invite(organization, member, invite, mail_sent):
    """A member gets 403; nothing is stored or sent."""
    before = counts()

    response, token = invite(member, organization, "friend@example.com")

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "This action needs the admin role in this organization.")
    assert token is None and mail_sent == []
    assert counts() == before


def test_admin_cannot_invite_an_owner(organization, admin_user, invite, mail_sent):
    """Only an owner invites an owner: admin -> 403, nothing stored or sent."""
    before = counts()

    response, _token = invite(admin_user, organization, "boss@example.com", role="owner")

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "Only an owner can invite an owner.")
    assert mail_sent == []
    assert counts() == before


def test_owner_invites_an_owner(organization, owner, invite):
    """An owner may invite another owner."""
    response, token = invite(owner, organization, "co-owner@example.com", role="owner")

    assert response.status_code == 201, response.data
    assert response.json()["role"] == "owner"
    assert Invitation.objects.get(token_hash=hash_secret(token)).role == Role.OWNER


def test_inviting_an_existing_member_is_400(organization, admin_user, member, invite, mail_sent):
    """An e-mail that already belongs to a member (any letter case) -> 400 "already_member"."""
    before = counts()

    response, _token = invite(admin_user, organization, member.email.upper())

    assert response.status_code == 400
    assert response.json() == error("already_member", f"{member.email} is already a member of this organization.")
    assert mail_sent == []
    assert counts() == before


def test_reinviting_revokes_the_previous_open_invitation(organization, admin_user, invite, api_client):
    """Inviting the same e-mail again revokes the first invitation; only the new token works."""
    first, first_token = invite(admin_user, organization, "again@example.com")
    second, second_token = invite(admin_user, organization, "AGAIN@example.com", role="admin")

    assert first.status_code == second.status_code == 201
    old = Invitation.objects.get(pk=first.json()["id"])
    new = Invitation.objects.get(pk=second.json()["id"])
    assert old.revoked_at is not None and old.status == Invitation.Status.REVOKED
    assert new.status == Invitation.Status.PENDING and new.role == Role.ADMIN
    assert first_token != second_token
    response = api_client.post(ACCEPT_URL, {"token": first_token, "password": NEW_PASSWORD})
    assert response.status_code == 400
    assert response.json() == error("invitation_revoked", "This invitation was revoked.")


def test_plan_member_limit(invite, mail_sent):
    """A free-plan organization with 5 members cannot invite a 6th: 403 naming the limit, nothing written."""
    organization = OrganizationFactory(plan=plan("free"))
    admin = MembershipFactory(organization=organization, role=Role.ADMIN).user
    MembershipFactory.create_batch(4, organization=organization)
    before = counts()

    response, _token = invite(admin, organization, "sixth@example.com")

    assert response.status_code == 403
    assert response.json() == error(
        "plan_limit_exceeded",
        "The Free plan allows 5 members (including pending invitations); this organization uses 5. "
        "Upgrade the plan or remove some first.",
        {"limit": "max_members", "allowed": 5, "used": 5},
    )
    assert mail_sent == []
    assert counts() == before


def test_plan_member_limit_counts_pending_invitations(invite):
    """4 members + 1 pending invitation fill the free plan; a second invitation is refused."""
    organization = OrganizationFactory(plan=plan("free"))
    admin = MembershipFactory(organization=organization, role=Role.ADMIN).user
    MembershipFactory.create_batch(3, organization=organization)
    first, _token = invite(admin, organization, "fifth@example.com")
    before = counts()

    second, _token = invite(admin, organization, "sixth@example.com")

    assert first.status_code == 201
    assert second.status_code == 403
    assert second.json()["error"]["code"] == "plan_limit_exceeded"
    assert counts() == before


def test_reinvite_at_the_plan_limit_keeps_the_previous_invitation_when_refused(invite):
    """A refused invitation leaves the previous one untouched (its revocation is rolled back)."""
    free = OrganizationFactory(plan=plan("free"))
    admin = MembershipFactory(organization=free, role=Role.ADMIN).user
    MembershipFactory.create_batch(3, organization=free)
    first, _token = invite(admin, free, "fifth@example.com")
    MembershipFactory(organization=free)  # a sixth seat taken some other way: now over the limit

    second, _token = invite(admin, free, "fifth@example.com")

    assert second.status_code == 403
    assert Invitation.objects.get(pk=first.json()["id"]).status == Invitation.Status.PENDING
    assert Invitation.objects.filter(organization=free).count() == 1


def test_invite_non_member_is_404(organization, other_organization, admin_user, invite):
    """An admin of one organization cannot invite into another."""
    before = counts()

    response, _token = invite(admin_user, other_organization, "x@example.com")

    assert response.status_code == 404
    assert counts() == before


def test_invite_invalid_email_is_400(organization, admin_user, invite):
    """A malformed e-mail address -> 400 on the email field."""
    response, _token = invite(admin_user, organization, "not-an-email")

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["email"]


# --------------------------------------------------------------------------- list, detail, revoke


def test_admin_lists_and_reads_invitations(organization, admin_user, member, invite):
    """Admins list (newest first) and read invitations; members get 403."""
    invite(admin_user, organization, "one@example.com")
    invite(admin_user, organization, "two@example.com")
    one = Invitation.objects.get(email="one@example.com")
    two = Invitation.objects.get(email="two@example.com")
    client = client_for(admin_user)

    listed = client.get(org_url(organization, "invitations/"))
    detail = client.get(org_url(organization, f"invitations/{one.id}/"))

    assert listed.status_code == detail.status_code == 200
    assert listed.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [invitation_body(two), invitation_body(one)],
    }
    assert detail.json() == invitation_body(one)
    assert client_for(member).get(org_url(organization, "invitations/")).status_code == 403
    assert client_for(member).get(org_url(organization, f"invitations/{one.id}/")).status_code == 403


def test_list_query_count_does_not_grow(organization, admin_user, invite, django_assert_max_num_queries):
    """Listing 6 invitations takes no more queries than listing 1 (the inviter is joined)."""
    invite(admin_user, organization, "first@example.com")
    client = client_for(admin_user)
    with CaptureQueriesContext(connection) as baseline:
        assert client.get(org_url(organization, "invitations/")).status_code == 200
    baseline_count = len(baseline.captured_queries)  # read now: a later request resets the query log
    assert baseline_count > 0
    for i in range(5):
        inviter = MembershipFactory(organization=organization, role=Role.ADMIN).user
        invite(inviter, organization, f"guest{i}@example.com")

    with django_assert_max_num_queries(baseline_count):
        response = client.get(org_url(organization, "invitations/"))

    assert response.json()["count"] == 6
    assert len({row["invited_by"] for row in response.json()["results"]}) == 6


def test_other_organizations_invitation_is_404(organization, admin_user, other_organization, invite):
    """Another organization's invitation id under this organization's URL -> 404 (read and revoke)."""
    foreign_admin = MembershipFactory(organization=other_organization, role=Role.ADMIN).user
    invite(foreign_admin, other_organization, "theirs@example.com")
    foreign = Invitation.objects.get(organization=other_organization)
    client = client_for(admin_user)

    read = client.get(org_url(organization, f"invitations/{foreign.id}/"))
    revoke = client.delete(org_url(organization, f"invitations/{foreign.id}/"))

    assert read.status_code == revoke.status_code == 404
    assert read.json() == error("not_found", "Invitation not found.")
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_revoke_twice_is_400(organization, admin_user, invite):
    """A revoked invitation cannot be revoked again: 400 "invitation_closed"."""
    invite(admin_user, organization, "gone@example.com")
    invitation = Invitation.objects.get(organization=organization)
    url = org_url(organization, f"invitations/{invitation.id}/")
    client = client_for(admin_user)

    first = client.delete(url)
    second = client.delete(url)

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json() == error("invitation_closed", "This invitation is already revoked.")


# --------------------------------------------------------------------------- preview


def test_preview(organization, admin_user, invite, api_client):
    """Anyone with the token sees what the invitation is for; account_exists tells login from registration."""
    _response, token = invite(admin_user, organization, "newbie@example.com", role="admin")
    invitation = Invitation.objects.get(organization=organization)

    response = api_client.post(PREVIEW_URL, {"token": token})

    assert response.status_code == 200
    assert response.json() == {
        "organization": organization.name,
        "email": "newbie@example.com",
        "role": "admin",
        "status": "pending",
        "expires_at": iso(invitation.expires_at),
        "account_exists": False,
    }
    UserFactory(email="newbie@example.com")
    assert api_client.post(PREVIEW_URL, {"token": token}).json()["account_exists"] is True


def test_preview_shows_a_closed_invitation(organization, admin_user, invite, api_client):
    """Preview does not refuse an expired invitation; it reports its status."""
    _response, token = invite(admin_user, organization, "late@example.com")
    Invitation.objects.filter(organization=organization).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = api_client.post(PREVIEW_URL, {"token": token})

    assert response.status_code == 200
    assert response.json()["status"] == "expired"


def test_preview_unknown_token_is_404(api_client, db):
    """An unknown token -> 404 "invitation_invalid"."""
    response = api_client.post(PREVIEW_URL, {"token": "nope"})

    assert response.status_code == 404
    assert response.json() == error("invitation_invalid", "This invitation token is not valid.")


# --------------------------------------------------------------------------- accept


def test_accept_anonymous_registers_the_account(organization, admin_user, invite, api_client):
    """(a) Anonymous + new e-mail + password: account created, membership with the invited role, working tokens."""
    _response, token = invite(admin_user, organization, "Fresh@Example.com", role="admin")
    users, memberships, invitations = counts()

    response = api_client.post(ACCEPT_URL, {"token": token, "password": NEW_PASSWORD, "full_name": "Fresh Person"})

    assert response.status_code == 201, response.data
    new_user = User.objects.get(email="fresh@example.com")
    body = response.json()
    access, refresh = body.pop("access"), body.pop("refresh")
    assert body == {
        "organization": {
            "id": organization.id,
            "name": organization.name,
            "slug": organization.slug,
            "plan": PRO_PLAN,
            "personality_admin_access": False,
            "created_at": iso(organization.created_at),
        },
        "role": "admin",
        "user": {
            "id": new_user.id,
            "email": "fresh@example.com",  # lower-cased like the invitation
            "full_name": "Fresh Person",
            "timezone": "UTC",
            "locale": "en",
            "interests": [],
            "date_joined": iso(new_user.date_joined),
        },
        "account_created": True,
    }
    assert isinstance(access, str) and access and isinstance(refresh, str) and refresh
    assert new_user.check_password(NEW_PASSWORD)
    assert Membership.objects.get(organization=organization, user=new_user).role == Role.ADMIN
    invitation = Invitation.objects.get(organization=organization)
    assert invitation.accepted_by == new_user and invitation.accepted_at is not None
    assert counts() == (users + 1, memberships + 1, invitations)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    orgs = api_client.get("/api/v1/orgs/")
    assert [(o["slug"], o["role"]) for o in orgs.json()["results"]] == [(organization.slug, "admin")]


def test_accept_anonymous_with_existing_accounts_password(organization, admin_user, invite, api_client):
    """Anonymous + the existing account's password: joins without registering, tokens returned."""
    existing = UserFactory(email="known@example.com")
    _response, token = invite(admin_user, organization, "known@example.com")
    users = User.objects.count()

    response = api_client.post(ACCEPT_URL, {"token": token, "password": PASSWORD})

    assert response.status_code == 201, response.data
    body = response.json()
    access, refresh = body.pop("access"), body.pop("refresh")
    assert body == accept_body(organization, existing, "member", account_created=False)
    assert isinstance(access, str) and access and isinstance(refresh, str) and refresh
    assert User.objects.count() == users
    assert Membership.objects.get(organization=organization, user=existing).role == Role.MEMBER


def test_accept_signed_in_with_the_invited_email(organization, admin_user, invite):
    """(b) A signed-in user holding the invited e-mail joins; no tokens are issued."""
    person = UserFactory(email="person@example.com")
    _response, token = invite(admin_user, organization, "PERSON@example.com")

    response = client_for(person).post(ACCEPT_URL, {"token": token})

    assert response.status_code == 201, response.data
    assert response.json() == accept_body(organization, person, "member", account_created=False) | {
        "access": None,
        "refresh": None,
    }
    assert Membership.objects.get(organization=organization, user=person).role == Role.MEMBER
    assert Invitation.objects.get(organization=organization).accepted_by == person


def test_accept_signed_in_with_another_email_is_403(organization, admin_user, invite, user):
    """(c) A signed-in user with a different e-mail -> 403 "invitation_wrong_email"; the invitation stays open."""
    _response, token = invite(admin_user, organization, "intended@example.com")
    before = counts()

    response = client_for(user).post(ACCEPT_URL, {"token": token})

    assert response.status_code == 403
    assert response.json() == error(
        "invitation_wrong_email", f"This invitation is for intended@example.com, not for {user.email}."
    )
    assert not Membership.objects.filter(organization=organization, user=user).exists()
    assert Invitation.objects.get(organization=organization).status == Invitation.Status.PENDING
    assert counts() == before


def test_accept_anonymous_with_wrong_password_is_401(organization, admin_user, invite, api_client):
    """(d) Anonymous with a wrong password for the existing account -> 401; no membership, still pending."""
    existing = UserFactory(email="known@example.com")
    _response, token = invite(admin_user, organization, "known@example.com")
    before = counts()

    response = api_client.post(ACCEPT_URL, {"token": token, "password": "wrong-password-123"})

    assert response.status_code == 401
    assert response.json() == error(
        "authentication_failed", "An account for known@example.com exists; the password does not match it."
    )
    assert not Membership.objects.filter(organization=organization, user=existing).exists()
    assert Invitation.objects.get(organization=organization).status == Invitation.Status.PENDING
    assert counts() == before


def test_accept_anonymous_without_password_is_400(organization, admin_user, invite, api_client):
    """Anonymous without a password -> 400 on the password field; nothing written."""
    _response, token = invite(admin_user, organization, "fresh@example.com")
    before = counts()

    response = api_client.post(ACCEPT_URL, {"token": token})

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["password"]
    assert counts() == before


def test_accept_anonymous_with_weak_password_registers_nothing(organization, admin_user, invite, api_client):
    """A password the validators refuse -> 400; no account, no membership, invitation still pending."""
    _response, token = invite(admin_user, organization, "fresh@example.com")
    before = counts()

    response = api_client.post(ACCEPT_URL, {"token": token, "password": "123"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert counts() == before
    assert not User.objects.filter(email="fresh@example.com").exists()
    assert Invitation.objects.get(organization=organization).status == Invitation.Status.PENDING


def test_accept_expired_is_400(organization, admin_user, invite, api_client):
    """(e) An invitation past its expiry -> 400 "invitation_expired"; nothing written."""
    _response, token = invite(admin_user, organization, "late@example.com")
    Invitation.objects.filter(organization=organization).update(expires_at=timezone.now() - timedelta(seconds=1))
    before = counts()

    response = api_client.post(ACCEPT_URL, {"token": token, "password": NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json() == error("invitation_expired", "This invitation has expired; ask for a new one.")
    assert counts() == before
    assert not User.objects.filter(email="late@example.com").exists()


def test_accept_twice_is_400(organization, admin_user, invite, api_client):
    """(f) A used invitation cannot be accepted again: 400 "invitation_used"."""
    _response, token = invite(admin_user, organization, "once@example.com")
    assert api_client.post(ACCEPT_URL, {"token": token, "password": NEW_PASSWORD}).status_code == 201
    before = counts()

    response = api_client.post(ACCEPT_URL, {"token": token, "password": NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json() == error("invitation_used", "This invitation has already been used.")
    assert counts() == before


def test_accept_revoked_is_400(organization, admin_user, invite, api_client):
    """(g) Revoked through DELETE (200, status revoked) -> accepting gives 400 "invitation_revoked"."""
    _response, token = invite(admin_user, organization, "maybe@example.com")
    invitation = Invitation.objects.get(organization=organization)

    revoked = client_for(admin_user).delete(org_url(organization, f"invitations/{invitation.id}/"))

    assert revoked.status_code == 200
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert revoked.json() == invitation_body(invitation, status="revoked")
    before = counts()
    response = api_client.post(ACCEPT_URL, {"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 400
    assert response.json() == error("invitation_revoked", "This invitation was revoked.")
    assert counts() == before


def test_accept_unknown_token_is_404(api_client, db):
    """(h) An unknown token -> 404 "invitation_invalid"; nothing written."""
    before = counts()

    response = api_client.post(ACCEPT_URL, {"token": "not-a-real-token", "password": NEW_PASSWORD})

    assert response.status_code == 404
    assert response.json() == error("invitation_invalid", "This invitation token is not valid.")
    assert counts() == before


def test_accept_the_invitation_that_fills_the_plan(invite, api_client):
    """The pending invitation already counted: accepting it on a full free plan (4 + 1) is allowed."""
    organization = OrganizationFactory(plan=plan("free"))
    admin = MembershipFactory(organization=organization, role=Role.ADMIN).user
    MembershipFactory.create_batch(3, organization=organization)
    _response, token = invite(admin, organization, "fifth@example.com")

    response = api_client.post(ACCEPT_URL, {"token": token, "password": NEW_PASSWORD})

    assert response.status_code == 201, response.data
    assert response.json()["organization"]["plan"] == FREE_PLAN
    assert organization.memberships.count() == 5


def test_accept_over_the_plan_limit_writes_nothing(invite, api_client):
    """If the plan filled up after the invitation, accepting -> 403 and the new account is not kept."""
    organization = OrganizationFactory(plan=plan("free"))
    admin = MembershipFactory(organization=organization, role=Role.ADMIN).user
    MembershipFactory.create_batch(3, organization=organization)
    _response, token = invite(admin, organization, "fifth@example.com")
    MembershipFactory(organization=organization)  # a seat taken some other way
    before = counts()

    response = api_client.post(ACCEPT_URL, {"token": token, "password": NEW_PASSWORD})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "plan_limit_exceeded"
    assert counts() == before
    assert not User.objects.filter(email="fifth@example.com").exists()
    assert Invitation.objects.get(organization=organization).status == Invitation.Status.PENDING


def test_anonymous_accepts_count_as_login_attempts_for_the_invited_account(
    organization, admin_user, invite, api_client, settings
):
    """Issue 13: wrong passwords through accept use up the invited account's login bucket (shared
    with /auth/token/), and once it is exhausted even the right password is refused, unchecked."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login_account": "3/min"},
    }
    existing = UserFactory(email="known@example.com")
    _response, token = invite(admin_user, organization, "known@example.com")
    wrong = {"email": "KNOWN@example.com", "password": "nope"}
    login = api_client.post("/api/v1/auth/token/", wrong, REMOTE_ADDR="192.0.2.1")
    assert login.status_code == 401
    statuses = [
        api_client.post(ACCEPT_URL, {"token": token, "password": "wrong-password-123"}, REMOTE_ADDR=f"203.0.113.{n}")
        for n in range(2)
    ]
    assert [r.status_code for r in statuses] == [401, 401]

    response = api_client.post(ACCEPT_URL, {"token": token, "password": PASSWORD}, REMOTE_ADDR="198.51.100.9")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert not Membership.objects.filter(organization=organization, user=existing).exists()
    assert Invitation.objects.get(organization=organization).status == Invitation.Status.PENDING


def test_preview_account_exists_needs_the_token(organization, admin_user, invite, api_client):
    """Issue 13: account_exists is kept for the token holder; without a valid token nothing is told,
    whether or not the address has an account (the same 404 body)."""
    UserFactory(email="known@example.com")
    invite(admin_user, organization, "known@example.com")
    invite(admin_user, organization, "fresh@example.com")
    answers = [api_client.post(PREVIEW_URL, {"token": guess}) for guess in ("known@example.com", "x" * 43)]
    assert [r.status_code for r in answers] == [404, 404]
    assert answers[0].json() == answers[1].json()
