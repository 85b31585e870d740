"""What the local sandboxes (SMTP, DNS) share: run in the background, and say what they do."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self, TextIO


class BackgroundServer:
    """A server run in the background (threads of this process, or a child process):
    `with` starts it and stops it."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def log_to(stream: TextIO, logger_name: str) -> None:
    """A sandbox command's log: one line per event, with its time, beside its own output.

    (The project's root logger would also add the level and logger name, on stderr.)
    """
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
