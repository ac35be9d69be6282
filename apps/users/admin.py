from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from rest_framework_simplejwt.token_blacklist import admin as jwt_admin  # registers its admins first
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from apps.core.admin import CountedDeleteAdmin
from apps.users.models import User


class BeaconUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class BeaconUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(CountedDeleteAdmin, DjangoUserAdmin):
    """The delete page counts a member's events, progress and conversations instead of listing them."""

    form = BeaconUserChangeForm
    add_form = BeaconUserCreationForm
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "date_joined"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name", "timezone", "locale", "interests")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


admin.site.unregister(BlacklistedToken)


@admin.register(BlacklistedToken)
class BlacklistedTokenAdmin(jwt_admin.BlacklistedTokenAdmin):
    """simplejwt's, with the token as a raw-id field: every refresh rotates the token and blacklists the old one
    (ROTATE_REFRESH_TOKENS, BLACKLIST_AFTER_ROTATION), so the outstanding tokens number in the hundreds of
    thousands, and the form's select of all of them ran one query per option for its label (the token's user):
    120,000 tokens took 179 s and 120,004 queries."""

    raw_id_fields = ["token"]
