from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.analytics.dashboard import dashboard_view
from apps.core.views import health, health_live, metrics
from apps.users.views import PasswordResetConfirmView

admin.site.site_header = "Beacon administration"
admin.site.site_title = "Beacon admin"

urlpatterns = [
    path("health/", health, name="health"),
    # Probes (issue 16): with or without the trailing slash, so no probe follows a redirect.
    re_path(r"^health/live/?$", health_live, name="health-live"),
    re_path(r"^health/ready/?$", health, name="health-ready"),
    path("metrics", metrics, name="metrics"),
    path("widget/", include("apps.widget.urls")),
    path("boards/", include("apps.boards.urls")),  # shared vision boards (public, signed links)
    path("outreach/", include("apps.outreach.urls")),
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    # The e-mailed password-reset link opens Django's own form (admin-styled templates).
    path(
        "accounts/reset/<uidb64>/<token>/",
        PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/v1/", include("apps.users.api.urls")),
    path("api/v1/", include("apps.organizations.api.urls")),
    path("api/v1/", include("apps.interests.api.urls")),
    path("api/v1/", include("apps.bots.api.urls")),
    path("api/v1/", include("apps.documents.api.urls")),
    path("api/v1/", include("apps.sources.api.urls")),
    path("api/v1/", include("apps.conversations.api.urls")),
    path("api/v1/", include("apps.progress.api.urls")),
    path("api/v1/", include("apps.analytics.api.urls")),
    path("api/v1/", include("apps.recommendations.api.urls")),
    path("api/v1/", include("apps.personality.api.urls")),
    path("api/v1/", include("apps.webhooks.api.urls")),
    path("api/v1/", include("apps.boards.api.urls")),
    path("api/v1/", include("apps.outreach.api.urls")),
]

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
