"""Progress APIs under /api/v1/orgs/{org}/:

- content/ (list, create), content/{id}/ (detail, PATCH, DELETE), content/bulk/ (upsert by external_id):
  members read; admins and write-scoped API keys write.
- progress/ (list), progress/{start,update,complete,reset}/, progress/summary/: members read and write
  their own; admins and API keys anyone's (`user` / `user_external_id`).
- interactions/ (list, record one), interactions/batch/ (thousands, idempotent): same rule.

members/sync/ is organizations' (apps/organizations/api/views.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from apps.core.pagination import CursorParamsSerializer, paginate, paginate_keyset, paginated_schema
from apps.core.serializers import validate_rows
from apps.organizations.models import Role
from apps.organizations.selectors import member_get
from apps.organizations.tenancy import OrganizationAPIView
from apps.progress import selectors, services
from apps.progress.api import serializers as s

# --------------------------------------------------------------------------- catalog


class ContentListCreateApi(OrganizationAPIView):
    @extend_schema(
        operation_id="content_list",
        parameters=[s.ContentFilterSerializer],
        responses=paginated_schema(s.ContentOutputSerializer),
        tags=["content"],
        description="The catalog, ordered by parent then position (a course's lessons in order with `parent=`).",
    )
    def get(self, request, org_slug):
        filters = s.ContentFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = selectors.content_list(organization=self.organization, filters=filters.validated_data)
        return paginate(self, request, queryset, s.ContentOutputSerializer)

    @extend_schema(
        operation_id="content_create",
        request=s.ContentInputSerializer,
        responses={201: s.ContentOutputSerializer},
        tags=["content"],
        description="Create an item (admins, write-scoped API keys). Its embedding is computed in the background.",
    )
    def post(self, request, org_slug):
        data = s.ContentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.content_create(organization=self.organization, data=data.validated_data)
        item = selectors.content_get(organization=self.organization, item_id=item.pk)
        return Response(s.ContentOutputSerializer(item).data, status=status.HTTP_201_CREATED)


class ContentDetailApi(OrganizationAPIView):
    @extend_schema(operation_id="content_retrieve", responses=s.ContentOutputSerializer, tags=["content"])
    def get(self, request, org_slug, item_id):
        item = selectors.content_get(organization=self.organization, item_id=item_id)
        return Response(s.ContentOutputSerializer(item).data)

    @extend_schema(
        operation_id="content_update",
        request=s.ContentInputSerializer,
        responses=s.ContentOutputSerializer,
        tags=["content"],
        description="Partial update. `prerequisites` / `prerequisite_external_ids` replace the whole set.",
    )
    def patch(self, request, org_slug, item_id):
        item = selectors.content_get(organization=self.organization, item_id=item_id)
        data = s.ContentInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.content_update(item=item, data=data.validated_data)
        item = selectors.content_get(organization=self.organization, item_id=item_id)
        return Response(s.ContentOutputSerializer(item).data)

    @extend_schema(
        operation_id="content_destroy",
        responses={204: None},
        tags=["content"],
        description="Delete an item with its progress and interactions. 409 when it has children.",
    )
    def delete(self, request, org_slug, item_id):
        item = selectors.content_get(organization=self.organization, item_id=item_id)
        services.content_delete(item=item)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContentBulkUpsertApi(OrganizationAPIView):
    @extend_schema(
        operation_id="content_bulk_upsert",
        request=s.ContentBulkInputSerializer,
        responses=s.ContentBulkOutputSerializer,
        tags=["content"],
        description=f"Upsert up to {settings.CONTENT_BULK_MAX_ITEMS} items by `external_id` in one transaction. "
        "Idempotent (the same payload twice: all `unchanged`); every row gets created / updated / unchanged / "
        "rejected with its errors, and rejected rows never stop the others. Omitted fields keep their stored value. "
        "`parent_external_id` and `prerequisite_external_ids` may name rows of the same payload or existing items.",
    )
    def post(self, request, org_slug):
        envelope = s.ContentBulkInputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        rows = []
        for index, raw, data, errors in validate_rows(s.ContentBulkRowSerializer, envelope.validated_data["items"]):
            if errors is None:
                rows.append(services.BulkRow(index=index, data=data))
            else:
                external_id = raw.get("external_id") if isinstance(raw.get("external_id"), str) else None
                rows.append(services.BulkRow(index=index, external_id=external_id, errors=errors))
        services.content_bulk_upsert(organization=self.organization, rows=rows)
        counts = {name: 0 for name in ("created", "updated", "unchanged", "rejected")}
        results = []
        for row in rows:
            counts[row.status] += 1
            results.append(
                {
                    "index": row.index,
                    "external_id": row.external_id,
                    "status": row.status,
                    "id": row.item.pk if row.item is not None and row.status != "rejected" else None,
                    "errors": row.errors,
                }
            )
        return Response(s.ContentBulkOutputSerializer({**counts, "results": results}).data)


# --------------------------------------------------------------------------- progress and interactions


class PersonalApi(OrganizationAPIView):
    """Members read and write their own rows; admins and API keys anyone's in the organization."""

    write_role = Role.MEMBER

    def target_user(self, *, user_id=None, user_external_id=None):
        """Whose row this is: the caller by default; another member only for admins and API keys."""
        if user_id is None and user_external_id is None:
            if self.api_key is not None:
                raise ValidationError({"user": ["Required with an API key: the user (id or user_external_id)."]})
            return self.request.user
        if not self.sees_all_members:
            if user_id is not None and user_id == self.request.user.pk:
                return self.request.user
            if user_external_id is not None and self.membership.external_id == user_external_id:
                return self.request.user
            raise PermissionDenied("Members can only see and record their own progress and interactions.")
        return services.member_resolve(
            organization=self.organization, user_id=user_id, user_external_id=user_external_id
        )

    def user_filter(self, values: dict, *, what: str) -> None:
        """A list's `user` filter, also given as `user_external_id` (issue 18: other backends name people by their
        own ids; unknown: 404), in `values` as `user`; members may only filter by themselves."""
        if "user_external_id" in values:
            external_id = values.pop("user_external_id")
            if self.membership is not None and external_id == self.membership.external_id:
                values["user"] = self.request.user.pk
            elif not self.sees_all_members:
                raise PermissionDenied(f"Members can only see their own {what}.")
            else:
                values["user"] = member_get(organization=self.organization, external_id=external_id).user_id
        if values.get("user") is not None and not self.sees_all_members and values["user"] != self.request.user.pk:
            raise PermissionDenied(f"Members can only see their own {what}.")

    def item_of(self, data: dict):
        ids = [data["item"]] if "item" in data else []
        exts = [data["item_external_id"]] if "item_external_id" in data else []
        return services.content_refs_resolve(
            organization=self.organization, ids=ids, external_ids=exts, field_name="item"
        )[0]


