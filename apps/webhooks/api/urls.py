from django.urls import path

from apps.webhooks.api import views

app_name = "webhooks-api"

ORG = "orgs/<slug:org_slug>/"
HOOK = f"{ORG}webhooks/<int:webhook_id>/"

urlpatterns = [
    path(f"{ORG}webhooks/", views.WebhookListCreateApi.as_view(), name="list"),
    path(HOOK, views.WebhookDetailApi.as_view(), name="detail"),
    path(f"{HOOK}deliveries/", views.DeliveryListApi.as_view(), name="deliveries"),
    path(f"{HOOK}deliveries/<int:delivery_id>/", views.DeliveryDetailApi.as_view(), name="delivery"),
    path(f"{HOOK}deliveries/<int:delivery_id>/replay/", views.DeliveryReplayApi.as_view(), name="replay"),
]
