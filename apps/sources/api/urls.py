from django.urls import path

from apps.sources.api import views

app_name = "sources-api"

BOT = "orgs/<slug:org_slug>/bots/<int:bot_id>/"

urlpatterns = [
    path(f"{BOT}sources/", views.SourceListCreateApi.as_view(), name="list"),
    path(f"{BOT}sources/<int:source_id>/", views.SourceDetailApi.as_view(), name="detail"),
    path(f"{BOT}sources/<int:source_id>/pages/", views.SourcePagesApi.as_view(), name="pages"),
    path(f"{BOT}sources/<int:source_id>/crawl/", views.SourceCrawlApi.as_view(), name="crawl"),
    path(f"{BOT}sources/<int:source_id>/cancel/", views.SourceCancelApi.as_view(), name="cancel"),
]
