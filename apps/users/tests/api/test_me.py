"""The caller's profile: GET/PATCH /api/v1/users/me/.

Coverage:
- GET: the whole profile of the caller (and only the caller's, with two users side by side);
- PATCH: full_name/timezone/locale/interests -> 200 whole body and persisted; a single field leaves the others alone;
  blank full_name and empty interests allowed; email, is_staff, id and date_joined cannot be changed this way;
- PATCH validation: unknown time zone 'Mars/Olympus' -> 400 naming `timezone`, bad locale, interests not a list /
  null / an over-long item / too many items, full_name too long, malformed JSON -> 400; nothing persisted;
- access: anonymous -> 401, organization API key -> 403 envelope (GET and PATCH), unsupported methods -> 405.
"""

import pytest
from django.contrib.auth import get_user_model

from apps.organizations.tests.factories import api_key_for
from apps.users.tests.factories import UserFactory
from apps.users.tests.utils import ME_URL, error, iso, user_body
from conftest import client_for

pytestmark = pytest.mark.django_db

User = get_user_model()

API_KEY_FORBIDDEN = error("permission_denied", "This endpoint needs a user's token; API keys cannot use it.")


@pytest.fixture
def profiled_user(db):
    return UserFactory(
        email="marie@example.com",
        full_name="Marie Curie",
        timezone="Europe/Paris",
        locale="fr",
        interests=["physics", "chemistry"],
    )


def test_me_returns_the_callers_profile(profiled_user):
    """GET -> 200 with the caller's whole profile."""
    response = client_for(profiled_user).get(ME_URL)

    assert response.status_code == 200
    assert response.json() == {
        "id": profiled_user.id,
        "email": "marie@example.com",
        "full_name": "Marie Curie",
        "timezone": "Europe/Paris",
        "locale": "fr",
        "interests": ["physics", "chemistry"],
        "date_joined": iso(profiled_user.date_joined),
    }


def test_me_is_per_caller(profiled_user, user):
    """Two users each get their own profile from the same URL."""
    assert client_for(profiled_user).get(ME_URL).json() == user_body(profiled_user)
    assert client_for(user).get(ME_URL).json() == user_body(user)


def test_me_patch_updates_and_persists_the_profile(profiled_user):
    """PATCH all profile fields -> 200 with the updated profile; the row holds the new values."""
    payload = {
        "full_name": "Maria Skłodowska-Curie",
        "timezone": "Europe/Warsaw",
        "locale": "pl-PL",
        "interests": ["radioactivity"],
    }

    response = client_for(profiled_user).patch(ME_URL, payload)

    assert response.status_code == 200, response.data
    assert response.json() == {
        "id": profiled_user.id,
        "email": "marie@example.com",
        **payload,
        "date_joined": iso(profiled_user.date_joined),
    }
    stored = User.objects.get(pk=profiled_user.pk)
    assert (stored.full_name, stored.timezone, stored.locale, stored.interests) == (
        "Maria Skłodowska-Curie",
        "Europe/Warsaw",
        "pl-PL",
        ["radioactivity"],
    )


def test_me_patch_one_field_leaves_the_others(profiled_user):
    """PATCH only the time zone -> only the time zone changes."""
    response = client_for(profiled_user).patch(ME_URL, {"timezone": "America/New_York"})

    assert response.status_code == 200, response.data
    expected = {**user_body(profiled_user), "timezone": "America/New_York"}
    assert response.json() == expected
    assert user_body(profiled_user) == expected
    assert profiled_user.full_name == "Marie Curie"


def test_me_patch_allows_blank_name_and_no_interests(profiled_user):
    """An empty full_name and an empty interests list are accepted and stored."""
    response = client_for(profiled_user).patch(ME_URL, {"full_name": "", "interests": []})

    assert response.status_code == 200, response.data
    profiled_user.refresh_from_db()
    assert (profiled_user.full_name, profiled_user.interests) == ("", [])
    assert response.json()["full_name"] == ""
    assert response.json()["interests"] == []


