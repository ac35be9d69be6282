from django.apps import AppConfig


def _strict_strings() -> None:
    """DRF turns JSON numbers into strings for CharField (and Email/Slug/Regex/URL fields);
    Beacon rejects them so a wrong type gets a clear 400 ("Not a valid string."). The documented
    max_length also applies to the string as sent (DRF checks it after trimming whitespace)."""
    from rest_framework import serializers

    original = serializers.CharField.to_internal_value
    if getattr(original, "_beacon_strict", False):
        return

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return original(self, data)

    to_internal_value._beacon_strict = True
    serializers.CharField.to_internal_value = to_internal_value

    # Numbers: JSON true/false are not 1/0, and a JSON string is not a number. Booleans: only JSON
    # true/false (not 0/1 or "yes"). Query-string serializers, whose values are all strings, opt out
    # with `strings_as_numbers = True` and keep DRF's parsing of strings.
    for field_class in (serializers.IntegerField, serializers.FloatField, serializers.DecimalField):
        _strict(field_class, accepts=lambda data: not isinstance(data, (bool, str)))
    _strict(serializers.BooleanField, accepts=lambda data: isinstance(data, bool))


def _strict(field_class, *, accepts) -> None:
    """A JSON value that `accepts` refuses is "invalid" (strings of query-string serializers pass)."""
    original = field_class.to_internal_value

    def to_internal_value(self, data):
        from_query = isinstance(data, str) and getattr(self.root, "strings_as_numbers", False)
        if not (from_query or accepts(data)):
            self.fail("invalid")
        return original(self, data)

    field_class.to_internal_value = to_internal_value


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        from apps.core import logcontext, metrics
        from apps.core.embeddings import embedder_check

        _strict_strings()
        embedder_check()  # a local embedding backend that cannot run stops startup with a clear message
        # Request ids into logs and published tasks; task counts and durations (issue 16).
        logcontext.signals_connect()
        metrics.celery_signals_connect()
