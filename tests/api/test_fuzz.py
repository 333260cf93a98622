"""Stateful fuzzing of the tasks API with schemathesis against a real server: it follows the
schema's links (create -> chunk -> complete -> file -> delete) with generated input, and every
response must be a non-5xx that the OpenAPI schema describes."""

from __future__ import annotations

import hashlib
import itertools
import random
import time
from typing import Any

import httpx
import hypothesis
import schemathesis
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.server_process import ServerProcess
from upslice.api import mediatype

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SMALL = 64 * 1024
ROUNDS, SECONDS = 12, 50  # rounds go on past SECONDS only until a chunk was walked
BUDGET = hypothesis.settings(
    max_examples=25,
    stateful_step_count=10,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.generate],  # a shrink replays against a server that has moved on
)


def counters(url: str) -> dict[str, int]:
    result: dict[str, int] = httpx.get(f"{url}/health").json()["counters"]
    return result


def content_of(size: int) -> bytes:
    """The file a steered walk uploads for a task of `size` bytes."""
    return random.Random(size).randbytes(size)


def steer(case: Any, url: str, turn: int) -> None:
    """Give some generated requests the bytes that make a flow go on.

    Random hashes never match, random sizes are mostly huge, random task ids never exist and
    random bodies are never a chunk's exact length, so a pure walk stops at the first chunk.
    Creates are made valid and small and get the hash of `content_of(size)`; every other chunk
    request for a task that does not exist (every one, until a first chunk landed) goes to one
    that does, made for it if the walk has none; and a chunk of a small task gets its true
    bytes. So complete, download and delete are walked with real files too, while half of
    the chunk requests and all other input stay as generated.
    """
    body = case.body
    if case.operation.label == "POST /api/task" and isinstance(body, dict):
        make_creatable(body)
    elif case.operation.label == "PUT /api/task/{task_id}/chunk/{index}":
        task_url = f"{url}/api/task/{case.path_parameters['task_id']}"
        reply = httpx.get(task_url)
        if reply.status_code == 404 and (turn % 2 == 0 or not walked_chunks(url)):
            unfinished = [t for t in all_tasks(url) if not t["done"]] or [small_task(url)]
            case.path_parameters["task_id"] = unfinished[0]["id"]
            reply = httpx.get(f"{url}/api/task/{unfinished[0]['id']}")
        if reply.status_code != 200:
            return
        task = reply.json()
        index = case.path_parameters.get("index")
        small = "chunkSize" in task and 0 < task["fileSize"] <= SMALL
        if small and type(index) is int:
            index = abs(index) % task["chunkCount"]  # a generated index is rarely in range
            case.path_parameters["index"] = index
            start = index * task["chunkSize"]
            case.body = content_of(task["fileSize"])[start : start + task["chunkSize"]]
            case.media_type = "application/octet-stream"
            case.headers = {}


def make_creatable(body: dict[str, Any]) -> None:
    """Keep a generated create's shape but make it one the server takes: a small integral
    size with its true hash, an integral chunk size or none, a media type or none. (The API
    is strict: the JSON number 5.0 is not a size, and JSON Schema lets a generator send it.)"""
    size = body.get("fileSize")
    if isinstance(size, int | float) and not isinstance(size, bool):
        body["fileSize"] = size = 1 + int(abs(size)) % SMALL
        algorithm = body.get("hashAlgorithm", "md5")
        if algorithm in ("md5", "sha256"):
            body["hash"] = hashlib.new(algorithm, content_of(size)).hexdigest()
    chunk_size = body.get("chunkSize")
    if isinstance(chunk_size, float):
        body["chunkSize"] = max(1, int(abs(chunk_size)))
    file_type = body.get("fileType")
    if isinstance(file_type, str) and file_type and not mediatype.is_valid(file_type):
        del body["fileType"]


def small_task(url: str) -> dict[str, Any]:
    """A task for a steered chunk when the walk has created none yet."""
    size = 1000
    body = {
        "fileName": "steered",
        "fileSize": size,
        "hash": hashlib.md5(content_of(size)).hexdigest(),
    }
    reply = httpx.post(f"{url}/api/task", json=body)
    reply.raise_for_status()
    task: dict[str, Any] = reply.json()
    return task


def walked_chunks(url: str) -> bool:
    return counters(url)["chunks_received"] > 0


def all_tasks(url: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{url}/api/tasks", params={"limit": 1000})
    tasks: list[dict[str, Any]] = reply.json()["tasks"]
    return tasks


def remove_all_tasks(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for task in all_tasks(url):
            client.delete(f"/api/task/{task['id']}")


def test_stateful_walk_finds_no_server_error(module_server: ServerProcess) -> None:
    schema = schemathesis.openapi.from_url(f"{module_server.url}/openapi.json")
    schema.config.update(base_url=module_server.url)
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE])
    calls: dict[str, int] = {}
    call_number = itertools.count()

    class Walk(schema.as_state_machine()):  # type: ignore[misc]
        def teardown(self) -> None:
            """Each walk starts from an empty server, so replays see the same answers."""
            remove_all_tasks(module_server.url)

        def before_call(self, case: Any) -> None:
            steer(case, module_server.url, next(call_number))

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            key = f"{case.method} {case.path} {response.status_code}"
            calls[key] = calls.get(key, 0) + 1
            case.validate_response(response, checks=CHECKS)

    started = time.monotonic()
    for _ in range(ROUNDS):  # as schemathesis' own runner does: a walk whose replay the
        try:  # moving server state made inconsistent is restarted, never counted as a failure
            Walk.run(settings=BUDGET)
        except FlakyStrategyDefinition:
            pass
        if time.monotonic() - started > SECONDS and walked_chunks(module_server.url):
            break
    created = sum(n for key, n in calls.items() if key.startswith("POST /api/task 201"))
    assert created > 0, calls
    assert counters(module_server.url)["chunks_received"] > 0, calls
