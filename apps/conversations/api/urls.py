from django.urls import path

from apps.conversations.api import views

app_name = "conversations-api"

BASE = "orgs/<slug:org_slug>/bots/<int:bot_id>/conversations/"

urlpatterns = [
    path(BASE, views.ConversationListCreateApi.as_view(), name="list"),
    path(f"{BASE}export/", views.ConversationExportApi.as_view(), name="export"),
    path(f"{BASE}<int:conversation_id>/", views.ConversationDetailApi.as_view(), name="detail"),
    path(f"{BASE}<int:conversation_id>/export/", views.ConversationOneExportApi.as_view(), name="export-one"),
    path(f"{BASE}<int:conversation_id>/messages/", views.MessageCreateApi.as_view(), name="message-create"),
    path(
        f"{BASE}<int:conversation_id>/messages/<int:message_id>/feedback/",
        views.MessageFeedbackApi.as_view(),
        name="message-feedback",
    ),
]
