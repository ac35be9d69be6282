"""Reads of user accounts."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from apps.core.lookups import ComposedLookup

User = get_user_model()

#: The lookup every request with an access token starts with (composed once per process, apps/core/lookups.py).
_USER_LOOKUP = ComposedLookup(((User, "u"),), (), (("u", "id"),))


def user_get_for_token(user_id) -> User | None:
    """The user an access token names (its `user_id` claim), or None: no such user, or an id that is no user id.

    Every member's request starts here (JWT authentication), so the select is composed once per process: simplejwt's
    `User.objects.get(id=...)` compiled it on every call."""
    try:
        user_id = User._meta.pk.to_python(user_id)
    except (ValidationError, OverflowError):  # OverflowError: an infinite float
        return None
    if not isinstance(user_id, int) or not -(2**63) <= user_id < 2**63:
        return None
    found = _USER_LOOKUP.get([user_id])
    return None if found is None else found[0]
