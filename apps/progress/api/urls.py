from django.urls import path

from apps.progress.api import views

app_name = "progress-api"

ORG = "orgs/<slug:org_slug>/"

urlpatterns = [
    path(f"{ORG}content/", views.ContentListCreateApi.as_view(), name="content-list"),
    path(f"{ORG}content/bulk/", views.ContentBulkUpsertApi.as_view(), name="content-bulk"),
    path(f"{ORG}content/<int:item_id>/", views.ContentDetailApi.as_view(), name="content-detail"),
    path(f"{ORG}progress/", views.ProgressListApi.as_view(), name="progress-list"),
    path(f"{ORG}progress/summary/", views.ProgressSummaryApi.as_view(), name="progress-summary"),
    path(f"{ORG}progress/start/", views.ProgressStartApi.as_view(), name="progress-start"),
    path(f"{ORG}progress/update/", views.ProgressUpdateApi.as_view(), name="progress-update"),
    path(f"{ORG}progress/complete/", views.ProgressCompleteApi.as_view(), name="progress-complete"),
    path(f"{ORG}progress/reset/", views.ProgressResetApi.as_view(), name="progress-reset"),
    path(f"{ORG}interactions/", views.InteractionListCreateApi.as_view(), name="interaction-list"),
    path(f"{ORG}interactions/batch/", views.InteractionBatchApi.as_view(), name="interaction-batch"),
]
