"""Mailbox pages: the list, a mailbox's page with its domain checks, resynchronizing it."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from deliverability import selectors as deliverability
from deliverability.checks.dkim import PROVIDER_SELECTORS
from diagnostics.vocabulary import Fix
from sequences import permissions, selectors
from sequences.forms import MailboxConnectForm, MailboxSettingsForm, OAuthConnectForm
from sequences.models import Mailbox, Membership
from sequences.services.errors import WrongState
from sequences.services.mailboxes import (
    ConnectionTest,
    OAuthSignIn,
    mailbox_connect,
    mailbox_connection_test,
    mailbox_move_pending,
    mailbox_oauth_sign_in,
    mailbox_reconnect,
    mailbox_resync_request,
)
from sequences.services.oauth import oauth_authorization, oauth_providers
from sequences.views import access


@require_GET
def mailbox_list(request: HttpRequest) -> HttpResponse:
    mailboxes = deliverability.mailboxes_with_failing_checks(
        mailboxes=selectors.mailboxes_for_user(user=request.user)
    )
    return render(request, "sequences/mailbox_list.html", {"mailboxes": mailboxes})


@require_GET
def mailbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox_for_user(request, pk)
    access.review_record(request, organization_id=mailbox.organization_id, target=mailbox)
    membership = access.membership(request)
    runs = list(deliverability.mailbox_domain_check_runs(mailbox=mailbox))
    if membership is not None and membership.is_support:
        back_url = reverse("sequences:organization_detail", args=[mailbox.organization.slug])
        back_label = mailbox.organization.name
    else:
        back_url, back_label = reverse("sequences:mailbox_list"), "Mailboxes"
    context = {
        "mailbox": mailbox,
        "provider_selectors": ", ".join(PROVIDER_SELECTORS.get(mailbox.provider, ())),
        "back_url": back_url,
        "back_label": back_label,
        "results": deliverability.mailbox_domain_results(mailbox=mailbox),
        "runs": runs,
        "running": [run for run in runs if run.in_progress],
        "may_check": permissions.may_fix_mailbox(membership, mailbox),
        "may_configure": permissions.may_configure_mailbox(membership, mailbox),
        "may_edit": permissions.may_fix_mailbox(membership, mailbox),
        "oauth_providers": oauth_providers(),
        # Where an admin may move its work: the organization's other connected mailboxes.
        "move_targets": selectors.mailboxes_for_user(user=request.user)
        .filter(state=Mailbox.State.CONNECTED)
        .exclude(pk=mailbox.pk)
        if permissions.may_configure_mailbox(membership, mailbox)
        else (),
        "scopes": [
            (scope, Fix(scope).label) for scope in (Fix.CHECK_DNS_AUTH, Fix.CHECK_BLACKLIST)
        ],
    }
    return render(request, "sequences/mailbox_detail.html", context)


@require_POST
def mailbox_resync(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_own_mailbox(request, pk)
    if not permissions.may_fix_mailbox(access.membership(request), mailbox):
        raise PermissionDenied("Your role may not resynchronize this mailbox.")
    entry = mailbox_resync_request(actor=request.user, mailbox=mailbox)
    if not request.htmx:
        messages.info(request, f"Checking {mailbox.email}…")
        return redirect("sequences:mailbox_list")
    context = {"mailbox": mailbox, "resync": selectors.ResyncProgress(request=entry)}
    return render(request, "sequences/_resync_status.html", context)


@require_GET
def mailbox_resync_status(request: HttpRequest, pk: int, resync_pk: int) -> HttpResponse:
    mailbox = access.get_own_mailbox(request, pk)
    progress = access.found(selectors.mailbox_resync_progress(mailbox=mailbox, pk=resync_pk))
    context = {"mailbox": mailbox, "resync": progress}
    return render(request, "sequences/_resync_status.html", context)


@require_http_methods(["GET", "POST"])
def mailbox_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a mailbox's settings and reconnect it (a new password after a refused
    sign-in): saved only once a connection test with them passes. "Test" only tests."""
    mailbox = access.get_own_mailbox(request, pk)
    if not permissions.may_fix_mailbox(access.membership(request), mailbox):
        raise PermissionDenied("Only its owner or an admin may change this mailbox.")
    form = MailboxSettingsForm(request.POST or None, instance=mailbox)
    test = None
    if request.method == "POST" and form.is_valid():
        fields = form.apply()
        if request.POST.get("action") == "test":
            test = mailbox_connection_test(mailbox)
        else:
            test, result = mailbox_reconnect(actor=request.user, mailbox=mailbox, fields=fields)
            if result is not None:
                messages.success(
                    request,
                    f"{mailbox.email} connected: {result.rescheduled} held "
                    f"email{'s' if result.rescheduled != 1 else ''} rescheduled.",
                )
                return redirect("sequences:mailbox_detail", mailbox.pk)
    context = {"mailbox": mailbox, "form": form, "test": test, "oauth_providers": oauth_providers()}
    return render(request, "sequences/mailbox_edit.html", context, status=200)


