"""Mounted at /api/v1/. Org-scoped resources live under orgs/<org_slug>/ (see apps.organizations.tenancy)."""

from django.urls import path

from apps.organizations.api import views

app_name = "organizations-api"

urlpatterns = [
    path("plans/", views.PlanListApi.as_view(), name="plan-list"),
    path("orgs/", views.OrganizationListCreateApi.as_view(), name="list"),
    path("invitations/preview/", views.InvitationPreviewApi.as_view(), name="invitation-preview"),
    path("invitations/accept/", views.InvitationAcceptApi.as_view(), name="invitation-accept"),
    path("orgs/<slug:org_slug>/", views.OrganizationDetailApi.as_view(), name="detail"),
    path("orgs/<slug:org_slug>/members/", views.MemberListApi.as_view(), name="member-list"),
    path("orgs/<slug:org_slug>/members/<int:membership_id>/", views.MemberDetailApi.as_view(), name="member-detail"),
    path("orgs/<slug:org_slug>/members/sync/", views.MemberSyncApi.as_view(), name="member-sync"),
    path(
        "orgs/<slug:org_slug>/members/<int:membership_id>/erase/", views.MemberEraseApi.as_view(), name="member-erase"
    ),
    path("orgs/<slug:org_slug>/invitations/", views.InvitationListCreateApi.as_view(), name="invitation-list"),
    path(
        "orgs/<slug:org_slug>/invitations/<int:invitation_id>/",
        views.InvitationDetailApi.as_view(),
        name="invitation-detail",
    ),
    path("orgs/<slug:org_slug>/api-keys/", views.ApiKeyListCreateApi.as_view(), name="api-key-list"),
    path("orgs/<slug:org_slug>/api-keys/<int:api_key_id>/", views.ApiKeyDetailApi.as_view(), name="api-key-detail"),
]
