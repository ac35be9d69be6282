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

    # Numbers: JSON true/false are not 1/0, and a JSON string is not a number (query-string
    # serializers, whose values are all strings, opt out with `strings_as_numbers = True`).
    for field_class in (serializers.IntegerField, serializers.FloatField, serializers.DecimalField):
        _strict_number(field_class)
    _strict_boolean(serializers.BooleanField)


def _strict_boolean(field_class) -> None:
    """A JSON boolean is true or false: not 0/1 and not the strings "yes"/"true" (query-string
    serializers, where every value is a string, keep DRF's lenient parsing)."""
    original = field_class.to_internal_value

    def to_internal_value(self, data):
        if not isinstance(data, bool) and not getattr(self.root, "strings_as_numbers", False):
            self.fail("invalid")
        return original(self, data)

    field_class.to_internal_value = to_internal_value


def _strict_number(field_class) -> None:
    original = field_class.to_internal_value

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, str) and not getattr(self.root, "strings_as_numbers", False)):
            self.fail("invalid")
        return original(self, data)

    field_class.to_internal_value = to_internal_value


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        _strict_strings()
