"""Account services (apps.users.services) against the real database, plus the User model and manager.

Coverage:
- user_register: e-mail normalised to lower case, profile stored, password hashed; duplicate in another case and
  weak password raise ValidationError with no row written;
- user_update: only profile fields are written (email/is_staff ignored), unchanged data writes nothing, changed
  fields persist, model validation failure raises and saves nothing;
- user_tokens_revoke: blacklists every outstanding refresh token of that user only, idempotent (second call 0);
- user_logout: blacklists one token; garbage and already-blacklisted tokens raise a 401 ApplicationError;
- user_password_change: wrong old password raises on `old_password`; success sets the password and revokes tokens;
- password_reset_request: one e-mail, only after commit; nothing queued for unknown or inactive accounts;
- password_reset_confirm: sets the password and revokes tokens; bad uid/token and inactive accounts are refused;
- User/UserManager: create_user lower-cases and validates, e-mail required, create_superuser flags, natural key
  lookup case-insensitive, the Lower(email) constraint holds at the database, name helpers.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.http import urlsafe_base64_encode
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from apps.core.exceptions import ApplicationError
from apps.core.tests.concurrency import second_while_first_is_open
from apps.users import services
from apps.users.api.serializers import token_pair
from apps.users.tests.factories import PASSWORD, UserFactory
from apps.users.tests.utils import NEW_PASSWORD

pytestmark = pytest.mark.django_db

User = get_user_model()


def live_refresh_tokens(user) -> int:
    return OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).count()


def uid_of(user) -> str:
    return urlsafe_base64_encode(str(user.pk).encode())


# --------------------------------------------------------------------------- user_register


def test_user_register_lowercases_and_stores_the_profile():
    """The e-mail is stored lower-cased, the profile as given, the password hashed."""
    user = services.user_register(
        email="Alan.Turing@Example.ORG", password=PASSWORD, full_name="Alan Turing", interests=["computing"]
    )

    stored = User.objects.get(pk=user.pk)
    assert stored.email == "alan.turing@example.org"
    assert (stored.full_name, stored.interests, stored.timezone, stored.locale) == (
        "Alan Turing",
        ["computing"],
        "UTC",
        "en",
    )
    assert stored.password != PASSWORD
    assert stored.check_password(PASSWORD)


def test_user_register_duplicate_in_another_case_raises(user):
    """An existing e-mail in upper case -> ValidationError on `email`; still one row."""
    with pytest.raises(ValidationError) as excinfo:
        services.user_register(email=user.email.upper(), password=PASSWORD)

    assert excinfo.value.message_dict == {"email": ["An account with this e-mail already exists."]}
    assert User.objects.count() == 1


def test_user_register_weak_password_raises_and_writes_nothing():
    """A password similar to the e-mail -> ValidationError, no row."""
    with pytest.raises(ValidationError) as excinfo:
        services.user_register(email="margaret.hamilton@example.com", password="margaret.hamilton")

    assert "The password is too similar to the e-mail address." in excinfo.value.messages
    assert not User.objects.exists()


# --------------------------------------------------------------------------- user_update


def test_user_update_writes_only_profile_fields(user):
    """email and is_staff in the data are ignored; full_name and locale are written."""
    email = user.email

    updated, changed = services.user_update(
        user=user, data={"email": "x@example.com", "is_staff": True, "full_name": "New Name", "locale": "de"}
    )

    assert changed is True
    stored = User.objects.get(pk=user.pk)
    assert (stored.email, stored.is_staff, stored.full_name, stored.locale) == (email, False, "New Name", "de")
    assert updated.full_name == "New Name"


def test_user_update_without_changes_writes_nothing(user, django_assert_num_queries):
    """Same values (or no profile fields) -> changed is False and no query runs."""
    with django_assert_num_queries(0):
        _user, changed = services.user_update(
            user=user, data={"full_name": user.full_name, "timezone": "UTC", "is_staff": True}
        )

    assert changed is False


def test_user_update_invalid_model_value_raises_and_saves_nothing(user):
    """A full_name beyond the column's 200 characters -> ValidationError; the row is unchanged."""
    name = user.full_name

    with pytest.raises(ValidationError) as excinfo:
        services.user_update(user=user, data={"full_name": "x" * 201})

    assert "full_name" in excinfo.value.message_dict
    assert User.objects.get(pk=user.pk).full_name == name


