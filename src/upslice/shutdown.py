"""A SIGTERM ends the server process with status 0 once in-flight requests have drained."""

from __future__ import annotations

import signal
from types import FrameType


def exit_zero_on_sigterm() -> None:
    """Install the handler that uvicorn restores, and re-raises into, after its shutdown.

    While it runs, uvicorn handles SIGTERM itself: it stops accepting, lets in-flight
    requests finish for up to `timeout_graceful_shutdown`, cancels the rest and runs the
    lifespan shutdown. Then it raises the signal again under the previous handler, which by
    default ends the process with -15. A stop the operator asked for is not a failure.
    """
    signal.signal(signal.SIGTERM, _exit_zero)


def _exit_zero(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
