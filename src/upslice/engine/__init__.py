"""The upload engine: records, chunks, offsets, hashes, limits and expiry. It speaks no HTTP.

It is split by responsibility (records, receiving, completing, creating, declaring, joining,
expiring),
and keeps no state that correctness depends on: leases and hash checkpoints live in the
MetaStore.
"""

from __future__ import annotations

from upslice.engine.creating import TaskSpec
from upslice.engine.declaring import Declaring
from upslice.engine.expiring import Expiring
from upslice.engine.joining import Joining
from upslice.engine.records import Limits, new_upload_id, utcnow


class Engine(Declaring, Joining, Expiring):
    """Every engine operation; front ends hold one per app, any number per cluster."""


__all__ = ["Engine", "Limits", "TaskSpec", "new_upload_id", "utcnow"]
