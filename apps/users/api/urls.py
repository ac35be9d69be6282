"""Mounted at /api/v1/: account endpoints under auth/, the caller's profile at users/me/."""

from django.urls import path

from apps.users.api import views

app_name = "users-api"

urlpatterns = [
    path("auth/register/", views.RegisterApi.as_view(), name="register"),
    path("auth/token/", views.TokenObtainApi.as_view(), name="token"),
    path("auth/token/refresh/", views.TokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/token/verify/", views.TokenVerifyApi.as_view(), name="token-verify"),
    path("auth/logout/", views.LogoutApi.as_view(), name="logout"),
    path("auth/password/change/", views.PasswordChangeApi.as_view(), name="password-change"),
    path("auth/password/reset/", views.PasswordResetApi.as_view(), name="password-reset"),
    path("auth/password/reset/confirm/", views.PasswordResetConfirmApi.as_view(), name="password-reset-confirm"),
    path("users/me/", views.MeApi.as_view(), name="me"),
    path("users/me/delete/", views.MeDeleteApi.as_view(), name="me-delete"),
]
