from __future__ import annotations

from django.urls import path

from sequences import views

app_name = "sequences"
urlpatterns = [
    path("", views.sequence_list, name="list"),
]
