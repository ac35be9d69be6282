from django.urls import path

from apps.personality.api import views

app_name = "personality-api"

urlpatterns = [
    path("orgs/<slug:org_slug>/personality/instrument/", views.PersonalityInstrumentApi.as_view(), name="instrument"),
    path(
        "orgs/<slug:org_slug>/personality/assessments/",
        views.PersonalityAssessmentCreateApi.as_view(),
        name="assessment-create",
    ),
    path("orgs/<slug:org_slug>/personality/me/", views.PersonalityMeApi.as_view(), name="me"),
    path("orgs/<slug:org_slug>/personality/me/advice/", views.PersonalityAdviceApi.as_view(), name="advice"),
    path("orgs/<slug:org_slug>/personality/users/<int:user_id>/", views.PersonalityUserApi.as_view(), name="user"),
    path("orgs/<slug:org_slug>/me/profile/", views.MemberProfileMeApi.as_view(), name="me-profile"),
]
