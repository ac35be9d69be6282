"""The admin site: Django's, with the API's login and password-change throttles (issue 13: the
admin login took 30 wrong passwords without a refusal). Installed as the default site through
`apps.users.apps.BeaconAdminConfig`, so `admin.site` everywhere is this one.

Once a bucket is exhausted the form is answered with an error and the password is never checked
(the throttle runs in `clean` before `authenticate` / `check_password`). The login error is the
same for a known and an unknown account.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.core.exceptions import ValidationError

from apps.users.throttles import (
    LOGIN_THROTTLED,
    PASSWORD_CHANGE_THROTTLED,
    login_throttle_wait,
    password_change_throttle_wait,
)


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    def clean(self):
        wait = login_throttle_wait(self.request, self.cleaned_data.get("username"))
        if wait is not None:
            raise ValidationError(LOGIN_THROTTLED, code="throttled", params={"wait": wait})
        return super().clean()


class ThrottledAdminPasswordChangeForm(AdminPasswordChangeForm):
    def __init__(self, user, *args, request=None, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self):
        wait = password_change_throttle_wait(self.request)
        if wait is not None:
            raise ValidationError(PASSWORD_CHANGE_THROTTLED, code="throttled", params={"wait": wait})
        return super().clean_old_password()


class BeaconAdminSite(admin.AdminSite):
    login_form = ThrottledAdminAuthenticationForm

    def password_change(self, request, extra_context=None):
        """Django's view with the throttled form (AdminSite has no hook for the form class)."""
        from django.contrib.auth.views import PasswordChangeView
        from django.urls import reverse

        class View(PasswordChangeView):
            form_class = ThrottledAdminPasswordChangeForm

            def get_form_kwargs(self):
                return {**super().get_form_kwargs(), "request": self.request}

        defaults = {
            "success_url": reverse("admin:password_change_done", current_app=self.name),
            "extra_context": {**self.each_context(request), **(extra_context or {})},
        }
        if self.password_change_template is not None:
            defaults["template_name"] = self.password_change_template
        request.current_app = self.name
        return View.as_view(**defaults)(request)
