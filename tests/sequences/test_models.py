from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import override_settings

from sequences import crypto
from sequences.models import Contact, Enrollment, Membership, ScheduledEmail


def test_it_refuses_a_duplicate_contact_email_with_a_clear_message(organization):
    Contact.objects.create(organization=organization, email="Bob@Example.test")
    duplicate = Contact(organization=organization, email="bob@example.test")

    with pytest.raises(ValidationError) as refused:
        duplicate.full_clean()

    assert "already has this email address" in str(refused.value)


def test_it_refuses_a_duplicate_contact_email_in_the_database_whatever_the_case(organization):
    Contact.objects.create(organization=organization, email="bob@example.test")

    with pytest.raises(IntegrityError, match="contact_email_unique_per_organization"):
        Contact.objects.create(organization=organization, email="BOB@example.test")


def test_it_allows_the_same_contact_email_in_two_organizations(organization, other_organization):
    Contact.objects.create(organization=organization, email="bob@example.test")
    Contact.objects.create(organization=other_organization, email="bob@example.test")

    assert Contact.objects.filter(email="bob@example.test").count() == 2


def test_it_refuses_an_unknown_status_in_the_database(rep, make_sequence, make_email):
    email = make_email(make_sequence(rep), email="pat@example.test")

    with pytest.raises(IntegrityError, match="scheduled_email_status_valid"):
        ScheduledEmail.objects.filter(pk=email.pk).update(status="lost")


def test_it_refuses_a_sent_email_without_a_message_id(rep, make_sequence, make_email):
    email = make_email(make_sequence(rep), email="pat@example.test")

    with pytest.raises(IntegrityError, match="scheduled_email_sent_has_time_and_message_id"):
        ScheduledEmail.objects.filter(pk=email.pk).update(status="sent")


def test_it_refuses_a_blocked_email_without_a_diagnosis(rep, make_sequence, make_email):
    email = make_email(make_sequence(rep), email="pat@example.test")

    with pytest.raises(IntegrityError, match="scheduled_email_error_has_diagnosis"):
        ScheduledEmail.objects.filter(pk=email.pk).update(status="blocked", next_attempt_at=None)


def test_it_refuses_a_second_email_for_the_same_step_and_enrollment(rep, make_sequence, make_email):
    sequence = make_sequence(rep)
    make_email(sequence, email="pat@example.test")

    with pytest.raises(IntegrityError, match="scheduled_email_one_per_step_and_enrollment"):
        make_email(sequence, email="pat@example.test")


def test_it_refuses_a_support_membership_tied_to_an_organization(
    make_user, organization, django_user_model
):
    user = django_user_model.objects.create_user("sue")

    with pytest.raises(IntegrityError, match="membership_support_has_no_organization"):
        Membership.objects.create(user=user, organization=organization, role="support")


def test_it_stores_the_mailbox_password_encrypted(rep, make_mailbox):
    mailbox = make_mailbox(rep, password="hunter2-secret")

    with connection.cursor() as cursor:
        cursor.execute("SELECT smtp_secret FROM sequences_mailbox WHERE id = %s", [mailbox.pk])
        (stored,) = cursor.fetchone()
    assert "hunter2-secret" not in stored
    mailbox.refresh_from_db()
    assert mailbox.password == "hunter2-secret"


def test_it_still_reads_secrets_after_a_key_rotation(rep, make_mailbox, settings):
    mailbox = make_mailbox(rep, password="before-rotation")
    new_key = Fernet.generate_key().decode()
    crypto._fernet.cache_clear()
    try:
        with override_settings(MAILBOX_SECRET_KEYS=[new_key, *settings.MAILBOX_SECRET_KEYS]):
            mailbox.refresh_from_db()
            assert mailbox.password == "before-rotation"
            mailbox.password = "after-rotation"
            assert Fernet(new_key).decrypt(mailbox.smtp_secret.encode()) == b"after-rotation"
    finally:
        crypto._fernet.cache_clear()


def test_it_refuses_a_sending_window_that_ends_before_it_starts(rep, make_mailbox):
    mailbox = make_mailbox(rep)
    mailbox.window_start, mailbox.window_end = "18:00", "08:00"

    with pytest.raises(ValidationError, match="must start before it ends"):
        mailbox.full_clean()


def test_it_refuses_a_stopped_enrollment_without_a_cause(rep, make_sequence, make_email):
    email = make_email(make_sequence(rep, steps=1), email="pat@example.test")

    with pytest.raises(IntegrityError), transaction.atomic():
        Enrollment.objects.filter(pk=email.enrollment_id).update(
            state=Enrollment.State.STOPPED, stopped_reason="Gone"
        )
