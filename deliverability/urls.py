from __future__ import annotations

from django.urls import path

from deliverability import views

app_name = "deliverability"
urlpatterns = [
    path("mailboxes/<int:pk>/checks/", views.check_request, name="check"),
    path("mailboxes/<int:pk>/checks/<int:run_pk>/", views.check_status, name="check_status"),
    path("mailboxes/<int:pk>/dkim-selectors/", views.dkim_selectors, name="dkim_selectors"),
]
