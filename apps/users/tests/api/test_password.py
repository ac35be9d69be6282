"""Password API: /api/v1/auth/password/change/, password/reset/, password/reset/confirm/ and the e-mailed
HTML link /accounts/reset/<uid>/<token>/.

Coverage:
- change: 200 with a fresh token pair, the new password logs in and the old one does not, every earlier refresh
  token (including rotated ones) is revoked while the returned one works; wrong old_password -> 400 on
  `old_password` with nothing changed; weak new password -> 400 naming `new_password`, nothing changed;
  missing fields -> 400; anonymous -> 401; API key -> 403;
- reset request: 202 with no body and exactly one e-mail, sent only on commit, to the stored address (request
  e-mail matched case-insensitively), carrying /accounts/reset/<uid>/<token>/ and the API hint; unknown or inactive
  account -> 202 and no e-mail; malformed e-mail -> 400;
- reset confirm: with the mailed uid/token -> 204, new password logs in, old one does not, refresh tokens revoked;
  the same token again -> 400 "reset_token_invalid"; garbage / overflowing / non-UTF-8 uid and wrong token -> 400
  (never 500); weak new password -> 400 and the token stays usable; missing fields -> 400;
- HTML link: GET -> 302 to Django's set-password form, which renders (200) and resets the password; a garbage link
  renders the "invalid link" page (200, not 404/500); the form reset revokes refresh tokens.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apps.organizations.tests.factories import api_key_for
from apps.users.api.serializers import token_pair
from apps.users.tests.factories import PASSWORD, UserFactory
from apps.users.tests.utils import (
    NEW_PASSWORD,
    PASSWORD_CHANGE_URL,
    PASSWORD_RESET_CONFIRM_URL,
    PASSWORD_RESET_URL,
    REFRESH_URL,
    TOKEN_URL,
    assert_token_pair_for,
    error,
)
from conftest import client_for

pytestmark = pytest.mark.django_db

User = get_user_model()

RESET_LINK = re.compile(r"http://testserver/accounts/reset/(?P<uid>[^/\s]+)/(?P<token>[^/\s]+)/")
RESET_INVALID = error("reset_token_invalid", "This password reset link is invalid or has expired.")


def can_log_in(email: str, password: str) -> bool:
    return APIClient().post(TOKEN_URL, {"email": email, "password": password}).status_code == 200


def refresh_status(refresh: str) -> int:
    return APIClient().post(REFRESH_URL, {"refresh": refresh}).status_code


def request_reset(email: str, capture) -> tuple[int, str]:
    """POST a reset request, running its on-commit callbacks; returns (status, body text)."""
    with capture(execute=True):
        response = APIClient().post(PASSWORD_RESET_URL, {"email": email})
    return response.status_code, response.content.decode()


def mailed_link(mail) -> dict:
    match = RESET_LINK.search(mail.body)
    assert match, mail.body
    return match.groupdict()


# --------------------------------------------------------------------------- change


def test_password_change_returns_a_fresh_pair_and_revokes_older_refresh_tokens(user):
    """Change -> 200 {access, refresh}; new password logs in, old does not; older refresh tokens are 401."""
    older = token_pair(user)["refresh"]
    rotated = APIClient().post(REFRESH_URL, {"refresh": token_pair(user)["refresh"]}).json()["refresh"]

    response = client_for(user).post(PASSWORD_CHANGE_URL, {"old_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 200, response.data
    body = response.json()
    assert_token_pair_for(body, user)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    # Every outstanding refresh token but the one just returned is blacklisted.
    assert list(
        OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).values_list("token", flat=True)
    ) == [body["refresh"]]
    assert refresh_status(older) == 401
    assert refresh_status(rotated) == 401
    assert refresh_status(body["refresh"]) == 200
    assert can_log_in(user.email, NEW_PASSWORD)
    assert not can_log_in(user.email, PASSWORD)


def bearer_status(access: str) -> tuple[int, str | None]:
    """GET /users/me/ with `access`: (status, error code)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    response = client.get("/api/v1/users/me/")
    return response.status_code, response.json().get("error", {}).get("code")


