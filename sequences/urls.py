from __future__ import annotations

from django.urls import path

from sequences.views import mailboxes, sequences, support, unsubscribe

app_name = "sequences"
urlpatterns = [
    path("", sequences.sequence_list, name="list"),
    path("sequences/<int:pk>/", sequences.sequence_overview, name="overview"),
    path("sequences/<int:pk>/contacts/", sequences.sequence_contacts, name="contacts"),
    path("sequences/<int:pk>/resume/", sequences.sequence_resume, name="resume"),
    path("sequences/<int:pk>/emails/", sequences.sequence_emails, name="emails"),
    path(
        "sequences/<int:pk>/emails/<int:email_pk>/",
        sequences.email_timeline,
        name="email_timeline",
    ),
    path(
        "sequences/<int:pk>/emails/<int:email_pk>/resend/",
        sequences.email_resend_uncertain,
        name="email_resend_uncertain",
    ),
    path(
        "sequences/<int:pk>/emails/reschedule/",
        sequences.emails_reschedule_view,
        name="emails_reschedule",
    ),
    path(
        "sequences/<int:pk>/contacts/<int:contact_pk>/email/",
        sequences.contact_edit_email,
        name="contact_edit_email",
    ),
    path(
        "sequences/<int:pk>/contacts/<int:contact_pk>/suppress/",
        sequences.contact_suppress_view,
        name="contact_suppress",
    ),
    path("contacts/", sequences.contact_list, name="contact_list"),
    path("mailboxes/", mailboxes.mailbox_list, name="mailbox_list"),
    path("mailboxes/new/", mailboxes.mailbox_connect_view, name="mailbox_connect"),
    path(
        "mailboxes/oauth/<str:provider>/",
        mailboxes.mailbox_oauth_connect,
        name="mailbox_oauth_connect",
    ),
    path(
        "mailboxes/oauth-callback/",
        mailboxes.mailbox_oauth_callback,
        name="mailbox_oauth_callback",
    ),
    path("mailboxes/<int:pk>/", mailboxes.mailbox_detail, name="mailbox_detail"),
    path(
        "mailboxes/<int:pk>/sign-in/",
        mailboxes.mailbox_oauth_reconnect,
        name="mailbox_oauth_reconnect",
    ),
    path("mailboxes/<int:pk>/edit/", mailboxes.mailbox_edit, name="mailbox_edit"),
    path("mailboxes/<int:pk>/move/", mailboxes.mailbox_move, name="mailbox_move"),
    path("mailboxes/<int:pk>/resync/", mailboxes.mailbox_resync, name="mailbox_resync"),
    path(
        "mailboxes/<int:pk>/resync/<int:resync_pk>/",
        mailboxes.mailbox_resync_status,
        name="mailbox_resync_status",
    ),
    path("organizations/", support.organization_list, name="organization_list"),
    path("organizations/<slug:slug>/", support.organization_detail, name="organization_detail"),
    # Public: the link in every email (RFC 8058), signed, for people who never sign in.
    path("u/<str:token>/", unsubscribe.unsubscribe, name="unsubscribe"),
]
