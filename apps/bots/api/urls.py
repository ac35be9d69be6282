from django.urls import path

from apps.bots.api import views

app_name = "bots-api"

urlpatterns = [
    path("orgs/<slug:org_slug>/bots/", views.BotListCreateApi.as_view(), name="list"),
    path("orgs/<slug:org_slug>/bots/<int:bot_id>/", views.BotDetailApi.as_view(), name="detail"),
    path(
        "orgs/<slug:org_slug>/bots/<int:bot_id>/identity-secret/rotate/",
        views.BotIdentitySecretRotateApi.as_view(),
        name="identity-secret-rotate",
    ),
]
