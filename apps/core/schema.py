"""drf-spectacular schema class: every operation documents the shared error envelope."""

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from apps.core.serializers import ErrorSerializer

ERROR_DESCRIPTIONS = {
    "400": "Invalid input (malformed JSON, wrong types, broken rules).",
    "401": "Not authenticated, or the token/API key is invalid or expired.",
    "403": "Authenticated but not allowed (role, scope or plan limit).",
    "404": "Not found, or not visible to the caller's organization.",
    "405": "Method not allowed.",
    "415": "Unsupported media type.",
    "429": "Rate limited; retry after `details.retry_after` seconds (also the Retry-After header).",
}


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in ERROR_DESCRIPTIONS:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]), code
                )
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
