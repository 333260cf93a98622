"""Named places where a test can make the server die as if killed (`kill -9`).

`UPSLICE_CRASH_AT=complete:published` makes the process SIGKILL itself when it reaches that
point, so tests can prove that every step of completion can be redone after a crash. Unset (the
default), a crash point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "complete:verifying",  # the intent is recorded: state verifying, completion lease held
    "complete:hashed",  # the whole-file hash is known, nothing published yet
    "complete:published",  # the bytes are under their final name, the record still verifying
    "complete:committed",  # the record says complete
)
STORE_POINTS = (
    "s3:part-uploaded",  # S3: a part is uploaded, its segment not yet recorded
)


def crash_point(name: str) -> None:
    if os.environ.get("UPSLICE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