@require_http_methods(["GET", "POST"])
def mailbox_connect_view(request: HttpRequest) -> HttpResponse:
    """Connect a new mailbox of one's own (an admin: of any member of the organization):
    provider first, then its settings, tested for real before it is saved."""
    membership = access.membership(request)
    if membership is None or membership.is_support:
        raise PermissionDenied("Mailboxes are connected by the people who send from them.")
    members = selectors.organization_members(organization_id=membership.organization_id)
    mailbox = Mailbox(organization_id=membership.organization_id, owner=request.user)
    provider = request.GET.get("provider", "")
    initial = {"provider": provider} if provider in Mailbox.Provider.values else {}
    form = MailboxConnectForm(request.POST or None, instance=mailbox, initial=initial)
    test = None
    if request.method == "POST" and form.is_valid():
        if membership.is_admin:  # may connect a member's mailbox for them
            owner = members.filter(pk=request.POST.get("owner")).first()
            mailbox.owner = owner or request.user
        form.apply()
        keep = request.POST.get("action") == "keep"
        test = mailbox_connect(actor=request.user, mailbox=mailbox, keep_if_refused=keep)
        if mailbox.pk is not None:
            messages.success(
                request,
                f"{mailbox.email} connected."
                if test.ok
                else f"{mailbox.email} kept, not connected: {test.diagnosis.title}.",
            )
            return redirect("sequences:mailbox_detail", mailbox.pk)
    return _connect_page(request, membership, form=form, test=test)


def _connect_page(
    request: HttpRequest,
    membership: Membership,
    *,
    form: MailboxConnectForm,
    test: ConnectionTest | None = None,
    oauth_form: OAuthConnectForm | None = None,
) -> HttpResponse:
    members = selectors.organization_members(organization_id=membership.organization_id)
    context = {
        "form": form,
        "test": test,
        "members": members if membership.is_admin else None,
        "providers": Mailbox.Provider.choices,
        "oauth_providers": oauth_providers(),
        "oauth_form": oauth_form or OAuthConnectForm(organization_id=membership.organization_id),
    }
    return render(request, "sequences/mailbox_connect.html", context)


# The OAuth flows a session has started, by state: what the callback must find again.
OAUTH_FLOWS = "oauth_flows"
# Consent pages a session may have open at once (older flows are forgotten).
OAUTH_FLOWS_KEPT = 5


def _to_consent(
    request: HttpRequest, provider: str, *, email: str, owner_id: int, mailbox_id: int | None
) -> HttpResponse:
    """Send the browser to the provider's consent page, the flow bound to this session,
    this user and organization (and the mailbox signed in again) by its state."""
    redirect_uri = request.build_absolute_uri(reverse("sequences:mailbox_oauth_callback"))
    authorization = oauth_authorization(
        provider=provider, redirect_uri=redirect_uri, login_hint=email
    )
    flows = request.session.get(OAUTH_FLOWS, {})
    flows[authorization.state] = {
        "provider": provider,
        "redirect_uri": redirect_uri,
        "code_verifier": authorization.code_verifier,
        "user_id": request.user.pk,
        "organization_id": access.membership(request).organization_id,
        "owner_id": owner_id,
        "email": email,
        "mailbox_id": mailbox_id,
    }
    request.session[OAUTH_FLOWS] = dict(list(flows.items())[-OAUTH_FLOWS_KEPT:])
    return redirect(authorization.url)


