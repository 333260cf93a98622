"""OpenAPI links between the tasks API's operations: create -> chunk -> (hash) -> complete ->
file -> delete. They document the flow for readers and let stateful fuzzers (schemathesis) walk it
with real task ids instead of random strings."""

from __future__ import annotations

from typing import Any

TASK_ID = {"task_id": "$response.body#/id"}
OPERATIONS = {
    "GetTask": ("getTask", TASK_ID),
    "PutChunk": ("putChunk", {**TASK_ID, "index": "$response.body#/currentChunk"}),
    "DeclareHash": ("declareTaskHash", TASK_ID),
    "CompleteTask": ("completeTask", TASK_ID),
    "DownloadFile": ("downloadTaskFile", TASK_ID),
    "DeleteTask": ("deleteTask", TASK_ID),
}


def links_to(*names: str) -> dict[str, Any]:
    """The `links` of a response that returns a task, to the named operations."""
    return {
        name: {"operationId": OPERATIONS[name][0], "parameters": OPERATIONS[name][1]}
        for name in names
    }


def task_response(description: str, *names: str) -> dict[str, Any]:
    return {"description": description, "links": links_to(*names)}
