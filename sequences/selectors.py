"""Reads, scoped to who is asking.

Every view reads through these functions, so the rule "a user sees only what their
role and organization allow" lives in one place and is not re-implemented per view.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Max, Model, OuterRef, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Concat, TruncDate

from deliverability.selectors import failing_checks_count
from diagnostics.diagnosis import diagnose
from diagnostics.vocabulary import Category, MessageKind
from sequences.models import (
    AuditEntry,
    Contact,
    ContactImport,
    Enrollment,
    InboundMessage,
    Mailbox,
    Membership,
    Organization,
    ScheduledEmail,
    SendAttempt,
    Sequence,
    Step,
)

_UNSET = object()


def membership_for_user(user: AbstractBaseUser) -> Membership | None:
    """The user's role and organization, read once per request (the user object caches it)."""
    if not user.is_authenticated:
        return None
    membership = getattr(user, "_membership_cache", _UNSET)
    if membership is _UNSET:
        membership = Membership.objects.select_related("organization").filter(user=user).first()
        user._membership_cache = membership
    return membership


def _scoped(
    objects: QuerySet[Model], *, user: AbstractBaseUser, organization: Organization | None, rep: Q
) -> QuerySet[Model]:
    """Rows of the user's organization (a rep's: those matching `rep`); support's chosen one."""
    membership = membership_for_user(user)
    if membership is None:
        return objects.none()
    if membership.is_support:
        return objects.filter(organization=organization) if organization else objects.none()
    objects = objects.filter(organization_id=membership.organization_id)
    if membership.is_rep:
        objects = objects.filter(rep)
    return objects


def sequences_for_user(
    *, user: AbstractBaseUser, organization: Organization | None = None
) -> QuerySet[Sequence]:
    """Sequences the user may see: a rep's own, an admin's organization's, any for support.

    Support staff review one organization at a time: pass it as `organization`.
    """
    return _scoped(
        Sequence.objects.select_related("mailbox", "owner"),
        user=user,
        organization=organization,
        rep=Q(owner=user),
    )


def sequences_with_counts(*, sequences: QuerySet[Sequence]) -> QuerySet[Sequence]:
    """The sequence list's figures, in the same single query."""
    status = ScheduledEmail.Status
    return sequences.annotate(
        contact_count=Count("emails__enrollment", distinct=True),
        sent_count=Count("emails", filter=Q(emails__status=status.SENT)),
        scheduled_count=Count(
            "emails",
            filter=Q(emails__status__in=[*ScheduledEmail.DUE_STATUSES, status.WAITING]),
        ),
        problem_count=Count(
            "emails", filter=Q(emails__status__in=[status.BLOCKED, status.FAILED, status.RETRYING])
        ),
    ).order_by("name")


def contacts_for_user(
    *, user: AbstractBaseUser, organization: Organization | None = None
) -> QuerySet[Contact]:
    """Contacts the user may see, by name: a rep sees those enrolled in the rep's sequences
    and those the rep added."""
    return _scoped(
        Contact.objects.order_by("last_name", "first_name", "pk"),
        user=user,
        organization=organization,
        rep=Q(pk__in=Enrollment.objects.filter(sequence__owner=user).values("contact_id"))
        | Q(added_by=user),
    )


def contacts_search(*, contacts: QuerySet[Contact], query: str) -> QuerySet[Contact]:
    """The contacts whose address, name or company holds `query` (all for none)."""
    query = query.strip()[:200]
    if not query:
        return contacts
    return contacts.filter(
        Q(email__icontains=query)
        | Q(first_name__icontains=query)
        | Q(last_name__icontains=query)
        | Q(company__icontains=query)
    )


def contact_imports_for_user(*, user: AbstractBaseUser) -> QuerySet[ContactImport]:
    """Imports of the user's organization (a rep's own); support staff review none."""
    return _scoped(
        ContactImport.objects.select_related("created_by"),
        user=user,
        organization=None,
        rep=Q(created_by=user),
    )