@require_POST
def mailbox_oauth_connect(request: HttpRequest, provider: str) -> HttpResponse:
    """Connect a new Google or Microsoft mailbox through the provider's consent."""
    membership = access.membership(request)
    if membership is None or membership.is_support:
        raise PermissionDenied("Mailboxes are connected by the people who send from them.")
    if provider not in oauth_providers():
        raise Http404("This provider's sign-in is not configured.")
    form = OAuthConnectForm(request.POST, organization_id=membership.organization_id)
    if not form.is_valid():
        initial = {"provider": provider}
        connect_form = MailboxConnectForm(instance=Mailbox(), initial=initial)
        return _connect_page(request, membership, form=connect_form, oauth_form=form)
    owner = request.user
    if membership.is_admin:  # may connect a member's mailbox for them
        members = selectors.organization_members(organization_id=membership.organization_id)
        owner = members.filter(pk__in=access.ids([request.POST.get("owner", "")])).first() or owner
    return _to_consent(
        request, provider, email=form.cleaned_data["email"], owner_id=owner.pk, mailbox_id=None
    )


@require_POST
def mailbox_oauth_reconnect(request: HttpRequest, pk: int) -> HttpResponse:
    """Sign a mailbox in with its provider again (a grant revoked or expired), or switch a
    password mailbox to OAuth."""
    mailbox = access.get_own_mailbox(request, pk)
    if not permissions.may_fix_mailbox(access.membership(request), mailbox):
        raise PermissionDenied("Only its owner or an admin may sign this mailbox in.")
    if mailbox.provider not in oauth_providers():
        return HttpResponseBadRequest("This mailbox's provider has no OAuth sign-in here.")
    return _to_consent(
        request,
        mailbox.provider,
        email=mailbox.email,
        owner_id=mailbox.owner_id,
        mailbox_id=mailbox.pk,
    )


@require_GET
def mailbox_oauth_callback(request: HttpRequest) -> HttpResponse:
    """Where the provider's consent comes back: the state must be one this session, user
    and organization started; the code is then exchanged and the mailbox signed in."""
    membership = access.membership(request)
    if membership is None or membership.is_support:
        raise PermissionDenied("Mailboxes are connected by the people who send from them.")
    flows = request.session.get(OAUTH_FLOWS, {})
    flow = flows.pop(request.GET.get("state", ""), None)
    request.session[OAUTH_FLOWS] = flows
    if (
        flow is None
        or flow["user_id"] != request.user.pk
        or flow["organization_id"] != membership.organization_id
    ):
        return HttpResponseBadRequest(
            "This sign-in was not started from this session (its state does not match): "
            "start it again from the mailbox's page."
        )
    back = (
        redirect("sequences:mailbox_detail", flow["mailbox_id"])
        if flow["mailbox_id"]
        else redirect(f"{reverse('sequences:mailbox_connect')}?provider={flow['provider']}")
    )
    code = request.GET.get("code", "")
    if not code:
        messages.error(request, "The provider's access was not allowed: nothing was changed.")
        return back
    sign_in = OAuthSignIn(
        code=code, **{key: value for key, value in flow.items() if key != "user_id"}
    )
    mailbox, test = mailbox_oauth_sign_in(actor=request.user, sign_in=sign_in)
    if test.ok:
        messages.success(request, f"{mailbox.email} signed in and connected.")
    else:
        messages.error(request, f"{flow['email']} not connected: {test.diagnosis.title}.")
    if mailbox is None or mailbox.pk is None:
        return back
    return redirect("sequences:mailbox_detail", mailbox.pk)


@require_POST
def mailbox_move(request: HttpRequest, pk: int) -> HttpResponse:
    """An admin moves a mailbox's sequences and pending emails to another connected one."""
    source = access.get_own_mailbox(request, pk)
    if not permissions.may_configure_mailbox(access.membership(request), source):
        raise PermissionDenied("Only an admin may move a mailbox's emails.")
    target = access.found(
        selectors.mailboxes_for_user(user=request.user)
        .filter(pk__in=access.ids([request.POST.get("target", "")]))
        .first()
    )
    try:
        moved, rescheduled = mailbox_move_pending(actor=request.user, source=source, target=target)
    except WrongState as error:
        messages.error(request, error.message)
        return redirect("sequences:mailbox_detail", source.pk)
    messages.success(
        request,
        f"{moved} pending email{'s' if moved != 1 else ''} of {source.email} now go out from "
        f"{target.email}: {len(rescheduled)} rescheduled within its window and caps.",
    )
    return redirect("sequences:mailbox_detail", target.pk)
