"""The chat widget, outside /api/v1: the loader script, the iframe and preview pages, and the
visitor API the iframe calls with its visitor token (see apps/widget/views.py)."""

from django.urls import re_path

from apps.widget import views

app_name = "widget"

PUBLIC_ID = r"(?P<public_id>bot_[A-Za-z0-9_-]{8,40})"

urlpatterns = [
    re_path(rf"^{PUBLIC_ID}\.js$", views.loader_js, name="loader"),
    re_path(rf"^{PUBLIC_ID}/frame/$", views.frame_page, name="frame"),
    re_path(rf"^{PUBLIC_ID}/preview/$", views.preview_page, name="preview"),
    re_path(rf"^{PUBLIC_ID}/session/$", views.WidgetSessionApi.as_view(), name="session"),
    re_path(rf"^{PUBLIC_ID}/conversation/$", views.WidgetConversationCurrentApi.as_view(), name="conversation"),
    re_path(rf"^{PUBLIC_ID}/conversations/$", views.WidgetConversationCreateApi.as_view(), name="conversation-create"),
    re_path(
        rf"^{PUBLIC_ID}/conversations/(?P<conversation_id>[0-9]+)/messages/$",
        views.WidgetMessageCreateApi.as_view(),
        name="message-create",
    ),
    re_path(
        rf"^{PUBLIC_ID}/messages/(?P<message_id>[0-9]+)/feedback/$",
        views.WidgetFeedbackApi.as_view(),
        name="message-feedback",
    ),
]
