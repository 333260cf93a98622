"""Which MetaStore a database URL selects, and what an operator sees when it cannot be built."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from upslice.settings import Settings
from upslice.stores.postgres import PostgresMetaStore
from upslice.wiring import build_meta_store


@pytest.mark.parametrize(
    "url", ["postgresql://u@127.0.0.1:5432/db", "postgres://u:secret@db.example/upslice"]
)
def test_postgres_urls_select_the_postgres_store(url: str) -> None:
    store = build_meta_store(Settings(database_url=url))
    assert isinstance(store, PostgresMetaStore) and store.dsn == url


def test_unknown_scheme_is_named_without_echoing_credentials() -> None:
    with pytest.raises(ValueError, match="'mysql'") as raised:
        build_meta_store(Settings(database_url="mysql://u:hunter2@host/db"))
    assert "hunter2" not in str(raised.value)


def test_missing_asyncpg_names_the_extra_to_install() -> None:
    # A fresh interpreter in which asyncpg cannot be imported, as without the extra.
    script = textwrap.dedent(
        """
        import sys
        sys.modules["asyncpg"] = None
        from upslice.settings import Settings
        from upslice.wiring import build_meta_store
        build_meta_store(Settings(database_url="postgresql://u@127.0.0.1/db"))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "pip install 'upslice[postgres]'" in result.stderr
