"""Telling words: wording whose meaning is plain whatever server wrote it.

They beat the reply codes (the contract's "What wins": a 550 that says "mailbox full" is a
full mailbox). Order matters, first match wins: the narrower meaning comes first, e.g. the
recipient's policy before blocklists ("customer block list"), DNS authentication before
login failures ("fails to pass authentication"), a full mailbox before a message size
("mailbox size limit"). HINTS are weaker: they only decide when no code does.

Several entries carry the RFC 3463 code of their meaning, so that "user unknown" and a bare
"5.1.1" give the same diagnosis; diagnostics.catalog.codes reuses them.
"""

from __future__ import annotations

from diagnostics.catalog.entry import Entry
from diagnostics.vocabulary import Category as C
from diagnostics.vocabulary import Fix as F

RECIPIENT_POLICY = Entry(
    "policy.recipient",
    C.RECIPIENT_POLICY,
    "Refused by the recipient organization's rules",
    match=r"customer block list|allowed-senders list|allowed senders list|sender not in allowed"
    r"|sendernotauthenticatedforgroup|sendernotauthenticatedformailbox"
    r"|not authorized to send to this group|restricted to internal|delivery to this group"
    r"|delivery to this address is restricted|only accepts (?:mail|email|messages) from"
    r"|violates \S+ email policy|gcdp"
    r"|tls is required|tls required|requires tls|must use tls|requiretls|encryption is required"
    r"|external senders|external forwarding",
    explanation="The recipient's organization refuses this email by its own rules (an "
    "internal-only group, a block or allow list, a TLS requirement). The address exists.",
)
DNS_AUTH = Entry(
    "smtp.5.7.26",
    C.SENDER_BLOCKED,
    "Sender authentication (SPF, DKIM, DMARC) failed",
    match=r"dmarc|spf|dkim|unauthenticated|authentication information"
    r"|fails to pass authentication|authentication checks|reverse dns|ptr record|rdns"
    r"|reverse lookup|bad helo|does not meet the required authentication",
    fixes=(F.CHECK_DNS_AUTH, F.CHECK_BLACKLIST),
    explanation="The receiving server could not authenticate mail from your domain: its SPF, "
    "DKIM or DMARC records (or the server's reverse DNS) are missing or failing.",
    next_steps=(
        "Check the domain's SPF, DKIM and DMARC records.",
        "Check the sending server's reverse DNS.",
    ),
)
BLOCKLISTED = Entry(
    "sender.blocklisted",
    C.SENDER_BLOCKED,
    "Sender blocked for its reputation",
    match=r"blacklist|blacklisted|blocklist|blocklisted|block list|black list|blocked using"
    r"|listed (?:on|in|at|by)|spamhaus|spamcop|barracuda|sorbs|dnsbl|rbl|uceprotect"
    r"|banned sending ip|banned sender|reputation|user complaints|complaints"
    r"|permanently deferred|originating from your ip|from your ip address"
    r"|ip you're using to send mail is not authorized|service refused|mail flood"
    r"|traffic not accepted from this ip|policy reasons",
    explanation="The receiving server refuses mail from your domain or sending IP, which is "
    "on a blocklist or has a poor reputation. Check the blocklists first.",
    next_steps=("Run the blocklist check.", "Request delisting, then reschedule."),
)
SUSPENDED = Entry(
    "account.suspended",
    C.ACCOUNT_SUSPENDED,
    "The sending account is suspended",
    match=r"suspended|outbound spam|sending paused|sending (?:has been )?(?:paused|disabled)"
    r"|account (?:is |has been )?(?:paused|locked|restricted|deactivated)"
    r"|tenant has exceeded|bad outbound sender|spam abuse|abuse detected|compromised"
    r"|account may not send|unusual (?:sending )?activity|user account disabled"
    r"|blocked from sending",
)
# "<user|recipient|mailbox|address|account> … does not exist / couldn't be found".
_GONE = r"(?:(?:does not|doesn't|did not) exist|(?:couldn't|could not|can't|cannot) be found)"
USER_UNKNOWN = Entry(
    "smtp.5.1.1",
    C.RECIPIENT_UNKNOWN,
    "Recipient address does not exist",
    match=r"user unknown|unknown user|no such user|no such recipient|no such mailbox"
    r"|no such address|unknown recipient|recipient unknown|recipient not found"
    r"|user not found|mailbox not found|address (?:was )?not found|recipnotfound"
    r"|exrecipnotfound|recipientnotfound|no mailbox here|not our customer"
    r"|no longer (?:active|available|valid|in use)|invalid mailbox"
    r"|account that you tried to reach does not exist"
    rf"|user\b[^.]{{0,40}}?{_GONE}"
    rf"|recipient\b[^.]{{0,40}}?{_GONE}"
    rf"|mailbox\b[^.]{{0,40}}?{_GONE}"
    rf"|address\b[^.]{{0,40}}?{_GONE}"
    rf"|account\b[^.]{{0,40}}?{_GONE}"
    r"|wasn't found at|was not found at|recipient address rejected: access denied"
    r"|doesn't have an? \S+ account|does not have an? \S+ account",
)
MAILBOX_DISABLED = Entry(
    "smtp.5.2.1",
    C.RECIPIENT_UNKNOWN,
    "Recipient mailbox disabled",
    match=r"account that you tried to reach is (?:disabled|inactive)|inactive user"
    r"|user (?:is )?inactive|mailbox (?:is )?(?:inactive|disabled|deactivated)",
    explanation="The recipient's mailbox is disabled or inactive and takes no mail. The "
    "contact is not emailed again unless you find a working address.",
)
SENDER_ADDRESS = Entry(
    "smtp.5.1.7",
    C.ACCOUNT_SETUP,
    "The sender address was refused",
    match=r"sender address rejected|sender domain|sender denied|sender identity"
    r"|sender signature|from address|from' address|from field|sendas|send as"
    r"|errorsendasdenied|send on behalf|on behalf of|not owned by|does not own"
    r"|not authorized to send from|not allowed to send from|not (?:been )?verified"
    r"|hasn't been verified|isn't verified|unverified|domain not verified",
    fixes=(F.ADMIN_SETUP, F.CHECK_DNS_AUTH),
    explanation="The provider refused the sender address: it is not verified, not owned by "
    "the mailbox, or its domain is not set up. An admin must fix the sender.",
    next_steps=("Ask an admin to verify the sender address or domain.", "Then reschedule."),
)
BAD_ADDRESS = Entry(
    "smtp.5.1.3",
    C.RECIPIENT_ADDRESS_INVALID,
    "Invalid contact address",
    match=r"invalid character|illegal character|non-ascii|smtputf8|bad address syntax"
    r"|address syntax|syntax error in (?:the )?(?:recipient|address|mailbox)"
    r"|invalid (?:e-?mail )?address|invalid recipient|invalid to header"
    r"|illegal (?:e-?mail )?address|malformed (?:e-?mail |recipient )?address"
    r"|not a valid (?:e-?mail )?address|improperly formatted|badly formatted"
    r"|mailbox name not allowed|bad recipient address|invalid syntax|must contain the '@'"
    r"|domain (?:name )?not found|domain does not exist|domain doesn't exist"
    r"|host (?:or domain name )?not found|no mx record|null mx|unrouteable domain"
    r"|unrouteable address|unroutable|no route to domain",
)
RELAY_DENIED = Entry(
    "smtp.relay_denied",
    C.ACCOUNT_SETUP,
    "The server refused to relay for the mailbox",
    match=r"relay access denied|relaying denied|relay not permitted|unable to relay"
    r"|relay denied|not permitted to relay",
    fixes=(F.ADMIN_SETUP, F.RESYNC_MAILBOX),
    explanation="The SMTP server refused to relay this email: the mailbox is not signed in "
    "or not allowed to send through it. An admin must check the SMTP setup.",
)
API_SETUP = Entry(
    "account.api_setup",
    C.ACCOUNT_SETUP,
    "The sending account's setup is incomplete",
    match=r"api (?:is )?disabled|has not been enabled|not enabled|insufficient (?:\w+ )?scopes"
    r"|insufficientpermissions|insufficient permission|missing (?:oauth )?scopes?|erroraccessdenied"
    r"|smtpclientauthentication|smtp auth (?:is )?disabled|basic authentication is disabled"
    r"|delegation denied|domain administrators have disabled|mailboxnotenabledforrestapi"
    r"|authorized recipients|warmup|warm-up|credits exceeded|maximum credits"
    r"|out of credits|upgrade your plan|plan limit|billing",
)
AUTH_FAILED = Entry(
    "smtp.5.7.8",
    C.MAILBOX_CONNECTION,
    "The mailbox's login was refused",
    match=r"authentication failed|authentication unsuccessful|authentication credentials"
    r"|authentication required|auth required|username and password not accepted"
    r"|password not accepted|invalid credentials|invalid login|login failed|badcredentials"
    r"|bad credentials|invalid_grant|invalid grant|token (?:has )?expired|expired token"
    r"|access token has expired|invalid (?:access |refresh )?token"
    r"|invalidauthenticationtoken|revoked|reauthenticate|re-authenticate|reauthorize"
    r"|not authenticated|application-specific password|app password"
    r"|log in via your web browser|password (?:has )?expired|auth extension not supported",
    explanation="The mailbox's login (password, app password or authorization) was refused, "
    "expired or revoked. Reconnect the mailbox and the emails are rescheduled.",
)
MAILBOX_TEMPORARILY_FULL = Entry(
    "smtp.4.2.2",
    C.RECIPIENT_UNAVAILABLE,
    "Recipient mailbox temporarily full",
    match=r"mailbox (?:is )?temporarily (?:full|over quota)|temporarily over quota"
    r"|temporarily full",
)
MAILBOX_FULL = Entry(
    "smtp.5.2.2",
    C.RECIPIENT_MAILBOX_FULL,
    "Recipient mailbox full",
    match=r"mailbox (?:is )?full|mailbox full|full mailbox|inbox (?:is )?full"
    r"|mailbox (?:is )?over (?:its |the )?quota|over quota|overquota|mailbox quota"
    r"|mailbox size limit|mailbox has exceeded|exceeded (?:its|their|the) storage"
    r"|storage (?:limit|quota|allocation)|quotaexceededexception|account (?:is )?full"
    r"|out of storage|not enough storage|mailbox is out of space",
)
RECIPIENT_FLOODED = Entry(
    "smtp.4.2.1",
    C.RECIPIENT_UNAVAILABLE,
    "The recipient is receiving too much mail",
    match=r"receiving (?:mail|email) too quickly|receiving (?:mail|email) at a rate",
)
QUOTA_DAILY = Entry(
    "quota.daily",
    C.QUOTA_EXCEEDED,
    "Daily sending quota used up",
    match=r"daily (?:user )?(?:sending )?(?:quota|limit)|daily message quota|dailylimitexceeded"
    r"|sending quota|send quota|submission quota|submissionquotaexceededexception"
    r"|sending limit|limit for sending|message limit exceeded|per day|24-hour|24 hour",
    explanation="The sending mailbox used up its daily sending quota. The email is sent "
    "automatically after the reset (midnight UTC unless the provider says otherwise).",
)
# A quota that a 552 ("exceeded storage allocation") speaks of is the mailbox's.
MAILBOX_QUOTA = Entry(
    "smtp.552.quota",
    C.RECIPIENT_MAILBOX_FULL,
    "Recipient mailbox full",
    match=r"quota",
    smtp=(552,),
)
QUOTA = Entry(
    "quota.exceeded",
    C.QUOTA_EXCEEDED,
    "Sending quota used up",
    match=r"quota exceeded|quota reached|quota has been reached|quotaexceeded"
    r"|exceeded (?:the |your |their )?\w* ?quota|usage limit",
)
TOO_LARGE = Entry(
    "smtp.5.2.3",
    C.MESSAGE_TOO_LARGE,
    "Message too large",
    match=r"too large|too big|message size|size limit|size exceeds|sizelimit|larger than"
    r"|exceeds (?:the )?(?:maximum |max )?(?:allowed )?(?:message )?size"
    r"|exceeded (?:the )?(?:maximum )?(?:message )?size|maximum (?:message )?size"
    r"|message length exceeds|errormessagesizeexceeded|recipsizelimit|exceeds capacity",
)
RATE = Entry(
    "rate.limited",
    C.RATE_LIMITED,
    "Sending rate limited",
    match=r"rate limit|rate limits|rate limited|rate limiting|rate-limited|ratelimit"
    r"|ratelimitexceeded|userratelimitexceeded|rate exceeded|sending rate"
    r"|throttled|throttling|throttle"
    r"|too many requests|too many connections|too many concurrent|too many messages"
    r"|too many emails|too many recipients|too many recipient|too frequent|too fast"
    r"|too quickly|concurrency|concurrent (?:requests|connections)|slow down|per second"
    r"|relay limit"
    r"|unexpected volume|unusual rate",
)
SPAM = Entry(
    "content.spam",
    C.CONTENT_REJECTED,
    "Message refused as spam or unsafe content",
    match=r"spam|unsolicited|junk|phishing|phish|virus|malware|infected|malicious"
    r"|content (?:policy|filter|rejected)|message content|suspicious|bulk mail"
    r"|forbidden attachment|attachment type|prohibited (?:content|attachment)"
    r"|message blocked|blocked (?:due to|because of) (?:its )?content|url (?:is )?blocked",
)
REQUEST_INVALID = Entry(
    "request.invalid",
    C.REQUEST_INVALID,
    "Malformed request to the sending provider",
    match=r"invalid json|malformed json|malformed request|missing (?:a )?required"
    r"|required parameter|invalid parameter|invalid argument|invalidargument|badrequest"
    r"|parameters passed to the api were invalid|json required|incompatible json",
)