def test_me_patch_cannot_change_email_staff_or_identity(profiled_user):
    """email, is_staff, is_superuser, id and date_joined in a PATCH are ignored."""
    before = user_body(profiled_user)

    response = client_for(profiled_user).patch(
        ME_URL,
        {
            "email": "someone-else@example.com",
            "is_staff": True,
            "is_superuser": True,
            "id": profiled_user.id + 1000,
            "date_joined": "2000-01-01T00:00:00Z",
        },
    )

    assert response.status_code == 200
    assert response.json() == before
    profiled_user.refresh_from_db()
    assert user_body(profiled_user) == before
    assert (profiled_user.is_staff, profiled_user.is_superuser) == (False, False)


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "'Mars/Olympus' is not an IANA time zone (e.g. 'Europe/Paris')."),
        ({"locale": "French"}, "locale", "This value does not match the required pattern."),
        ({"interests": "physics"}, "interests", 'Expected a list of items but got type "str".'),
        ({"interests": None}, "interests", "This field may not be null."),
        ({"full_name": "x" * 201}, "full_name", "Ensure this field has no more than 200 characters."),
        (
            {"interests": [f"topic-{i}" for i in range(101)]},
            "interests",
            "Ensure this field has no more than 100 elements.",
        ),
    ],
    ids=["timezone", "locale", "interests-str", "interests-null", "full_name-long", "interests-too-many"],
)
def test_me_patch_invalid_value_is_400_and_persists_nothing(profiled_user, payload, field, message):
    """An invalid value -> 400 naming the field; the stored profile is unchanged."""
    before = user_body(profiled_user)

    response = client_for(profiled_user).patch(ME_URL, payload)

    assert response.status_code == 400
    assert response.json() == error("invalid", f"Invalid input. {field}: {message}", {field: [message]})
    assert user_body(profiled_user) == before


def test_me_patch_over_long_interest_is_400(profiled_user):
    """An interest longer than 64 characters -> 400 pointing at that list item."""
    response = client_for(profiled_user).patch(ME_URL, {"interests": ["ok", "y" * 65]})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid",
        "Invalid input. interests[1]: Ensure this field has no more than 64 characters.",
        {"interests": {"1": ["Ensure this field has no more than 64 characters."]}},
    )
    profiled_user.refresh_from_db()
    assert profiled_user.interests == ["physics", "chemistry"]


def test_me_patch_malformed_json_is_400_parse_error(profiled_user):
    """A truncated JSON body -> 400 "parse_error"."""
    response = client_for(profiled_user).patch(ME_URL, '{"full_name": ', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    profiled_user.refresh_from_db()
    assert profiled_user.full_name == "Marie Curie"


@pytest.mark.parametrize("method", ["get", "patch"])
def test_me_anonymous_is_401(api_client, method):
    """No credentials -> 401 "not_authenticated"."""
    response = getattr(api_client, method)(ME_URL, {"full_name": "x"} if method == "patch" else None)

    assert response.status_code == 401
    assert response.json() == error("not_authenticated", "Authentication credentials were not provided.")


@pytest.mark.parametrize("method", ["get", "patch"])
def test_me_with_an_api_key_is_403(api_client, organization, owner, method):
    """An organization API key authenticates, but is not a person -> 403 envelope."""
    _api_key, key = api_key_for(organization)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    response = getattr(api_client, method)(ME_URL, {"full_name": "Hijacked"} if method == "patch" else None)

    assert response.status_code == 403
    assert response.json() == API_KEY_FORBIDDEN
    assert not User.objects.filter(full_name="Hijacked").exists()


@pytest.mark.parametrize("method", ["put", "post", "delete"])
def test_me_other_methods_are_405(user, method):
    """PUT, POST and DELETE are not offered -> 405; the account still exists (`users/me/delete/` deletes it, with
    the password: test_account_deletion.py)."""
    response = getattr(client_for(user), method)(ME_URL, {})

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert User.objects.filter(pk=user.pk).exists()
