"""Fixtures of the plasma_store test suite: one daemon fixture, and the
event loops the asyncio stories run on.

Every store is the real daemon, started by plasma_store.start_plasma_store
(so through the package's own ``python -m plasma_store``). The environment
variable PLASMA11_SERVER, when set (the Rust harness sets it to pyarrow
11's plasma-store-server), adds Arrow Plasma 11 to the stores the asyncio
stories run against.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import plasma_store

MEMORY = 200_000_000


@pytest.fixture
def store() -> Iterator[str]:
    """A fresh plasma-store daemon; yields its socket path."""
    with plasma_store.start_plasma_store(MEMORY) as (socket_path, proc):
        yield socket_path
        assert proc.poll() is None, "the store died during the test"


@pytest.fixture
def client(store: str) -> plasma_store.PlasmaClient:
    """A blocking client of the fresh store."""
    return plasma_store.connect(store)


def _plasma11(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = os.environ.get("PLASMA11_SERVER")
    if not server:
        pytest.skip("PLASMA11_SERVER (pyarrow 11's plasma-store-server) not given")
    sock = str(tmp_path_factory.mktemp("plasma11") / "plasma.sock")
    proc = subprocess.Popen([server, "-s", sock, "-m", str(MEMORY)])
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            assert proc.poll() is None, "plasma-store-server exited"
            assert time.monotonic() < deadline, "plasma-store-server did not listen"
            time.sleep(0.01)
        yield sock
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(params=["plasma-store", "plasma11"])
def any_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Our store, then Arrow Plasma 11's (see the module doc)."""
    if request.param == "plasma-store":
        with plasma_store.start_plasma_store(MEMORY) as (socket_path, _):
            yield socket_path
    else:
        yield from _plasma11(tmp_path_factory)


Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Iterator[Runner]:
    """Runs a coroutine to completion on asyncio's default loop or on
    uvloop; async_api is shut down afterwards either way."""
    from plasma_store import async_api

    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        if request.param == "uvloop":
            import uvloop

            return uvloop.run(coro)
        return asyncio.run(coro)

    yield runner
    async_api.shutdown()