# --------------------------------------------------------------------------- tokens


def test_user_tokens_revoke_blacklists_only_that_users_tokens(user):
    """Every outstanding refresh token of the user is blacklisted, another user's are not; a second call is 0."""
    other = UserFactory()
    for _ in range(3):
        token_pair(user)
    token_pair(other)

    assert services.user_tokens_revoke(user=user) == 3

    assert live_refresh_tokens(user) == 0
    assert live_refresh_tokens(other) == 1
    assert services.user_tokens_revoke(user=user) == 0
    assert BlacklistedToken.objects.count() == 3


def test_user_logout_blacklists_the_token(user):
    """A valid refresh token is blacklisted."""
    refresh = token_pair(user)["refresh"]

    services.user_logout(refresh=refresh)

    jti = RefreshToken(refresh, verify=False)["jti"]
    assert BlacklistedToken.objects.filter(token__jti=jti).exists()


@pytest.mark.parametrize("kind", ["garbage", "blacklisted"])
def test_user_logout_invalid_token_raises_401(user, kind):
    """Garbage or an already blacklisted token -> ApplicationError 401 "token_not_valid"."""
    refresh = token_pair(user)["refresh"]
    if kind == "blacklisted":
        services.user_logout(refresh=refresh)
    else:
        refresh = "garbage"

    with pytest.raises(ApplicationError) as excinfo:
        services.user_logout(refresh=refresh)

    assert excinfo.value.status_code == 401
    assert excinfo.value.get_codes() == "token_not_valid"


# --------------------------------------------------------------------------- passwords


def test_user_password_change_wrong_old_password_raises(user):
    """A wrong current password -> ValidationError on `old_password`; nothing revoked."""
    token_pair(user)

    with pytest.raises(ValidationError) as excinfo:
        services.user_password_change(user=user, old_password="nope", new_password=NEW_PASSWORD)

    assert excinfo.value.message_dict == {"old_password": ["The current password is not correct."]}
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)
    assert live_refresh_tokens(user) == 1


def test_user_password_change_sets_the_password_and_revokes_tokens(user):
    """The new password is stored and every refresh token revoked."""
    token_pair(user)

    services.user_password_change(user=user, old_password=PASSWORD, new_password=NEW_PASSWORD)

    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    assert live_refresh_tokens(user) == 0


def test_password_reset_request_sends_one_mail(user, mail_sent):
    """One e-mail to the stored address, made by the task the request published."""
    services.password_reset_request(email=user.email.upper())

    assert [mail.to for mail in mail_sent] == [[user.email]]
    assert f"/accounts/reset/{uid_of(user)}/" in mail_sent[0].body


def test_password_reset_request_unknown_or_inactive_mails_nothing(mail_sent):
    """No account, or an inactive one -> the request does what it does for an account (one task published, so its
    time tells nothing), and the task sends no e-mail."""
    inactive = UserFactory(is_active=False)

    services.password_reset_request(email="ghost@example.com")
    services.password_reset_request(email=inactive.email)

    assert mail_sent == []
    assert [p["args"] for p in mail_sent.published] == [["ghost@example.com"], [inactive.email]]


def test_password_reset_confirm_sets_the_password_and_revokes_tokens(user):
    """A valid uid/token -> password set, refresh tokens revoked, the token then refused."""
    token_pair(user)
    token = default_token_generator.make_token(user)

    services.password_reset_confirm(uid=uid_of(user), token=token, new_password=NEW_PASSWORD)

    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    assert live_refresh_tokens(user) == 0
    with pytest.raises(ApplicationError) as excinfo:
        services.password_reset_confirm(uid=uid_of(user), token=token, new_password="another-" + NEW_PASSWORD)
    assert excinfo.value.get_codes() == "reset_token_invalid"