def enrollment_for_sequence(*, sequence: Sequence, pk: int) -> Enrollment | None:
    return Enrollment.objects.filter(sequence=sequence, pk=pk).select_related("contact").first()


# A sequence's emails as its export lists them.
EMAIL_EXPORT_COLUMNS = {
    "contact__email": "Contact",
    "step__position": "Step",
    "status": "Status",
    "scheduled_for": "Scheduled for",
    "sent_at": "Sent at",
    "last_error": "Last error",
    "error_category": "Diagnosis category",
}


def emails_for_export(*, sequence: Sequence) -> Iterator[tuple]:
    """Every email of the sequence in time order, as EMAIL_EXPORT_COLUMNS, read in chunks."""
    return (
        ScheduledEmail.objects.filter(sequence=sequence)
        .order_by("scheduled_for", "pk")
        .values_list(*EMAIL_EXPORT_COLUMNS)
        .iterator(chunk_size=2_000)
    )


def mailboxes_for_user(
    *, user: AbstractBaseUser, organization: Organization | None = None
) -> QuerySet[Mailbox]:
    """Mailboxes the user may see: a rep sees their own."""
    return _scoped(
        Mailbox.objects.select_related("owner"),
        user=user,
        organization=organization,
        rep=Q(owner=user),
    )


def organizations_for_user(*, user: AbstractBaseUser) -> QuerySet[Organization]:
    """Organizations the user may review: all for support staff, none for anyone else."""
    membership = membership_for_user(user)
    if membership is None or not membership.is_support:
        return Organization.objects.none()
    return Organization.objects.all()


def organization_for_user(*, user: AbstractBaseUser, slug: str) -> Organization | None:
    """One organization support staff may review, or None."""
    return organizations_for_user(user=user).filter(slug=slug).first()


def _reviewable(user: AbstractBaseUser, scoped: QuerySet, every: QuerySet) -> QuerySet:
    """`scoped`, or for support staff, who may review any organization's, `every`."""
    membership = membership_for_user(user)
    return every if membership is not None and membership.is_support else scoped


def sequence_for_user(*, user: AbstractBaseUser, pk: int) -> Sequence | None:
    """One sequence the user may see (support: any, to review), or None."""
    sequences = _reviewable(
        user,
        sequences_for_user(user=user).select_related("organization"),
        Sequence.objects.select_related("mailbox", "owner", "organization"),
    )
    return sequences.filter(pk=pk).first()


def mailbox_for_user(*, user: AbstractBaseUser, pk: int) -> Mailbox | None:
    """One mailbox the user may see (support: any, to review), or None."""
    mailboxes = _reviewable(
        user,
        mailboxes_for_user(user=user).select_related("organization"),
        Mailbox.objects.select_related("owner", "organization"),
    )
    return mailboxes.filter(pk=pk).first()


def own_mailbox_for_user(*, user: AbstractBaseUser, pk: int) -> Mailbox | None:
    """One mailbox of the user's own scope (support staff have none), or None."""
    return mailboxes_for_user(user=user).filter(pk=pk).first()


PROBLEM_STATUSES = (
    ScheduledEmail.Status.RETRYING,
    ScheduledEmail.Status.BLOCKED,
    ScheduledEmail.Status.FAILED,
    # Accepted, then returned: read from the mailbox later (services/inbox.py).
    ScheduledEmail.Status.BOUNCED,
)
# Counts stop here: an exact count of 100 000 rows costs more than the page itself.
COUNT_LIMIT = 10_000


@dataclass(frozen=True)
class EmailView:
    """A preset of the Emails tab: which statuses it shows, and in which order."""

    label: str
    statuses: tuple[str, ...] | None  # None: every status
    # What goes out next comes first; elsewhere the latest scheduled does.
    ascending: bool = False


EMAIL_VIEWS = {
    "attention": EmailView("Needs attention", PROBLEM_STATUSES),
    "upcoming": EmailView(
        "Up next",
        (
            ScheduledEmail.Status.SENDING,
            ScheduledEmail.Status.SCHEDULED,
            ScheduledEmail.Status.WAITING,
        ),
        ascending=True,
    ),
    "sent": EmailView("Sent", (ScheduledEmail.Status.SENT,)),
    "all": EmailView("All emails", None),
}


