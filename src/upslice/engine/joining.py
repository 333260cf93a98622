"""tus concatenation with partials still receiving (concatenation-unfinished), and the removal
of partials once joined.

A final upload named before all its partials finished is a record that waits. Each partial
lists the finals waiting on it (`extra["finals"]`); whichever request finishes the last partial,
on any worker or node, joins them under the final's `join:` lease, and so does any request that
asks about the final (which also recovers a join a crash cut short). Nothing waits in memory.
"""

from __future__ import annotations

import logging
from typing import Any

from upslice.engine.completing import WAIT_FOR_OTHER
from upslice.engine.creating import Creating
from upslice.engine.leases import Busy
from upslice.errors import Conflict, Gone, NotFound
from upslice.record import Segment, Upload

log = logging.getLogger("upslice.engine")
FINALS = "finals"  # in a partial's `extra`: the finals waiting for it


class Joining(Creating):
    async def create_final(
        self,
        part_ids: list[str],
        *,
        owner: str | None,
        keep_partials: bool,
        file_name: str,
        file_type: str,
        hash_algorithm: str = "md5",
        digest: str | None = None,
        metadata: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Upload:
        """A final upload of `part_ids`: joined at once if they are all finished, otherwise a
        waiting record that completes when the last of them does."""
        parts = [await self.get(part_id, owner) for part_id in part_ids]
        described: dict[str, Any] = dict(
            file_name=file_name,
            file_type=file_type,
            hash_algorithm=hash_algorithm,
            digest=digest,
            metadata=metadata,
            extra=extra,
        )
        if all(part.done for part in parts):
            final = await self.concatenate(part_ids, owner=owner, **described)
            await self._release_parts(final, parts, keep_partials)
            return final
        if not self.data.can_concatenate:
            raise Conflict("this server's data store cannot concatenate uploads")
        final = await self.new_upload(protocol="tus", owner=owner, size=None, **described)
        for part in parts:
            await self._relink(part.id, add=final.id)
        log.info("final upload %s waits for %d partial uploads", final.id, len(parts))
        return await self.join(final.id, owner, keep_partials)

    async def join(self, final_id: str, owner: str | None, keep_partials: bool) -> Upload:
        """Join a waiting final if its partials are all finished; idempotent, on any process.

        A join running elsewhere is waited for (it is short), so that a partial finishing
        meanwhile is never missed by both.
        """
        try:
            async with self.leases.waiting(f"join:{final_id}", WAIT_FOR_OTHER):
                return await self._join_holding(final_id, owner, keep_partials)
        except Busy:
            return await self.get(final_id, owner)

    async def part_finished(self, part: Upload, keep_partials: bool) -> None:
        """Called once a partial upload is complete: join the finals that waited for it.

        The record is read again: a final may have named it after the caller's copy was read.
        """
        current = await self.meta.get(part.id)
        for final_id in [] if current is None else current.extra.get(FINALS, []):
            try:
                await self.join(final_id, part.owner, keep_partials)
            except (NotFound, Gone):
                continue  # that final was deleted meanwhile, or another of its parts was

    async def _join_holding(self, final_id: str, owner: str | None, keep: bool) -> Upload:
        final = await self.get(final_id, owner)
        if final.done:
            return final
        parts = [await self._part_of(final, part_id) for part_id in final.extra.get("parts", [])]
        if not all(part.done for part in parts):
            return final
        size = sum(part.size or 0 for part in parts)
        self.check_size(size)
        await self.meta.update(final_id, size=size)
        final = final.evolve(size=size)
        store_state = await self.data.concatenate(final, parts)
        await self.meta.update(final_id, store_state=store_state)
        await self.meta.put_segment(final_id, Segment(0, size, ""))
        done = await self.complete(final_id, owner)
        log.info("joined %d partial uploads into %s", len(parts), final_id)
        await self._release_parts(done, parts, keep)
        return done

    async def _part_of(self, final: Upload, part_id: str) -> Upload:
        """A partial the waiting `final` needs; Gone once it was deleted or expired, since
        the final can then never complete (it expires in turn)."""
        try:
            return await self.get(part_id, final.owner)
        except NotFound:
            raise Gone(
                f"partial upload {part_id} of this final upload was deleted or expired, so it "
                "can never complete; upload that part again and create a new final upload",
                uploadId=final.id,
                partialUploadId=part_id,
            ) from None

    async def _release_parts(self, final: Upload, parts: list[Upload], keep: bool) -> None:
        """The final no longer needs its partials: remove each one no other final waits for."""
        for part in parts:
            waiting = await self._relink(part.id, drop=final.id)
            if not keep and not waiting:
                current = await self.meta.get(part.id)
                if current is not None:
                    await self.remove(current)

    async def _relink(self, part_id: str, *, add: str = "", drop: str = "") -> list[str] | None:
        """Add or drop a waiting final in a partial's list (under the partial's lease, since
        finals on several processes may name it); the list after, None if the partial is gone."""
        try:
            async with self.leases.waiting(f"finals:{part_id}", WAIT_FOR_OTHER):
                part = await self.meta.get(part_id)
                if part is None:
                    return None
                finals = [f for f in part.extra.get(FINALS, []) if f not in (add, drop)]
                finals += [add] if add else []
                if finals != part.extra.get(FINALS, []):
                    await self.meta.update(part_id, extra={**part.extra, FINALS: finals})
                return finals
        except Busy:
            raise Conflict("the partial upload is busy; try again", uploadId=part_id) from None
