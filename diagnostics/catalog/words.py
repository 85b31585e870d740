"""Telling words: wording whose meaning is plain whatever server wrote it.

They beat the reply codes (the contract's "What wins": a 550 that says "mailbox full" is a
full mailbox). Order matters, first match wins: the narrower meaning comes first, e.g. the
recipient's policy before blocklists ("customer block list"), DNS authentication before
login failures ("fails to pass authentication"), a full mailbox before a message size
("mailbox size limit"). HINTS are weaker: they only decide when no code does.

Several entries carry the RFC 3463 code of their meaning, so that "user unknown" and a bare
"5.1.1" give the same diagnosis; diagnostics.catalog.codes reuses them.

Sources: seeds 003 and 004, and the providers' documented replies and bounces of
tests/diagnostics/data/provider-errors.jsonl (Gmail, Exchange Online, Yahoo, SES…); each
entry's `source` names those its examples come from.
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
    r"|delivery to this address is restricted|only accept(?:s|ing)? (?:mail|email|messages) from"
    r"|violates \S+ email policy|gcdp"
    r"|tls is required|tls required|requires tls|must use tls|requiretls|encryption is required"
    r"|external senders|external forwarding|tenant allow block list|sender address blocked"
    r"|sender was not authenticated|sender not authenticated for|rejected by recipients?"
    r"|not authorized to receive"
    r"|banned recipient|policy rejection on the target|denied by policy|policy restrictions"
    r"|must support tls|starttls-not-supported|tlsa-invalid|certificate-expired|dnssec-invalid"
    r"|certificate-host-mismatch|dane validation|mta-sts|does not accept email over ipv6"
    r"|not in (?:the )?(?:whitelist|allowlist)|policy that prohibited|允许的发送地址列表"
    r"|delivery restriction check failed|anti-spoofing policy|recipient result: blocked"
    r"|rejected by (?:the )?destination|restricted by policy|user defined policy"
    # Mimecast's documented rejections: a block entry of the recipient's organization or user.
    r"|envelope blocked|blocked senders|administrative prohibition|denies the sender"
    # Exchange's mail flow rules (its TRANSPORT.RULES source).
    r"|transport\.rules\.rejectmessage|rejected by organization policy",
    examples=(
        "421 4.7.0 TLS required for RCPT domain, closing connection.",
        "550 5.7.1 This message violates example.com email policy. - gcdp <sessionid> - gsmtp",
        "550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required; "
        "Delivery restriction check failed as sender not authenticated",
        "550 5.7.513 Service unavailable, Client host [192.0.2.1] blocked by fabrikam.com using "
        "Customer Block list (AS16012607)",
        "550 5.7.12 RESOLVER.RST.SenderAuthenticated; Delivery restriction check failed as "
        "sender not authenticated",
        "550 Rejected by header based Anti-Spoofing policy The message has triggered an "
        "Anti-Spoofing policy.",
        "541 5.4.1 Mail rejected by destination domain",
        "452 <example@zoho.com> Mailbox delivery restricted by policy error",
        "553 User defined policy matched for [ip address]",
        "Envelope blocked - User Entry",
    ),
    source="Mimecast rejections, wordtothewise.com/2018/07/who-are-mimecast; Gmail SMTP errors and "
    "codes; Exchange Online NDRs; Microsoft support 3028012; "
    "Zoho Mail SMTP errors, smtp.codes/zoho; hardwaresecrets.com, understanding email bounce "
    "messages",
    explanation="The recipient's organization refuses this email by its own rules (an "
    "internal-only group, a block or allow list, a TLS requirement). The address exists.",
)
DNS_AUTH = Entry(
    "smtp.5.7.26",
    C.SENDER_BLOCKED,
    "Sender authentication (SPF, DKIM, DMARC) failed",
    match=r"dmarc|spf|dkim|unauthenticated|authentication information"
    r"|fails to pass authentication|authentication checks|reverse dns|ptr record|rdns"
    r"|reverse lookup|bad helo|helo command rejected|does not meet the required authentication"
    r"|meet the required authentication|cannot find your hostname|cannot find your reverse"
    r"|sender policy framework",
    examples=(
        "550 5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail "
        "requires all senders to authenticate with either SPF or DKIM.",
        "550 5.7.25 The IP address sending this message does not have a PTR record setup, or the "
        "corresponding forward DNS entry does not point to the sending IP. As a policy, Gmail "
        "does not accept messages from IPs with missing PTR records.",
        "host ASPMX.L.GOOGLE.COM [64.233.167.27]: 550-5.7.1 This message does not have "
        "authentication information or fails to pass\n"
        "550-5.7.1 authentication checks. To best protect our users from spam, the\n"
        "550-5.7.1 message has been blocked. Please visit\n"
        "550-5.7.1 https://support.google.com/mail/answer/81126#authentication for more\n"
        "550 5.7.1 information. u16si2087533wru.356 - gsmtp",
        "<extrascasting.ma1@gmail.com>: host alt1.gmail-smtp-in.l.google.com[209.85.200.26] said: "
        "421-4.7.0 This message does not have authentication information or fails to pass "
        "421-4.7.0 authentication checks. To best protect our users from spam, the 421-4.7.0 "
        "message has been blocked. Please visit 421-4.7.0 "
        "https://support.google.com/mail/answer/81126#authentication for more 421 4.7.0 "
        "information. o65-v6si298486ite.142 - gsmtp (in reply to end of DATA command)",
        "550 5.7.509 Access denied, sending domain [contoso.com] does not pass DMARC verification "
        "and has a DMARC policy of reject.",
    ),
    source="Gmail SMTP errors and codes; Gmail bounce, pastebin.com/vyFg8hz0; Gmail bounce via "
    "Postfix, pastebin.com/AWx0vK0A; Exchange Online NDRs",
    fixes=(F.CHECK_DNS_AUTH, F.CHECK_BLACKLIST),
    explanation="The receiving server could not authenticate mail from your domain: its SPF, "
    "DKIM or DMARC records (or the server's reverse DNS) are missing or failing.",
    next_steps=(
        "Check the domain's SPF, DKIM and DMARC records.",
        "Check the sending server's reverse DNS.",
    ),
)
# An SPF or DMARC check that could not be done now (RFC 7208's "temperror", a DNS lookup that
# failed) is no failed authentication: before DNS_AUTH reads "spf" or "dmarc".
DNS_AUTH_TEMPORARY = Entry(
    "smtp.4.7.26.temporary",
    C.TEMPORARY_FAILURE,
    "Sender authentication could not be checked for now",
    match=r"temperror|temporary (?:error|failure)[^.]{0,40}?(?:spf|dkim|dmarc)"
    r"|temporary (?:spf|dkim|dmarc)",
    examples=(
        "#4.4.3 Temporary error occurred during SPF verification.",
        "450 4.4.0 <email@example.com> Temporary DMARC DNS lookup failure (G1E)",
    ),
    source="Cisco IronPort AsyncOS 7.1 advanced configuration guide (SPF defer text); "
    "Rackspace SMTP codes, smtp.codes/rackspace",
    explanation="The receiving server could not check the sender's SPF or DMARC records for "
    "now (a DNS lookup failed on its side). The email is retried automatically.",
)
# "Not listed in" a directory is an unknown user, before BLOCKLISTED reads "listed in".
DIRECTORY_UNKNOWN = Entry(
    "smtp.5.1.1.directory",
    C.RECIPIENT_UNKNOWN,
    "Recipient address does not exist",
    match=r"not listed in (?:the )?(?:domino |public |global )?(?:directory|address book)",
    examples=("User %alias@domain.tld% not listed in Domino Directory",),
    source="sitepackage.de, typische Fehlermeldungen bei Unzustellbarkeit (Lotus Domino)",
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
    r"|traffic not accepted from this ip|policy reasons|block listed|spam sender|spam ip"
    r"|blocked for spamming|blocked by our services|ont ete bloques"
    r"|client host rejected(?!: access denied)|black ip|not accepting connections"
    r"|not allowed to connect|access to submit messages|dictionary attack"
    r"|ip (?:address )?has been (?:temporarily )?blocked|被临时挂起|发信ip被禁止"
    r"|has been blocked due to violating"
    r"|invalid ip|ip is rejected|fake sender|is banned|connection is being blocked"
    r"|senderbase|ipcheck\.proofpoint|block (?:permanently|temporarily)"
    r"|denial of connection|service refus(?:e|é)|a problem occurred\. \(ask your postmaster"
    r"|dial-?up|dynamic ip|transient ip|residential ip|black mail address",
    examples=(
        "550 5.7.26 Service refused",
        "550 5.7.1 The IP you're using to send mail is not authorized to send email directly to "
        "our servers. Please use the SMTP relay at your service provider instead.",
        "550 5.7.606 Access denied, banned sending IP [185.234.72.45]. To request removal from "
        "this list please visit https://sender.office.com/ and follow the directions. For more "
        "information please go to http://go.microsoft.com/fwlink/?LinkID=526655 AS(1430)",
        "550 5.7.1 Unfortunately, messages from [204.11.58.44] weren't sent. Please contact your "
        "Internet service provider since part of their network is on our block list (AS3150). You "
        "can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.",
        "421 4.7.0 [TSS04] Messages from 108.179.227.37 temporarily deferred due to user "
        "complaints - 4.16.55.1; see https://help.yahoo.com/kb/postmaster/SLN3434.html",
        "smtplib.SMTPDataError: (554, b'5.7.1 Service unavailable; Client host [203.0.113.5] "
        "blocked using zen.spamhaus.org')",
        "550 Message rejected due to sender IP reputation ([192.0.2.1])",
        "554 HL:IHU | 该IP的发送行为触犯了万象互联的服务条款,被临时挂起。请检查是否有用户不正当"
        "的发送行为。",
        "521 Block permanently (Sender Filtering/Authentication)",
        "Requested mail action not taken: Invalid IP",
        "host smtp.afirme.com.mx[200.23.76.22] refused to talk to me: 554 Blocked - see "
        "https://ipcheck.proofpoint.com/?ip=78.225.183.108",
        "CXBL The sending IP address has been blocked by Cox due to exhibiting spam-like behavior",
        "554: Dialup/transient IP not allowed.\nUse a mailgateway or contact "
        "toda@rx.t-online.de if obsolete. (DIAL)",
    ),
    source="T-Online, help.creoline.com (Dialup/transient IP not allowed); Trend Micro DDEI SMTP "
    "error codes; Coremail bounce messages (icoremail.vip); "
    "Postfix log, github.com/Mailu/Mailu/issues/1458; "
    "seed 003: SMTP/API error codes reference; Gmail SMTP errors and codes; Exchange "
    "Online NDRs; outlook.com bounce, pastebin.com/rwzHX08U; Yahoo bounce, pastebin.com/1v9Bagvp; "
    "Python smtplib + Postfix reply; Broadcom: rejection errors to 3rd party recipients; "
    "163ns.com.cn/mail/MailFAQ.htm (NetEase-style codes); Cox postmaster error codes",
    explanation="The receiving server refuses mail from your domain or sending IP, which is "
    "on a blocklist or has a poor reputation. Check the blocklists first.",
    next_steps=("Run the blocklist check.", "Request delisting, then reschedule."),
)
SUSPENDED = Entry(
    "account.suspended",
    C.ACCOUNT_SUSPENDED,
    "The sending account is suspended",
    match=r"suspended|outbound spam|sending paused|sending (?:is |has been )?(?:paused|disabled)"
    r"|accountsendingpausedexception|sendingpausedexception"
    r"|account (?:is |has been )?(?:paused|locked|restricted|deactivated)"
    r"|tenant has exceeded|bad outbound sender|spam abuse|abuse detected|compromised"
    r"|account may not send|unusual (?:sending )?activity|user account disabled"
    r"|blocked from sending|sending for this account is disabled|verify your account",
    examples=(
        "550 5.1.8 Access denied, bad outbound sender",
        "550 5.7.501 Access denied, spam abuse detected",
        "550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains.",
        "Sending paused for this account. For more information, please check the AWS Management "
        "Console.",
    ),
    source="Exchange Online NDRs; Amazon SES email sending errors",
)
# "<user|recipient|mailbox|address|account> … does not exist / couldn't be found".
_GONE = r"(?:(?:does not|doesn't|did not) exist|(?:couldn't|could not|can't|cannot) be found)"
USER_UNKNOWN = Entry(
    "smtp.5.1.1",
    C.RECIPIENT_UNKNOWN,
    "Recipient address does not exist",
    match=r"user unknown|unknown user|no such user|no such recipient|no such mailbox"
    r"|no such address|no such (?:active |local |valid )?(?:user|account|mailbox|recipient)"
    r"|unknown recipient|recipient unknown|recipient not found"
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
    # A directory's mark on the address (Proofpoint's SMTP Discovery "invalid" list).
    r"|address is marked as invalid|not user of this server|not a user of this server"
    # Verb first, as non-native servers word it ("local server don't exists that user").
    r"|don't exists? (?:that |this |the |such )?(?:user|mailbox|account|recipient)"
    r"|doesn't exists? (?:that |this |the |such )?(?:user|mailbox|account|recipient)|用户未开通"
    r"|no valid recipients|用户不存在|收件人不存在|邮箱不存在|账号不存在|帐号不存在|地址不存在"
    r"|ユーザーは登録されていません|存在しません|宛先不明"
    r"|пользователь не найден|такого пользователя нет|нет такого пользователя"
    r"|ящик не существует|адрес не существует"
    r"|empfänger unbekannt|unbekannter empfänger|benutzer unbekannt|destinataire inconnu"
    r"|adresse e-?mail inconnue|adresse de messagerie inconnue|inesistente|inexistente"
    r"|não existe|nao existe|no existe|gebruiker onbekend|onbekende gebruiker|bestaat niet"
    r"|utilisateur inconnu|adresse inconnue|usuario desconocido|usuario no existe"
    r"|usuário desconhecido|usuário inexistente|destinatario sconosciuto|utente sconosciuto"
    r"|doesn't have an? \S+\s+account|does not have an? \S+\s+account"
    r"|destinataire invalide|archived recipient|destinataire archivee"
    r"|compte du destinataire est bloque|recipient account is ?blocked"
    r"|account closed|mailbox closed|disabled or discontinued",
    examples=(
        "550 5.1.1 User unknown",
        "551 User does not exist.",
        "550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
        "550-5.1.1 double-checking the recipient's email address for typos or\n"
        "550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser "
        "d2si1240688wre.283 - gsmtp",
        "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found "
        "by SMTP address lookup'",
        "The email address you entered couldn't be found. Please check the recipient's email "
        "address and try to resend the message.",
        "Your message to brian@xnergycapital.com couldn't be delivered. brian wasn't found at "
        "xnergycapital.com.",
        "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)",
        "554 delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) "
        "[0] - mta1234.mail.ne1.yahoo.com",
        "550 : Recipient address rejected: Account Closed",
        "554 delivery error: dd Sorry your message to %email@domain.tld% cannot be delivered. "
        "This account has been disabled or discontinued",
        "550 5.7.1 Recipient address rejected: User email address is marked as invalid.",
        "Reason: \"5.1.0 - Unknown address error\" Response: \"('550', ['There is no such "
        "active account.'])\"",
    ),
    source="Proofpoint SMTP Discovery, spambrella.com/faq/email-delivery-error-codes; Cisco "
    "AsyncOS bounce log; seed 003: SMTP/API error codes reference; seed 004: SendGrid "
    "common SMTP errors; "
    "Gmail SMTP errors and codes; Exchange Online NDRs; Exchange NDR, pastebin.com/e6yfDi5v; "
    "Office 365 NDR, pastebin.com/gJSdfVeR; Yahoo SMTP error codes; sitepackage.de, typische "
    "Fehlermeldungen bei Unzustellbarkeit",
)
MAILBOX_DISABLED = Entry(
    "smtp.5.2.1",
    C.RECIPIENT_UNKNOWN,
    "Recipient mailbox disabled",
    match=r"account that you tried to reach is (?:disabled|inactive)|inactive user"
    r"|user (?:is )?inactive|mailbox (?:is )?(?:inactive|disabled|deactivated)"
    r"|user is locked|邮箱被锁"
    # The recipient's own account suspended or frozen (Coremail's "User suspended").
    r"|recipient (?:is )?suspended|user (?:is )?suspended|mailbox (?:is )?(?:suspended|frozen)"
    r"|account inactive",
    examples=(
        "553 Invalid/Inactive user",
        "550 5.2.1 The email account that you tried to reach is disabled.",
    ),
    source="seed 004: SendGrid common SMTP errors; Gmail SMTP errors and codes",
    explanation="The recipient's mailbox is disabled or inactive and takes no mail. The "
    "contact is not emailed again unless you find a working address.",
)
SENDER_ADDRESS = Entry(
    "smtp.5.1.7",
    C.ACCOUNT_SETUP,
    "The sender address was refused",
    match=r"sender address rejected|sender domain|sender denied|sender identity"
    r"|sender signature|from address|from' address|from field|sendas|send as"
    r"|errorsendasdenied|sendasdenied|sendasdeniedexception|mapiexceptionsendasdenied"
    r"|send on behalf|on behalf of|not owned by|does not own|invalid-sender"
    r"|sender verification failed|null sender is not allowed"
    r"|not authorized to send from|not allowed to send from|not (?:been )?verified"
    r"|hasn't been verified|isn't verified|unverified|domain not verified|invalid sender"
    r"|emetteur invalide|mail from not owned|mail sending denied|blank from"
    r"|provide a valid from|not associated with your account|unconfigured sending domain"
    r"|sending domain (?:is )?not|sender rejected|envelope sender",
    examples=(
        '{"error":{"code":"ErrorSendAsDenied","message":"The user account which was used to '
        "submit this request does not have the right to send mail on behalf of the specified "
        'sending account., Cannot submit message."}}',
        "SMTPSenderRefused(553, b'5.7.1 <sales@example.com>: Sender address rejected: not owned "
        "by user bob@example.com', 'sales@example.com')",
        # Exchange's submission (the sender's side) says 5.2.0, which alone reads as the
        # recipient's mailbox.
        "smtplib.SMTPDataError: (554, b'5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException"
        ".MapiExceptionSendAsDenied;\nFailed to process message due to a permanent exception with "
        "message Cannot submit message.",
        "Net::SMTPFatalError: 550 5.7.1 Unconfigured Sending Domain <mapzen.com>",
        "553 Envelope sender rejected",
    ),
    source="Broadcom Email Security.cloud, knowledge.broadcom.com article 162445; Microsoft Graph "
    "error responses; Python smtplib + Postfix reply; Exchange Online "
    "via smtplib, github.com/rss2email/rss2email/issues/147; ActionMailer, "
    "github.com/transitland/transitland-datastore/issues/1231",
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
    r"|invalid (?:e-?mail )?address(?!es)|invalid recipient|invalid to header"
    r"|illegal (?:e-?mail )?address|malformed (?:e-?mail |recipient )?address"
    r"|not a valid (?:e-?mail )?address|improperly formatted|badly formatted"
    r"|mailbox name not allowed|bad recipient address|invalid syntax|must contain the '@'"
    r"|domain (?:name )?not found|domain does not exist|domain doesn't exist"
    r"|host (?:or domain name )?not found|host unknown|no mx record|null mx|unrouteable domain"
    r"|unrouteable address|unroutable|no route to domain|no such domain|errorinvalidrecipients"
    r"|at least one recipient (?:is not|isn't) valid|invalid 'to' field"
    r"|recipient address required|invalid '(?:to|cc|bcc)' address|email is not valid in"
    r"|must contain a domain|rcpt to syntax error|need fully-qualified address",
    examples=(
        "Illegal address",
        "Error parsing 'To': Illegal email address 'johnexample.com'. It must contain the '@' "
        "symbol.",
        "'to' parameter is not a valid address. please check documentation",
        "** jdoe@example.com: Unrouteable address",
        "501 5.1.3 Bad recipient address syntax",
        "#<Postmark::ApiInputError: Invalid 'To' address: 'foo@bar'.>",
        "body: { code: 'invalid_parameter', message: 'email is not valid in to' },",
        "com.sun.mail.smtp.SMTPAddressFailedException: 504 5.5.2 <JKLJLKJ@KJHJ>: Recipient "
        "address rejected: need fully-qualified address",
    ),
    source="Amazon SES email sending errors; Postmark API error codes; Postmark, "
    "github.com/ActiveCampaign/postmark-gem/issues/87; Brevo, "
    "github.com/getbrevo/brevo-node/issues/40; Mailgun API, "
    "github.com/mailgun/mailgun-js-boland/issues/199; Exim log, pastebin.com/XUBwTvbV; Postfix "
    "reject replies; JavaMail, github.com/lokaler-kaufen/lokaler-kaufen-app/issues/74",
)
RELAY_DENIED = Entry(
    "smtp.relay_denied",
    C.ACCOUNT_SETUP,
    "The server refused to relay for the mailbox",
    match=r"relay access denied|relaying denied|relay not permitted|unable to relay"
    r"|relay denied|not permitted to relay|relay prohibited|not in my list of allowed hosts"
    r"|credentials for relay|denies relay|forward path is not allowed|relaying disallowed"
    r"|forwarding denied|allowed rcpthosts|local user only",
    examples=(
        "550 5.7.64 TenantAttribution; Relay Access Denied",
        "554 <bob@example.com>: Recipient address rejected: Relay access denied",
        "553 Relay denied",
        "550 domain of forward path is not allowed",
    ),
    source="Exchange Online NDRs; Postfix, antionline.com/showthread.php?mode=threaded&p=692064; "
    "Broadcom: rejection errors to 3rd party recipients; "
    "github.com/open-falcon/mail-provider/issues/27",
    fixes=(F.ADMIN_SETUP, F.RESYNC_MAILBOX),
    explanation="The SMTP server refused to relay this email: the mailbox is not signed in "
    "or not allowed to send through it. An admin must check the SMTP setup.",
)
SERVER_SETTINGS = Entry(
    "mailbox.server_settings",
    C.ACCOUNT_SETUP,
    "The mailbox's SMTP settings do not match its server",
    match=r"certificate verify failed|sslcertverificationerror|wrong version number"
    r"|tlsv1 alert|unknown protocol|must issue a starttls|starttls command first"
    r"|starttls extension not supported|auth extension not supported|client host rejected"
    r"|does not support authentication|self signed certificate|self-signed certificate"
    r"|depth_zero_self_signed_cert|self_signed_cert_in_chain|sslhandshakeexception"
    r"|establish an ssl or tls connection|x509|certificate signed by unknown authority"
    r"|certificate is valid for|sslerror|ssl_connect|unable to verify the first certificate"
    r"|unable to get local issuer certificate|cert_has_expired|certificate has expired"
    r"|hostname mismatch|serverkeyexchange",
    examples=(
        "SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
        "self-signed certificate (_ssl.c:1029)",
        "SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1029)",
        "530 5.7.0 Must issue a STARTTLS command first",
        "smtplib.SMTPNotSupportedError: SMTP AUTH extension not supported by server.",
        "554 5.7.1 <unknown[127.0.0.1]>: Client host rejected: Access denied",
        "'{ [Error: self signed certificate] code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }'",
        "MailKit.Security.SslHandshakeException: An error occurred while attempting to establish "
        "an SSL or TLS connection.",
        "2020/12/03 15:55:24 delivery failed: x509: certificate signed by unknown authority",
        "OpenSSL::SSL::SSLError: RSA ServerKeyExchange does not comply to algorithm constraints",
    ),
    source="Python ssl and smtplib; Postfix smtpd replies (tried against Debian's postfix); "
    "nodemailer, github.com/nodemailer/nodemailer/issues/406; MailKit, "
    "github.com/datalust/seq-app-htmlemail/issues/85; Go net/smtp, "
    "github.com/decke/smtprelay/issues/5; Ruby mail, github.com/mikel/mail/issues/994",
    fixes=(F.ADMIN_SETUP, F.RESYNC_MAILBOX),
    explanation="The mailbox's own SMTP server refused the way we connect: its TLS setting "
    "or port is wrong, its certificate is not trusted, it offers no sign-in on this port, "
    "or it does not accept connections from our sending host. The mailbox's emails wait.",
    next_steps=(
        "Ask an admin to check the mailbox's SMTP host, port and TLS setting (and that the "
        "server accepts our sending host).",
        "Then Resynchronize the mailbox.",
    ),
)
API_SETUP = Entry(
    "account.api_setup",
    C.ACCOUNT_SETUP,
    "The sending account's setup is incomplete",
    match=r"api (?:is )?disabled|has not been enabled|not enabled|insufficient (?:\w+ )?scopes"
    r"|insufficientpermissions|insufficient permission|missing (?:oauth )?scopes?|erroraccessdenied"
    r"|check credentials and try again"
    r"|smtpclientauthentication|smtp auth (?:is )?disabled|basic authentication is disabled"
    r"|delegation denied|domain administrators have disabled|mailboxnotenabledforrestapi"
    r"|authorized recipients|warmup|warm-up|credits exceeded|maximum credits"
    r"|out of credits|upgrade your plan|plan limit|billing|failedprecondition"
    r"|precondition check failed|testing emails to your own|restricted to only send"
    r"|rest api is not yet supported|not yet activated",
    examples=(
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
        "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
        '{"errors":[{"message":"Maximum credits exceeded","field":null,"help":null}]}',
        '{"error": {"errors": [{"domain": "global", "reason": "domainPolicy", "message": "The '
        'domain administrators have disabled Gmail apps."}], "code": 403, "message": "The domain '
        'administrators have disabled Gmail apps."}}',
        "<HttpError 403 when requesting "
        'https://gmail.googleapis.com/gmail/v1/users/me/messages/send?alt=json returned "Request '
        "had insufficient authentication scopes.\". Details: \"[{'message': 'Insufficient "
        "Permission', 'domain': 'global', 'reason': 'insufficientPermissions'}]\">",
        '{"error":{"code":"MailboxNotEnabledForRESTAPI","message":"The mailbox is either '
        'inactive, soft-deleted, or is hosted on-premise."}}',
    ),
    source="Microsoft: authenticated client SMTP submission; SendGrid v3 API errors; Gmail API, "
    "resolve errors; Microsoft Graph error responses",
)
AUTH_FAILED = Entry(
    "smtp.5.7.8",
    C.MAILBOX_CONNECTION,
    "The mailbox's login was refused",
    match=r"authentication failed|authentication unsuccessful|authentication credentials"
    r"|authentication (?:is )?required|auth required|username and password not accepted"
    r"|password not accepted|invalid credentials|invalid login|login failed|badcredentials"
    r"|bad credentials|invalid_grant|invalid grant|token (?:has )?expired|expired token"
    r"|access token has expired|invalid (?:access |refresh )?token"
    r"|invalidauthenticationtoken|revoked|reauthenticate|re-authenticate|reauthorize"
    r"|not authenticated|application-specific password|app password"
    r"|log in (?:via|with|through) your web browser|password (?:has )?expired"
    r"|credentials have expired|must authenticate|登录失败|auth error|auth failed"
    r"|could not authenticate|unable to authenticate|failed to authenticate"
    r"|auth token missing|wrong credentials|login required|unable to authenticate",
    examples=(
        "550 5.7.1 Authentication failed",
        "535 5.7.8 Username and Password not accepted. Learn more at "
        "https://support.google.com/mail/?p=BadCredentials",
        "534-5.7.9 Application-specific password required. Learn more at "
        "https://support.google.com/mail/?p=InvalidSecondFactor",
        "535 5.7.3 Authentication unsuccessful",
        "550 5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM",
        '{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is '
        'not yet valid."}}',
        "551 auth error. (认证永久失败)",
    ),
    source="Sina mail reply codes, blog.sina.com.cn/s/blog_8dc13ec50101fxxr.html; seed 003: "
    "SMTP/API error codes reference; Gmail SMTP errors and codes; Microsoft: "
    "send email from a device or application with Microsoft 365; Exchange Online NDRs; Microsoft "
    "Graph error responses; Python smtplib",
    explanation="The mailbox's login (password, app password or authorization) was refused, "
    "expired or revoked. Reconnect the mailbox and the emails are rescheduled.",
)
MAILBOX_TEMPORARILY_FULL = Entry(
    "smtp.4.2.2",
    C.RECIPIENT_UNAVAILABLE,
    "Recipient mailbox temporarily full",
    match=r"mailbox (?:is )?temporarily (?:full|over quota)|temporarily over quota"
    r"|temporarily full",
    examples=(
        "452 4.2.2 <jdoe@example.com>: Mailbox temporarily full, please try again later",
        "450 4.2.2 Mailbox is temporarily over quota for lead@example.org",
    ),
    source="written for this entry in the wording of a receiving server's 4.2.2 reply: neither "
    "the seeds nor the provider errors have a temporarily full mailbox",
)
MAILBOX_FULL = Entry(
    "smtp.5.2.2",
    C.RECIPIENT_MAILBOX_FULL,
    "Recipient mailbox full",
    match=r"mailbox (?:is )?full|mailbox full|full mailbox|inbox (?:is )?full"
    r"|mailbox (?:is )?over (?:its |the )?quota|over quota|overquota|mailbox quota"
    r"|mailbox size limit|mailbox has exceeded|exceeded (?:its|their|the) storage"
    r"|storage (?:limit|quota|allocation)|quotaexceededexception|account (?:is )?full"
    r"|out of storage|not enough storage|mailbox is out of space|disk quota exceeded"
    r"|folder (?:is )?full|容量满|邮箱已满|空间不足|переполнен|postfach (?:ist )?voll"
    r"|boîte (?:aux lettres )?pleine|boite (?:aux lettres )?pleine|buzón lleno"
    r"|caixa (?:postal|de correio) cheia|casella piena|exhausted (?:its |the )?allowed storage"
    r"|too many messages on (?:the )?server|speichervolumen|quota exceed the|mail box (?:is )?full"
    r"|mail ?box space|space not enough|too much mail data|空间已满|一杯です"
    r"|postfach des empfängers ist voll|postfach ist voll",
    examples=(
        "452 4.2.2 Mailbox full",
        "552 The recipient's mailbox has exceeded its storage limits.",
        "452 4.2.2 The email account that you tried to reach is over quota. Please direct the "
        "recipient to https://support.google.com/mail/?p=OverQuotaTemp",
        "554 5.2.2 mailbox full; "
        "STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded",
        "552 Requested mail action aborted: exceeded storage allocation",
        "550 Benutzer hat das Speichervolumen ueberschritten. / User has exhausted allowed "
        "storage space.",
        "550 Benutzer hat zuviele Mails auf dem Server. / User has too many messages on the "
        "server.",
        "552 Too much mail data xxx@docomo.ne.jp",
        "Quota exceed the hard limit for user",
    ),
    source="docomo, note.com/sendmagic/n/neb6bbe7e51cf; Aliyun mail bounces, "
    "yuntunpuzi.com/aliyun/745; seed 003: SMTP/API error codes reference; seed 004: "
    "SendGrid common SMTP errors; "
    "Gmail SMTP errors and codes; Exchange Online NDRs; RFC 5321 reply codes; web.de replies, "
    "sitepackage.de",
)
RECIPIENT_FLOODED = Entry(
    "smtp.4.2.1",
    C.RECIPIENT_UNAVAILABLE,
    "The recipient is receiving too much mail",
    match=r"receiving (?:mail|email) too quickly|receiving (?:mail|email) at a rate",
    examples=(
        "450 4.2.1 The user you are trying to contact is receiving email too quickly. Please "
        "resend your message at a later time. If the user is able to receive email at that time, "
        "your message will be delivered.",
    ),
    source="Gmail SMTP errors and codes",
)
QUOTA_DAILY = Entry(
    "quota.daily",
    C.QUOTA_EXCEEDED,
    "Daily sending quota used up",
    match=r"daily (?:[a-z]+ ){0,3}(?:quota|limit)|dailylimitexceeded"
    r"|sending quota|send quota|submission quota|submissionquotaexceededexception"
    r"|errorsubmissionquotaexceeded|too many times for one day"
    r"|sending limit|limit for sending|message limit exceeded|per day|24-hour|24 hour",
    examples=(
        "550 5.4.5 Daily user sending limit exceeded. For more information on Gmail sending "
        "limits go to https://support.google.com/a/answer/166852 - gsmtp",
        "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to "
        "process message due to a permanent exception with message [BeginDiagnosticData]Cannot "
        "submit message.",
        "454 Throttling failure: Daily message quota exceeded",
        '{"error": {"errors": [{"domain": "usageLimits", "reason": "dailyLimitExceeded", '
        '"message": "Daily Limit Exceeded"}], "code": 403, "message": "Daily Limit Exceeded"}}',
        "452 4.5.3 Daily message limit exceeded",
    ),
    source="Gmail SMTP errors and codes; Exchange Online NDRs; Amazon SES sending quota errors; "
    "Gmail API, resolve errors; Emailit SMTP troubleshooting",
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
    examples=("552 <JDOE@JUNO.COM>... Mail quota exceeded",),
    source="SendGrid via SwiftMailer, github.com/WA-WF-Bot/WA-WF-Bot-Public/issues/282; sendmail "
    "bounce, chilipepperweb.net/email-support/mail-quota-exceeded.html",
)
QUOTA = Entry(
    "quota.exceeded",
    C.QUOTA_EXCEEDED,
    "Sending quota used up",
    match=r"quota exceeded|quota reached|quota has been reached|quotaexceeded"
    r"|exceeded (?:the |your |their )?\w* ?quota|usage limit"
    r"|exceeded the max (?:emails|defers and failures) per hour"
    r"|limits for your account are exceeded|exceeded your (?:\w+ )?limits?",
    examples=(
        "550 5.7.1 Email quota exceeded.",
        "Domain cogefi31.fr has exceeded the max emails per hour (125/100 (125%)) allowed. "
        "Message discarded.",
        'message: Expected response code 250 but got code "451", with message "451 You\'ve '
        "exceeded your messaging limits",
    ),
    source="Gmail SMTP errors and codes; cPanel's Exim, pastebin.com/Nprv6CmY",
)
TOO_LARGE = Entry(
    "smtp.5.2.3",
    C.MESSAGE_TOO_LARGE,
    "Message too large",
    match=r"too large|too big|message size|size limit|size exceeds|sizelimit|larger than"
    r"|exceeds (?:the )?(?:maximum |max )?(?:allowed )?(?:message )?size"
    r"|exceeded (?:the )?(?:maximum )?(?:message )?size|maximum (?:message )?size"
    r"|message length exceeds|errormessagesizeexceeded|recipsizelimit|exceeds capacity"
    r"|taille limite du message|message is too long|邮件大小超过|邮件过大|size exceeded"
    r"|attachment (?:is )?too long|length of (?:the )?(?:attach|attachment|data|message)",
    examples=(
        "552 5.2.3 Your message exceeded Google's message size limits. Please visit "
        "https://support.google.com/mail/?p=MaxSizeError to view our size guidelines.",
        "550 5.2.3 RESOLVER.RST.RecipSizeLimit; message too large for this recipient",
        '{"error":{"code":"ErrorMessageSizeExceeded","message":"The message exceeds the maximum '
        'supported size."}}',
        "5.2.0 Email size exceeded the policy.",
        "554 attachment is too long. (单个附件大小超出限制)",
    ),
    source="Sina mail reply codes; Gmail SMTP errors and codes; Exchange Online NDRs; Microsoft "
    "Graph error responses; "
    "ZeptoMail SMTP error codes",
)
RATE = Entry(
    "rate.limited",
    C.RATE_LIMITED,
    "Sending rate limited",
    match=r"rate limit|rate limits|rate limited|rate limiting|rate-limited|ratelimit"
    r"|ratelimitexceeded|userratelimitexceeded|rate exceeded|sending rate|submission rate"
    r"|message rate|connection rate"
    r"|throttled|throttling|throttle"
    r"|too many requests|too many connections|too many concurrent|too many messages"
    r"|too many emails|too many (?:\w+ ){1,2}(?:mails|messages|emails)|too many recipients"
    r"|too many recipient|too frequent|too fast"
    r"|too quickly|concurrency|concurrent (?:requests|connections)|slow down|per second"
    r"|relay limit|too much mail from|frequency limited|receive limit|thread limit exceeded"
    r"|permitted limits|max message per connection"
    r"|unexpected volume|unusual rate|excessive volume|too many sessions|per session"
    r"|too many login attempts|too much fail authentication|achieved the maximum threshold"
    r"|并发连接数|发送频率|大量信件|数量超出限制|被临时禁止连接",
    examples=(
        "450 4.2.1 Peak SMTP relay limit exceeded for this customer.",
        "452 4.5.3 Your message has too many recipients. For more information regarding Google's "
        "sending limits, visit https://support.google.com/mail/?p=TooManyRecipientsError",
        "454 Throttling failure: Maximum sending rate exceeded",
        "450 too frequent connects from 198.37.147.135, please try again later.",
        '{"error": {"errors": [{"domain": "usageLimits", "reason": "userRateLimitExceeded", '
        '"message": "User Rate Limit Exceeded"}], "code": 403, "message": "User Rate Limit '
        'Exceeded"}}',
        "smtplib.SMTPConnectError: (421, b'Too many connections, try again later')",
        "452 4.4.5 Messages per second limit exceeded",
        "450 4.7.1 Error: too much mail from 127.0.0.1",
        "421 4.4.2 Message submission rate for this client has exceeded the configured limit",
        "504 the number of RCPT attempts is achieved the maximum threshold",
    ),
    source="Aliyun mail bounces, bestwisewords.com/document_detail/36612.html; Gmail SMTP errors "
    "and codes; Amazon SES sending quota errors; SendGrid SMTP errors "
    "and troubleshooting; Gmail API, resolve errors; Oracle Cloud Email Delivery troubleshooting; "
    "Emailit SMTP troubleshooting",
)
SPAM = Entry(
    "content.spam",
    C.CONTENT_REJECTED,
    "Message refused as spam or unsafe content",
    match=r"spam|unsolicited|junk|phishing|phish|virus|malware|infected|malicious"
    r"|content (?:policy|filter|rejected|restrictions?|guidelines?)|message content|suspicious"
    r"|bulk mail|vba macros|macros found"
    r"|forbidden attachment|attachment type|prohibited (?:content|attachment)"
    r"|message blocked|blocked (?:due to|because of) (?:its )?content|url (?:is )?blocked"
    r"|mail rejete|content denied|message not allowed|policy violation detected|dt:spm"
    r"|rejected content|banned content|unsafe content|垃圾邮件特征|反垃圾|спам",
    examples=(
        "550 5.1.6 Spam not accepted",
        "554 5.7.1 Message blocked",
        "550-5.7.1 [195.64.158.216 12] Our system has detected that this message is\n"
        "550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,\n"
        "550-5.7.1 this message has been blocked. Please visit\n"
        "550 5.7.1 https://support.google.com/mail/answer/188131 for more information. "
        "dh9si2656259wib.8 - gsmtp",
        "550 5.7.1 Message rejected due to content restrictions",
        "552 MS-Office file containing VBA macros found inside of the email",
    ),
    source="Broadcom Email Security.cloud, knowledge.broadcom.com article 162445; seed 003: "
    "SMTP/API error codes reference; Gmail bounce, pastebin.com/UaXB41uS",
)
REQUEST_INVALID = Entry(
    "request.invalid",
    C.REQUEST_INVALID,
    "Malformed request to the sending provider",
    match=r"invalid json|malformed json|malformed request|missing (?:a )?required"
    r"|required parameter|invalid parameter|invalid argument|invalidargument|badrequest"
    r"|parameters passed to the api were invalid|json required|incompatible json|rfc 5322"
    r"|not rfc compliant|protocol violation|no identity changes|parameter is required"
    r"|valid recipient is required|an error with one or more fields|is mandatory"
    r"|missing '?[a-z-]+'? header|type mismatch",
    examples=(
        '{"error": {"code": 400, "message": "Request contains an invalid argument.", "status": '
        '"INVALID_ARGUMENT"}}',
        "<HttpError 400 when requesting "
        'https://gmail.googleapis.com/gmail/v1/users/me/messages/send?alt=json returned "Invalid '
        'JSON payload received. Unknown name "message": Cannot find field.">',
        "InvalidParameterValue: Missing required header 'From'.",
        "At least one valid recipient is required Code: 5002 Description: none",
        'Expected response code "250" but got code "550", with message "550 MIME message '
        "is missing 'From' header\".",
        "5.2.1 Subject is Mandatory.",
        'Send API v3.1: 400 Type mismatch. Expected type "emailIn"',
    ),
    source='written for this entry in the wording of the Google APIs (INVALID_ARGUMENT, "Invalid '
    'JSON payload received") and of Amazon SES (InvalidParameterValue): neither the seeds nor the '
    "provider errors have one; SparkPost, github.com/SparkPost/python-sparkpost/issues/223; "
    "Symfony Mailer, github.com/symfony/symfony/issues/48643; ZeptoMail SMTP error codes; "
    "Mailjet, github.com/mailjet/mailjet-apiv3-nodejs/issues/162",
)
EXPIRED = Entry(
    "smtp.4.4.7",
    C.TEMPORARY_FAILURE,
    "Delivery timed out on the way",
    match=r"message expired|queue expired|delivery time expired",
    examples=("4.4.7 Message expired", "5.4.300 Message expired"),
    source="Exchange Online NDRs",
    explanation="A server on the way kept the message queued until it expired, without "
    "reaching the recipient's server. The email is retried automatically.",
)
# Amazon SES' generic refusal, when its message names no more precise cause.
SES_REJECTED = Entry(
    "ses.message_rejected",
    C.PROVIDER_ERROR,
    "Amazon SES refused the email",
    match=r"messagerejected|awsseserrordomain error 4",
    examples=(
        "MessageRejected: MessageRejected\n    at "
        "deserializeAws_querySendTemplatedEmailCommandError (/home/user/project/node_modules/"
        "@aws-sdk/client-ses/dist/cjs/protocols/Aws_query.js:3534:41)",
        "awsSES.sendEmail error: The operation couldn\u2019t be completed. "
        "(com.amazonaws.AWSSESErrorDomain error 4.)",
    ),
    source="AWS SDK for JavaScript, github.com/aws/aws-sdk-js-v3/issues/2238; AWS SDK for iOS, "
    "github.com/aws-amplify/aws-sdk-ios/issues/322",
    fixes=(F.ADMIN_SETUP, F.CONTACT_SUPPORT),
    explanation="Amazon SES refused the email without a precise reason (most often an "
    "unverified sender or an account still in the SES sandbox). An admin must check SES.",
)

ENTRIES: tuple[Entry, ...] = (
    RECIPIENT_POLICY,
    DNS_AUTH_TEMPORARY,
    DNS_AUTH,
    DIRECTORY_UNKNOWN,
    BLOCKLISTED,
    USER_UNKNOWN,
    MAILBOX_DISABLED,
    SUSPENDED,
    SENDER_ADDRESS,
    BAD_ADDRESS,
    RELAY_DENIED,
    SERVER_SETTINGS,
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
    EXPIRED,
    SES_REJECTED,
)

TEMPORARY = Entry(
    "temporary.words",
    C.TEMPORARY_FAILURE,
    "Temporary failure",
    match=r"temporarily|temporary|try again later|try again in|retry later|retry in"
    r"|please try again|timed out|timeout|time out|connection (?:refused|reset|closed|lost)"
    r"|unexpectedly closed|network is unreachable|no route to host|server busy"
    r"|service unavailable|not available|deferred|greylisted|greylisting|graylisted"
    r"|busy|unavailable|backend error|backenderror|internal error|server error|bad gateway|eof"
    r"|eoferror|end of file reached"
    r"|temporairement|temporalmente|temporariamente|vorübergehend|请稍后|稍后再试|系统繁忙"
    r"|временно|попробуйте позже|一時的",
    examples=(
        "smtplib.SMTPServerDisconnected: Connection unexpectedly closed",
        "ConnectionRefusedError: [Errno 111] Connection refused",
        "Message was not delivered successfully to SMTP server.\nError: EOFError (end of file "
        "reached)",
    ),
    source="Python smtplib; Postal, github.com/postalserver/postal/issues/184",
)

# RFC 5321's wording of 550 quoted with no code (a client library's message): smtp.py's
# "smtp.550.mailbox_unavailable" needs the 550, and a 4xx beside these words is a code that
# decides before any hint.
MAILBOX_UNAVAILABLE = Entry(
    "hint.mailbox_unavailable",
    C.RECIPIENT_UNKNOWN,
    "Recipient mailbox unavailable",
    match=r"mailbox unavailable|mailbox not available",
    examples=(
        "Requested action not taken: mailbox unavailable\n"
        "   at MailKit.Net.Smtp.SmtpClient.ProcessRcptToResponse(SmtpResponse response, "
        "MailboxAddress mailbox)",
        'Error Domain=mailcore Code=10 "Mailbox unavailable" UserInfo=0xb81d9c0 '
        "{NSLocalizedDescription=Mailbox unavailable}",
    ),
    source="MailKit, github.com/jstedfast/MailKit/issues/307; MailCore, "
    "github.com/MailCore/MailCore/issues/57",
)

# HTTP reason phrases quoted with no status (a client library's message): a weak signal of
# the status, read after every code, as codes.HTTP reads the status itself.
HTTP_BAD_REQUEST = Entry(
    "hint.http_400",
    C.PROVIDER_ERROR,
    "The sending provider refused the request",
    match=r"bad request",
    examples=('{"errors":[{"message":"Bad Request","field":null,"help":null}]}',),
    source="SendGrid, github.com/sendgrid/docs/issues/2460",
)
HTTP_UNAUTHORIZED = Entry(
    "hint.http_401",
    C.MAILBOX_CONNECTION,
    "The sending provider did not accept the credentials",
    match=r"unauthorized",
    examples=("I am getting statuscode Unauthorized. when trying to send the email with key",),
    source="SendGrid, github.com/sendgrid/docs/issues/4907",
)
HTTP_FORBIDDEN = Entry(
    "hint.http_403",
    C.ACCOUNT_SETUP,
    "The sending provider forbids this request",
    match=r"forbidden",
    fixes=(F.ADMIN_SETUP, F.RESYNC_MAILBOX),
    examples=("Request failed: Forbidden",),
    source="written in the wording of HTTP's reason phrase (RFC 9110, 403 Forbidden)",
)
HINTS: tuple[Entry, ...] = (
    MAILBOX_UNAVAILABLE,
    HTTP_BAD_REQUEST,
    HTTP_UNAUTHORIZED,
    HTTP_FORBIDDEN,
    TEMPORARY,
)
