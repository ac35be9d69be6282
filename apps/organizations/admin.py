from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils.html import format_html

from apps.core.admin import ServiceDeleteAdmin, SoftDeletedAdmin
from apps.organizations import services
from apps.organizations.models import ApiKey, Invitation, Membership, Organization, Plan, Role


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name", "code", "is_default", "max_members", "max_bots", "max_documents_per_bot", "max_file_size_mb",
        "max_storage_mb", "max_monthly_messages", "max_api_keys",
    ]  # fmt: skip
    search_fields = ["name", "code"]


@admin.register(Organization)
class OrganizationAdmin(SoftDeletedAdmin, ServiceDeleteAdmin):
    """No membership inline: an organization of 20,000 members drew 20,000 inline forms (three queries each:
    163 s, and a form too large to save, past DATA_UPLOAD_MAX_NUMBER_FIELDS). The members panel counts them
    by role and links to the membership list filtered on the organization, where they are paged, searched,
    added and removed (through the service). Deleting (one or "Delete selected") goes through the service as the
    owner's API delete does: hidden at once, purged by a worker (docs/api.md#deleting-an-organization); the
    confirmation page says so instead of listing what goes (every table of the organization). Organizations being
    purged are listed under "state: being deleted" (SoftDeletedAdmin)."""

    list_display = ["name", "slug", "plan", "member_count", "created_at"]
    list_filter = ["plan", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["members"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("plan").annotate(_members=Count("memberships"))

    @admin.display(description="members", ordering="_members")
    def member_count(self, obj):
        return obj._members

    def delete_model(self, request, obj):
        services.organization_mark_deleted(organization=obj)

    def get_deleted_objects(self, objs, request):
        names = [str(obj) for obj in (objs[: self.bulk_delete_limit] if isinstance(objs, QuerySet) else objs)]
        what = [f"{name}: hidden at once, then every record of it deleted in the background" for name in names]
        return what, {self.opts.verbose_name_plural: len(names)}, set(), []

    @admin.display(description="members")
    def members(self, obj):
        """The members by role (one grouped count), with links to their list and to add one."""
        if not obj.pk:
            return "—"
        by_role = dict(
            Membership.objects.filter(organization=obj).values_list("role").annotate(n=Count("id")).order_by()
        )
        changelist = reverse("admin:organizations_membership_changelist")
        return format_html(
            '{} ({} owners, {} admins, {} members) · <a href="{}?organization__id__exact={}">list, search and '
            'remove</a> · <a href="{}?organization={}">add a member</a>',
            sum(by_role.values()), by_role.get(Role.OWNER, 0), by_role.get(Role.ADMIN, 0),
            by_role.get(Role.MEMBER, 0), changelist, obj.pk, reverse("admin:organizations_membership_add"), obj.pk,
        )  # fmt: skip


@admin.register(Membership)
class MembershipAdmin(ServiceDeleteAdmin):
    list_display = ["user", "organization", "role", "external_id", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__email", "user__full_name", "organization__name", "external_id"]
    autocomplete_fields = ["user", "organization"]
    list_select_related = ["user", "organization"]

    def delete_model(self, request, obj):
        # Single and bulk (ServiceDeleteAdmin). Staff act as the member leaving: the API's role checks do
        # not apply, the organization's rules do (the last owner stays) and the graph learns of it.
        services.membership_remove(membership=obj, actor=obj)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "role", "status", "invited_by", "created_at", "expires_at"]
    list_filter = ["role", "organization", "created_at"]
    search_fields = ["email", "organization__name"]
    list_select_related = ["organization", "invited_by"]
    readonly_fields = ["token_hash", "accepted_at", "accepted_by", "revoked_at", "invited_by"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # invitations are created through the API so the token can be e-mailed

    @admin.action(description="Revoke selected pending invitations")
    def revoke(self, request, queryset):
        revoked = 0
        for invitation in queryset:
            if invitation.status == Invitation.Status.PENDING:
                services.invitation_revoke(invitation=invitation)
                revoked += 1
        self.message_user(request, f"Revoked {revoked} invitation(s).", messages.SUCCESS)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "prefix", "scopes", "is_active", "last_used_at", "created_at"]
    list_filter = ["organization", "created_at"]
    search_fields = ["name", "prefix", "organization__name"]
    list_select_related = ["organization"]
    readonly_fields = ["prefix", "key_hash", "last_used_at", "created_by", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # keys are created through the API, which shows the secret once

    @admin.display(boolean=True)
    def is_active(self, obj):
        return obj.is_active

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