@dataclass(frozen=True)
class EmailFilters:
    status: str = ""
    category: str = ""
    query: str = ""
    view: str = ""

    @classmethod
    def clean(
        cls, *, status: str = "", category: str = "", query: str = "", view: str = ""
    ) -> EmailFilters:
        """The filters asked for, unknown values dropped."""
        return cls(
            status=status if status in ScheduledEmail.Status.values else "",
            category=category if category in Category.values else "",
            query=query.strip()[:200],
            view=view if view in EMAIL_VIEWS else "",
        )

    def resolved(self, *, problems: bool) -> EmailFilters:
        """With the view made explicit. Asked for nothing, a rep sees the problems first,
        else what goes out next; a search or a status asked for looks through every email."""
        if self.view:
            return self
        if self.searched:
            return dataclasses.replace(self, view="all")
        return dataclasses.replace(self, view="attention" if problems else "upcoming")

    @property
    def preset(self) -> EmailView:
        return EMAIL_VIEWS[self.view or "all"]

    @property
    def searched(self) -> bool:
        return bool(self.status or self.category or self.query)

    @property
    def stated_view(self) -> str:
        """The view as a link must state it: all of them goes without saying for a search."""
        return "" if self.view == "all" and self.searched else self.view

    def query_string(self) -> str:
        """The filters as a URL's query string (no page): for links that keep them."""
        pairs = {"view": self.stated_view, "status": self.status, "category": self.category}
        pairs["q"] = self.query
        return urlencode({name: value for name, value in pairs.items() if value})

    def apply(self, emails: QuerySet[ScheduledEmail]) -> QuerySet[ScheduledEmail]:
        if self.preset.statuses is not None:
            emails = emails.filter(status__in=self.preset.statuses)
        if self.status:
            emails = emails.filter(status=self.status)
        if self.category:
            emails = emails.filter(error_category=self.category)
        if self.query:
            emails = emails.filter(
                Q(contact__email__icontains=self.query)
                | Q(contact__first_name__icontains=self.query)
                | Q(contact__last_name__icontains=self.query)
            )
        return emails


@dataclass(frozen=True)
class EmailPage:
    emails: list[ScheduledEmail]
    next_cursor: str | None  # more emails follow in the view's order, from this cursor ("after")
    previous_cursor: str | None  # some precede, up to this cursor ("before")
    count: int
    count_is_capped: bool


def _cursor(email: ScheduledEmail) -> str:
    return f"{email.scheduled_for.isoformat()}~{email.pk}"


# The ids a database key holds (a bigint), and what a cursor's id may be.
MAX_ID = 2**63 - 1


def _parse_cursor(cursor: str) -> tuple[dt.datetime, int] | None:
    """The cursor _cursor wrote, or None for anything else (the first page, then)."""
    moment, _, pk = cursor.partition("~")
    try:
        moment, pk = dt.datetime.fromisoformat(moment), int(pk)
        if moment.tzinfo is None or not 0 < pk <= MAX_ID:
            return None
        return moment.astimezone(dt.UTC), pk
    except (ValueError, OverflowError):  # not a time, or one that UTC cannot hold
        return None


def _beyond(
    emails: QuerySet[ScheduledEmail], cursor: tuple[dt.datetime, int], *, later: bool
) -> QuerySet[ScheduledEmail]:
    """The emails after the cursor's row (`later`) or before it, by (scheduled_for, id)."""
    moment, pk = cursor
    if later:
        return emails.filter(Q(scheduled_for__gt=moment) | Q(scheduled_for=moment, pk__gt=pk))
    return emails.filter(Q(scheduled_for__lt=moment) | Q(scheduled_for=moment, pk__lt=pk))