class ProgressListApi(PersonalApi):
    @extend_schema(
        operation_id="progress_list",
        parameters=[s.ProgressFilterSerializer],
        responses=paginated_schema(s.ProgressOutputSerializer),
        tags=["progress"],
        description="Progress rows, latest activity first. Members see their own; `user` filters (admins).",
    )
    def get(self, request, org_slug):
        filters = s.ProgressFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        values = dict(filters.validated_data)
        self.user_filter(values, what="progress")
        queryset = selectors.progress_list(organization=self.organization, own_user=self.own_user, filters=values)
        return paginate(self, request, queryset, s.ProgressOutputSerializer)


def _action_schema(operation_id: str, serializer_class, description: str):
    """The OpenAPI operation of one progress action (they differ by id, input and description)."""
    return extend_schema(
        operation_id=operation_id,
        request=serializer_class,
        responses=s.ProgressOutputSerializer,
        tags=["progress"],
        description=description + " Courses roll up from their lessons; start and complete record interactions.",
    )


class ProgressActionApi(PersonalApi):
    """The shared body of progress/{start,update,complete,reset}/: validate, resolve whose row and which
    item, call the action's service, render the stored row. Each subclass names its serializer and
    service and documents its operation."""

    def act(self, request, serializer_class, service):
        data = serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "at" in values and not self.sees_all_members:
            # Backdating is for imports by admins and API keys; a member's own progress happens now.
            raise PermissionDenied("Only admins and API keys may set `at` (backdated imports).")
        user = self.target_user(user_id=values.pop("user", None), user_external_id=values.pop("user_external_id", None))
        item = self.item_of(values)
        values.pop("item", None)
        values.pop("item_external_id", None)
        progress = service(organization=self.organization, user=user, item=item, **values)
        progress = selectors.progress_list(organization=self.organization).get(pk=progress.pk)
        return Response(s.ProgressOutputSerializer(progress).data)


class ProgressStartApi(ProgressActionApi):
    @_action_schema("progress_start", s.ProgressTargetSerializer, "Start an item (idempotent while in progress).")
    def post(self, request, org_slug):
        return self.act(request, s.ProgressTargetSerializer, services.progress_start)


class ProgressUpdateApi(ProgressActionApi):
    @_action_schema(
        "progress_update",
        s.ProgressUpdateSerializer,
        "Set percent, score and/or time spent (`time_spent_seconds` total or `add_seconds`). Starts a not-started "
        "item; percent 100 completes it; lowering a completed item's percent is 409 (reset first).",
    )
    def post(self, request, org_slug):
        return self.act(request, s.ProgressUpdateSerializer, services.progress_update)


class ProgressCompleteApi(ProgressActionApi):
    @_action_schema(
        "progress_complete",
        s.ProgressCompleteSerializer,
        "Complete an item (a completed one stays completed; retries record nothing twice).",
    )
    def post(self, request, org_slug):
        return self.act(request, s.ProgressCompleteSerializer, services.progress_complete)


class ProgressResetApi(ProgressActionApi):
    @_action_schema("progress_reset", s.ProgressTargetSerializer, "Back to not started, with everything below it.")
    def post(self, request, org_slug):
        return self.act(request, s.ProgressTargetSerializer, services.progress_reset)


