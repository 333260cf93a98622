"""Removal and expiry: deletes, downloads' readiness check, and the sweeper's turn."""

from __future__ import annotations

import logging
from datetime import datetime

from upslice import metrics
from upslice.engine.completing import Completing
from upslice.engine.records import utcnow
from upslice.errors import Conflict
from upslice.record import State, Upload

log = logging.getLogger("upslice.engine")


class Expiring(Completing):
    async def delete(self, upload_id: str, owner: str | None = None) -> None:
        upload = await self.get(upload_id, owner)
        await self.hooks.check("pre-terminate", upload)
        await self.remove(upload, self.hooks.outbox_events("post-terminate", upload))

    async def download(self, upload_id: str, owner: str | None = None) -> Upload:
        upload = await self.get(upload_id, owner)
        if not upload.done:
            raise Conflict("the upload is not complete yet", uploadId=upload_id)
        return upload

    async def sweep(self, now: datetime | None = None) -> int:
        """Remove unfinished uploads whose expiry has passed; returns how many.

        One process at a time sweeps (the `sweeper` lease); it also finishes completions a
        crash left behind.
        """
        async with self.leases.holding("sweeper") as held:
            if held is None:
                return 0
            await self.recover()
            await self.meta.purge_leases()
            removed = 0
            for upload_id in await self.meta.expired(now or utcnow()):
                upload = await self.meta.get(upload_id)
                if upload is not None and upload.state is not State.COMPLETE:
                    await self.remove(upload, self.hooks.outbox_events("post-expire", upload))
                    metrics.upload_expired(upload.protocol)
                    removed += 1
            if removed:
                log.info("expiry sweep removed %d upload(s)", removed)
            return removed