def emails_for_sequence(
    *,
    sequence: Sequence,
    filters: EmailFilters,
    cursor: str = "",
    before: str = "",
    size: int = 50,
) -> EmailPage:
    """A page of the sequence's emails in its view's order (latest scheduled first, or
    what goes out next first), by keyset pagination.

    A cursor is a row's (scheduled_for, id): `cursor` pages on to the emails that follow
    it, `before` back to those that precede it (read in the other direction, then turned
    back), so a deep page costs what the first does, whatever OFFSET would have skipped.
    """
    emails = filters.apply(ScheduledEmail.objects.filter(sequence=sequence))
    count = emails.values("pk")[: COUNT_LIMIT + 1].count()
    ascending = filters.preset.ascending
    back = _parse_cursor(before) if before else None
    on = None if back else (_parse_cursor(cursor) if cursor else None)
    if on is not None:
        emails = _beyond(emails, on, later=ascending)
    if back is not None:
        emails = _beyond(emails, back, later=not ascending)
    forwards = ascending != (back is not None)
    order = ("scheduled_for", "pk") if forwards else ("-scheduled_for", "-pk")
    rows = list(
        emails.select_related("contact", "step", "mailbox")
        .prefetch_related(Prefetch("attempts", SendAttempt.objects.order_by("number")))
        .order_by(*order)[: size + 1]
    )
    more = len(rows) > size
    rows = rows[:size][::-1] if back else rows[:size]
    # A rescheduled email's old error is history, shown on its timeline.
    rows = with_diagnosis(
        rows, lambda email: email.last_error if email.status in PROBLEM_STATUSES else ""
    )
    # Paged back from `before`: emails follow (the cursor's own, at least); paged on from
    # `cursor`: some precede.
    has_next, has_previous = (True, more) if back else (more, on is not None)
    return EmailPage(
        emails=rows,
        next_cursor=_cursor(rows[-1]) if rows and has_next else None,
        previous_cursor=_cursor(rows[0]) if rows and has_previous else None,
        count=min(count, COUNT_LIMIT),
        count_is_capped=count > COUNT_LIMIT,
    )


@dataclass(frozen=True)
class TriageGroup:
    status: str
    category: str
    mailbox: Mailbox
    count: int
    # Handed to the server and never confirmed: a person checks before anything is resent.
    uncertain: bool = False

    @property
    def stuck(self) -> bool:
        """Claimed for sending longer than a send may take: its worker stopped."""
        return self.status == ScheduledEmail.Status.SENDING

    @property
    def category_label(self) -> str:
        if self.uncertain:
            return "Delivery uncertain: check the mailbox's Sent folder before rescheduling"
        if self.stuck:
            return (
                "for longer than a send may take: its worker stopped. The next dispatch "
                "puts them back, or marks them uncertain"
            )
        return Category(self.category).label if self.category else "No diagnosis"


def orphaned_claims(*, now: dt.datetime, stale_after: dt.timedelta | None = None) -> Q:
    """Claims no worker holds: started by a batch whose lease has passed (its worker died or
    lost the database), never started though their task has expired (a broker that lost
    it), or older than SENDING_CLAIM_TIMEOUT (`stale_after`) whatever they look like."""
    if stale_after is None:
        stale_after = dt.timedelta(seconds=settings.SENDING_CLAIM_TIMEOUT)
    # The lease runs SENDING_LEASE_SECONDS from its last renewal: renewed after the claim
    # was taken means a batch took it up.
    lease = dt.timedelta(seconds=settings.SENDING_LEASE_SECONDS)
    started = Q(mailbox__sending_lease_until__gte=F("claimed_at") + lease)
    # A margin past the expiry: a task taken just before it has renewed the lease by then.
    expired = now - dt.timedelta(seconds=settings.SEND_TASK_EXPIRES + 15)
    return (
        Q(claimed_at__lte=now - stale_after)
        | (started & Q(mailbox__sending_lease_until__lt=now))
        | (~started & Q(claimed_at__lte=expired))
    )


