from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def sequence_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")
