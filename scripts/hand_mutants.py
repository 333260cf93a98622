#!/usr/bin/env python3
"""The route handlers' mutants, applied by hand: mutmut leaves decorated functions alone.

Each mutant is one exact text replacement in one file. It is applied in a fresh copy of the
tree, and the tests named with it run there against in-process servers
(`UPSLICE_TEST_SERVER=thread`). A mutant is killed when a test fails. Results go to
tests/MUTANTS.md by hand.

usage: scripts/hand_mutants.py [NAME...]    (default: every mutant)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUS = ("src/upslice/api/tus.py", "tests/api/test_tus_*.py tests/api/test_ietf_*.py")
TASKS = ("src/upslice/api/tasks.py", "tests/api/test_tasks_*.py tests/api/test_owner_matrix.py")
FLOW = ("src/upslice/api/flow.py", "tests/api/test_flow.py tests/api/test_flow_params.py")


@dataclass(frozen=True)
class Mutant:
    name: str
    where: tuple[str, str]  # (file, tests)
    old: str
    new: str


MUTANTS = [
    Mutant("tus-create-both-lengths", TUS,
           "if (length_header is None) == (deferred is None):",
           "if length_header is None and deferred is None:"),
    Mutant("tus-create-body-any-type", TUS,
           "if body and media_type(request) != PATCH_TYPE:",
           "if False and body and media_type(request) != PATCH_TYPE:"),
    Mutant("tus-create-empty-never-finishes", TUS,
           "        elif size == 0:\n            upload = await finish(engine, upload.id, owner)\n",
           ""),
    Mutant("tus-create-no-location-on-error", TUS,
           '        exc.details["location"] = location\n', ""),
    Mutant("tus-patch-any-type", TUS,
           "    if media_type(request) != PATCH_TYPE:\n        raise UnsupportedMediaType(f\"PATCH",
           "    if False:\n        raise UnsupportedMediaType(f\"PATCH"),
    Mutant("tus-patch-final-patchable", TUS,
           '    if upload.extra.get("concat") == "final":\n        raise Forbidden',
           '    if False:\n        raise Forbidden'),
    Mutant("tus-patch-length-change-accepted", TUS,
           "        if upload.size is not None and upload.size != size:",
           "        if False:"),
    Mutant("tus-patch-deferred-length-ignored", TUS,
           "        if upload.size is None:\n            owner = await owner_of(request)",
           "        if False:\n            owner = await owner_of(request)"),
    Mutant("tus-patch-finished-empty-reappends", TUS,
           "    if upload.done and offset == upload.offset and not has_body(request):",
           "    if False:"),
    Mutant("tus-head-no-version-check", TUS,
           "    check_version(request)\n    upload = await joined(request, await live_upload(",
           "    upload = await joined(request, await live_upload("),
    Mutant("tus-terminate-keeps-the-upload", TUS,
           "    await engine_of(request).delete(upload_id, await owner_of(request))\n", ""),
    Mutant("tus-override-delete-is-head", TUS, '"DELETE": terminate', '"DELETE": head'),
    Mutant("tus-options-no-limit", TUS,
           '    headers["Upload-Limit"] = '
           "ietf.limit_header(engine)\n", ""),
    Mutant("tasks-resume-is-201", TASKS,
           "response.status_code = 201 if created else 200", "response.status_code = 201"),
    Mutant("tasks-delete-keeps-the-task", TASKS,
           "    await engine.delete(task_id, owner)\n    return Response(status_code=204)",
           "    return Response(status_code=204)"),
    Mutant("tasks-chunk-checksum-ignored", TASKS,
           "        checksum=body_checksum(request),\n", "        checksum=None,\n"),
    Mutant("tasks-chunk-length-ignored", TASKS,
           "        content_length=declared_length(request),\n", "        content_length=None,\n"),
    Mutant("tasks-complete-only-reads", TASKS,
           "present(request, await engine.complete(task_id, owner))",
           "present(request, await engine.get(task_id, owner))"),
    Mutant("flow-test-chunk-absent-is-present", FLOW,
           '    if params.chunk_number not in body["uploaded"]:\n'
           "        return Response(status_code=204)\n", ""),
    Mutant("flow-test-chunk-no-size-check", FLOW,
           "    check_chunk_size(engine, params)\n    upload = await held_copy(",
           "    upload = await held_copy("),
    Mutant("flow-form-fields-ignored", FLOW,
           "fields[part.name] = await part.text()", "await part.text()"),
    Mutant("flow-raw-body-refused", FLOW, "    if media_type in RAW_TYPES:", "    if False:"),
]  # fmt: skip


def copy_tree(into: Path) -> None:
    """The working tree's files (tracked and new, not ignored), as `scripts/mutate` copies."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    for name in filter(None, listed.split(b"\0")):
        source, target = ROOT / name.decode(), into / name.decode()
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


def run(mutant: Mutant, copy: Path) -> str:
    """'killed (test)' or 'SURVIVED'; the file is restored afterwards."""
    path = copy / mutant.where[0]
    original = path.read_text()
    if original.count(mutant.old) != 1:
        raise SystemExit(f"{mutant.name}: the text to replace is not in {path} exactly once")
    path.write_text(original.replace(mutant.old, mutant.new))
    env = {
        **os.environ,
        "UPSLICE_TEST_SERVER": "thread",
        "PYTHONPATH": f"{copy / 'src'}:{copy}",
    }
    tests = [str(p.relative_to(copy)) for g in mutant.where[1].split() for p in copy.glob(g)]
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-rf", *tests],
            cwd=copy, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        path.write_text(original)
    failed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("FAILED")]
    if result.returncode == 1 and failed:
        return f"killed ({failed[0]})"
    if result.returncode == 0:
        return "SURVIVED"
    return f"ERROR (pytest exit {result.returncode}):\n{result.stdout[-2000:]}"


def main(names: list[str]) -> int:
    chosen = [m for m in MUTANTS if not names or m.name in names]
    with tempfile.TemporaryDirectory(prefix="upslice-hand-mutants-") as folder:
        copy = Path(folder)
        copy_tree(copy)
        survivors = 0
        for mutant in chosen:
            outcome = run(mutant, copy)
            survivors += not outcome.startswith("killed")
            print(f"{mutant.name}: {outcome}", flush=True)
    print(f"{len(chosen) - survivors} of {len(chosen)} killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