def email_triage(*, sequence: Sequence, now: dt.datetime) -> list[TriageGroup]:
    """The sequence's problems grouped by cause and mailbox, the largest first.

    Uncertain deliveries are a group of their own (no bulk resend: each may have been
    delivered), and so are emails stuck in sending that no worker holds (`orphaned_claims`:
    the next dispatch recovers them, unless no worker or beat runs).
    """
    rows = (
        ScheduledEmail.objects.filter(sequence=sequence)
        .filter(
            Q(status__in=PROBLEM_STATUSES)
            | (Q(status=ScheduledEmail.Status.SENDING) & orphaned_claims(now=now))
        )
        .annotate(uncertain=Q(error_code=ScheduledEmail.DELIVERY_UNCERTAIN))
        .values("status", "error_category", "mailbox_id", "uncertain")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    groups = list(rows)
    mailboxes = Mailbox.objects.in_bulk({row["mailbox_id"] for row in groups})
    return [
        TriageGroup(
            row["status"],
            row["error_category"],
            mailboxes[row["mailbox_id"]],
            row["n"],
            uncertain=row["uncertain"],
        )
        for row in groups
    ]


# How far ahead a scheduled email counts as in flight: the Emails tab starts refreshing
# itself before it goes out, so that its status changes under the viewer's eyes.
IN_FLIGHT_AHEAD = dt.timedelta(minutes=10)


def sequence_in_flight(*, sequence: Sequence, now: dt.datetime) -> bool:
    """Whether any email of the sequence may change status by itself soon: one being sent
    or retried, or one due within IN_FLIGHT_AHEAD (its sending, or its refusal, is near)."""
    Status, soon = ScheduledEmail.Status, now + IN_FLIGHT_AHEAD
    # scheduled_for bounds the scan by the (sequence, status, scheduled_for) index.
    return ScheduledEmail.objects.filter(
        Q(status__in=(Status.SENDING, Status.RETRYING))
        | Q(status=Status.SCHEDULED, scheduled_for__lte=soon, next_attempt_at__lte=soon),
        sequence=sequence,
    ).exists()


def steps_for_sequence(*, sequence: Sequence) -> QuerySet[Step]:
    return sequence.steps.order_by("position")


def reached_contact(prefix: str = "") -> Q:
    """Emails a contact may have received: sent, being sent, or uncertain."""
    return Q(
        **{f"{prefix}status__in": [ScheduledEmail.Status.SENT, ScheduledEmail.Status.SENDING]}
    ) | Q(**{f"{prefix}error_code": ScheduledEmail.DELIVERY_UNCERTAIN})


def steps_with_counts(*, sequence: Sequence) -> list[Step]:
    """The Steps tab in one query: each step with its emails sent, still to be written,
    and whether one may have reached a contact (then it neither moves nor goes away):
    `may_move_up` and `may_move_down` say whether it may swap with its neighbour."""
    status = ScheduledEmail.Status
    steps = list(
        steps_for_sequence(sequence=sequence).annotate(
            sent_count=Count("emails", filter=Q(emails__status=status.SENT)),
            pending_count=Count(
                "emails", filter=Q(emails__status__in=ScheduledEmail.UNSENT_STATUSES)
            ),
            reached_count=Count("emails", filter=reached_contact("emails__")),
        )
    )
    for before, after in itertools.pairwise(steps):
        after.may_move_up = before.may_move_down = not (before.reached_count or after.reached_count)
    return steps


def sequences_listed(*, user: AbstractBaseUser, archived: bool) -> QuerySet[Sequence]:
    """The sequence list: the user's sequences at work, or (`archived`) the archived ones."""
    sequences = sequences_for_user(user=user)
    if archived:
        return sequences.filter(state=Sequence.State.ARCHIVED)
    return sequences.exclude(state=Sequence.State.ARCHIVED)


def sequence_owner_choices(*, user: AbstractBaseUser) -> QuerySet[AbstractBaseUser] | None:
    """Whom an admin may make a sequence's owner (themself, or a rep of the organization);
    None for anyone else, whose sequences are their own."""
    membership = membership_for_user(user)
    if membership is None or not membership.is_admin:
        return None
    return organization_members(organization_id=membership.organization_id).filter(
        Q(pk=user.pk) | Q(membership__role=Membership.Role.REP)
    )


def sequence_contacts_to_preview(*, sequence: Sequence, limit: int = 50) -> QuerySet[Contact]:
    """Contacts a step is previewed for: the sequence's, the latest enrolled first."""
    return Contact.objects.filter(enrollments__sequence=sequence).order_by(
        "-enrollments__enrolled_at", "-pk"
    )[:limit]


@dataclass(frozen=True)
class SequenceOutcomes:
    """What the sequence's emails came to, as the inbox told it too."""

    sent: int
    bounced: int
    replied: int
    out_of_office: int
    unsubscribed: int


def sequence_outcomes(*, sequence: Sequence) -> SequenceOutcomes:
    """Emails sent (returned or answered later included), returned after sending, contacts
    who replied, sent automatic replies, unsubscribed: three queries."""
    status = ScheduledEmail.Status
    emails = sequence.emails.aggregate(
        sent=Count("id", filter=Q(sent_at__isnull=False)),
        bounced=Count("id", filter=Q(status=status.BOUNCED)),
    )
    stopped = sequence.enrollments.aggregate(
        replied=Count("id", filter=Q(stop_cause=Enrollment.StopCause.REPLIED)),
        unsubscribed=Count("id", filter=Q(stop_cause=Enrollment.StopCause.UNSUBSCRIBED)),
    )
    away = (
        InboundMessage.objects.filter(email__sequence=sequence, kind=MessageKind.AUTO_REPLY)
        .values("contact_id")
        .distinct()
        .count()
    )
    return SequenceOutcomes(out_of_office=away, **emails, **stopped)


def enrollments_for_sequence(*, sequence: Sequence) -> QuerySet[Enrollment]:
    """The sequence's contacts with their enrollment, newest first."""
    return (
        Enrollment.objects.filter(sequence=sequence)
        .select_related("contact")
        .order_by("-enrolled_at", "-pk")
    )


@dataclass(frozen=True)
class AccountHealth:
    organization: Organization
    sent: int
    failed: int
    blocked: int
    mailboxes_down: int
    top_categories: list[tuple[str, int]]
    # Domain checks of its mailboxes failing now, and of those, failing since the last check.
    checks_failing: int = 0
    checks_newly_failing: int = 0


def organizations_health(
    *, organizations: QuerySet[Organization], now: dt.datetime, days: int = 7
) -> list[AccountHealth]:
    """Each account at a glance, in four queries whatever the number of accounts."""
    since = now - dt.timedelta(days=days)
    status = ScheduledEmail.Status
    figures = {
        row["sequence__organization_id"]: row
        for row in ScheduledEmail.objects.filter(
            sequence__organization__in=organizations, updated_at__gte=since
        )
        .values("sequence__organization_id")
        .annotate(
            sent=Count("id", filter=Q(status=status.SENT, sent_at__gte=since)),
            failed=Count("id", filter=Q(status=status.FAILED)),
            blocked=Count("id", filter=Q(status=status.BLOCKED)),
        )
    }
    categories: dict[int, list[tuple[str, int]]] = {}
    for row in (
        ScheduledEmail.objects.filter(
            sequence__organization__in=organizations,
            status__in=PROBLEM_STATUSES,
            updated_at__gte=since,
        )
        .values("sequence__organization_id", "error_category")
        .annotate(n=Count("id"))
        .order_by("-n")
    ):
        label = Category(row["error_category"]).label if row["error_category"] else "Unknown"
        categories.setdefault(row["sequence__organization_id"], []).append((label, row["n"]))
    down = Count("mailboxes", filter=~Q(mailboxes__state=Mailbox.State.CONNECTED))
    checks_failing = failing_checks_count(organization=OuterRef("pk"))
    checks_new = failing_checks_count(organization=OuterRef("pk"), newly=True)
    return [
        AccountHealth(
            organization=organization,
            sent=figures.get(organization.pk, {}).get("sent", 0),
            failed=figures.get(organization.pk, {}).get("failed", 0),
            blocked=figures.get(organization.pk, {}).get("blocked", 0),
            mailboxes_down=organization.mailboxes_down,
            top_categories=categories.get(organization.pk, [])[:3],
            checks_failing=organization.checks_failing,
            checks_newly_failing=organization.checks_new,
        )
        for organization in organizations.annotate(
            mailboxes_down=down, checks_failing=checks_failing, checks_new=checks_new
        ).order_by("name")
    ]


@dataclass(frozen=True)
class DayBar:
    day: dt.date
    sent: int
    failures: list[tuple[str, int]]

    @property
    def failed(self) -> int:
        return sum(n for _, n in self.failures)


def account_daily_attempts(
    *, organization: Organization, now: dt.datetime, days: int = 30
) -> list[DayBar]:
    """Sends and failures per day (failures by category), oldest first, every day present."""
    start = (now - dt.timedelta(days=days - 1)).date()
    rows = (
        SendAttempt.objects.filter(
            email__sequence__organization=organization,
            started_at__date__gte=start,
            outcome__in=[SendAttempt.Outcome.SENT, SendAttempt.Outcome.FAILED],
        )
        .annotate(day=TruncDate("started_at"))
        .values("day", "outcome", "category")
        .annotate(n=Count("id"))
    )
    sent: dict[dt.date, int] = {}
    failures: dict[dt.date, dict[str, int]] = {}
    for row in rows:
        if row["outcome"] == SendAttempt.Outcome.SENT:
            sent[row["day"]] = sent.get(row["day"], 0) + row["n"]
        else:
            by_category = failures.setdefault(row["day"], {})
            by_category[row["category"]] = by_category.get(row["category"], 0) + row["n"]
    days_shown = [start + dt.timedelta(days=n) for n in range(days)]
    return [
        DayBar(day, sent.get(day, 0), sorted(failures.get(day, {}).items())) for day in days_shown
    ]


@dataclass
class FrequentError:
    raw_error: str
    n: int
    last: dt.datetime
    diagnosis: object = None


def account_frequent_errors(*, organization: Organization, limit: int = 10) -> list[FrequentError]:
    """The provider replies this account meets most, verbatim, with how often, diagnosed."""
    rows = (
        SendAttempt.objects.filter(
            email__sequence__organization=organization, outcome=SendAttempt.Outcome.FAILED
        )
        .values("raw_error")
        .annotate(n=Count("id"), last=Max("started_at"))
        .order_by("-n", "raw_error")[:limit]
    )
    return with_diagnosis([FrequentError(**row) for row in rows], lambda row: row.raw_error)


def account_fixes(*, organization: Organization, limit: int = 50) -> QuerySet[AuditEntry]:
    """The fixes the customer applied, latest first (support's own reviews left out)."""
    return AuditEntry.objects.filter(organization=organization).exclude(
        action=AuditEntry.Action.REVIEW_ACCOUNT
    )[:limit]


# Emails a support search lists at most.
SEARCH_LIMIT = 50


def emails_found(*, organization: Organization, query: str) -> list[ScheduledEmail]:
    """The organization's emails a support search finds, newest first: by Message-ID (with
    or without its angle brackets, the email's or an attempt's), by a provider's request id,
    or by the contact's address or name (in part)."""
    query = " ".join(query.split())[:300]
    if not query:
        return []
    message_id = query if query.startswith("<") else f"<{query}>"
    attempts = SendAttempt.objects.filter(Q(message_id=message_id) | Q(request_id=query))
    name = Concat("contact__first_name", Value(" "), "contact__last_name")
    found = (
        ScheduledEmail.objects.filter(sequence__organization=organization)
        .annotate(contact_name=name)
        .filter(
            Q(message_id=message_id)
            | Q(pk__in=attempts.values("email_id"))
            | Q(contact__email__icontains=query)
            | Q(contact_name__icontains=query)
        )
        .select_related("contact", "sequence", "step")
        .order_by("-scheduled_for", "-pk")
    )
    return list(found[:SEARCH_LIMIT])


def email_for_sequence(*, sequence: Sequence, pk: int) -> ScheduledEmail | None:
    """One of the sequence's emails, its attempts diagnosed (`diagnosed_attempts`) and the
    messages read about it from the mailbox (`diagnosed_inbound`), or None."""
    email = sequence.emails.select_related("contact", "step", "mailbox").filter(pk=pk).first()
    if email is not None:
        email.diagnosed_attempts = with_diagnosis(
            list(email.attempts.order_by("number")), lambda attempt: attempt.raw_error
        )
        email.diagnosed_inbound = with_diagnosis(
            list(email.inbound.order_by("received_at", "pk")), lambda inbound: inbound.diagnostic
        )
    return email


def emails_to_reschedule(
    *, sequence: Sequence, ids: Iterable[int] = (), status: str = "", category: str = ""
) -> QuerySet[ScheduledEmail]:
    """The emails a reschedule asks for: those picked by id, or a whole triage group."""
    if status:
        return sequence.emails.filter(status=status, error_category=category)
    return sequence.emails.filter(pk__in=list(ids))


def organization_members(*, organization_id: int) -> QuerySet[AbstractBaseUser]:
    """The organization's reps and admins, by name."""
    return (
        get_user_model()
        .objects.filter(membership__organization_id=organization_id)
        .order_by("first_name", "last_name", "username")
    )


def organization_admins(*, organization_id: int) -> str:
    """The organization's admins, by name and address, for "ask an admin"."""
    admins = Membership.objects.filter(
        organization_id=organization_id, role=Membership.Role.ADMIN
    ).select_related("user")
    return ", ".join(
        f"{m.user.get_full_name() or m.user.get_username()}"
        + (f" ({m.user.email})" if m.user.email else "")
        for m in admins.order_by("user__first_name", "user__username")
    )


def contact_for_sequence(*, sequence: Sequence, pk: int) -> Contact | None:
    """A contact enrolled in the sequence (its fixes are applied from the sequence's pages;
    a contact of another sequence is not one to know about from there)."""
    return Contact.objects.filter(pk=pk, enrollments__sequence=sequence).first()


def mailbox_held_emails(*, mailbox: Mailbox) -> QuerySet[ScheduledEmail]:
    """The emails a broken mailbox is holding back (its sign-in, its settings, its account)."""
    return ScheduledEmail.objects.filter(
        mailbox=mailbox,
        status=ScheduledEmail.Status.BLOCKED,
        error_category__in=Mailbox.HOLDING_CATEGORIES,
    )


def with_diagnosis[Row](rows: list[Row], raw_of: Callable[[Row], str]) -> list[Row]:
    """Each row with `diagnosis`: its raw error diagnosed, None when it has none.

    Diagnosed when read rather than stored, so explanations follow the current catalog.
    """
    for row in rows:
        raw = raw_of(row)
        row.diagnosis = diagnose(raw) if raw else None
    return rows


@dataclass(frozen=True)
class ResyncProgress:
    """A resync asked for, and once a worker has tried, what it did."""

    request: AuditEntry
    done: bool = False
    connected: bool = False
    rescheduled: int = 0
    first_send_at: dt.datetime | None = None
    diagnosis: object = None


def mailbox_resync_progress(*, mailbox: Mailbox, pk: int) -> ResyncProgress | None:
    """The resync request `pk` of this mailbox (its audit entry), or None."""
    request = AuditEntry.objects.filter(
        pk=pk,
        organization_id=mailbox.organization_id,
        action=AuditEntry.Action.RESYNC_MAILBOX,
        target_id=str(mailbox.pk),
    ).first()
    if request is None:
        return None
    outcome = request.detail.get("outcome")
    if outcome is None:
        return ResyncProgress(request=request)
    first = outcome.get("first_send_at")
    return ResyncProgress(
        request=request,
        done=True,
        connected=outcome["connected"],
        rescheduled=outcome["rescheduled"],
        first_send_at=dt.datetime.fromisoformat(first) if first else None,
        diagnosis=diagnose(mailbox.last_error) if mailbox.last_error else None,
    )
