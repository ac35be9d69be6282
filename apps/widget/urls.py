"""The chat widget, outside /api/v1: the loader script, the iframe and preview pages (pages.py), and
the visitor API the iframe calls with its visitor token (api.py)."""

from django.urls import re_path

from apps.widget import api, pages

app_name = "widget"

PUBLIC_ID = r"(?P<public_id>bot_[A-Za-z0-9_-]{8,40})"

urlpatterns = [
    re_path(r"^sign-in/$", pages.PreviewSignInView.as_view(), name="sign-in"),
    re_path(rf"^{PUBLIC_ID}\.js$", pages.loader_js, name="loader"),
    re_path(rf"^{PUBLIC_ID}/frame/$", pages.frame_page, name="frame"),
    re_path(rf"^{PUBLIC_ID}/preview/$", pages.preview_page, name="preview"),
    re_path(rf"^{PUBLIC_ID}/session/$", api.WidgetSessionApi.as_view(), name="session"),
    re_path(rf"^{PUBLIC_ID}/conversation/$", api.WidgetConversationCurrentApi.as_view(), name="conversation"),
    re_path(rf"^{PUBLIC_ID}/conversations/$", api.WidgetConversationCreateApi.as_view(), name="conversation-create"),
    re_path(
        rf"^{PUBLIC_ID}/conversations/(?P<conversation_id>[0-9]+)/messages/$",
        api.WidgetMessageCreateApi.as_view(),
        name="message-create",
    ),
    re_path(
        rf"^{PUBLIC_ID}/messages/(?P<message_id>[0-9]+)/feedback/$",
        api.WidgetFeedbackApi.as_view(),
        name="message-feedback",
    ),
]
