"""drf-spectacular schema class: every operation documents the shared error envelope, and the
schema states the rules the validation enforces (see docs/api.md, "What the schema promises"):

- a `TimeZoneField` is the shared `TimeZone` enum (the names the validation accepts);
- a field with a `schema_pattern` attribute (a comma-separated list of choices, a WebUrlField...) gets
  it as `pattern`; a string the API trims and refuses blank gets a "not only whitespace" pattern;
- a serializer's `schema_exclusive` pairs become `oneOf`/`not` rules: `("a", "b")` means "not both"
  (a null counts as not given), `("a", "b", "one")` means "exactly one of them" (for non-null fields).
"""

from django.core.validators import RegexValidator
from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from apps.core.fields import TimeZoneField, time_zones
from apps.core.serializers import ErrorSerializer

ERROR_DESCRIPTIONS = {
    "400": "Invalid input (malformed JSON, wrong types, broken rules).",
    "401": "Not authenticated, or the token/API key is invalid or expired.",
    "403": "Authenticated but not allowed (role, scope or plan limit).",
    "404": "Not found, or not visible to the caller's organization.",
    "405": "Method not allowed.",
    "409": "Conflict with the current state (e.g. an item that still has children, a transition not allowed).",
    "415": "Unsupported media type.",
    "429": "Rate limited; retry after `details.retry_after` seconds (also the Retry-After header).",
}


class TimeZoneFieldExtension(OpenApiSerializerFieldExtension):
    target_class = TimeZoneField
    match_subclasses = True

    def get_name(self):
        return "TimeZone"

    def map_serializer_field(self, auto_schema, direction):
        return {
            "type": "string",
            "enum": sorted(time_zones()),
            "description": "An IANA time-zone name known to both Python and PostgreSQL, e.g. `Europe/Paris`, `UTC`.",
        }


# A string the API trims (Python's str.strip) must keep a character that is not whitespace when blanks
# are refused. Spelled out: a pattern's `\S` follows ECMAScript, whose whitespace lacks \x1c-\x1f and \x85.
NOT_BLANK_PATTERN = r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def _stated_pattern(field, schema: dict) -> str | None:
    pattern = getattr(field, "schema_pattern", None)
    if pattern:
        return pattern
    if (
        isinstance(field, serializers.CharField)
        # A RegexField's (SlugField's...) own pattern is added after this, and already excludes blanks.
        and not any(isinstance(validator, RegexValidator) for validator in field.validators)
        and not field.allow_blank
        and field.trim_whitespace
        and not ({"pattern", "enum", "format"} & set(schema))
    ):
        return NOT_BLANK_PATTERN
    return None


def _one_of_rules(serializer) -> bool:
    return any(kind == ["one"] for _, _, *kind in getattr(serializer, "schema_exclusive", ()))


class AutoSchema(openapi.AutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        stated = direction == "request" and isinstance(schema, dict) and "$ref" not in schema
        if stated and schema.get("type") == "string":
            pattern = _stated_pattern(field, schema)
            if pattern:
                schema["pattern"] = pattern
        if stated:
            schema.update(getattr(field, "schema_extra", {}))
        return schema

    def _get_request_for_media_type(self, serializer, direction="request"):
        """A body whose schema demands something (one field of a pair, a `required` list) is required."""
        if self.method == "PATCH" and getattr(serializer, "schema_partial", True) is False:
            # A PATCH whose serializer is not partial (its fields stay required): documented as such.
            self.method = "PUT"
            try:
                return self._get_request_for_media_type(serializer, direction)
            finally:
                self.method = "PATCH"
        schema, required = super()._get_request_for_media_type(serializer, direction)
        if isinstance(serializer, dict):
            required = required or bool(serializer.get("oneOf") or serializer.get("required"))
        elif _one_of_rules(serializer):
            required = True
        return schema, required

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        rules = []
        properties = schema.get("properties", {})
        for first, second, *kind in getattr(serializer, "schema_exclusive", ()):
            if kind == ["one"]:
                rules.append({"oneOf": [{"required": [first]}, {"required": [second]}]})
            else:
                # "Not both given": a null counts as not given, so the pair is refused only when both
                # have a value of their (non-null) type.
                both = {"required": [first, second]}
                types = {name: properties.get(name, {}).get("type") for name in (first, second)}
                if all(types.values()):
                    both["properties"] = {name: {"type": value} for name, value in types.items()}
                rules.append({"not": both})
        if len(rules) == 1:
            schema.update(rules[0])
        elif rules:
            schema["allOf"] = rules
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in ERROR_DESCRIPTIONS:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]), code
                )
        for code, response in responses.items():
            _event_stream_as_events(code, response.get("content", {}))
        return responses

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        """Nested `InputSerializer`/`OutputSerializer` classes (HSE style) get their view's name,
        so `RegisterApi.InputSerializer` becomes `RegisterInputRequest`, not a clashing `InputRequest`."""
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return name
        outer = qualname.split(".")[0].removesuffix("Api")
        if name.startswith("Patched"):
            return f"Patched{outer}{name.removeprefix('Patched')}"
        return f"{outer}{name}"

    def get_override_parameters(self):
        """Lists rendered with `paginate()` take `page` and `page_size`."""
        from apps.core.pagination import PageNumberPagination, _paginated_serializers

        parameters = list(super().get_override_parameters())
        response = self.get_response_serializers()
        if self.method == "GET" and isinstance(response, type) and response in _paginated_serializers.values():
            parameters += [
                OpenApiParameter(
                    "page",
                    {"type": "integer", "minimum": 1},
                    description="Page number (from 1); past the last page is a 404.",
                ),
                OpenApiParameter(
                    "page_size",
                    {"type": "integer", "minimum": 1, "maximum": PageNumberPagination.max_page_size},
                    description=f"Items per page, 1 to {PageNumberPagination.max_page_size}.",
                ),
            ]
        return parameters


# What a `text/event-stream` body is, whatever view streams it: a sequence of events, each an `event`
# name and a `data` string. Views that stream declare their own event schema (names and all); the
# media types that drf-spectacular derives from a view's renderers are corrected here: a serializer's
# schema under text/event-stream would claim the stream is one JSON document.
EVENT_SCHEMA = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {"event": {"type": "string"}, "data": {"type": "string", "description": "One JSON document."}},
}


def _event_stream_as_events(code: str, content: dict) -> None:
    stream = content.get("text/event-stream")
    if stream is None or "$ref" not in stream.get("schema", {}):
        return  # not streamed, or a view's own event schema
    if str(code).startswith("2"):
        del content["text/event-stream"]  # a success that is not the declared stream is never streamed
    else:
        stream["schema"] = EVENT_SCHEMA  # an error after negotiation arrives as an `error` event
