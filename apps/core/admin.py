"""Admin deletes through the services (issue 16): `ServiceDeleteAdmin`.

Django's admin deletes with `obj.delete()` (the delete view) and `queryset.delete()` ("Delete
selected"), which skips what a delete service does besides the row: files removed after commit,
graph outbox rows, term statistics, the last-owner and has-children rules. An admin that subclasses
`ServiceDeleteAdmin` implements `delete_model` with its service; "Delete selected" then calls it for
each selected object, in one transaction. A refusal (`ApplicationError`) rolls the whole delete back,
the admin log entries included, and is shown as an error message instead of a server error.

The delete confirmation page of an object with a large cascade (a bot: its documents, 100,000 chunks and
their vectors, its conversations and messages) counts what goes with it instead of listing every row:
`CountedDeleteAdmin`.

Changelists of tables with millions of rows (interactions, recommendation logs, ...): `LargeTableAdmin`,
whose paginator counts from the planner's statistics instead of a COUNT(*) on every page.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.core.paginator import Paginator
from django.db import connections, models, transaction
from django.db.models.deletion import get_candidate_relations_to_delete
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.timesince import timesince

from apps.core.exceptions import ApplicationError


class EstimatedCountPaginator(Paginator):
    """A paginator that counts a large result from PostgreSQL's statistics, not with COUNT(*).

    The whole table: `pg_class.reltuples` (kept by (auto)vacuum and ANALYZE). A filtered or searched list:
    the planner's row estimate of the query (EXPLAIN, no execution). Below `EXACT_BELOW` rows either way,
    or when the table was never analyzed (reltuples -1), the exact COUNT(*): it is cheap there, and a small
    result (a search, a narrow filter) is counted exactly. The last pages of an estimated count may be
    short or empty; the changelist says so by its own "0 results" on such a page."""

    EXACT_BELOW = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        estimate = self._estimate(queryset)
        if estimate is None or estimate < self.EXACT_BELOW:
            return super().count
        return estimate

    @staticmethod
    def _estimate(queryset) -> int | None:
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        if not queryset.query.where and not queryset.query.distinct:
            with connection.cursor() as cursor:
                table = queryset.model._meta.db_table
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
                row = cursor.fetchone()
            return row[0] if row and row[0] >= 0 else None
        try:  # a query Django knows to be empty (`pk__in=[]`) explains as nothing
            plan = json.loads(queryset.order_by().explain(format="json"))
        except ValueError:
            return None
        return int(plan[0]["Plan"]["Plan Rows"])


class LargeTableAdmin(admin.ModelAdmin):
    """A changelist over millions of rows: an estimated count, and no second count of the whole table."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False


def _refused(modeladmin: admin.ModelAdmin, request, exc: ApplicationError) -> None:
    modeladmin.message_user(request, f"Nothing was deleted: {exc.detail}", messages.ERROR)


def _all_or_nothing(action):
    """Django's delete_selected in one transaction; a refusal leaves every selected row in place."""

    def delete_selected(modeladmin, request, queryset):
        try:
            with transaction.atomic():
                return action(modeladmin, request, queryset)
        except ApplicationError as exc:
            _refused(modeladmin, request, exc)
            return None

    delete_selected.allowed_permissions = getattr(action, "allowed_permissions", ("delete",))
    return delete_selected


#: protected rows named on a refused delete page, per relation (the rest are counted)
PROTECTED_EXAMPLES = 10
#: selected objects named on a delete page (the rest are counted)
LISTED_OBJECTS = 100
#: cascades followed this deep (the models here go three deep: bot, document, chunk, chunk vector)
CASCADE_DEPTH = 8


