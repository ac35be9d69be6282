"""Which throttle buckets each account operation counts in (issue 13; rates in settings, THROTTLE_*).

The API views list these as `throttle_classes`; the admin's login and password-change forms
apply the same buckets through `login_throttle_wait` / `password_change_throttle_wait`, so the
admin is no way around the API's limits (and an admin flood uses up the API's allowance too).
"""

from __future__ import annotations

from apps.core.throttling import AccountThrottle, IpThrottle, PersonThrottle, throttle_wait

LOGIN = [IpThrottle.scoped("login_ip"), AccountThrottle.scoped("login_account", field="email")]
TOKEN_REFRESH = [IpThrottle.scoped("token_refresh")]
TOKEN_VERIFY = [IpThrottle.scoped("token_verify")]
LOGOUT = [IpThrottle.scoped("logout")]
REGISTER = [IpThrottle.scoped("register")]
PASSWORD_RESET = [
    IpThrottle.scoped("password_reset"),
    AccountThrottle.scoped("password_reset_account", field="email"),
]
PASSWORD_RESET_CONFIRM = [IpThrottle.scoped("password_reset_confirm")]
PASSWORD_CHANGE = [PersonThrottle.scoped("password_change")]

#: one message for every refusal of a login, known account or not (no enumeration)
LOGIN_THROTTLED = "Too many login attempts. Try again in %(wait)d seconds."
PASSWORD_CHANGE_THROTTLED = "Too many password change attempts. Try again in %(wait)d seconds."


def login_throttle_wait(request, account: str | None) -> int | None:
    """Count a login attempt for `account` from this request's address; seconds to wait if refused."""
    ip_throttle, account_throttle = LOGIN
    return throttle_wait(request, [ip_throttle(), account_throttle(account=account or None)])


def password_change_throttle_wait(request) -> int | None:
    """Count a password change attempt of the signed-in user; seconds to wait if refused."""
    return throttle_wait(request, [throttle() for throttle in PASSWORD_CHANGE])