class ProgressSummaryApi(PersonalApi):
    @extend_schema(
        operation_id="progress_summary",
        parameters=[s.ProgressSummaryParamsSerializer],
        responses=s.ProgressSummarySerializer,
        tags=["progress"],
        description="One user's completed / in-progress counts, time spent, active-day streaks and last activity.",
    )
    def get(self, request, org_slug):
        params = s.ProgressSummaryParamsSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        values = dict(params.validated_data)
        self.user_filter(values, what="progress")  # an external id read as the user (unknown: 404)
        if values.get("user") is not None and self.sees_all_members:
            # One person's figures: someone outside the organization is 404 by id as by external id, as on
            # recommendations/ (a write's body says 400 `not_a_member`; a list's filter matches no rows).
            user = member_get(organization=self.organization, user_id=values["user"]).user
        else:
            user = self.target_user(user_id=values.get("user"))
        summary = selectors.progress_summary(organization=self.organization, user=user)
        return Response(s.ProgressSummarySerializer(summary).data)


class InteractionListCreateApi(PersonalApi):
    @extend_schema(
        operation_id="interactions_list",
        parameters=[s.InteractionFilterSerializer, CursorParamsSerializer],
        responses=paginated_schema(s.InteractionOutputSerializer, keyset=True),
        tags=["interactions"],
        description="Events, newest first. Members see their own. Millions of events are read page after page by "
        "`cursor` (each page's `next_cursor`): no count, no offset, the same cost at any depth.",
    )
    def get(self, request, org_slug):
        filters = s.InteractionFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        values = dict(filters.validated_data)
        self.user_filter(values, what="interactions")
        if "item_external_id" in values:
            item = selectors.content_get(organization=self.organization, external_id=values.pop("item_external_id"))
            values["item"] = item.pk
        if values.get("date_from"):
            values["occurred_from"] = datetime.combine(values["date_from"], time.min, tzinfo=UTC)
        if values.get("date_to"):
            # The end of date_to (the last representable day has no "next day").
            end = values["date_to"]
            values["occurred_to"] = (
                datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
                if end < date.max
                else datetime.max.replace(tzinfo=UTC)
            )
        queryset = selectors.interaction_list(organization=self.organization, own_user=self.own_user, filters=values)
        return paginate_keyset(self, request, queryset, s.InteractionOutputSerializer, time_field="occurred_at")

    @extend_schema(
        operation_id="interactions_create",
        request=s.InteractionInputSerializer,
        responses={201: s.InteractionOutputSerializer, 200: s.InteractionOutputSerializer},
        tags=["interactions"],
        description="Record one event: 201, or 200 with the stored event when its idempotency_key is known (the same "
        "person, item and kind: a retry); 409 `idempotency_conflict` when the key recorded another event.",
    )
    def post(self, request, org_slug):
        data = s.InteractionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        user = self.target_user(user_id=values.pop("user", None), user_external_id=values.pop("user_external_id", None))
        item = self.item_of(values)
        values.pop("item", None)
        values.pop("item_external_id", None)
        interaction, created = services.interaction_create(
            organization=self.organization, user=user, item=item, **values
        )
        return Response(
            s.InteractionOutputSerializer(interaction).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class InteractionBatchApi(PersonalApi):
    @extend_schema(
        operation_id="interactions_batch",
        request=s.InteractionBatchInputSerializer,
        responses=s.InteractionBatchOutputSerializer,
        tags=["interactions"],
        description=f"Record up to {settings.INTERACTION_BATCH_MAX_EVENTS} events, each with its own "
        "`idempotency_key` (retries never double-count). Users by `user` id or `user_external_id` (members: "
        "their own, the default), items by `item` id or `item_external_id`. Rows that were not stored are listed "
        "in `results` as duplicate or rejected (with the reason); the others are stored.",
    )
    def post(self, request, org_slug):
        body = request.data
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise ValidationError({"events": ["Required: a list of events."]})
        limit = settings.INTERACTION_BATCH_MAX_EVENTS
        if not 1 <= len(events) <= limit:
            raise ValidationError({"events": [f"Send from 1 to {limit} events per request (got {len(events)})."]})
        not_objects = [index for index, event in enumerate(events) if not isinstance(event, dict)]
        if not_objects:
            shown = ", ".join(map(str, not_objects[:10])) + (", ..." if len(not_objects) > 10 else "")
            raise ValidationError({"events": [f"Every event must be a JSON object (not rows {shown})."]})
        outcome = services.interaction_batch_ingest(
            organization=self.organization,
            events=events,
            default_user_id=None if self.api_key is not None else request.user.pk,
            own_user_only=not self.sees_all_members,
        )
        # Plain dict: no serializer pass over thousands of rows.
        return Response(
            {
                "received": outcome.received,
                "created": outcome.created,
                "duplicates": outcome.duplicates,
                "rejected": outcome.rejected,
                "results": outcome.results,
            }
        )
