"""The PostgreSQL server the scale-out tests use (127.0.0.1:5432, database `test`; another with
TIERBOT_TEST_POSTGRES_URL): each test gets a schema of its own, dropped after it, so that runs do
not collide; without a server the tests are skipped with the reason."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

PG_URL = os.environ.get("TIERBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@functools.cache
def postgres_missing() -> str | None:
    """Why no PostgreSQL test can run, or None when the server answers."""
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {PG_URL} ({exc}); set TIERBOT_TEST_POSTGRES_URL"


@contextmanager
def fresh_schema(prefix: str = "tierbot_test") -> Iterator[str]:
    """A URL whose connections see only a new, empty schema; the schema is dropped after."""
    if (missing := postgres_missing()) is not None:
        pytest.skip(missing)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
