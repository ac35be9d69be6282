"""The admin's organization dashboard (issue 6): the analytics figures of one organization as charts.

Mounted in config/urls.py as `admin/dashboard/` through `admin.site.admin_view` (staff only; others
go to the admin login). Staff also need the `organizations.view_organization` permission, since the
page shows any organization's figures. The figures come from the same selectors as the analytics
API (apps.analytics.selectors) and are embedded in the page (`json_script`); the vendored Chart.js
draws them, so the page makes no API calls and needs no membership.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse

from apps.analytics import selectors as analytics
from apps.organizations.models import Organization


class DashboardForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.order_by("name", "id"))
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    grouping = forms.ChoiceField(choices=[(g, g) for g in analytics.GROUPINGS], initial="day", required=False)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["period"] = analytics.analytics_range(date_from=data.get("date_from"), date_to=data.get("date_to"))
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        data["grouping"] = data.get("grouping") or "day"
        return data


def dashboard_figures(*, organization, period, grouping: str) -> dict:
    """Every figure of the page, as the analytics API renders them (JSON-ready)."""
    from apps.analytics.api import views

    return {
        "range": views.RangeOutputSerializer(period.as_dict()).data,
        "active_users": views.ActiveUsersOutputSerializer(
            analytics.analytics_active_users(organization=organization, period=period, grouping=grouping)
        ).data,
        "funnel": views.FunnelOutputSerializer(
            analytics.analytics_funnel(organization=organization, period=period)
        ).data,
        "top_items": views.TopItemsOutputSerializer(
            analytics.analytics_top_items(organization=organization, period=period, limit=10)
        ).data,
        "completion": views.CompletionOutputSerializer(
            analytics.analytics_completion(organization=organization, period=period, limit=20)
        ).data,
        "bot_usage": views.BotUsageOutputSerializer(
            analytics.analytics_bot_usage(organization=organization, period=period, grouping=grouping)
        ).data,
        "recommendations": views.RecommendationsOutputSerializer(
            analytics.analytics_recommendations(organization=organization, period=period, grouping=grouping)
        ).data,
    }


def dashboard_view(request):
    if not request.user.has_perm("organizations.view_organization"):
        raise PermissionDenied
    form = DashboardForm(request.GET or None)
    context = {
        **admin.site.each_context(request),
        "title": "Organization analytics",
        "form": form,
        "figures": None,
        "organization": None,
    }
    if form.is_bound and form.is_valid():
        organization = form.cleaned_data["organization"]
        context["organization"] = organization
        context["figures"] = dashboard_figures(
            organization=organization, period=form.cleaned_data["period"], grouping=form.cleaned_data["grouping"]
        )
    return TemplateResponse(request, "admin/analytics/dashboard.html", context)
