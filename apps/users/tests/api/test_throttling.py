"""Throttles of the account endpoints and the admin (issue 13, findings 6 and 7), on real Redis counters.

Coverage:
- login: the 21st attempt for one account is refused from a 21st address (per account), and the
  21st attempt from one address is refused for a 21st account (per address); a refused attempt
  never checks the password (the right password is refused too); e-mails are counted trimmed
  and case-folded;
- the refusal is identical for a known and an unknown account: status, body and Retry-After;
- a login flood from one address leaves token refresh, verify and logout working there, and
  each other endpoint (register, reset, reset confirm, invitation preview) keeps its own bucket;
- password reset per account across addresses (no mail once refused);
- the API's password change per user: refused without checking the current password;
- /admin/login/: refused with the form's error once throttled, no password check, no session;
  it shares the API's buckets; the admin's password change form is throttled the same way.
"""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from apps.users.api.serializers import token_pair
from apps.users.tests.factories import PASSWORD, UserFactory
from apps.users.tests.utils import (
    LOGOUT_URL,
    NEW_PASSWORD,
    PASSWORD_CHANGE_URL,
    PASSWORD_RESET_CONFIRM_URL,
    PASSWORD_RESET_URL,
    REFRESH_URL,
    REGISTER_URL,
    TOKEN_URL,
    VERIFY_URL,
)
from conftest import client_for

pytestmark = pytest.mark.django_db

User = get_user_model()
ADMIN_LOGIN_URL = "/admin/login/"
ADMIN_PASSWORD_CHANGE_URL = "/admin/password_change/"
INVITATION_PREVIEW_URL = "/api/v1/invitations/preview/"


@pytest.fixture
def rates(settings):
    """Set some throttle rates (the others stay as the test settings' generous ones)."""

    def set_rates(**overrides):
        current = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**current, **overrides},
        }

    return set_rates


@pytest.fixture
def frozen_clock(monkeypatch):
    """Throttle clocks stopped, so two refusals can be compared byte for byte (Retry-After included)."""
    monkeypatch.setattr(SimpleRateThrottle, "timer", staticmethod(lambda: 1_800_000_000.0))


@pytest.fixture
def password_checks(monkeypatch):
    """Counts every password check (User.check_password)."""
    calls = []
    original = User.check_password

    def check_password(self, raw_password):
        calls.append(self.email)
        return original(self, raw_password)

    monkeypatch.setattr(User, "check_password", check_password)
    return calls


def login(email, password="wrong-password", ip="198.51.100.1"):
    return APIClient().post(TOKEN_URL, {"email": email, "password": password}, format="json", REMOTE_ADDR=ip)


def test_21st_login_for_one_account_is_refused_across_addresses(user, rates, password_checks):
    """20 wrong passwords from 20 addresses, then the right one from a 21st: 429, password unchecked."""
    rates(login_ip="20/min", login_account="20/min")
    assert [login(user.email, ip=f"203.0.113.{n}").status_code for n in range(20)] == [401] * 20
    checks = len(password_checks)

    response = login(user.email, PASSWORD, ip="192.0.2.99")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert len(password_checks) == checks
    user.refresh_from_db()
    assert user.last_login is None


def test_21st_login_from_one_address_is_refused_across_accounts(user, rates):
    """20 accounts tried from one address: the 21st attempt there is refused, even with the right
    password; the same account from another address logs in."""
    rates(login_ip="20/min", login_account="20/min")
    assert [login(f"guess{n}@example.com").status_code for n in range(20)] == [401] * 20

    assert login(user.email, PASSWORD).status_code == 429
    assert login(user.email, PASSWORD, ip="198.51.100.2").status_code == 200


def test_accounts_are_counted_trimmed_and_case_folded(user, rates):
    """Case and surrounding spaces do not make a new bucket."""
    rates(login_account="3/min")
    variants = [user.email.upper(), f"  {user.email}", user.email.title()]
    assert [login(email, ip=f"203.0.113.{n}").status_code for n, email in enumerate(variants)] == [401] * 3
    assert login(user.email, PASSWORD, ip="192.0.2.7").status_code == 429


def test_lockout_is_the_same_for_known_and_unknown_accounts(user, rates, frozen_clock):
    """A known and an unknown e-mail, each tried 3 times: the 4th answers are identical (status, body,
    Retry-After), and so were the 401s before them."""
    rates(login_account="3/min")
    known = [login(user.email, ip="203.0.113.1") for _ in range(4)]
    unknown = [login("nobody@example.com", ip="203.0.113.2") for _ in range(4)]

    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401, 401, 401, 429]
    assert [r.json() for r in known] == [r.json() for r in unknown]
    assert known[-1]["Retry-After"] == unknown[-1]["Retry-After"] == "60"
    assert known[-1].json()["error"]["details"] == {"retry_after": 60}


