from django.urls import path

from apps.documents.api import views

app_name = "documents-api"

BOT = "orgs/<slug:org_slug>/bots/<int:bot_id>/"

urlpatterns = [
    path(f"{BOT}documents/", views.DocumentListUploadApi.as_view(), name="list"),
    path(f"{BOT}documents/text/", views.DocumentTextCreateApi.as_view(), name="create-text"),
    path(f"{BOT}documents/<int:document_id>/", views.DocumentDetailApi.as_view(), name="detail"),
    path(f"{BOT}documents/<int:document_id>/reprocess/", views.DocumentReprocessApi.as_view(), name="reprocess"),
    path(f"{BOT}documents/<int:document_id>/chunks/", views.DocumentChunkListApi.as_view(), name="chunks"),
    path(f"{BOT}stats/", views.BotStatsApi.as_view(), name="stats"),
    path(f"{BOT}search/", views.SearchApi.as_view(), name="search"),
    path(f"{BOT}calibrate/", views.BotCalibrateApi.as_view(), name="calibrate"),
]
