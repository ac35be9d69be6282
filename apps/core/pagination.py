from rest_framework import pagination, serializers
from rest_framework.exceptions import ValidationError


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


def paginated_schema(item_serializer: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The documented shape of a paginated list of `item_serializer` (for @extend_schema).

    APIViews are not GenericAPIViews, so drf-spectacular cannot see their pagination by itself.
    """
    name = item_serializer.__qualname__.replace(".", "").removesuffix("Serializer").replace("Serializer", "")
    name = f"Paginated{name}List"
    if name not in _paginated_serializers:
        _paginated_serializers[name] = type(
            f"{name}Serializer",
            (serializers.Serializer,),
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": item_serializer(many=True),
            },
        )
    return _paginated_serializers[name]


def paginate(view, request, queryset, serializer_class, context: dict | None = None):
    """A paginated Response of `queryset` rendered with `serializer_class`."""
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context=context or {}).data
    return paginator.get_paginated_response(data)
