"""The sign-in limit: every sign-in form, every spelling of an account, atomic, lasting."""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import re
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from sequences.models import SignInCounter
from sequences.tasks import purge_sign_in_counters

TOO_MANY = "Too many failed sign-ins"
# The product's form and the admin's ("… for a staff account") refuse a password alike.
WRONG = re.compile(r"Please enter (a|the) correct username")


def _sign_in(client, username: str, password: str, url: str = "/login/", **headers: str):
    return client.post(url, {"username": username, "password": password}, headers=headers)


def _lock(client, username: str, settings, url: str = "/login/") -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert WRONG.search(_sign_in(client, username, "nope", url).text)


def test_it_refuses_sign_in_after_too_many_failures(client, rep, settings):
    _lock(client, "rita", settings)

    response = _sign_in(client, "rita", "pw")

    assert TOO_MANY in response.text
    assert "_auth_user_id" not in client.session


def test_it_limits_one_account_without_locking_out_others(client, rep, admin_user, settings):
    _lock(client, "rita", settings)

    assert _sign_in(client, "adam", "pw").status_code == 302


def test_it_forgets_failures_after_a_successful_sign_in(client, rep, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _sign_in(client, "rita", "nope")
    assert _sign_in(client, "rita", "pw").status_code == 302
    client.logout()

    _sign_in(client, "rita", "nope")

    assert _sign_in(client, "rita", "pw").status_code == 302


# Spellings Django's username field normalizes (NFKC) to "rita" before checking the
# password: each signs in to rita's account, so each must count against it.
def _shifted(name: str, first: int) -> str:
    """`name` in another alphabet whose "a" is at code point `first`."""
    return "".join(chr(first + ord(letter) - ord("a")) for letter in name)


FULLWIDTH, BOLD, BOLD_SCRIPT = 0xFF41, 0x1D41A, 0x1D4EA
SPELLINGS = [_shifted("rita", FULLWIDTH), _shifted("rita", BOLD), _shifted("rita", BOLD_SCRIPT)]
SPELLINGS.append(" rita ")


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_locked_account_is_locked(client, rep, settings, spelling):
    assert _sign_in(client, spelling, "pw").status_code == 302  # it is rita's account
    client.logout()
    _lock(client, "rita", settings)

    assert TOO_MANY in _sign_in(client, spelling, "pw").text


def test_failures_under_every_spelling_share_one_counter(client, rep, settings):
    for spelling in (SPELLINGS * settings.LOGIN_FAILURE_LIMIT)[: settings.LOGIN_FAILURE_LIMIT]:
        assert WRONG.search(_sign_in(client, spelling, "nope").text)

    assert TOO_MANY in _sign_in(client, "rita", "pw").text


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("root", password="pw")


def test_the_admin_sign_in_is_limited_too(client, staff, settings):
    _lock(client, "root", settings, url="/admin/login/")

    response = _sign_in(client, "root", "pw", url="/admin/login/")

    assert TOO_MANY in response.text
    assert "_auth_user_id" not in client.session


def test_failures_on_either_form_count_for_both(client, staff, settings):
    _lock(client, "root", settings)

    assert TOO_MANY in _sign_in(client, _shifted("root", FULLWIDTH), "pw", url="/admin/login/").text


def test_counters_are_not_evicted_by_many_other_usernames(client, rep, settings):
    _lock(client, "rita", settings)
    for number in range(350):  # the default memory cache held 300 entries
        _sign_in(client, f"nobody{number}", "nope")

    assert TOO_MANY in _sign_in(client, "rita", "pw").text


def test_a_window_passed_counts_afresh(client, rep, settings):
    _lock(client, "rita", settings)
    window = dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW + 1)
    SignInCounter.objects.update(window_started_at=timezone.now() - window)

    assert _sign_in(client, "rita", "pw").status_code == 302


def test_the_purge_forgets_only_counters_past_their_window(client, rep, admin_user, settings):
    _sign_in(client, "rita", "nope")
    _sign_in(client, "adam", "nope")
    window = dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW + 1)
    SignInCounter.objects.filter(key__endswith=f"user:{rep.pk}").update(
        window_started_at=timezone.now() - window
    )

    assert purge_sign_in_counters() == 1
    assert list(SignInCounter.objects.values_list("key", flat=True)) == [
        f"127.0.0.1|user:{admin_user.pk}"
    ]


def test_a_forwarded_header_is_ignored_without_a_trusted_proxy(client, rep, settings):
    _lock(client, "rita", settings)

    response = _sign_in(client, "rita", "pw", X_Forwarded_For="203.0.113.9")

    assert TOO_MANY in response.text


def test_behind_a_trusted_proxy_each_client_has_its_own_counter(client, rep, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        # A client cannot escape by claiming another address: the proxy appends the real one.
        _sign_in(client, "rita", "nope", X_Forwarded_For="198.51.100.1, 203.0.113.9")

    locked = _sign_in(client, "rita", "pw", X_Forwarded_For="10.0.0.1, 203.0.113.9")
    other = _sign_in(client, "rita", "pw", X_Forwarded_For="203.0.113.10")

    assert TOO_MANY in locked.text
    assert other.status_code == 302


def _guess(url: str, password: str) -> str:
    """One sign-in through a real HTTP client of its own (cookies, CSRF token)."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = opener.open(url).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"csrfmiddlewaretoken": token, "username": "rita", "password": password}
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(form).encode(), headers={"Referer": url}
    )
    return opener.open(request).read().decode()


@pytest.mark.slow
def test_concurrent_guesses_are_checked_no_more_than_the_limit(live_server, rep, settings):
    url = live_server.url + reverse("login")
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: _guess(url, "nope"), range(40)))

    checked = sum(bool(WRONG.search(answer)) for answer in answers)
    refused = sum(TOO_MANY in answer for answer in answers)
    assert (checked, refused) == (settings.LOGIN_FAILURE_LIMIT, 40 - settings.LOGIN_FAILURE_LIMIT)
