"""Serializers and helpers shared by every app's API: the error envelope, query-string
validation, and row-by-row validation of bulk payloads (catalog bulk upsert, member sync)."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from apps.core.exceptions import error_messages_flatten


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable error code, e.g. `not_found`, `invalid`.")
    message = serializers.CharField(help_text="A sentence a person can read, naming the problem.")
    details = serializers.JSONField(help_text="Per-field errors or extra facts (e.g. `retry_after`).")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class QuerySerializer(serializers.Serializer):
    """Validates query-string parameters: every value arrives as a string, numbers included."""

    strings_as_numbers = True


def clean_list(values: list[str], *, lower: bool) -> list[str]:
    """Trimmed, de-duplicated (first occurrence kept), blanks dropped."""
    out = []
    for value in values:
        value = value.strip().lower() if lower else value.strip()
        if value and value not in out:
            out.append(value)
    return out


def validate_rows(serializer_class, raws: list[dict]):
    """(index, raw, validated data or None, error lines or None) per row of a bulk payload.

    One serializer instance validates every row (a serializer per row would deep-copy its fields
    thousands of times); a row's errors never stop the others. Error lines read like the envelope's
    message ("field: message", nested "tags[2]: ...").
    """
    validator = serializer_class()
    for index, raw in enumerate(raws):
        try:
            yield index, raw, dict(validator.run_validation(raw)), None
        except ValidationError as exc:
            yield index, raw, None, error_messages_flatten(exc.detail)
