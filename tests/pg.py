"""The local PostgreSQL for tests: one throwaway schema per use, so runs never collide."""

import contextlib
import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

HOST, PORT, DATABASE, USER = "127.0.0.1", 5432, "test", "postgres"
ADMIN_DSN = f"host={HOST} port={PORT} dbname={DATABASE} user={USER} connect_timeout=10"


def server_answers() -> bool:
    """Whether anything listens on the PostgreSQL port at all."""
    try:
        with socket.create_connection((HOST, PORT), timeout=2):
            return True
    except OSError:
        return False


def require_server() -> None:
    """Skip when no PostgreSQL runs here; in CI it always does, so there it is a failure."""
    if server_answers():
        return
    reason = f"no PostgreSQL server answers on {HOST}:{PORT}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI must run the PostgreSQL tests")
    pytest.skip(reason)


def url(schema: str, *, driver: str = "postgresql") -> str:
    """The catalog URL of a schema: every connection's search_path is that schema alone."""
    options = quote(f"-csearch_path={schema}", safe="")
    return f"{driver}://{USER}@{HOST}:{PORT}/{DATABASE}?options={options}"


@contextlib.contextmanager
def fresh_schema() -> Iterator[str]:
    """An empty schema of its own (amps_test_<pid>_<random>), dropped with all in it after."""
    schema = f"amps_test_{os.getpid()}_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
            drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            connection.execute(drop)
