"""Member sync: POST /api/v1/orgs/{org}/members/sync/ (apps.organizations.member_sync).

Coverage:
- new people: whole response, accounts without a usable password, memberships (role member, external_id),
  profile (full name, interests normalised);
- idempotency: the same payload twice -> all "unchanged", nothing rewritten;
- updates of managed accounts (e-mail, name, interests) -> "updated";
- existing accounts are never linked without consent: a person with their own password and a member of another
  organization (even without a password) are invited (role member, one e-mail on commit, no membership, nothing
  in the graph) and reported "invited"; the same payload again sends no second invitation; with an API key the
  invitation names no inviter; after they accept, the row attaches the external_id but never rewrites their
  profile (a note says so); a member without external_id is linked; roles are kept; an account an earlier sync
  of this organization created (no password, no other organization) is still linked directly; invitations use
  the plan's seats, a pending one needs none;
- rejected rows with reasons, good rows kept: invalid e-mail, a string for a list, duplicate external_id or
  e-mail in the payload, e-mail of another account, e-mail change of an account with its own login, a member
  already linked to another external_id, over the plan's member limit;
- envelope 400 (no rows, not a list, a row that is not an object);
- access: anonymous 401, member 403, read-only key 403, write key without `members:sync` 403 with a message
  (issue 18), key with `members:sync` 200, other organization 404.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.graph.models import GraphOutbox
from apps.organizations.models import Invitation, Membership, Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, plan
from apps.organizations.tests.utils import api_key_client, org_url, token_from_mail
from apps.users.models import User
from apps.users.tests.factories import UserFactory
from conftest import client_for

pytestmark = pytest.mark.django_db


def sync_url(organization) -> str:
    return org_url(organization, "members/sync/")


def synced(organization) -> dict[str, Membership]:
    return {
        m.external_id: m
        for m in Membership.objects.filter(organization=organization, external_id__isnull=False).select_related("user")
    }


PEOPLE = [
    {"external_id": "crm-1", "email": "Ada@Example.com", "full_name": "Ada", "interests": ["Math", "math", "poetry"]},
    {"external_id": "crm-2", "email": "bob@example.com"},
]


def test_sync_creates_members(organization, admin_user):
    """New people: accounts without a usable password, member role, external ids, profile; whole response."""
    response = client_for(admin_user).post(sync_url(organization), {"members": PEOPLE}, format="json")
    assert response.status_code == 200, response.content
    rows = synced(organization)
    assert response.json() == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "invited": 0,
        "rejected": 0,
        "results": [
            {"index": i, "external_id": ext, "status": "created", "user": rows[ext].user_id,
             "membership": rows[ext].pk, "invitation": None, "errors": [], "notes": []}
            for i, ext in enumerate(["crm-1", "crm-2"])
        ],
    }  # fmt: skip
    ada = rows["crm-1"].user
    assert (ada.email, ada.full_name, ada.interests) == ("ada@example.com", "Ada", ["math", "poetry"])
    assert not ada.has_usable_password()
    assert {m.role for m in rows.values()} == {Role.MEMBER}


def test_same_payload_twice_is_unchanged(organization, admin_user):
    """Idempotent: the second identical sync changes nothing."""
    client = client_for(admin_user)
    client.post(sync_url(organization), {"members": PEOPLE}, format="json")
    before = sorted(Membership.objects.filter(organization=organization).values_list("pk", "user_id", "updated_at"))
    users_before = sorted(User.objects.values_list("pk", "email", "full_name", "interests"))
    body = client.post(sync_url(organization), {"members": PEOPLE}, format="json").json()
    assert (body["created"], body["updated"], body["unchanged"], body["rejected"]) == (0, 0, 2, 0)
    assert (
        sorted(Membership.objects.filter(organization=organization).values_list("pk", "user_id", "updated_at"))
        == before
    )
    assert sorted(User.objects.values_list("pk", "email", "full_name", "interests")) == users_before


def test_managed_accounts_are_updated(organization, admin_user):
    """A synced account (no password, no other organization) takes the new e-mail, name and interests."""
    client = client_for(admin_user)
    client.post(sync_url(organization), {"members": PEOPLE}, format="json")
    changed = [
        {"external_id": "crm-1", "email": "ada.l@example.com", "full_name": "Ada Lovelace", "interests": []},
        {"external_id": "crm-2", "email": "bob@example.com"},
    ]
    body = client.post(sync_url(organization), {"members": changed}, format="json").json()
    assert [row["status"] for row in body["results"]] == ["updated", "unchanged"]
    ada = synced(organization)["crm-1"].user
    assert (ada.email, ada.full_name, ada.interests) == ("ada.l@example.com", "Ada Lovelace", [])


INVITED_NOTE = (
    "An invitation is being e-mailed to this address; the person joins when they accept it. The external_id cannot be "
    "attached before then: send this row again after they accept."
)
STILL_INVITED_NOTE = (
    "An invitation to this address is pending (no new one was sent); the person joins when they accept it. The "
    "external_id cannot be attached before then: send this row again after they accept."
)


def post_sync(client, organization, payload, capture):
    with capture(execute=True):
        response = client.post(sync_url(organization), {"members": payload}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_other_peoples_accounts_are_invited_not_linked(
    organization, admin_user, other_organization, mail_sent, django_capture_on_commit_callbacks
):
    """A person with their own password and the owner of another organization (even one without a password)
    get an invitation each, never a membership; the same payload again sends nothing more."""
    carol = UserFactory(email="carol@example.com", full_name="Carol")
    other_owner = other_organization.memberships.get().user
    other_owner.set_unusable_password()
    other_owner.save()
    payload = [
        {"external_id": "crm-3", "email": "Carol@Example.com", "full_name": "Someone else", "interests": ["x"]},
        {"external_id": "crm-4", "email": other_owner.email},
        {"external_id": "crm-5", "email": "new@example.com"},
    ]
    client = client_for(admin_user)
    GraphOutbox.objects.all().delete()
    body = post_sync(client, organization, payload, django_capture_on_commit_callbacks)

    invitations = {i.email: i for i in Invitation.objects.filter(organization=organization)}
    assert set(invitations) == {"carol@example.com", other_owner.email.lower()}
    assert {(i.role, i.status, i.invited_by_id) for i in invitations.values()} == {
        (Role.MEMBER, Invitation.Status.PENDING, admin_user.pk)
    }
    assert (body["created"], body["updated"], body["unchanged"], body["invited"], body["rejected"]) == (1, 0, 0, 2, 0)
    assert body["results"][:2] == [
        {"index": 0, "external_id": "crm-3", "status": "invited", "user": None, "membership": None,
         "invitation": invitations["carol@example.com"].pk, "errors": [], "notes": [INVITED_NOTE]},
        {"index": 1, "external_id": "crm-4", "status": "invited", "user": None, "membership": None,
         "invitation": invitations[other_owner.email.lower()].pk, "errors": [], "notes": [INVITED_NOTE]},
    ]  # fmt: skip
    assert not Membership.objects.filter(organization=organization, user__in=[carol, other_owner]).exists()
    assert set(synced(organization)) == {"crm-5"}
    assert sorted(m.to[0] for m in mail_sent) == sorted(["carol@example.com", other_owner.email.lower()])
    assert all(f"join {organization.name} on Beacon as member" in m.body for m in mail_sent)
    # nothing of theirs reaches this organization's graph, and their profiles are untouched
    assert set(GraphOutbox.objects.filter(organization=organization).values_list("object_key", flat=True)) == {
        str(synced(organization)["crm-5"].user_id)
    }
    carol.refresh_from_db()
    assert (carol.full_name, carol.interests, carol.has_usable_password()) == ("Carol", [], True)

    again = post_sync(client, organization, payload, django_capture_on_commit_callbacks)
    assert (again["created"], again["unchanged"], again["invited"]) == (0, 1, 2)
    assert [row["notes"] for row in again["results"][:2]] == [[STILL_INVITED_NOTE]] * 2
    assert [row["invitation"] for row in again["results"][:2]] == [row["invitation"] for row in body["results"][:2]]
    assert len(mail_sent) == 2
    assert Invitation.objects.filter(organization=organization).count() == 2
    assert not Membership.objects.filter(organization=organization, user__in=[carol, other_owner]).exists()


def test_api_key_invitations_name_no_inviter(organization, mail_sent, django_capture_on_commit_callbacks):
    """With a write key (no membership), the organization itself invites: no invited_by, no person in the mail."""
    UserFactory(email="carol@example.com")
    body = post_sync(
        api_key_client(organization, scopes=("members:sync",)),
        organization,
        [{"external_id": "crm-3", "email": "carol@example.com"}],
        django_capture_on_commit_callbacks,
    )
    assert body["results"][0]["status"] == "invited"
    invitation = Invitation.objects.get(organization=organization)
    assert invitation.invited_by is None
    assert len(mail_sent) == 1
    assert f"You are invited to join {organization.name} on Beacon as member." in mail_sent[0].body


def test_after_accepting_the_external_id_is_attached_profile_kept(
    organization, admin_user, mail_sent, django_capture_on_commit_callbacks
):
    """The invited person accepts; the same row then links the external_id to their membership ("updated")
    without rewriting their profile (a note says so). A member without external_id is linked; an admin keeps
    the admin role."""
    person = UserFactory(email="carol@example.com", full_name="Carol")
    admin_membership = Membership.objects.get(user=admin_user, organization=organization)
    payload = [
        {"external_id": "crm-3", "email": "carol@example.com", "full_name": "Someone else"},
        {"external_id": "crm-admin", "email": admin_user.email},
    ]
    client = client_for(admin_user)
    body = post_sync(client, organization, payload, django_capture_on_commit_callbacks)
    assert [row["status"] for row in body["results"]] == ["invited", "updated"]
    admin_membership.refresh_from_db()
    assert (admin_membership.external_id, admin_membership.role) == ("crm-admin", Role.ADMIN)

    accepted = client_for(person).post("/api/v1/invitations/accept/", {"token": token_from_mail(mail_sent[0])})
    assert accepted.status_code == 201, accepted.content
    body = post_sync(client, organization, payload, django_capture_on_commit_callbacks)
    assert [row["status"] for row in body["results"]] == ["updated", "unchanged"]
    assert body["results"][0]["notes"] == [
        "full_name not changed: carol@example.com has an account of their own (or belongs to another organization), "
        "so only they can edit their profile."
    ]
    membership = synced(organization)["crm-3"]
    assert (membership.user, membership.role, body["results"][0]["membership"]) == (person, Role.MEMBER, membership.pk)
    person.refresh_from_db()
    assert (person.full_name, person.has_usable_password()) == ("Carol", True)
    assert len(mail_sent) == 1


def test_accounts_this_sync_manages_are_linked_directly(
    organization, admin_user, mail_sent, django_capture_on_commit_callbacks
):
    """An account an earlier sync created (no password, no other organization) that left the organization is
    linked again without an invitation (and no e-mail), and its profile follows the row."""
    client = client_for(admin_user)
    client.post(sync_url(organization), {"members": PEOPLE}, format="json")
    ada = synced(organization)["crm-1"].user
    Membership.objects.filter(organization=organization, user=ada).delete()
    row = {"external_id": "crm-1b", "email": "ada@example.com", "full_name": "Ada L"}
    with django_capture_on_commit_callbacks(execute=True):
        body = client.post(sync_url(organization), {"members": [row]}, format="json").json()
    assert body["results"][0]["status"] == "created"
    assert synced(organization)["crm-1b"].user == ada
    ada.refresh_from_db()
    assert ada.full_name == "Ada L"
    assert not Invitation.objects.exists() and mail_sent == []


def test_invitations_take_plan_seats(admin_user, mail_sent, django_capture_on_commit_callbacks):
    """Free plan (5 seats): the admin, 3 new members and 1 invitation fill it; the next new row is rejected.
    Sent again, the pending invitation needs no new seat and stays "invited"."""
    organization = OrganizationFactory(plan=plan("free"))
    MembershipFactory(organization=organization, user=admin_user, role=Role.ADMIN)
    UserFactory(email="own@example.com")
    people = [{"external_id": f"p{i}", "email": f"p{i}@example.com"} for i in range(3)]
    people += [{"external_id": "own", "email": "own@example.com"}, {"external_id": "p9", "email": "p9@example.com"}]
    client = client_for(admin_user)
    body = post_sync(client, organization, people, django_capture_on_commit_callbacks)
    assert [row["status"] for row in body["results"]] == ["created"] * 3 + ["invited", "rejected"]
    again = post_sync(client, organization, people, django_capture_on_commit_callbacks)
    assert [row["status"] for row in again["results"]] == ["unchanged"] * 3 + ["invited", "rejected"]
    assert len(mail_sent) == 1


def test_bad_rows_are_rejected_good_rows_kept(organization, admin_user):
    """Each bad row has its reason; the good ones are stored."""
    own_login = UserFactory(email="dave@example.com")
    MembershipFactory(organization=organization, user=own_login, external_id="crm-dave")
    MembershipFactory(organization=organization, user=UserFactory(email="erin@example.com"), external_id="crm-erin")
    UserFactory(email="frank@example.com")
    payload = [
        {"external_id": "ok", "email": "ok@example.com"},  # 0
        {"external_id": "bad-mail", "email": "not-an-email"},  # 1
        {"external_id": "n", "email": "n@example.com", "interests": "math"},  # 2
        {"external_id": "ok", "email": "other@example.com"},  # 3
        {"external_id": "ok-2", "email": "OK@example.com"},  # 4
        {"external_id": "crm-dave", "email": "dave.new@example.com"},  # 5: own login
        {"external_id": "crm-dave", "email": "frank@example.com"},  # 6: duplicate ext in payload
        {"external_id": "crm-x", "email": "erin@example.com"},  # 7: erin is linked to crm-erin
        {"email": "no-ext@example.com"},  # 8
    ]
    body = client_for(admin_user).post(sync_url(organization), {"members": payload}, format="json").json()
    errors = {row["index"]: row["errors"] for row in body["results"] if row["status"] == "rejected"}
    assert errors == {
        1: ["email: Enter a valid email address."],
        2: ['interests: Expected a list of items but got type "str".'],
        3: ["external_id 'ok' appears more than once (first at row 0)."],
        4: ["email ok@example.com appears more than once (first at row 0)."],
        5: [
            "external_id 'crm-dave' is linked to dave@example.com, an account with its own login; a sync cannot "
            "change its e-mail."
        ],
        6: ["external_id 'crm-dave' appears more than once (first at row 5)."],
        7: ["erin@example.com is already a member with external_id 'crm-erin'."],
        8: ["external_id: This field is required."],
    }
    assert body["created"] == 1
    assert synced(organization)["ok"].user.email == "ok@example.com"
    own_login.refresh_from_db()
    assert own_login.email == "dave@example.com"


def test_email_of_another_account_is_rejected(organization, admin_user):
    """Changing a managed account's e-mail to one that another account holds: rejected."""
    client = client_for(admin_user)
    client.post(sync_url(organization), {"members": PEOPLE}, format="json")
    UserFactory(email="taken@example.com")
    body = client.post(
        sync_url(organization), {"members": [{"external_id": "crm-2", "email": "taken@example.com"}]}, format="json"
    ).json()
    assert body["results"][0]["errors"] == ["email taken@example.com belongs to another account."]
    assert synced(organization)["crm-2"].user.email == "bob@example.com"


