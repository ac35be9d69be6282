from django.urls import path

from apps.interests.api import views

app_name = "interests-api"

ORG = "orgs/<slug:org_slug>/"

urlpatterns = [
    path(f"{ORG}members/interests/sync/", views.InterestSyncApi.as_view(), name="sync"),
    path(f"{ORG}members/<int:membership_id>/interests/", views.MemberInterestsApi.as_view(), name="member"),
    path(f"{ORG}me/interests/", views.MyInterestsApi.as_view(), name="me"),
]