@pytest.mark.parametrize("case", ["bad-uid", "bad-token", "inactive"])
def test_password_reset_confirm_refuses(user, case):
    """A garbage uid, a wrong token or an inactive account -> 400 "reset_token_invalid"."""
    token = default_token_generator.make_token(user)
    uid = uid_of(user)
    if case == "bad-uid":
        uid = "%%%"
    elif case == "bad-token":
        token = "1-abcdef"
    else:
        User.objects.filter(pk=user.pk).update(is_active=False)

    with pytest.raises(ApplicationError) as excinfo:
        services.password_reset_confirm(uid=uid, token=token, new_password=NEW_PASSWORD)

    assert (excinfo.value.status_code, excinfo.value.get_codes()) == (400, "reset_token_invalid")
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)


# --------------------------------------------------------------------------- model and manager


def test_create_user_lowercases_and_defaults():
    """create_user lower-cases the whole address and creates a plain, active account."""
    user = User.objects.create_user(email="Katherine.Johnson@NASA.gov", password=PASSWORD)

    assert user.email == "katherine.johnson@nasa.gov"
    assert (user.is_active, user.is_staff, user.is_superuser) == (True, False, False)
    assert user.check_password(PASSWORD)


def test_create_user_requires_an_email():
    """No e-mail -> ValueError."""
    with pytest.raises(ValueError, match="e-mail address is required"):
        User.objects.create_user(email="", password=PASSWORD)


def test_create_user_rejects_a_case_variant_duplicate(user):
    """create_user validates the case-insensitive uniqueness constraint before saving."""
    with pytest.raises(ValidationError):
        User.objects.create_user(email=user.email.upper(), password=PASSWORD)

    assert User.objects.count() == 1


def test_create_superuser_sets_the_flags():
    """create_superuser -> staff and superuser, even if told otherwise."""
    admin = User.objects.create_superuser(email="root@example.com", password=PASSWORD, is_staff=False)

    assert (admin.is_staff, admin.is_superuser) == (True, True)


def test_natural_key_lookup_is_case_insensitive(user):
    """get_by_natural_key finds the account whatever the case of the e-mail."""
    assert User.objects.get_by_natural_key(user.email.upper()) == user


def test_database_enforces_case_insensitive_email_uniqueness(user):
    """Bypassing the manager, a case variant of an existing e-mail is refused by the database."""
    with pytest.raises(IntegrityError), transaction.atomic():
        User(email=user.email.upper()).save()


def test_name_helpers_fall_back_to_the_email():
    """str, get_full_name and get_short_name use the name when set, the e-mail otherwise."""
    named = UserFactory.build(email="ada@example.com", full_name="Ada King Lovelace")
    unnamed = UserFactory.build(email="anon@example.com", full_name="")

    assert str(named) == "ada@example.com"
    assert (named.get_full_name(), named.get_short_name()) == ("Ada King Lovelace", "Ada")
    assert (unnamed.get_full_name(), unnamed.get_short_name()) == ("anon@example.com", "anon@example.com")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_email_registered_at_the_same_moment_as_another_exists():
    """Two registrations of one e-mail at once both find it free: the second to commit is told the account exists
    (a 500 before), as it would be a moment later."""
    result = second_while_first_is_open(
        lambda: services.user_register(email="same@example.com", password="a-long-password-number-1"),
        lambda: services.user_register(email="Same@Example.com", password="another-long-password-2"),
    )

    assert isinstance(result.get("error"), ValidationError), result
    assert result["error"].message_dict == {"email": ["An account with this e-mail already exists."]}
    assert User.objects.filter(email__iexact="same@example.com").count() == 1
