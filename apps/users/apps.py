from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class UsersConfig(AppConfig):
    name = "apps.users"
    label = "users"
    verbose_name = "Users"


class BeaconAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin whose default site throttles login and password change (issue 13).
    Not this module's default config (that is UsersConfig): INSTALLED_APPS names it explicitly."""

    default = False

    default_site = "apps.users.admin_site.BeaconAdminSite"
