from django.urls import path

from apps.recommendations.api import views

app_name = "recommendations-api"

urlpatterns = [
    path("orgs/<slug:org_slug>/recommendations/", views.RecommendationListApi.as_view(), name="list"),
    path(
        "orgs/<slug:org_slug>/recommendations/cache/clear/",
        views.RecommendationCacheClearApi.as_view(),
        name="cache-clear",
    ),
    path(
        "orgs/<slug:org_slug>/recommendations/cache/stats/",
        views.RecommendationCacheStatsApi.as_view(),
        name="cache-stats",
    ),
    path("orgs/<slug:org_slug>/recommendations/train/", views.RecommenderTrainApi.as_view(), name="train"),
    path("orgs/<slug:org_slug>/recommendations/model/", views.RecommenderModelApi.as_view(), name="model"),
    path(
        "orgs/<slug:org_slug>/recommendations/<int:log_id>/feedback/",
        views.RecommendationFeedbackApi.as_view(),
        name="feedback",
    ),
    path(
        "orgs/<slug:org_slug>/content/similar/", views.ContentSimilarLookupApi.as_view(), name="content-similar-lookup"
    ),
    path(
        "orgs/<slug:org_slug>/content/<int:item_id>/similar/", views.ContentSimilarApi.as_view(), name="content-similar"
    ),
    path("orgs/<slug:org_slug>/users/<int:user_id>/similar/", views.UserSimilarApi.as_view(), name="user-similar"),
]
