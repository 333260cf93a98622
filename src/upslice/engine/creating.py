"""Creating: tasks (create, resume or instant upload) and tus concatenation."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from upslice import metrics, possession
from upslice.engine.completing import ADOPT
from upslice.engine.leases import Busy
from upslice.engine.receiving import Receiving
from upslice.engine.records import new_upload_id, utcnow
from upslice.errors import Conflict, InvalidInput, NotFound
from upslice.hashing import FILE_HASHES, normalize_file_hash
from upslice.logcontext import about_upload
from upslice.record import Segment, State, Upload

log = logging.getLogger("upslice.engine")
CREATE_WAIT = 30.0  # how long a create waits for another create of the same content


@dataclass
class TaskSpec:
    """What a client declares when it creates a task."""

    hash: str | None  # None: declared later (`declare_hash`), chunks may come at once
    file_name: str
    file_type: str
    file_size: int
    hash_algorithm: str = "md5"
    chunk_size: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    reuse: bool = False  # a finished upload of this name is the answer, not a new copy


class Creating(Receiving):
    async def create_task(self, spec: TaskSpec, owner: str | None = None) -> tuple[Upload, bool]:
        """Create, resume or instantly complete a task; the bool says whether it is new.

        Resume and instant upload only ever look at the caller's own uploads (anonymous
        callers at anonymous ones): knowing a hash must never reveal or grant another owner's
        upload.

        Without a hash the task is new and receives chunks at once; it completes only once
        its hash is declared (`declare_hash`), which may then also make it instant.
        """
        self.check_size(spec.file_size)
        if spec.hash_algorithm not in FILE_HASHES:
            raise InvalidInput(f"hashAlgorithm must be one of {', '.join(FILE_HASHES)}")
        if spec.hash is None and spec.file_size > 0:
            return await self._new_task(spec, None, owner), True
        digest = normalize_file_hash(
            spec.hash_algorithm,
            spec.hash or hashlib.new(spec.hash_algorithm).hexdigest(),  # empty file: known
        )
        # One creation at a time per owner and content, across workers and nodes: two
        # requests at once (a double click, two tabs) must find one task, not make two.
        name = f"create:{spec.hash_algorithm}:{digest}:{spec.file_size}:{owner or ''}"
        try:
            async with self.leases.waiting(name, CREATE_WAIT):
                return await self._create_with_hash(spec, digest, owner)
        except Busy:
            raise Conflict("another request is creating this task; try again") from None

    async def _create_with_hash(
        self, spec: TaskSpec, digest: str, owner: str | None
    ) -> tuple[Upload, bool]:
        """Resume the owner's unfinished task of this content, finish at once from a
        finished one, or create a new task: under the creation lease."""
        resumable = await self.meta.find_by_content(
            spec.hash_algorithm,
            digest,
            spec.file_size,
            [State.RECEIVING, State.FAILED],
            owner=owner,
            protocol="tasks",
        )
        if resumable is not None and not self.expired(resumable):
            return await self.challenged(resumable), False
        finished = await self.meta.find_by_content(
            spec.hash_algorithm, digest, spec.file_size, [State.COMPLETE], owner=owner
        )
        if finished is not None and spec.reuse and finished.file_name == spec.file_name:
            return finished, False
        if finished is not None:
            made = await self.instant(spec, digest, owner, finished)
            if made is not None:
                return made, True
        upload = await self._new_task(spec, digest, owner)
        if spec.file_size == 0:
            upload = await self.complete(upload.id, owner)
        return upload, True

    async def _new_task(self, spec: TaskSpec, digest: str | None, owner: str | None) -> Upload:
        return await self.new_upload(
            protocol="tasks",
            owner=owner,
            file_name=spec.file_name,
            file_type=spec.file_type,
            size=spec.file_size,
            hash_algorithm=spec.hash_algorithm,
            digest=digest,
            chunk_size=spec.chunk_size,
            metadata=spec.metadata,
            extra=possession.replaced({}, possession.new_challenge(spec.file_size)),
        )

    async def instant(
        self, spec: TaskSpec, digest: str, owner: str | None, source: Upload
    ) -> Upload | None:
        """A new complete task sharing the bytes of `source` (a file the caller may have), or
        None if `source` was deleted since its record was found: then the file is uploaded."""
        now = utcnow()
        upload = Upload(
            id=new_upload_id(),
            protocol="tasks",
            owner=owner,
            file_name=spec.file_name,
            file_type=spec.file_type,
            size=spec.file_size,
            hash_algorithm=spec.hash_algorithm,
            hash=digest,
            chunk_size=self.chunk_size_for(spec.file_size, spec.chunk_size),
            state=State.COMPLETE,
            created_at=now,
            updated_at=now,
            expires_at=None,
            metadata=spec.metadata,
            instant=True,
        )
        upload = await self.hooks.before_create(upload)
        try:
            upload = upload.evolve(store_state=await self.data.share(source, upload))
        except NotFound:
            log.info("upload %s was deleted before its bytes could be shared", source.id)
            return None
        events = [
            *self.hooks.outbox_events("post-create", upload),
            *self.hooks.outbox_events("post-finish", upload),
        ]
        try:
            await self.meta.insert(upload, events)
        except BaseException:
            await self.data.delete(upload)
            raise
        about_upload(upload.id)
        metrics.upload_created(upload.protocol)
        metrics.upload_completed(upload.protocol)
        log.info("instant upload %s shares the bytes of %s", upload.id, source.id)
        self.hooks.queued()
        return upload

    async def challenged(self, upload: Upload) -> Upload:
        """`upload` with a fresh proof-of-possession challenge, kept in its record."""
        extra = possession.replaced(upload.extra, possession.new_challenge(upload.size or 0))
        await self.meta.update(upload.id, extra=extra)
        return upload.evolve(extra=extra)

    async def prove_possession(self, upload_id: str, owner: str | None, proof: str) -> Upload:
        """Complete the task at once if `proof` answers its challenge over a finished upload
        (of any owner) with its content identity; otherwise it is returned unchanged but for a
        fresh challenge: every attempt consumes the challenge, right or wrong.

        A miss reads the same ranges of the caller's own bytes, so that it costs what a
        check against a held file costs and its timing tells nothing.
        """
        upload = await self.get(upload_id, owner)
        if upload.done:
            return upload
        challenge = possession.stored(upload.extra)
        upload = await self.challenged(upload)
        if challenge is None or upload.hash is None or upload.size is None:
            return upload
        source = await self.meta.find_by_content(
            upload.hash_algorithm, upload.hash, upload.size, [State.COMPLETE], any_owner=True
        )
        held = source or upload
        try:
            reader = lambda start, end: self.data.read(held, start, end)  # noqa: E731
            expected: str | None = await possession.proof_of(challenge, reader)
        except NotFound:  # its bytes vanished meanwhile (deleted): as if it were not there
            expected = None
        if source is None or not possession.matches(expected, proof):
            return upload
        return await self.adopt(upload, source)

    async def adopt(self, upload: Upload, source: Upload) -> Upload:
        """Make `upload` a complete instant upload sharing the bytes of `source`, as a
        completion: under its lease, with the intent recorded first so a crash can redo it."""
        async with self.leases.holding(f"complete:{upload.id}") as held:
            if held is None or not await self.meta.transition(
                upload.id, [State.RECEIVING, State.FAILED], State.VERIFYING
            ):
                return await self.get(upload.id, upload.owner)  # being completed meanwhile
            extra = {**upload.extra, ADOPT: source.id}
            await self.meta.update(upload.id, extra=extra)
            done = await self.finish_adoption(upload.evolve(extra=extra))
        if done.instant:  # else the source went away meanwhile: a normal upload again
            log.info("instant upload %s takes the bytes of %s", upload.id, source.id)
        return done

    async def concatenate(
        self,
        part_ids: list[str],
        *,
        owner: str | None,
        file_name: str,
        file_type: str,
        hash_algorithm: str = "md5",
        digest: str | None = None,
        metadata: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Upload:
        """A new complete upload made of finished `part_ids`, joined by the DataStore.

        Parts must belong to the caller. The joined file is read back once to compute (and,
        if `digest` is given, verify) its hash; on any failure the new upload is removed and
        the parts stay untouched.
        """
        if not self.data.can_concatenate:
            raise InvalidInput("this server's data store cannot concatenate uploads")
        parts = [await self.get(part_id, owner) for part_id in part_ids]
        unfinished = [part.id for part in parts if not part.done]
        if unfinished:
            raise Conflict("some partial uploads are not finished", unfinished=unfinished)
        size = sum(part.size or 0 for part in parts)
        upload = await self.new_upload(
            protocol="tus",
            owner=owner,
            file_name=file_name,
            file_type=file_type,
            size=size,
            hash_algorithm=hash_algorithm,
            digest=digest,
            metadata=metadata,
            extra=extra,
        )
        try:
            store_state = await self.data.concatenate(upload, parts)
            await self.meta.update(upload.id, store_state=store_state)
            await self.meta.put_segment(upload.id, Segment(0, size, ""))
            return await self.complete(upload.id, owner)
        except BaseException:
            current = await self.meta.get(upload.id)
            if current is not None:
                await self.remove(current)
            raise
