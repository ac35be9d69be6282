"""Account writes: registration, profile, passwords, token revocation."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from apps.core.exceptions import ApplicationError, service_unavailable
from apps.core.mail import Mail, mails_deliver
from apps.users.events import user_deleting_send, user_profile_changed_send

User = get_user_model()

PROFILE_FIELDS = ("full_name", "timezone", "locale", "interests")


def password_validate(password: str, user, *, field: str = "password") -> None:
    """Django's password validators, with the errors filed under the request's field name."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from exc


@transaction.atomic
def user_register(*, email: str, password: str, **profile) -> User:
    """A new account. Two registrations of one e-mail at the same moment both find it free: the second to commit is
    told it exists, as it would be a moment later."""
    email = User.objects.normalize_email(email).lower()
    exists = ValidationError({"email": ["An account with this e-mail already exists."]})
    if User.objects.filter(email__iexact=email).exists():
        raise exists
    password_validate(password, User(email=email, **profile))
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password, **profile)
    except IntegrityError as exc:
        if "email" in (getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) or ""):
            raise exists from exc
        raise


def _account_still_active(user: User) -> None:
    """Lock the account's row (as `user_delete` does) and refuse the change when the account was deleted or
    deactivated meanwhile: a request that authenticated just before a deletion committed would otherwise write a name
    or a password back onto the erased account. Inside the caller's transaction."""
    if not User.objects.select_for_update(no_key=True).filter(pk=user.pk, is_active=True).exists():
        raise ApplicationError("This account was deleted or deactivated.", code="account_inactive", status_code=401)


def user_update(*, user: User, data: dict) -> tuple[User, bool]:
    """Update the profile fields in `data` (allow-list); returns (user, changed)."""
    changed = [f for f in PROFILE_FIELDS if f in data and getattr(user, f) != data[f]]
    for field in changed:
        setattr(user, field, data[field])
    if changed:
        user.full_clean(exclude=["password"])
        with transaction.atomic():
            _account_still_active(user)
            user.save(update_fields=changed)
            user_profile_changed_send(user_ids=[user.pk], fields=changed)
    return user, bool(changed)


def user_tokens_revoke(*, user: User) -> int:
    """Blacklist every outstanding refresh token of the user (after a password change/reset)."""
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(outstanding)


@transaction.atomic
def user_delete(*, user: User, password: str) -> None:
    """Delete one's own account (docs/api.md#deleting-your-account): every organization erases them (`user_deleting`:
    their progress, interactions, conversations, personality data... and their memberships; the last owner of an
    organization is refused, nothing changes), then the account keeps nothing of them — an e-mail of no one, no name,
    no interests, no password — and can never sign in again; every token it holds is refused. The row stays: what the
    organizations keep as their own record (who created a bot, a document) points to it."""
    if not user.check_password(password):
        raise ValidationError({"password": ["The password is not correct."]})
    User.objects.select_for_update(no_key=True).filter(pk=user.pk).first()  # one deletion at a time
    user_deleting_send(user_id=user.pk)
    user.email = f"deleted-{user.pk}-{uuid.uuid4().hex}@erased.invalid"
    user.full_name, user.interests, user.is_active = "", [], False
    user.is_staff = user.is_superuser = False
    user.set_unusable_password()
    user.save(update_fields=["email", "full_name", "interests", "is_active", "is_staff", "is_superuser", "password"])
    user.groups.clear()
    user.user_permissions.clear()
    user_tokens_revoke(user=user)


def user_logout(*, refresh: str) -> None:
    """Blacklist one refresh token; an invalid or already blacklisted one is a 401."""
    try:
        RefreshToken(refresh).blacklist()
    except TokenError as exc:
        raise ApplicationError(f"Invalid refresh token: {exc}", code="token_not_valid", status_code=401) from exc


@transaction.atomic
def user_password_change(*, user: User, old_password: str, new_password: str) -> User:
    if not user.check_password(old_password):
        raise ValidationError({"old_password": ["The current password is not correct."]})
    password_validate(new_password, user, field="new_password")
    _account_still_active(user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    user_tokens_revoke(user=user)
    return user


def password_reset_request(*, email: str) -> None:
    """E-mail a reset link if an active account exists. Says nothing either way (no enumeration): the request only
    publishes `mail.password_reset` with the address, whether an account has it or not, so its response time does not
    tell either; the worker looks the account up, makes the token and sends (apps/core/mail.py). The broker down:
    503 (ServiceUnavailable), for any address alike; nothing was written, the person asks again."""
    from apps.core.tasks import enqueue_now
    from workers.tasks.users import password_reset_mail_task

    if not enqueue_now(password_reset_mail_task, email):
        raise service_unavailable("broker")


def password_reset_mail_send(*, email: str) -> bool | None:
    """Mail a reset link to the active account with this address: True when the mail server took it (or refused it
    for good: logged), False when there is no such account (nothing to send), None when the mail server could not
    take it now (worth trying again)."""
    user = User.objects.filter(email__iexact=email, is_active=True).first()
    if user is None:
        return False
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    mail = Mail.render(
        to=user.email,
        subject="Reset your Beacon password",
        template="emails/password_reset.txt",
        context={
            "user": user,
            "uid": uid,
            "token": token,
            "reset_url": f"{settings.BEACON_PUBLIC_URL}/accounts/reset/{uid}/{token}/",
            "valid_hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
        },
    )
    return None if mails_deliver([mail]) else True


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    try:
        user = User.objects.filter(pk=int(force_str(urlsafe_base64_decode(uid))), is_active=True).first()
    except (ValueError, TypeError, OverflowError):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        raise ApplicationError("This password reset link is invalid or has expired.", code="reset_token_invalid")
    password_validate(new_password, user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    user_tokens_revoke(user=user)
    return user
