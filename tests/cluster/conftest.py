"""One cluster per topology for the whole module: 3 nodes behind nginx, or 1 node with 2 workers.

The 3-node topology runs on a throwaway PostgreSQL, as a real deployment would
(`UPSLICE_CLUSTER_DATABASE=sqlite` puts one shared SQLite file there instead); the 2-worker
topology always runs on the embedded defaults (filesystem + SQLite inside the data directory).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import Cluster

DATABASE = os.environ.get("UPSLICE_CLUSTER_DATABASE", "postgres")
TOPOLOGIES = {
    "3-nodes": ("--nodes", "3", "--workers", "1", "--database", DATABASE),
    "1-node-2-workers": ("--nodes", "1", "--workers", "2", "--database", "sqlite"),
}


@pytest.fixture(scope="module", params=list(TOPOLOGIES))
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    # Under /tmp, not pytest's 0700 tree: a PostgreSQL run as `postgres` must enter it.
    base = Path(tempfile.mkdtemp(prefix="upslice-cluster-"))
    running = Cluster(base, *TOPOLOGIES[request.param])
    try:
        yield running.up()
    finally:
        running.down()
        if not os.environ.get("UPSLICE_KEEP_CLUSTER"):  # set it to read the logs afterwards
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def healed(cluster: Cluster) -> Cluster:
    """The module's cluster with every node up again (an earlier test killed one)."""
    return cluster.up()
