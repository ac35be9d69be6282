from django.urls import path

from apps.recommendations.api import views

app_name = "recommendations-api"

urlpatterns = [
    path("orgs/<slug:org_slug>/recommendations/", views.RecommendationListApi.as_view(), name="list"),
    path(
        "orgs/<slug:org_slug>/recommendations/<int:log_id>/feedback/",
        views.RecommendationFeedbackApi.as_view(),
        name="feedback",
    ),
    path(
        "orgs/<slug:org_slug>/content/<int:item_id>/similar/", views.ContentSimilarApi.as_view(), name="content-similar"
    ),
    path("orgs/<slug:org_slug>/users/<int:user_id>/similar/", views.UserSimilarApi.as_view(), name="user-similar"),
]
