from django.urls import path

from apps.boards import views

app_name = "boards"

urlpatterns = [
    path("shared/<str:token>/", views.shared_page, name="shared-page"),
    path("shared/<str:token>/image.png", views.shared_png, name="shared-png"),
]
