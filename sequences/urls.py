from __future__ import annotations

from django.urls import path

from sequences import views

app_name = "sequences"
urlpatterns = [
    path("", views.sequence_list, name="list"),
    path("sequences/<int:pk>/", views.sequence_overview, name="overview"),
    path("sequences/<int:pk>/emails/", views.sequence_emails, name="emails"),
    path("sequences/<int:pk>/emails/<int:email_pk>/", views.email_timeline, name="email_timeline"),
    path("contacts/", views.contact_list, name="contact_list"),
    path("mailboxes/", views.mailbox_list, name="mailbox_list"),
    path("organizations/", views.organization_list, name="organization_list"),
    path("organizations/<slug:slug>/", views.organization_detail, name="organization_detail"),
]
