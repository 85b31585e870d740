from __future__ import annotations

import pytest
from django.urls import reverse


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get(reverse("sequences:list"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_signs_a_user_in(client, rep):
    response = client.post(reverse("login"), {"username": "rita", "password": "pw"}, follow=True)

    assert response.status_code == 200
    assert response.context["user"] == rep


def test_it_refuses_a_wrong_password(client, rep):
    response = client.post(reverse("login"), {"username": "rita", "password": "nope"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.text


def test_it_shows_a_rep_only_their_own_sequences(client, rep, teammate, make_sequence):
    make_sequence(rep, name="Mine")
    make_sequence(teammate, name="Theirs")
    client.force_login(rep)

    response = client.get(reverse("sequences:list"))

    assert "Mine" in response.text
    assert "Theirs" not in response.text


def test_it_shows_an_admin_every_sequence_of_the_organization(
    client, admin_user, rep, teammate, outsider, make_sequence
):
    make_sequence(rep, name="Mine")
    make_sequence(teammate, name="Theirs")
    make_sequence(outsider, name="Elsewhere")
    client.force_login(admin_user)

    response = client.get(reverse("sequences:list"))

    assert "Mine" in response.text
    assert "Theirs" in response.text
    assert "Elsewhere" not in response.text


def test_it_counts_each_sequences_emails_by_status(client, rep, make_sequence, make_email):
    sequence = make_sequence(rep, name="Mine", steps=1)
    for n in range(3):
        make_email(sequence, email=f"c{n}@example.test")
    make_email(
        sequence,
        email="bad@example.test",
        status="blocked",
        next_attempt_at=None,
        error_code="smtp.5.1.1",
    )
    client.force_login(rep)

    response = client.get(reverse("sequences:list"))

    (row,) = response.context["sequences"]
    assert (row.contact_count, row.scheduled_count, row.problem_count) == (4, 3, 1)


def test_it_lists_sequences_in_a_constant_number_of_queries(
    client, admin_user, make_sequence, django_assert_num_queries
):
    for n in range(5):
        make_sequence(admin_user, name=f"Sequence {n}")
    client.force_login(admin_user)

    # session, user, membership, sequences with their figures
    with django_assert_num_queries(4):
        client.get(reverse("sequences:list"))


@pytest.mark.parametrize("count", [1, 6])
def test_it_lists_mailboxes_in_a_constant_number_of_queries(
    client, admin_user, make_mailbox, count, django_assert_num_queries
):
    for n in range(count):
        make_mailbox(admin_user, email=f"box{n}@example.test")
    client.force_login(admin_user)

    # session, user, membership, mailboxes with their owners, their failing checks
    with django_assert_num_queries(5):
        response = client.get(reverse("sequences:mailbox_list"))

    assert response.text.count("@example.test</a>") >= count


@pytest.mark.parametrize("count", [1, 6])
def test_it_lists_contacts_in_a_constant_number_of_queries(
    client, admin_user, make_sequence, make_email, count, django_assert_num_queries
):
    sequence = make_sequence(admin_user, steps=1)
    for n in range(count):
        make_email(sequence, email=f"c{n}@example.test")
    client.force_login(admin_user)

    # session, user, membership, the count, the page, the sequences to enroll into
    with django_assert_num_queries(6):
        response = client.get(reverse("sequences:contact_list"))

    assert all(f"c{n}@example.test" in response.text for n in range(count))


def test_it_sends_support_staff_to_the_organizations(client, support):
    client.force_login(support)

    response = client.get(reverse("sequences:list"))

    assert response.status_code == 302
    assert response.url == reverse("sequences:organization_list")


def test_it_shows_support_every_organization(client, support, organization, other_organization):
    client.force_login(support)

    response = client.get(reverse("sequences:organization_list"))

    assert "Acme" in response.text
    assert "Globex" in response.text


@pytest.mark.parametrize("role", ["rep", "admin_user", "outsider"])
def test_it_refuses_the_organizations_list_to_customers(client, request, role):
    client.force_login(request.getfixturevalue(role))

    assert client.get(reverse("sequences:organization_list")).status_code == 403


def test_it_shows_support_an_organizations_sequences_read_only(client, support, rep, make_sequence):
    make_sequence(rep, name="Mine")
    client.force_login(support)

    response = client.get(reverse("sequences:organization_detail", args=["acme"]))

    assert "Mine" in response.text
    assert "read-only" in response.text


def test_it_answers_404_for_an_unknown_organization(client, support):
    client.force_login(support)

    assert client.get(reverse("sequences:organization_detail", args=["nope"])).status_code == 404


def test_it_shows_a_rep_only_contacts_of_their_sequences(
    client, rep, teammate, make_sequence, make_email
):
    make_email(make_sequence(rep, name="Mine"), email="mine@example.test")
    make_email(make_sequence(teammate, name="Theirs"), email="theirs@example.test")
    client.force_login(rep)

    response = client.get(reverse("sequences:contact_list"))

    assert "mine@example.test" in response.text
    assert "theirs@example.test" not in response.text


def test_it_never_shows_a_mailbox_password(client, admin_user, make_mailbox):
    make_mailbox(admin_user, password="super-secret-password")
    client.force_login(admin_user)

    for name in ("sequences:mailbox_list", "sequences:list"):
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert "super-secret-password" not in response.text


def test_it_sends_a_content_security_policy_without_inline_scripts(client, rep):
    client.force_login(rep)

    response = client.get(reverse("sequences:list"))

    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
