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
    Creates are made small and get the hash of `content_of(size)`; every other chunk request
    for a task that does not exist goes to one that does; and a chunk of a small task gets its
    true bytes. So complete, download and delete are walked with real files too, while half of
    the chunk requests and all other input stay as generated.
    """
    body = case.body
    if case.operation.label == "POST /api/task" and isinstance(body, dict):
        size = body.get("fileSize")
        if type(size) is int:
            size = body["fileSize"] = 1 + size % SMALL
            algorithm = body.get("hashAlgorithm", "md5")
            if algorithm in ("md5", "sha256"):
                body["hash"] = hashlib.new(algorithm, content_of(size)).hexdigest()
    elif case.operation.label == "PUT /api/task/{task_id}/chunk/{index}":
        task_url = f"{url}/api/task/{case.path_parameters['task_id']}"
        reply = httpx.get(task_url)
        if reply.status_code == 404 and turn % 2 == 0:
            unfinished = [t for t in all_tasks(url) if not t["done"]]
            if not unfinished:
                return
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
        walked_chunks = counters(module_server.url)["chunks_received"] > 0
        if time.monotonic() - started > SECONDS and walked_chunks:
            break
    created = sum(n for key, n in calls.items() if key.startswith("POST /api/task 201"))
    assert created > 0, calls
    assert counters(module_server.url)["chunks_received"] > 0, calls
