"""Deleting one's own account (`POST /api/v1/users/me/delete/`, docs/api.md#deleting-your-account): the password
confirms; every organization of theirs erases them (as `members/{id}/erase/`); the account keeps nothing of them and
can no longer sign in, its tokens (a widget's too) refused; the last owner of an organization is refused and nothing
changes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.organizations.models import Membership, Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.organizations.tests.rows import member_rows
from apps.progress.models import Interaction, Progress
from apps.users.api.serializers import token_pair
from apps.users.models import User
from apps.users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me/"
DELETE_ME = "/api/v1/users/me/delete/"


def _client(user) -> tuple[APIClient, dict]:
    tokens = token_pair(user)
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}"), tokens


def test_a_person_deletes_their_account_and_every_organization_erases_them(organization, other_organization):
    person = UserFactory()
    colleague = MembershipFactory(organization=organization, role=Role.MEMBER).user
    for org in (organization, other_organization):
        MembershipFactory(organization=org, user=person, role=Role.ADMIN)
        member_rows(org, person)
    member_rows(organization, colleague)
    client, tokens = _client(person)

    response = client.post(DELETE_ME, {"password": PASSWORD}, format="json")

    assert response.status_code == 204, response.content
    assert not Membership.objects.filter(user=person).exists()
    for model in (Interaction, Progress):
        assert not model.objects.filter(user=person).exists()
        assert model.objects.filter(user=colleague).exists()  # nobody else's data
    account = User.objects.get(pk=person.pk)
    assert account.email.startswith(f"deleted-{person.pk}-") and account.email.endswith("@erased.invalid")
    assert (account.full_name, account.interests, account.is_active) == ("", [], False)
    assert not account.has_usable_password()
    # Signed out everywhere, and no way back in.
    assert client.get(ME).status_code == 401
    assert (
        APIClient().post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json").status_code
        == 401
    )
    login = {"email": person.email, "password": PASSWORD}
    assert APIClient().post("/api/v1/auth/token/", login, format="json").status_code == 401


def test_the_password_confirms_and_the_last_owner_is_refused(organization, owner):
    """A wrong or missing password: 400 naming `password`; the last owner of an organization: 400 `last_owner` naming
    it. Nothing changes either way; once someone else is owner, the deletion goes through."""
    elsewhere = OrganizationFactory()
    MembershipFactory(organization=elsewhere, user=owner, role=Role.MEMBER)
    client, _tokens = _client(owner)

    for body in ({"password": "wrong"}, {}):
        response = client.post(DELETE_ME, body, format="json")
        assert response.status_code == 400 and "password" in response.json()["error"]["details"], response.content
    refused = client.post(DELETE_ME, {"password": PASSWORD}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "last_owner", refused.content
    assert organization.slug in refused.json()["error"]["message"]
    assert Membership.objects.filter(user=owner).count() == 2
    assert User.objects.get(pk=owner.pk).is_active

    MembershipFactory(organization=organization, role=Role.OWNER)
    assert client.post(DELETE_ME, {"password": PASSWORD}, format="json").status_code == 204
    assert not Membership.objects.filter(user=owner).exists()


def test_a_deleted_accounts_widget_token_is_refused(organization):
    """An identified visitor token of the deleted account (the widget of a site that signed them in) is refused from
    then on: nothing more attaches to the account."""
    from apps.bots.tests.factories import BotFactory
    from apps.widget.services import WidgetTokenInvalid, visitor_token_issue, visitor_token_verify

    person = UserFactory()
    MembershipFactory(organization=organization, user=person, role=Role.MEMBER)
    bot = BotFactory(organization=organization, allowed_origins=["https://example.com"])
    token, _visitor = visitor_token_issue(bot=bot, origin="https://example.com", user=person)
    assert visitor_token_verify(token=token, bot=bot).user_id == person.pk

    client, _tokens = _client(person)
    assert client.post(DELETE_ME, {"password": PASSWORD}, format="json").status_code == 204

    with pytest.raises(WidgetTokenInvalid):
        visitor_token_verify(token=token, bot=bot)


def test_a_request_that_authenticated_before_the_deletion_writes_nothing_onto_the_account(organization):
    """A profile change or a password change whose request authenticated just before the deletion committed holds the
    account as it was (active, named): it is refused (401 `account_inactive`) instead of writing a name or a usable
    password back onto the erased account."""
    from apps.core.exceptions import ApplicationError
    from apps.users.services import user_delete, user_password_change, user_update

    person = UserFactory(full_name="Ada Lovelace")
    MembershipFactory(organization=organization, user=person, role=Role.MEMBER)
    in_flight = User.objects.get(pk=person.pk)  # what the other request loaded when it authenticated
    user_delete(user=person, password=PASSWORD)

    calls = (
        lambda: user_update(user=in_flight, data={"full_name": "Ada King"}),
        lambda: user_password_change(user=in_flight, old_password=PASSWORD, new_password="a-new-long-password-1"),
    )
    for call in calls:
        with pytest.raises(ApplicationError) as refused:
            call()
        assert (refused.value.status_code, refused.value.get_codes()) == (401, "account_inactive")
    erased = User.objects.get(pk=person.pk)
    assert erased.full_name == "" and not erased.has_usable_password() and not erased.is_active