ENTRIES: tuple[Entry, ...] = (
    RECIPIENT_POLICY,
    DNS_AUTH,
    BLOCKLISTED,
    USER_UNKNOWN,
    MAILBOX_DISABLED,
    SUSPENDED,
    SENDER_ADDRESS,
    BAD_ADDRESS,
    RELAY_DENIED,
    API_SETUP,
    AUTH_FAILED,
    QUOTA_DAILY,
    MAILBOX_TEMPORARILY_FULL,
    MAILBOX_FULL,
    MAILBOX_QUOTA,
    QUOTA,
    RECIPIENT_FLOODED,
    TOO_LARGE,
    RATE,
    SPAM,
    REQUEST_INVALID,
)

TEMPORARY = Entry(
    "temporary.words",
    C.TEMPORARY_FAILURE,
    "Temporary failure",
    match=r"temporarily|temporary|try again later|try again in|retry later|retry in"
    r"|please try again|timed out|timeout|time out|connection (?:refused|reset|closed|lost)"
    r"|unexpectedly closed|network is unreachable|no route to host|server busy"
    r"|service unavailable|not available|deferred|greylisted|greylisting|graylisted"
    r"|busy|unavailable|backend error|backenderror|internal error|server error",
)

HINTS: tuple[Entry, ...] = (TEMPORARY,)
