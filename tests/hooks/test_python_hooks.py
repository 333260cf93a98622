"""Python hooks: a host app mounts upslice with `create_app(..., hooks=AppHooks())`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hooks.conftest import wait_for
from tests.host_app import SCRIPT, HostApp
from tests.taskflow import create, put_chunk, random_bytes

HOOKS = """
import json
from upslice.hooks import Decision, Hooks

class AppHooks(Hooks):
    async def pre_access(self, event):
        user = event.request.headers.get("x-user")
        return Decision(owner=user) if user else None

    async def pre_create(self, event):
        if event.upload["fileName"].startswith("forbidden"):
            return Decision(reject=True, status=451, message="not in this app")
        return Decision(metadata={"checkedBy": "python"})

    async def post_finish(self, event):
        with open(sys.argv[2] + ".finished", "a") as out:
            out.write(json.dumps(event.to_json()) + "\\n")

async def identify(request):
    return None  # the pre-access hook names the owner instead
"""
IDENTIFY = SCRIPT[SCRIPT.index("async def identify(") : SCRIPT.index("uploads = create_app(")]
HOOKED_SCRIPT = SCRIPT.replace(IDENTIFY, HOOKS + "\n").replace(
    "identify=identify)", "identify=identify, hooks=AppHooks())"
)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostApp]:
    assert "hooks=AppHooks()" in HOOKED_SCRIPT and "class AppHooks" in HOOKED_SCRIPT
    app = HostApp(tmp_path_factory.mktemp("python-hooks"), HOOKED_SCRIPT).start()
    yield app
    app.stop()


def test_python_hooks_decide_and_hear(host: HostApp) -> None:
    data = random_bytes(1500)
    with host.client("erin") as erin, host.client("frank") as frank:
        task = create(erin, data, 1024).json()
        assert task["metadata"] == {"checkedBy": "python"}
        for index in range(2):
            put_chunk(erin, task, index, data[index * 1024 : (index + 1) * 1024])
        assert frank.get(f"/api/task/{task['id']}").status_code == 404
        assert erin.get(f"/api/task/{task['id']}/file").content == data
        refused = create(erin, data, 1024, name="forbidden.bin")
        assert refused.status_code == 451
        assert refused.json()["error"]["message"] == "not in this app"
    finished = Path(str(host.data_dir) + ".finished")
    wait_for(finished.exists, "the post-finish hook")
    (event,) = [json.loads(line) for line in finished.read_text().splitlines()]
    assert event["upload"]["id"] == task["id"] and event["upload"]["owner"] == "erin"
    assert event["location"] == f"{host.url}/api/task/{task['id']}/file"
