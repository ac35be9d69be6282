from django.urls import path

from apps.conversations.api import quality, views

app_name = "conversations-api"

BOT = "orgs/<slug:org_slug>/bots/<int:bot_id>/"
BASE = f"{BOT}conversations/"

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
    # the quality loop (issue 14, docs/quality.md)
    path(
        f"{BASE}<int:conversation_id>/messages/<int:message_id>/correction/",
        quality.MessageCorrectionApi.as_view(),
        name="message-correction",
    ),
    path(f"{BOT}qa/", quality.QAPairListCreateApi.as_view(), name="qa-list"),
    path(f"{BOT}qa/<int:pair_id>/", quality.QAPairDetailApi.as_view(), name="qa-detail"),
    path(f"{BOT}content-gaps/", quality.ContentGapsApi.as_view(), name="content-gaps"),
    path(f"{BOT}evaluation/", quality.EvaluationListCreateApi.as_view(), name="evaluation-list"),
    path(f"{BOT}evaluation/<int:run_id>/", quality.EvaluationDetailApi.as_view(), name="evaluation-detail"),
]
