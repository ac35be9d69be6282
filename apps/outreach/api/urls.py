from django.urls import path

from apps.outreach.api import views

app_name = "outreach-api"

ORG = "orgs/<slug:org_slug>/"
CAMPAIGN = f"{ORG}campaigns/<int:campaign_id>/"

urlpatterns = [
    path(f"{ORG}campaigns/", views.CampaignListCreateApi.as_view(), name="list"),
    path(CAMPAIGN, views.CampaignDetailApi.as_view(), name="detail"),
    path(f"{CAMPAIGN}preview/", views.CampaignPreviewApi.as_view(), name="preview"),
    path(f"{CAMPAIGN}generate/", views.CampaignGenerateApi.as_view(), name="generate"),
    path(f"{CAMPAIGN}send/", views.CampaignSendApi.as_view(), name="send"),
    path(f"{CAMPAIGN}messages/", views.MessageListApi.as_view(), name="messages"),
    path(f"{CAMPAIGN}messages/<int:campaign_message_id>/", views.MessageDetailApi.as_view(), name="message"),
    path(f"{ORG}outreach/members/<int:user_id>/", views.MemberOptOutApi.as_view(), name="member"),
]