def test_plan_member_limit(admin_user):
    """Free plan (5 members, owner and admin included): rows beyond the limit are rejected, naming it."""
    organization = OrganizationFactory(plan=plan("free"))
    MembershipFactory(organization=organization, user=admin_user, role=Role.ADMIN)
    people = [{"external_id": f"p{i}", "email": f"p{i}@example.com"} for i in range(6)]
    body = client_for(admin_user).post(sync_url(organization), {"members": people}, format="json").json()
    assert (body["created"], body["rejected"]) == (4, 2)
    assert body["results"][5]["errors"] == [
        "The Free plan allows 5 members (including pending invitations); upgrade the plan or remove some first."
    ]
    assert Membership.objects.filter(organization=organization).count() == 5


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "members: This field is required."),
        ({"members": []}, "members: Ensure this field has at least 1 elements."),
        ({"members": "x"}, 'members: Expected a list of items but got type "str".'),
        ({"members": [1]}, 'members[0]: Expected a dictionary of items but got type "int".'),
    ],
)
def test_bad_envelope_is_400(organization, admin_user, payload, message):
    """No rows or not a list: 400."""
    response = client_for(admin_user).post(sync_url(organization), payload, format="json")
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_access(organization, member, other_organization):
    """Anonymous 401, member 403, read-only and write keys 403 (issue 18: the dedicated scope), a key with
    `members:sync` 200, other organization 404."""
    payload = {"members": [{"external_id": "k", "email": "k@example.com"}]}
    assert APIClient().post(sync_url(organization), payload, format="json").status_code == 401
    assert client_for(member).post(sync_url(organization), payload, format="json").status_code == 403
    read_only = api_key_client(organization, scopes=("read",))
    assert read_only.post(sync_url(organization), payload, format="json").status_code == 403
    write = api_key_client(organization, scopes=("read", "write")).post(sync_url(organization), payload, format="json")
    assert write.status_code == 403
    assert write.json()["error"]["message"] == "This API key lacks the 'members:sync' scope."
    outsider = other_organization.memberships.get().user
    assert client_for(outsider).post(sync_url(organization), payload, format="json").status_code == 404
    assert not User.objects.filter(email="k@example.com").exists()
    sync_key = api_key_client(organization, scopes=("members:sync",))
    assert sync_key.post(sync_url(organization), payload, format="json").json()["created"] == 1