def test_a_login_flood_leaves_refresh_verify_and_logout_working(user, rates):
    """Logins from an office address exhausted: token refresh, verify and logout there still answer."""
    rates(login_ip="20/min")
    pair = token_pair(user)
    office = "198.51.100.10"
    for n in range(21):
        login(f"someone{n}@example.com", ip=office)
    assert login(user.email, PASSWORD, ip=office).status_code == 429

    client = APIClient(REMOTE_ADDR=office)
    refreshed = client.post(REFRESH_URL, {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 200, refreshed.content
    assert client.post(VERIFY_URL, {"token": refreshed.json()["access"]}, format="json").status_code == 200
    assert client.post(LOGOUT_URL, {"refresh": refreshed.json()["refresh"]}, format="json").status_code == 204


@pytest.mark.parametrize(
    ("url", "body", "expected"),
    [
        (REGISTER_URL, {"email": "fresh@example.com", "password": NEW_PASSWORD}, 201),
        (PASSWORD_RESET_URL, {"email": "fresh@example.com"}, 202),
        (PASSWORD_RESET_CONFIRM_URL, {"uid": "MQ", "token": "x", "new_password": NEW_PASSWORD}, 400),
        (INVITATION_PREVIEW_URL, {"token": "not-a-token"}, 404),
    ],
)
def test_other_account_endpoints_have_their_own_buckets(user, rates, url, body, expected):
    """Logins exhausted from an address do not refuse registration, reset or invitations there."""
    rates(login_ip="1/min")
    login(user.email)
    assert login(user.email).status_code == 429
    assert APIClient().post(url, body, format="json", REMOTE_ADDR="198.51.100.1").status_code == expected


def test_each_bucket_refuses_on_its_own(user, rates):
    """Registration exhausted: the next registration is 429, login from the same address still works."""
    rates(register="1/hour")
    client = APIClient(REMOTE_ADDR="198.51.100.3")
    assert client.post(REGISTER_URL, {"email": "a1@example.com", "password": NEW_PASSWORD}).status_code == 201
    refused = client.post(REGISTER_URL, {"email": "a2@example.com", "password": NEW_PASSWORD})
    assert refused.status_code == 429
    assert not User.objects.filter(email="a2@example.com").exists()
    assert login(user.email, PASSWORD, ip="198.51.100.3").status_code == 200


def test_password_reset_is_limited_per_account_across_addresses(
    user, rates, mail_sent, django_capture_on_commit_callbacks
):
    """Reset mails for one address: the 3rd request from a 3rd address is refused, nothing more is sent."""
    rates(password_reset_account="2/hour")
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [
            APIClient().post(PASSWORD_RESET_URL, {"email": user.email}, format="json", REMOTE_ADDR=f"203.0.113.{n}")
            for n in range(3)
        ]
    assert [r.status_code for r in statuses] == [202, 202, 429]
    assert len(mail_sent) == 2


def test_api_password_change_is_throttled_per_user(user, rates, password_checks):
    """Two wrong current passwords, then the right one: 429, the current password is not checked, nothing changes."""
    rates(password_change="2/min")
    client = client_for(user)
    wrong = {"old_password": "not-it", "new_password": NEW_PASSWORD}
    assert [client.post(PASSWORD_CHANGE_URL, wrong).status_code for _ in range(2)] == [400, 400]
    checks = len(password_checks)

    response = client.post(PASSWORD_CHANGE_URL, {"old_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert len(password_checks) == checks
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# --------------------------------------------------------------------------- admin


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, is_superuser=True)


def admin_login(client, email, password="wrong-password"):
    return client.post(ADMIN_LOGIN_URL, {"username": email, "password": password, "next": "/admin/"})


def test_admin_login_is_throttled_without_checking_the_password(staff, rates, password_checks):
    """30 wrong passwords used to pass: now the 4th attempt (rate 3/min) is refused with the form's
    error, even with the right password, without a password check and without a session."""
    rates(login_account="3/min")
    client = Client(REMOTE_ADDR="198.51.100.20")
    for _ in range(3):
        response = admin_login(client, staff.email)
        assert response.status_code == 200
        assert "Please enter the correct e-mail address and password" in response.content.decode()
    checks = len(password_checks)

    response = admin_login(client, staff.email, PASSWORD)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Too many login attempts. Try again in 60 seconds." in page
    assert len(password_checks) == checks
    assert "_auth_user_id" not in client.session
    elsewhere = admin_login(Client(REMOTE_ADDR="198.51.100.21"), "other@example.com", PASSWORD)
    assert "Please enter the correct e-mail address and password" in elsewhere.content.decode()


def test_admin_login_succeeds_under_the_limit(staff, rates):
    """Below the limit the admin login works as before (302 to the index, a session)."""
    rates(login_account="3/min")
    client = Client()
    response = admin_login(client, staff.email, PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_admin_and_api_share_the_login_buckets(staff, rates, frozen_clock):
    """Attempts through the API count for the admin (no way around the limit), and the admin's
    refusal reads the same for a known and an unknown account."""
    rates(login_account="2/min")
    for email in (staff.email, "ghost@example.com"):
        for n in range(2):
            login(email, ip=f"203.0.113.{n}")
    known = admin_login(Client(REMOTE_ADDR="192.0.2.1"), staff.email, PASSWORD)
    unknown = admin_login(Client(REMOTE_ADDR="192.0.2.2"), "ghost@example.com", PASSWORD)
    message = "Too many login attempts. Try again in 60 seconds."
    assert message in known.content.decode()
    assert message in unknown.content.decode()
    assert known.status_code == unknown.status_code == 200


def test_admin_password_change_is_throttled(staff, rates, password_checks):
    """/admin/password_change/: two wrong current passwords, then the right one is refused unchecked."""
    rates(password_change="2/min")
    client = Client()
    client.force_login(staff)
    wrong = {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    for _ in range(2):
        response = client.post(ADMIN_PASSWORD_CHANGE_URL, wrong)
        assert "Your old password was entered incorrectly" in response.content.decode()
    checks = len(password_checks)

    response = client.post(ADMIN_PASSWORD_CHANGE_URL, {**wrong, "old_password": PASSWORD})

    assert response.status_code == 200
    assert "Too many password change attempts. Try again in 60 seconds." in response.content.decode()
    assert len(password_checks) == checks
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD)


def test_admin_password_change_works_under_the_limit(staff, rates):
    """Below the limit the admin's password change still changes the password."""
    rates(password_change="2/min")
    client = Client()
    client.force_login(staff)
    response = client.post(
        ADMIN_PASSWORD_CHANGE_URL,
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.check_password(NEW_PASSWORD)
