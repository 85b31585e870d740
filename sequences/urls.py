from __future__ import annotations

from django.urls import path

from sequences.views import authoring, contacts, mailboxes, sequences, support, unsubscribe

app_name = "sequences"
urlpatterns = [
    path("", sequences.sequence_list, name="list"),
    path("sequences/new/", authoring.sequence_create_view, name="create"),
    path("sequences/<int:pk>/", sequences.sequence_overview, name="overview"),
    path("sequences/<int:pk>/settings/", authoring.sequence_settings, name="settings"),
    path("sequences/<int:pk>/rename/", authoring.sequence_rename_view, name="rename"),
    path("sequences/<int:pk>/mailbox/", authoring.sequence_mailbox_view, name="change_mailbox"),
    path("sequences/<int:pk>/pause/", authoring.sequence_pause_view, name="pause"),
    path("sequences/<int:pk>/unpause/", authoring.sequence_unpause_view, name="unpause"),
    path("sequences/<int:pk>/archive/", authoring.sequence_archive_view, name="archive"),
    path("sequences/<int:pk>/steps/", authoring.sequence_steps, name="steps"),
    path("sequences/<int:pk>/steps/new/", authoring.step_add_view, name="step_add"),
    path("sequences/<int:pk>/steps/preview/", authoring.step_preview_view, name="step_preview"),
    path(
        "sequences/<int:pk>/steps/<int:step_pk>/edit/",
        authoring.step_edit_view,
        name="step_edit",
    ),
    path(
        "sequences/<int:pk>/steps/<int:step_pk>/move/",
        authoring.step_move_view,
        name="step_move",
    ),
    path(
        "sequences/<int:pk>/steps/<int:step_pk>/delete/",
        authoring.step_delete_view,
        name="step_delete",
    ),
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
    path(
        "sequences/<int:pk>/emails/export.csv",
        contacts.sequence_emails_export,
        name="emails_export",
    ),
    path(
        "sequences/<int:pk>/enrollments/<int:enrollment_pk>/unenroll/",
        contacts.enrollment_unenroll,
        name="enrollment_unenroll",
    ),
    path("contacts/", contacts.contact_list, name="contact_list"),
    path("contacts/new/", contacts.contact_add_view, name="contact_add"),
    path("contacts/export.csv", contacts.contacts_export, name="contacts_export"),
    path("contacts/enroll/", contacts.contacts_enroll, name="contacts_enroll"),
    path("contacts/<int:pk>/", contacts.contact_edit_view, name="contact_edit"),
    path(
        "contacts/<int:pk>/suppress/",
        contacts.contact_suppress_on_request,
        name="contact_suppress_on_request",
    ),
    path(
        "contacts/<int:pk>/unsubscribe/", contacts.contact_unsubscribe, name="contact_unsubscribe"
    ),
    path("contacts/imports/", contacts.contact_import_new, name="contact_import_new"),
    path("contacts/imports/<int:pk>/", contacts.contact_import_detail, name="contact_import"),
    path(
        "contacts/imports/<int:pk>/start/",
        contacts.contact_import_start_view,
        name="contact_import_start",
    ),
    path(
        "contacts/imports/<int:pk>/refused.csv",
        contacts.contact_import_refusals,
        name="contact_import_refusals",
    ),
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
