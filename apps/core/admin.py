"""Admin deletes through the services (issue 16): `ServiceDeleteAdmin`.

Django's admin deletes with `obj.delete()` (the delete view) and `queryset.delete()` ("Delete
selected"), which skips what a delete service does besides the row: files removed after commit,
graph outbox rows, term statistics, the last-owner and has-children rules. An admin that subclasses
`ServiceDeleteAdmin` implements `delete_model` with its service; "Delete selected" then calls it for
each selected object, in one transaction. A refusal (`ApplicationError`) rolls the whole delete back,
the admin log entries included, and is shown as an error message instead of a server error.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse

from apps.core.exceptions import ApplicationError


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


class ServiceDeleteAdmin(admin.ModelAdmin):
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
