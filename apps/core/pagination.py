import base64
import binascii
import json
from datetime import UTC, datetime

from django.db.models import Q
from rest_framework import pagination, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200
    last_page_strings = ()  # `page` is documented as an integer

    def get_page_number(self, request, paginator):
        """Reject a `page` that is not a positive integer with a 400 (DRF would serve page 1)."""
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not (raw.isdigit() and int(raw) >= 1):
            raise ValidationError({"page": ["Must be an integer from 1."]})
        return raw or 1

    def get_page_size(self, request):
        """Reject a bad `page_size` with a 400 instead of silently using the default."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({"page_size": [f"Must be an integer from 1 to {self.max_page_size}."]})
        return size


_paginated_serializers: dict[str, type[serializers.Serializer]] = {}


def paginated_schema(
    item_serializer: type[serializers.Serializer], *, keyset: bool = False
) -> type[serializers.Serializer]:
    """The documented shape of a paginated list of `item_serializer` (for @extend_schema); `keyset`: a list that
    also walks by cursor (`paginate_keyset`): `next_cursor`, and no `count` on a page asked by cursor.

    APIViews are not GenericAPIViews, so drf-spectacular cannot see their pagination by itself.
    """
    name = item_serializer.__qualname__.replace(".", "").removesuffix("Serializer").replace("Serializer", "")
    name = f"Paginated{name}{'Keyset' if keyset else ''}List"
    if name not in _paginated_serializers:
        fields = {
            "count": serializers.IntegerField(
                allow_null=keyset, help_text="Rows in all pages; null on a page asked by `cursor`." if keyset else ""
            ),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item_serializer(many=True),
        }
        if keyset:
            fields["next_cursor"] = serializers.CharField(
                allow_null=True, help_text="Pass as `cursor` for the rows after this page (null: none)."
            )
        _paginated_serializers[name] = type(f"{name}Serializer", (serializers.Serializer,), fields)
    return _paginated_serializers[name]


class CursorParamsSerializer(serializers.Serializer):
    """The query parameter of a list that walks by cursor (for @extend_schema parameters)."""

    cursor = serializers.CharField(
        required=False,
        help_text="A page's `next_cursor`: the rows after it, at any depth in the same time (no count, no offset); "
        "not with `page`.",
    )


def paginate(view, request, queryset, serializer_class, context: dict | None = None):
    """A paginated Response of `queryset` rendered with `serializer_class`."""
    return _numbered_page(view, request, queryset, serializer_class, context)[0]


def _numbered_page(view, request, queryset, serializer_class, context: dict | None):
    """The page-numbered Response, with the page's rows and whether another page follows."""
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context=context or {}).data
    return paginator.get_paginated_response(data), page, bool(page) and paginator.page.has_next()


def _cursor_encode(moment: datetime, pk: int) -> str:
    raw = json.dumps([moment.isoformat(), pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, pk = json.loads(raw)
        moment = datetime.fromisoformat(moment)
        if moment.tzinfo is None or not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk < 2**63:
            raise ValueError(cursor)
        moment = moment.astimezone(UTC)  # PostgreSQL refuses offsets past 15:59 that Python reads (up to 23:59)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise ValidationError({"cursor": ["Not a cursor of this list: pass a page's next_cursor as it is."]}) from None
    return moment, pk


def paginate_keyset(view, request, queryset, serializer_class, *, time_field: str, context: dict | None = None):
    """A list newest first by (`time_field`, id) that also walks by cursor, for tables of millions of rows (the
    queryset must be ordered by `-time_field, -id`).

    Without `cursor`: the page-numbered list (`paginate`), with `next_cursor` after its last row. With `cursor`: the
    `page_size` rows after it, found through the index on the time (`time <= t AND (time < t OR id < pk)`), no
    count and no offset, so the thousandth page costs what the first does (a page number makes PostgreSQL count the
    rows and skip every row before the page)."""
    cursor = request.query_params.get("cursor")
    paginator = PageNumberPagination()
    if cursor is None:
        response, page, more = _numbered_page(view, request, queryset, serializer_class, context)
        response.data["next_cursor"] = _cursor_encode(getattr(page[-1], time_field), page[-1].pk) if more else None
        return response
    if request.query_params.get(paginator.page_query_param) is not None:
        raise ValidationError({"cursor": ["Give page or cursor, not both."]})
    size = paginator.get_page_size(request)
    moment, pk = _cursor_decode(cursor)
    after = queryset.filter(**{f"{time_field}__lte": moment}).filter(Q(**{f"{time_field}__lt": moment}) | Q(pk__lt=pk))
    rows = list(after[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = _cursor_encode(getattr(rows[-1], time_field), rows[-1].pk) if more else None
    url = request.build_absolute_uri()
    return Response(
        {
            "count": None,
            "next": replace_query_param(url, "cursor", next_cursor) if next_cursor else None,
            "previous": None,
            "results": serializer_class(rows, many=True, context=context or {}).data,
            "next_cursor": next_cursor,
        }
    )
