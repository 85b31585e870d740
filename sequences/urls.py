from __future__ import annotations

from django.urls import path

from sequences import views

app_name = "sequences"
urlpatterns = [
    path("", views.sequence_list, name="list"),
    path("sequences/<int:pk>/", views.sequence_overview, name="overview"),
    path("sequences/<int:pk>/contacts/", views.sequence_contacts, name="contacts"),
    path("sequences/<int:pk>/resume/", views.sequence_resume, name="resume"),
    path("sequences/<int:pk>/emails/", views.sequence_emails, name="emails"),
    path("sequences/<int:pk>/emails/<int:email_pk>/", views.email_timeline, name="email_timeline"),
    path(
        "sequences/<int:pk>/emails/reschedule/", views.emails_reschedule, name="emails_reschedule"
    ),
    path(
        "sequences/<int:pk>/contacts/<int:contact_pk>/email/",
        views.contact_edit_email,
        name="contact_edit_email",
    ),
    path(
        "sequences/<int:pk>/contacts/<int:contact_pk>/suppress/",
        views.contact_suppress,
        name="contact_suppress",
    ),
    path("mailboxes/<int:pk>/", views.mailbox_detail, name="mailbox_detail"),
    path("mailboxes/<int:pk>/checks/", views.mailbox_check, name="mailbox_check"),
    path(
        "mailboxes/<int:pk>/checks/<int:check_pk>/",
        views.mailbox_check_status,
        name="mailbox_check_status",
    ),
    path(
        "mailboxes/<int:pk>/dkim-selectors/",
        views.mailbox_dkim_selectors,
        name="mailbox_dkim_selectors",
    ),
    path("mailboxes/<int:pk>/resync/", views.mailbox_resync, name="mailbox_resync"),
    path(
        "mailboxes/<int:pk>/resync/status/",
        views.mailbox_resync_status,
        name="mailbox_resync_status",
    ),
    path("contacts/", views.contact_list, name="contact_list"),
    path("mailboxes/", views.mailbox_list, name="mailbox_list"),
    path("organizations/", views.organization_list, name="organization_list"),
    path("organizations/<slug:slug>/", views.organization_detail, name="organization_detail"),
]
