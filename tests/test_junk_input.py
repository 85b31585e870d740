"""No request answers 500: every route, as each kind of visitor, with generated junk in its
query string, form fields, cookies and headers (and the values that once did)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import test_permissions
from tests.test_permissions import MATRIX, PUBLIC

# The matrix's fixture: its routes' URLs are built from these objects.
objects = test_permissions.objects

# Routes outside the permission matrix; the Django admin's own pages are Django's.
OTHER_ROUTES = {"login": ("get", lambda o: "/login/"), "logout": ("post", lambda o: "/logout/")}
ROUTES = [(method, url) for method, url, _ in [*MATRIX.values(), *PUBLIC.values()]]
ROUTES += list(OTHER_ROUTES.values())
ADMIN_LOGIN = ("post", lambda o: "/admin/login/")

# The parameters the views read, and values that once answered 500.
NAMES = ["after", "before", "size", "status", "category", "q", "page", "brief", "email", "address"]
NAMES += ["scope", "selectors", "username", "password", "next"]
NAMES += ["name", "mailbox", "owner", "subject", "body", "wait_days", "direction", "contact"]
NAMES += ["position", "archived"]
NAMES += ["sequence", "contact", "import", "first_name", "time_zone", "file"]
KNOWN_BAD = [
    "0000000\x00",
    "9999-12-31T23:59:59-23:59~1",
    "0001-01-01T00:00:00+23:59~1",
    "2026-01-01~99999999999999999999999999",
    "2026-01-01",
    "\x00",
    "a\x00b",
    "²",
    "9" * 30,
    "-1",
    "%",
    "[",
    "http://[::1",
    "a/" * 1500,
]
# What a client can send: any character but the surrogates, which no encoding carries.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
VALUES = st.one_of(st.sampled_from(KNOWN_BAD), TEXT, st.from_regex(r"\d{1,25}"))
HEADERS = ["HX-Request", "HX-Current-URL", "HX-Target", "HX-Trigger", "X-Forwarded-For"]


def _names(patterns: list, prefix: str = "") -> set[str]:
    found = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace != "admin":
                found |= _names(pattern.url_patterns, f"{prefix}{pattern.namespace or ''}:")
        elif isinstance(pattern, URLPattern) and pattern.name:
            found.add(f"{prefix}{pattern.name}".lstrip(":"))
    return found


def test_the_sweep_covers_every_route(objects):
    swept = {resolve(url(objects)).view_name for _, url in ROUTES}

    assert swept == _names(get_resolver().url_patterns)


@pytest.fixture
def visitors(rep, admin_user, support):
    return {"anonymous": None, "rep": rep, "admin": admin_user, "support": support}


def _request(visitor, objects, route, params, cookies, headers, query=""):
    client = Client(raise_request_exception=True)
    if visitor is not None:
        client.force_login(visitor)
    for name, value in cookies.items():
        client.cookies[name] = value
    method, url = route
    send = client.get if method == "get" else client.post
    response = send(url(objects) + query, params, headers=headers)
    assert response.status_code < 500, (url(objects), query, params, cookies, headers)


def _safe_header(value: str) -> str:
    # What an HTTP client can send in a header or a cookie: one line of latin-1.
    return value.encode("latin-1", "replace").decode("latin-1").replace("\n", " ")[:2000]


@pytest.mark.parametrize("bad", KNOWN_BAD)
@pytest.mark.parametrize("visitor", ["rep", "admin", "support"])
def test_the_values_that_once_failed_answer_no_500(objects, visitors, visitor, bad):
    params = dict.fromkeys(NAMES, bad)
    for route in [*ROUTES, ADMIN_LOGIN]:
        _request(visitors[visitor], objects, route, params, {"tz": bad, "sessionid": bad}, {})
        headers = {name: _safe_header(bad) for name in HEADERS} | {"HX-Request": "true"}
        _request(visitors[visitor], objects, route, {}, {}, headers)
        # Bytes that are not UTF-8, as a client may send them.
        _request(visitors[visitor], objects, route, {}, {}, {}, query="?q=%FF%FE&after=%ED%A0%80")


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    params=st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=8)), VALUES),
    cookies=st.dictionaries(
        st.sampled_from(["tz", "sessionid", "csrftoken"]), VALUES.map(_safe_header)
    ),
    headers=st.dictionaries(
        st.sampled_from(HEADERS), st.one_of(st.just("true"), VALUES.map(_safe_header))
    ),
)
def test_generated_junk_answers_no_500(objects, visitors, data, params, cookies, headers):
    visitor = data.draw(st.sampled_from(sorted(visitors)))
    route = data.draw(st.sampled_from([*ROUTES, ADMIN_LOGIN]))

    _request(visitors[visitor], objects, route, params, cookies, headers)
