from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import timezone
from django.utils.cache import add_never_cache_headers


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class ViewerTimeZoneMiddleware:
    """Renders times in the viewer's time zone, which the browser reports in a cookie.

    The cookie is the browser's to set: only a name of the time zone database is used
    (ZoneInfo itself recurses on some junk), anything else means UTC.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = request.COOKIES.get("tz", "")
        if name in _time_zones():
            timezone.activate(zoneinfo.ZoneInfo(name))
        else:
            timezone.deactivate()
        return self.get_response(request)


class RefuseNulMiddleware:
    """A NUL character in a parameter or a cookie answers 400: no text column can store or
    be compared with one (PostgreSQL refuses it: a session key is looked up), and nothing
    in the product has a use for it. Placed before anything reads the session."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cookies = [(name, [value]) for name, value in request.COOKIES.items()]
        for name, values in [*request.GET.lists(), *request.POST.lists(), *cookies]:
            if "\x00" in name or any("\x00" in value for value in values):
                return HttpResponseBadRequest(
                    "A parameter or a cookie holds a NUL character.", content_type="text/plain"
                )
        return self.get_response(request)


class PrivatePagesMiddleware:
    """Pages for a signed-in user are never stored by a browser or a proxy (a shared
    computer's back button, a cache between): Cache-Control: no-store."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.user.is_authenticated:
            add_never_cache_headers(response)
        return response
