"""Public links of outreach e-mails (pages.py), mounted at /outreach/ by config/urls.py."""

from django.urls import path

from apps.outreach import pages

app_name = "outreach-public"

urlpatterns = [
    path("c/<str:token>/", pages.click, name="click"),
    path("unsubscribe/<str:token>/", pages.unsubscribe, name="unsubscribe"),
]
