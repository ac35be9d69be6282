from django.urls import path

from apps.boards.api import views

app_name = "boards-api"

ME = "orgs/<slug:org_slug>/me/"
MEMBER = "orgs/<slug:org_slug>/members/<int:membership_id>/"

urlpatterns = [
    path(f"{ME}goals/", views.MeGoalListApi.as_view(), name="me-goals"),
    path(f"{ME}goals/<int:goal_id>/", views.MeGoalDetailApi.as_view(), name="me-goal"),
    path(f"{ME}vision-board/", views.MeBoardApi.as_view(), name="me-board"),
    path(f"{ME}vision-board/page/", views.MeBoardPageApi.as_view(), name="me-board-page"),
    path(f"{ME}vision-board/image.svg", views.MeBoardSvgApi.as_view(), name="me-board-svg"),
    path(f"{ME}vision-board/image.png", views.MeBoardPngApi.as_view(), name="me-board-png"),
    path(f"{ME}vision-board/share/", views.MeBoardShareApi.as_view(), name="me-board-share"),
    path(f"{MEMBER}goals/", views.MemberGoalListApi.as_view(), name="member-goals"),
    path(f"{MEMBER}goals/<int:goal_id>/", views.MemberGoalDetailApi.as_view(), name="member-goal"),
    path(f"{MEMBER}vision-board/", views.MemberBoardApi.as_view(), name="member-board"),
    path(f"{MEMBER}vision-board/page/", views.MemberBoardPageApi.as_view(), name="member-board-page"),
    path(f"{MEMBER}vision-board/image.svg", views.MemberBoardSvgApi.as_view(), name="member-board-svg"),
    path(f"{MEMBER}vision-board/image.png", views.MemberBoardPngApi.as_view(), name="member-board-png"),
]
