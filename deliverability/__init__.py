"""Deliverability of each mailbox's domain: its DNS records (MX, SPF, DKIM, DMARC) and the
blocklists that list it, checked daily and on demand, with the history of each run.

`checks/` looks the domain up and says what the answers mean (dnspython, no database);
the models, services, selectors, tasks and views run those checks for a mailbox, record
what they found and show it.
"""

from __future__ import annotations
