"""Analytics routes: query parameters only (no path kwargs beyond the organization)."""

from django.urls import path

from apps.analytics.api import views

app_name = "analytics-api"

BASE = "orgs/<slug:org_slug>/analytics/"

urlpatterns = [
    path(f"{BASE}active-users/", views.AnalyticsActiveUsersApi.as_view(), name="active-users"),
    path(f"{BASE}completion/", views.AnalyticsCompletionApi.as_view(), name="completion"),
    path(f"{BASE}funnel/", views.AnalyticsFunnelApi.as_view(), name="funnel"),
    path(f"{BASE}top-items/", views.AnalyticsTopItemsApi.as_view(), name="top-items"),
    path(f"{BASE}bots/", views.AnalyticsBotUsageApi.as_view(), name="bot-usage"),
    path(f"{BASE}recommendations/", views.AnalyticsRecommendationsApi.as_view(), name="recommendations"),
]