def test_invited_rows_cost_the_same_queries_for_2_or_12(
    organization, admin_user, mail_sent, django_capture_on_commit_callbacks
):
    """Customer-size drill: 2,000 "invited" rows into an organization of 20,000 members took 23.8 s, a handful of
    queries per row (two COUNTs of the members and invitations each). Now their invitations are made together:
    2 or 12 invited rows cost the same queries, each still gets its own invitation and e-mail, and an expired open
    invitation of one of them is replaced (revoked, a new one pending)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    people = [UserFactory(email=f"person{n}@example.com") for n in range(14)]  # accounts with their own password
    expired = Invitation.objects.create(
        organization=organization, email="person13@example.com", role=Role.MEMBER, token_hash="x" * 64,
        expires_at=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    client = client_for(admin_user)

    def sync(users, prefix):
        payload = [{"external_id": f"{prefix}-{n}", "email": user.email} for n, user in enumerate(users)]
        with CaptureQueriesContext(connection) as queries:
            body = post_sync(client, organization, payload, django_capture_on_commit_callbacks)
        assert [row["status"] for row in body["results"]] == ["invited"] * len(users)
        return body, len(queries.captured_queries)

    few_body, few = sync(people[:2], "a")
    many_body, many = sync(people[2:], "b")
    assert few == many
    pending = Invitation.objects.filter(organization=organization, revoked_at__isnull=True, accepted_at__isnull=True)
    assert sorted(pending.values_list("email", flat=True)) == sorted(user.email for user in people)
    assert [row["invitation"] for row in few_body["results"] + many_body["results"]] == [
        pending.get(email=user.email).pk for user in people
    ]
    expired.refresh_from_db()
    assert expired.revoked_at is not None
    assert sorted(m.to[0] for m in mail_sent) == sorted(user.email for user in people)
    assert not Membership.objects.filter(organization=organization, user__in=people).exists()
