"""Serializer fields whose OpenAPI schema is the rule they enforce (apps.core.schema maps them), so
the schema and the validation cannot drift apart."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from functools import cache
from zoneinfo import available_timezones

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import connection
from django.utils import timezone
from rest_framework import serializers


@cache
def time_zones() -> frozenset[str]:
    """IANA names both Python and this PostgreSQL server know (their time-zone databases may differ
    in recent zones; an unknown name in `AT TIME ZONE` would be a database error). Read once per
    process."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_timezone_names")
        server = {name for (name,) in cursor.fetchall()}
    return frozenset(available_timezones() & server)


class TimeZoneField(serializers.CharField):
    """An IANA time-zone name known to Python and PostgreSQL (`time_zones()`). The schema lists
    them as the shared `TimeZone` enum; anything else is a 400 with `message`."""

    default_message = "'{value}' is not an IANA time zone (e.g. 'Europe/Paris')."

    def __init__(self, *, message: str = "", **kwargs):
        self.message = message or self.default_message
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value not in time_zones():
            raise serializers.ValidationError(self.message.format(value=value))
        return value


def comma_list_pattern(choices: Iterable[str]) -> str:
    """`a,b,c` made of `choices` only (no blanks, no spaces): the form a CommaListField accepts."""
    one = "|".join(re.escape(choice) for choice in sorted(choices, key=len, reverse=True))
    return rf"^({one})(,({one}))*$"


# Years 1970..9998 (the dates PostgreSQL and the analytics bounds accept), month 01-12, day 01-31.
DATE_1970_TO_9998 = (
    r"^(19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
)
# A date-time from 1970-01-01 on (the rest of the string is checked by the `date-time` format).
DATETIME_FROM_1970 = r"^(19[7-9][0-9]|[2-9][0-9]{3})-"
#: the same, with its time zone (a trailing Z or an offset): AwareDateTimeField
DATETIME_FROM_1970_WITH_ZONE = r"^(19[7-9][0-9]|[2-9][0-9]{3})-.*(Z|[+-][0-9]{2}:?[0-9]{2})$"


class SchemaPatternMixin:
    """`schema_pattern=`: a regular expression the schema states for the field; `schema_extra=`: more
    JSON-schema keywords (e.g. `minLength`). The field's own validation (or the service behind it) must
    refuse what they exclude; apps.core.schema puts them in the schema."""

    def __init__(self, *args, schema_pattern: str | None = None, schema_extra: dict | None = None, **kwargs):
        self.schema_pattern = schema_pattern
        self.schema_extra = schema_extra or {}
        super().__init__(*args, **kwargs)


class PatternCharField(SchemaPatternMixin, serializers.CharField):
    pass


# An http(s) URL as the schema states it and the API enforces it (Django's URLValidator runs too): a host
# name of labels of letters, digits and inner hyphens (at most 40 characters, 5 labels and a top-level
# domain of 2-24 letters, so the host stays under Django's 253; internationalized names in their xn--
# form), `localhost` or an IPv4 address; an optional port; then a path, a query and a fragment of RFC 3986
# characters and %XX escapes (so it is also a valid `uri`). Fragments matter: single-page apps route by
# them (https://app.example.com/#/course/12).
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,38}[A-Za-z0-9])?"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CHARS = r"([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*"
_HOST = rf"(localhost|{_LABEL}(\.{_LABEL}){{0,4}}\.[A-Za-z]{{2,24}}|{_OCTET}(\.{_OCTET}){{3}})"
URL_PATTERN = rf"^https?://{_HOST}(:[0-9]{{1,5}})?(/{_CHARS})?(\?{_CHARS})?(#{_CHARS})?$"


class WebUrlField(SchemaPatternMixin, serializers.URLField):
    def __init__(self, **kwargs):
        super().__init__(schema_pattern=URL_PATTERN, **kwargs)
        self.validators.append(
            RegexValidator(
                URL_PATTERN,
                "Enter an http(s) URL: a host name with a dot (or localhost, or an IPv4 address), an optional "
                "port, then a path, query and fragment of URL characters (others percent-escaped).",
            )
        )


def password_min_length() -> int:
    """The `min_length` of the MinimumLengthValidator in AUTH_PASSWORD_VALIDATORS (Django's default 8)."""
    for validator in settings.AUTH_PASSWORD_VALIDATORS:
        if validator["NAME"].endswith(".MinimumLengthValidator"):
            return validator.get("OPTIONS", {}).get("min_length", 8)
    return 1


class PasswordField(PatternCharField):
    """A new password: the schema states the minimum length; the service runs Django's validators
    (too short, too common, entirely numeric, too similar to the e-mail or name: a 400 naming the field)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 128)
        kwargs.setdefault(
            "help_text",
            f"At least {password_min_length()} characters, not a common password, not only digits, not close "
            "to the e-mail address or name (Django's password validators; a 400 names the rule).",
        )
        super().__init__(schema_extra={"minLength": password_min_length()}, **kwargs)


class PatternDateField(SchemaPatternMixin, serializers.DateField):
    """A date; one written right that does not exist ("2026-02-30") says so, where DRF said "wrong format"."""

    default_error_messages = {"no_such_day": "{value} is written as YYYY-MM-DD but is no day of the calendar."}

    def to_internal_value(self, value):
        if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
            try:
                dt.date.fromisoformat(value.strip())
            except ValueError:
                self.fail("no_such_day", value=value.strip())
        return super().to_internal_value(value)


class PatternDateTimeField(SchemaPatternMixin, serializers.DateTimeField):
    pass


class AwareDateTimeField(PatternDateTimeField):
    """A date-time that says its time zone: one without ("2026-01-01T00:00:00") is a 400 naming the field instead of
    being read in the server's zone, as the batch endpoints already refuse it. The schema states it (pattern)."""

    default_error_messages = {"naive": "Include a time zone (e.g. a trailing Z for UTC)."}

    def __init__(self, **kwargs):
        kwargs.setdefault("schema_pattern", DATETIME_FROM_1970_WITH_ZONE)
        super().__init__(**kwargs)

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)
