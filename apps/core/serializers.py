from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable error code, e.g. `not_found`, `invalid`.")
    message = serializers.CharField(help_text="A sentence a person can read, naming the problem.")
    details = serializers.JSONField(help_text="Per-field errors or extra facts (e.g. `retry_after`).")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class QuerySerializer(serializers.Serializer):
    """Validates query-string parameters: every value arrives as a string, numbers included."""

    strings_as_numbers = True