def _object_link(admin_site, obj) -> str:
    opts = obj._meta
    label = f"{capfirst(opts.verbose_name)}: {obj}"
    if obj.__class__ not in admin_site._registry:
        return format_html("{}", label)
    try:
        url = reverse(f"{admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
    except NoReverseMatch:
        return format_html("{}", label)
    return format_html('{}: <a href="{}">{}</a>', capfirst(opts.verbose_name), url, obj)


def counted_deleted_objects(objs, request, admin_site):
    """`ModelAdmin.get_deleted_objects` without loading what cascades: each model reached by CASCADE is counted
    once with one COUNT (its rows reached by any path: a chunk goes with its bot and with its document), and a
    protected relation names its first PROTECTED_EXAMPLES rows and counts the rest. Django's own loads and
    lists every row (NestedObjects): 64 s and 34 MB of HTML for a bot of 100,000 chunks, minutes and gigabytes
    of memory for an organization with 2,000,000 interactions (each protected one loaded to be listed). A
    cascade back into a model already on the path (a tree of rows of one model) is not followed."""
    if isinstance(objs, models.QuerySet):  # "Delete selected" (maybe "select all"): counted and named in SQL
        root, selected = objs.model, objs.order_by()
        total, shown = selected.count(), list(objs[:LISTED_OBJECTS])
    else:
        shown = list(objs)
        total = len(shown)
        root = shown[0].__class__ if shown else None
        selected = root._base_manager.filter(pk__in=[obj.pk for obj in shown]) if shown else None
    if not total:
        return [], {}, set(), []
    # The cascade graph from the root: for each model, the (foreign key, parent model) edges that delete its rows.
    edges: dict[type[models.Model], list[tuple[str, type[models.Model]]]] = {root: []}
    protect_edges: list[tuple[str, type[models.Model], type[models.Model]]] = []
    order = [root]

    def explore(current, path, depth):
        for relation in get_candidate_relations_to_delete(current._meta):
            field, related_model = relation.field, relation.related_model
            on_delete = field.remote_field.on_delete
            if on_delete is models.CASCADE and related_model not in path and depth < CASCADE_DEPTH:
                if related_model not in edges:
                    edges[related_model] = []
                    order.append(related_model)
                if (field.name, current) not in edges[related_model]:
                    edges[related_model].append((field.name, current))
                    explore(related_model, (*path, related_model), depth + 1)
            elif on_delete in (models.PROTECT, models.RESTRICT) and (field.name, current, related_model) not in (
                protect_edges
            ):
                protect_edges.append((field.name, current, related_model))

    explore(root, (root,), 0)
    querysets: dict[type[models.Model], models.QuerySet] = {}

    def deleted(model, path=()):
        if model is root:
            return selected
        if model not in querysets or path:
            condition = models.Q(pk__in=[])
            for field_name, parent in edges[model]:
                if parent not in path:
                    condition |= models.Q(**{f"{field_name}__in": deleted(parent, (*path, model)).values("pk")})
            queryset = model._base_manager.filter(condition)
            if path:
                return queryset
            querysets[model] = queryset
        return querysets[model]

    counts = {root: total}
    for model in order[1:]:
        number = deleted(model).count()
        if number:
            counts[model] = number
    perms_needed: set[str] = set()
    for model in counts:
        model_admin = admin_site._registry.get(model)
        if model_admin is not None and not model_admin.has_delete_permission(request):
            perms_needed.add(str(model._meta.verbose_name))
    protected: list[str] = []
    for field_name, parent, related_model in protect_edges:
        if parent not in counts:
            continue
        related = related_model._base_manager.filter(**{f"{field_name}__in": deleted(parent).values("pk")})
        examples = list(related.order_by("pk")[: PROTECTED_EXAMPLES + 1])
        protected.extend(_object_link(admin_site, row) for row in examples[:PROTECTED_EXAMPLES])
        if len(examples) > PROTECTED_EXAMPLES:
            more = related.count() - PROTECTED_EXAMPLES
            protected.append(f"… and {more:,} more {related_model._meta.verbose_name_plural}")
    summary = [f"{number:,} {model._meta.verbose_name_plural}" for model, number in counts.items() if model is not root]
    deleted_objects = [_object_link(admin_site, obj) for obj in shown[:LISTED_OBJECTS]]
    if total > LISTED_OBJECTS:
        deleted_objects.append(f"… and {total - LISTED_OBJECTS:,} more {root._meta.verbose_name_plural}")
    if summary:
        deleted_objects.append("With them: " + ", ".join(summary) + ".")
    model_count = {str(model._meta.verbose_name_plural): number for model, number in counts.items()}
    return deleted_objects, model_count, perms_needed, protected


def _at_most(action, limit: int):
    """Django's delete_selected, refused (nothing deleted, a message) for more than `limit` objects."""

    def delete_selected(modeladmin, request, queryset):
        selected = queryset.count()
        if selected > limit:
            modeladmin.message_user(
                request,
                f'Nothing was deleted: {selected:,} {modeladmin.opts.verbose_name_plural} selected, and "Delete '
                f'selected" deletes at most {limit:,} at a time (each one in this request). Narrow the selection '
                "with a filter or a search.",
                messages.ERROR,
            )
            return None
        return action(modeladmin, request, queryset)

    delete_selected.allowed_permissions = getattr(action, "allowed_permissions", ("delete",))
    return delete_selected


class CountedDeleteAdmin(admin.ModelAdmin):
    """The delete confirmation (single and "Delete selected") counts the cascade (counted_deleted_objects), and
    "Delete selected" takes at most `bulk_delete_limit` objects: "select all" over 20,000 members would have
    removed them one by one in the request (8.7 ms each through the service: three minutes; a content item
    takes 114 ms: 38 minutes for 20,000)."""

    bulk_delete_limit = 100

    def get_deleted_objects(self, objs, request):
        return counted_deleted_objects(objs, request, self.admin_site)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            action, name, description = actions["delete_selected"]
            actions[name] = (_at_most(action, self.bulk_delete_limit), name, description)
        return actions


class ServiceDeleteAdmin(CountedDeleteAdmin):
    """Single and bulk deletes call `delete_model`, which a subclass implements with its service."""

    def delete_model(self, request, obj):
        raise NotImplementedError(f"{type(self).__name__}.delete_model must call the delete service")

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset.order_by("pk"):
                self.delete_model(request, obj)

    def get_deleted_objects(self, objs, request):
        """What goes with the objects is the service's business: related models that cannot be deleted
        on their own in the admin (chunks, progress) do not block it. Protected objects still do."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, {name for name in perms_needed if name == self.opts.verbose_name}, protected

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)  # atomic: rolled back on a refusal
        except ApplicationError as exc:
            _refused(self, request, exc)
            opts = self.opts
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[object_id])
            )

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            action, name, description = actions["delete_selected"]
            actions[name] = (_all_or_nothing(action), name, description)
        return actions


class BeingDeletedFilter(admin.SimpleListFilter):
    """A changelist of `SoftDeletedAdmin`: the rows that exist (the default) or those deleted and still being purged."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("deleting", "Being deleted")]

    def choices(self, changelist):
        first, *rest = super().choices(changelist)  # Django's "All", which here means the rows that exist
        yield {**first, "display": "Existing"}
        yield from rest

    def queryset(self, request, queryset):
        return queryset.filter(deleted_at__isnull=self.value() != "deleting")


class SoftDeletedAdmin(admin.ModelAdmin):
    """The admin of a model deleted at once and purged by a worker (bots, organizations: `deleted_at`,
    `purge_published_at`, a default manager that hides deleted rows and `all_objects` that does not). Its list
    offers "state: being deleted", where staff see the purges not finished, each one's page read-only with how its
    purge stands (a purge that stays quiet is stuck: the worker's log says why; /health/ counts them too). Elsewhere
    (autocomplete, the delete page, other models' filters) a deleted row stays out of sight."""

    SHOWN_ON = ("changelist", "change", "history")
    # The changelist's "(N total)" would count the rows of both states, whichever is shown.
    show_full_result_count = False

    def _deleted_shown(self, request) -> bool:
        match = request.resolver_match
        opts = self.opts
        return match is not None and match.url_name in {
            f"{opts.app_label}_{opts.model_name}_{view}" for view in self.SHOWN_ON
        }

    def get_queryset(self, request):
        if not self._deleted_shown(request):
            return super().get_queryset(request)
        queryset = self.model.all_objects.get_queryset()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def get_list_filter(self, request):
        return [BeingDeletedFilter, *super().get_list_filter(request)]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if request.GET.get(BeingDeletedFilter.parameter_name) == "deleting":
            actions.pop("delete_selected", None)  # deleted already: "Successfully deleted" would be a false report
        return actions

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        return [*shown, "purge_state"] if request.GET.get(BeingDeletedFilter.parameter_name) == "deleting" else shown

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "purge_state"] if obj is not None and obj.deleted_at else fields

    def has_change_permission(self, request, obj=None):
        return (obj is None or not obj.deleted_at) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or not obj.deleted_at) and super().has_delete_permission(request, obj)

    @admin.display(description="purge")
    def purge_state(self, obj):
        """When the row was deleted and how its purge stands (docs/operations.md#purges-in-progress)."""
        if not obj.deleted_at:
            return "—"
        now = timezone.now()
        quiet = obj.purge_published_at is None or (now - obj.purge_published_at).total_seconds() > (
            settings.RECOVERY_LEASE_SECONDS
        )
        return format_html(
            "deleted {} ago; a purge round last published {} ago{}",
            timesince(obj.deleted_at, now),
            timesince(obj.purge_published_at, now) if obj.purge_published_at else "never",
            " — quiet for longer than the recovery lease: the sweep publishes it again; if it stays quiet, the bulk "
            "worker's log says why"
            if quiet
            else "",
        )
