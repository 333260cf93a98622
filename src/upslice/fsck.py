"""Compare what a DataStore holds with the MetaStore's records, and repair what is safe.

Speaks only to the two store contracts, so it works for any pair of backends. Records are
read before bytes: a create stores its bytes before its record, so anything created during
the scan shows up as young bytes (inside the grace period, never judged) rather than as a
record whose bytes are gone. Every repair re-reads the record it depends on first.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from upslice.record import State, Upload
from upslice.stores.base import DataStore, MetaStore, StoredItem, StoredKind

PAGE = 500
TICK = timedelta(microseconds=1)


class Problem(enum.StrEnum):
    ORPHAN_BYTES = "orphan-bytes"  # bytes with no record (or a staging leftover)
    BYTES_GONE = "bytes-gone"  # an unfinished record with no bytes at all
    FILE_GONE = "file-gone"  # a complete record with no bytes at all
    UNPUBLISHED = "unpublished"  # a complete record whose bytes are still only partial
    STALE_PARTIAL = "stale-partial"  # a complete record's partial copy beside its file
    PUBLISHED_EARLY = "published-early"  # an unfinished record whose file is published
    SIZE_MISMATCH = "size-mismatch"  # a complete file whose size differs from the record


REPAIRABLE = {Problem.ORPHAN_BYTES, Problem.BYTES_GONE, Problem.STALE_PARTIAL}


@dataclass
class Finding:
    problem: Problem
    upload_id: str
    detail: str
    item: StoredItem | None = None
    seen: datetime | None = None  # the record's updated_at when judged
    action: str | None = None  # what --repair did; None while unrepaired

    @property
    def repaired(self) -> bool:
        return self.action is not None

    def line(self) -> str:
        where = self.item.key if self.item else f"record {self.upload_id}"
        done = f" -> {self.action}" if self.action else ""
        return f"{self.problem:<16} {where}: {self.detail}{done}"

    def to_json(self) -> dict[str, object]:
        return {
            "problem": str(self.problem),
            "uploadId": self.upload_id,
            "key": self.item.key if self.item else None,
            "size": self.item.size if self.item else None,
            "detail": self.detail,
            "repaired": self.repaired,
            "action": self.action,
        }


@dataclass
class Report:
    records: int = 0
    items: int = 0
    young: int = 0  # items inside the grace period: maybe a create in flight, not judged
    findings: list[Finding] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        return any(not f.repaired for f in self.findings)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[str(finding.problem)] = counts.get(str(finding.problem), 0) + 1
        return counts

    def summary(self) -> str:
        found = ", ".join(f"{n} {name}" for name, n in sorted(self.counts().items()))
        repaired = sum(f.repaired for f in self.findings)
        return (
            f"checked {self.records} record(s) and {self.items} stored item(s) "
            f"({self.young} younger than the grace period, not judged): "
            + (f"{found}; repaired {repaired}" if found else "clean")
        )

    def to_json(self) -> dict[str, object]:
        return {
            "clean": not self.damaged,
            "records": self.records,
            "items": self.items,
            "skippedYoung": self.young,
            "counts": self.counts(),
            "repaired": sum(f.repaired for f in self.findings),
            "findings": [f.to_json() for f in self.findings],
        }


async def all_records(meta: MetaStore, page: int = PAGE) -> dict[str, Upload]:
    """Every record of every owner, paging newest first.

    Each next page starts one tick after the oldest record seen, so records sharing that
    creation time are read again (and de-duplicated) rather than skipped; when a whole page
    shares one time, the page grows until it reaches past it.
    """
    found: dict[str, Upload] = {}
    before: datetime | None = None
    while True:
        batch = await meta.list_uploads(None, limit=page, before=before, any_owner=True)
        fresh = [upload for upload in batch if upload.id not in found]
        found.update((upload.id, upload) for upload in batch)
        if len(batch) < page:
            return found
        if fresh:
            before = batch[-1].created_at + TICK
        else:
            page *= 2


async def check(
    data: DataStore, meta: MetaStore, *, grace: timedelta, now: datetime | None = None
) -> Report:
    """Find every disagreement between the stores; changes nothing."""
    records = await all_records(meta)
    cutoff = (now or datetime.now(UTC)) - grace
    report = Report(records=len(records))
    held: dict[str, dict[StoredKind, StoredItem]] = {}
    for item in [item async for item in data.stored()]:
        report.items += 1
        if item.kind is not StoredKind.STAGING:
            held.setdefault(item.upload_id, {})[item.kind] = item
        owned = item.upload_id in records
        if owned and item.kind is not StoredKind.STAGING:
            continue  # judged below, with its record
        if item.modified > cutoff:
            report.young += 1
        else:
            report.findings.append(_orphan(item, owned))
    for upload in records.values():
        report.findings.extend(_judge(upload, held.get(upload.id, {}), cutoff))
    return report


def _orphan(item: StoredItem, has_record: bool) -> Finding:
    detail = (
        f"{item.size} bytes of an interrupted write"
        if has_record
        else f"{item.size} {item.kind} bytes with no record"
    )
    return Finding(Problem.ORPHAN_BYTES, item.upload_id, detail, item)


def _judge(upload: Upload, held: dict[StoredKind, StoredItem], cutoff: datetime) -> list[Finding]:
    partial, file = held.get(StoredKind.PARTIAL), held.get(StoredKind.FILE)
    if not upload.done:
        if file is not None:
            detail = f"{upload.state} record, but its file is already published"
            return [Finding(Problem.PUBLISHED_EARLY, upload.id, detail, file)]
        if partial is None:
            detail = f"{upload.state} record with no bytes stored"
            return [Finding(Problem.BYTES_GONE, upload.id, detail, seen=upload.updated_at)]
        return []
    if file is None:
        if partial is not None:
            detail = "complete record, but its bytes were never published"
            return [Finding(Problem.UNPUBLISHED, upload.id, detail, partial)]
        return [Finding(Problem.FILE_GONE, upload.id, "complete record with no file")]
    findings = []
    if file.size != upload.size:
        detail = f"file has {file.size} bytes, the record says {upload.size}"
        findings.append(Finding(Problem.SIZE_MISMATCH, upload.id, detail, file))
    if partial is not None and partial.modified <= cutoff:
        detail = f"{partial.size} bytes left under partial beside the published file"
        findings.append(Finding(Problem.STALE_PARTIAL, upload.id, detail, partial))
    return findings


async def repair(
    data: DataStore,
    meta: MetaStore,
    report: Report,
    problems: frozenset[Problem] = frozenset(REPAIRABLE),
) -> None:
    """Fix the safe findings in place (their `action` says how); a complete file is never hit."""
    for finding in report.findings:
        if finding.problem in problems & REPAIRABLE and not finding.repaired:
            finding.action = await _repair_one(data, meta, finding)


async def _repair_one(data: DataStore, meta: MetaStore, finding: Finding) -> str | None:
    current = await meta.get(finding.upload_id)
    item = finding.item
    if finding.problem is Problem.ORPHAN_BYTES and item is not None:
        if current is not None and item.kind is not StoredKind.STAGING:
            return None  # its record appeared after the scan: not an orphan after all
        await data.discard(item)
        return f"removed {item.size} bytes"
    if finding.problem is Problem.STALE_PARTIAL and item is not None:
        if current is None or not current.done:
            return None
        await data.discard(item)
        return f"removed the {item.size} partial bytes"
    if finding.problem is Problem.BYTES_GONE and current is not None:
        if current.state is State.COMPLETE or current.updated_at != finding.seen:
            return None  # it changed since the scan: judge it again next time
        await meta.delete(current.id)
        return "removed the record"
    return None


async def collect_orphans(data: DataStore, meta: MetaStore, *, grace: timedelta) -> list[Finding]:
    """What `gc` does besides expiry: remove bytes no record owns, older than `grace`."""
    report = await check(data, meta, grace=grace)
    await repair(data, meta, report, frozenset({Problem.ORPHAN_BYTES}))
    return [f for f in report.findings if f.problem is Problem.ORPHAN_BYTES and f.repaired]
