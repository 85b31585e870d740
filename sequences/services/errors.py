"""What a service raises when asked for a change its subject's state does not allow."""

from __future__ import annotations


class WrongState(Exception):
    """The change does not apply to the current state (e.g. resuming what is not paused).

    The message says so in words a user can read; views answer 400 with it.
    """

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else "This change does not apply now."
