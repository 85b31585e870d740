"""The one public page: a contact's one-click unsubscribe (RFC 8058).

No session and no CSRF token: a mail client posts `List-Unsubscribe=One-Click` to the link
by itself (RFC 8058 3.2), and the link's signed token is the only credential. A GET only
shows the button, because link scanners and previews follow links: they must never
unsubscribe anyone. A bad token costs one HMAC and no query, so junk needs no rate limit.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sequences.models import Contact, ScheduledEmail
from sequences.services.contacts import contact_unsubscribe_one_click
from sequences.unsubscribe import ONE_CLICK_FIELD, ONE_CLICK_VALUE, unsubscribe_ids


@login_not_required
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    ids = unsubscribe_ids(token)
    email = (
        ScheduledEmail.objects.select_related("contact").filter(pk=ids[1], contact_id=ids[0])
        if ids
        else ScheduledEmail.objects.none()
    ).first()
    if email is None:
        raise Http404("This unsubscribe link is not valid.")
    one_click = request.POST.get(ONE_CLICK_FIELD) == ONE_CLICK_VALUE
    if request.method == "POST" and one_click:
        contact_unsubscribe_one_click(email=email)
        email.contact.refresh_from_db(fields=["state"])
    context = {
        "field": ONE_CLICK_FIELD,
        "value": ONE_CLICK_VALUE,
        "unsubscribed": email.contact.state
        in (Contact.State.UNSUBSCRIBED, Contact.State.SUPPRESSED),
        "refused": request.method == "POST" and not one_click,
    }
    return render(
        request, "sequences/unsubscribe.html", context, status=400 if context["refused"] else 200
    )