def test_password_change_ends_the_access_tokens_of_every_other_session_at_once(user):
    """Another session's access token (and this request's own) is refused from the change on, not when it expires
    (15 minutes later): 401 `password_changed`; the pair returned works."""
    other_session = token_pair(user)["access"]
    this_session = token_pair(user)["access"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {this_session}")
    assert bearer_status(other_session) == (200, None)

    response = client.post(PASSWORD_CHANGE_URL, {"old_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 200, response.data
    assert bearer_status(other_session) == (401, "password_changed")
    assert bearer_status(this_session) == (401, "password_changed")
    assert bearer_status(response.json()["access"]) == (200, None)


def test_password_change_wrong_old_password_is_400_and_changes_nothing(user):
    """A wrong current password -> 400 naming `old_password`; the password and tokens are untouched."""
    refresh = token_pair(user)["refresh"]

    response = client_for(user).post(PASSWORD_CHANGE_URL, {"old_password": "guess", "new_password": NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid",
        "Invalid input. old_password: The current password is not correct.",
        {"old_password": ["The current password is not correct."]},
    )
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert not BlacklistedToken.objects.exists()
    assert refresh_status(refresh) == 200


def test_password_change_weak_new_password_is_400_and_changes_nothing(user):
    """A numeric new password -> 400 with the validator's message; the password is unchanged."""
    response = client_for(user).post(PASSWORD_CHANGE_URL, {"old_password": PASSWORD, "new_password": "84736291055"})

    assert response.status_code == 400
    envelope = response.json()["error"]
    assert envelope["code"] == "invalid"
    assert [m for errors in envelope["details"].values() for m in errors] == ["This password is entirely numeric."]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert not BlacklistedToken.objects.exists()


def test_password_change_missing_fields_is_400(user):
    """An empty body -> 400 naming both fields."""
    response = client_for(user).post(PASSWORD_CHANGE_URL, {})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid",
        "Invalid input. old_password: This field is required.; new_password: This field is required.",
        {"old_password": ["This field is required."], "new_password": ["This field is required."]},
    )


def test_password_change_anonymous_is_401(api_client):
    """No credentials -> 401 "not_authenticated"."""
    response = api_client.post(PASSWORD_CHANGE_URL, {"old_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 401
    assert response.json() == error("not_authenticated", "Authentication credentials were not provided.")


def test_password_change_with_api_key_is_403(api_client, organization):
    """An organization API key is not a person -> 403."""
    _api_key, key = api_key_for(organization)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    response = api_client.post(PASSWORD_CHANGE_URL, {"old_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "This endpoint needs a user's token; API keys cannot use it.")


# --------------------------------------------------------------------------- reset request


def test_password_reset_mails_one_link(user, mail_sent):
    """Reset request (e-mail in another case) -> 202, no body; the worker's task mails one e-mail with the reset
    link (the request writes nothing: it publishes the task at once)."""
    response = APIClient().post(PASSWORD_RESET_URL, {"email": user.email.upper()})

    assert response.status_code == 202
    assert response.content == b""
    assert len(mail_sent) == 1
    mail = mail_sent[0]
    assert mail.to == [user.email]
    assert mail.subject == "Reset your Beacon password"
    link = mailed_link(mail)
    assert link["uid"] == urlsafe_base64_encode(str(user.pk).encode())
    assert default_token_generator.check_token(user, link["token"])
    assert f'{{"uid": "{link["uid"]}", "token": "{link["token"]}", "new_password": "..."}}' in mail.body
    assert f"Hello {user.get_short_name()}," in mail.body
    assert "for 24 hours" in mail.body


def test_password_reset_unknown_email_is_202_without_mail(db, mail_sent, django_capture_on_commit_callbacks):
    """An address with no account -> the same 202, and no e-mail."""
    status, body = request_reset("nobody@example.com", django_capture_on_commit_callbacks)

    assert (status, body) == (202, "")
    assert mail_sent == []


def test_password_reset_inactive_account_is_202_without_mail(mail_sent, django_capture_on_commit_callbacks):
    """A deactivated account -> 202 and no e-mail."""
    inactive = UserFactory(is_active=False)

    status, body = request_reset(inactive.email, django_capture_on_commit_callbacks)

    assert (status, body) == (202, "")
    assert mail_sent == []


def test_password_reset_malformed_email_is_400(api_client, mail_sent, django_capture_on_commit_callbacks):
    """Not an e-mail address -> 400 naming `email`, nothing published."""
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(PASSWORD_RESET_URL, {"email": "not-an-address"})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid", "Invalid input. email: Enter a valid email address.", {"email": ["Enter a valid email address."]}
    )
    assert mail_sent == []


# --------------------------------------------------------------------------- reset confirm


def test_password_reset_confirm_sets_the_password_and_revokes_tokens(
    user, mail_sent, django_capture_on_commit_callbacks
):
    """Confirm with the mailed uid/token -> 204; new password logs in, old does not; refresh and access tokens
    revoked."""
    pair = token_pair(user)
    refresh, access = pair["refresh"], pair["access"]
    request_reset(user.email, django_capture_on_commit_callbacks)
    link = mailed_link(mail_sent[0])

    response = APIClient().post(PASSWORD_RESET_CONFIRM_URL, {**link, "new_password": NEW_PASSWORD})

    assert response.status_code == 204
    assert response.content == b""
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert refresh_status(refresh) == 401
    assert bearer_status(access) == (401, "password_changed")
    assert not OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).exists()
    assert can_log_in(user.email, NEW_PASSWORD)
    assert not can_log_in(user.email, PASSWORD)


def test_password_reset_token_works_once(user, mail_sent, django_capture_on_commit_callbacks):
    """Reusing the same uid/token after a successful reset -> 400 "reset_token_invalid"; password unchanged."""
    request_reset(user.email, django_capture_on_commit_callbacks)
    link = mailed_link(mail_sent[0])
    assert APIClient().post(PASSWORD_RESET_CONFIRM_URL, {**link, "new_password": NEW_PASSWORD}).status_code == 204

    response = APIClient().post(PASSWORD_RESET_CONFIRM_URL, {**link, "new_password": "another-" + NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json() == RESET_INVALID
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


@pytest.mark.parametrize(
    "uid",
    [
        "garbage",
        "!!!",
        urlsafe_base64_encode(b"99999999999999999999999999"),
        urlsafe_base64_encode(b"\xff\xfe"),
        urlsafe_base64_encode(b"-1"),
    ],
    ids=["garbage", "not-base64", "overflowing-int", "not-utf8", "negative"],
)
def test_password_reset_confirm_garbage_uid_is_400(api_client, user, uid):
    """A uid that does not decode to an account -> 400 "reset_token_invalid", never 500."""
    token = default_token_generator.make_token(user)

    response = api_client.post(PASSWORD_RESET_CONFIRM_URL, {"uid": uid, "token": token, "new_password": NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json() == RESET_INVALID
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_reset_confirm_wrong_token_is_400(api_client, user):
    """The right uid with a made-up token -> 400 "reset_token_invalid"."""
    uid = urlsafe_base64_encode(str(user.pk).encode())

    response = api_client.post(
        PASSWORD_RESET_CONFIRM_URL, {"uid": uid, "token": "abc-0123456789", "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 400
    assert response.json() == RESET_INVALID


def test_password_reset_confirm_other_users_token_is_400(api_client, user):
    """A token made for another account does not reset this one."""
    other = UserFactory()
    uid = urlsafe_base64_encode(str(user.pk).encode())

    response = api_client.post(
        PASSWORD_RESET_CONFIRM_URL,
        {"uid": uid, "token": default_token_generator.make_token(other), "new_password": NEW_PASSWORD},
    )

    assert response.status_code == 400
    assert response.json() == RESET_INVALID


def test_password_reset_confirm_weak_password_is_400_and_keeps_the_token(api_client, user):
    """A weak new password -> 400; nothing changes and the same token still works afterwards."""
    link = {"uid": urlsafe_base64_encode(str(user.pk).encode()), "token": default_token_generator.make_token(user)}

    response = api_client.post(PASSWORD_RESET_CONFIRM_URL, {**link, "new_password": "password"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert api_client.post(PASSWORD_RESET_CONFIRM_URL, {**link, "new_password": NEW_PASSWORD}).status_code == 204


def test_password_reset_confirm_missing_fields_is_400(api_client):
    """An empty body -> 400 naming uid, token and new_password."""
    response = api_client.post(PASSWORD_RESET_CONFIRM_URL, {})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid",
        "Invalid input. uid: This field is required.; token: This field is required.; "
        "new_password: This field is required.",
        {
            "uid": ["This field is required."],
            "token": ["This field is required."],
            "new_password": ["This field is required."],
        },
    )


@pytest.mark.parametrize("endpoint", ["change", "reset-confirm"])
def test_weak_new_password_error_names_the_new_password_field(user, endpoint):
    """A numeric new password -> 400 whose details and message name `new_password`."""
    if endpoint == "change":
        response = client_for(user).post(PASSWORD_CHANGE_URL, {"old_password": PASSWORD, "new_password": "84736291055"})
    else:
        response = APIClient().post(
            PASSWORD_RESET_CONFIRM_URL,
            {
                "uid": urlsafe_base64_encode(str(user.pk).encode()),
                "token": default_token_generator.make_token(user),
                "new_password": "84736291055",
            },
        )

    assert response.status_code == 400
    assert response.json() == error(
        "invalid",
        "Invalid input. new_password: This password is entirely numeric.",
        {"new_password": ["This password is entirely numeric."]},
    )


# --------------------------------------------------------------------------- the e-mailed HTML link


def test_html_reset_link_redirects_to_a_working_set_password_form(user, mail_sent, django_capture_on_commit_callbacks):
    """GET the mailed link -> 302 to the set-password form (200); posting it sets the password -> reset/done/."""
    request_reset(user.email, django_capture_on_commit_callbacks)
    link = mailed_link(mail_sent[0])
    client = Client()  # a browser: form-encoded posts, session cookie kept

    response = client.get(f"/accounts/reset/{link['uid']}/{link['token']}/")

    assert response.status_code == 302
    form_url = f"/accounts/reset/{link['uid']}/set-password/"
    assert response["Location"] == form_url
    form = client.get(form_url)
    assert form.status_code == 200
    assert 'name="new_password1"' in form.content.decode()

    done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert done.status_code == 302
    assert done["Location"] == "/accounts/reset/done/"
    assert client.get("/accounts/reset/done/").status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


@pytest.mark.parametrize("path", ["garbage/abc-123", "Mg/not-a-token", "!!!/x"])
def test_html_reset_link_with_garbage_renders_the_invalid_link_page(db, path):
    """A forged or mangled link -> 200 "invalid link" page, not 404 or 500."""
    client = Client(raise_request_exception=False)

    response = client.get(f"/accounts/reset/{path}/")

    assert response.status_code == 200
    assert 'name="new_password1"' not in response.content.decode()
    assert "invalid" in response.content.decode().lower()


def test_html_reset_form_revokes_refresh_tokens(user, mail_sent, django_capture_on_commit_callbacks):
    """Resetting through the e-mailed HTML form revokes outstanding refresh tokens, like the API confirm does."""
    refresh = token_pair(user)["refresh"]
    request_reset(user.email, django_capture_on_commit_callbacks)
    link = mailed_link(mail_sent[0])
    client = Client()  # a browser: form-encoded posts, session cookie kept
    form_url = client.get(f"/accounts/reset/{link['uid']}/{link['token']}/")["Location"]

    client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)  # the reset itself went through
    assert refresh_status(refresh) == 401
