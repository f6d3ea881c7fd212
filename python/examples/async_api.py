"""Ray's documented async_api example, on plasma_store.

Four producer processes each sleep one second and put a value; one asyncio
program awaits the four object ids as futures, together: the values arrive
after about one second, not four.

    python python/examples/async_api.py [SOCKET]

With SOCKET (e.g. /tmp/plasma.sock from scripts/demo.sh) it uses that
store; without, it starts its own with plasma_store.start_plasma_store.
"""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import plasma_store
from plasma_store import async_api


def produce(socket_path: str, object_id: plasma_store.ObjectID) -> None:
    """One producer: sleeps a second, then puts its value."""
    client = plasma_store.connect(socket_path)
    time.sleep(1)
    client.put({"key1": ["value"]}, object_id)


async def main(socket_path: str) -> None:
    async_api.init(socket_path)
    object_ids = [plasma_store.ObjectID.from_random() for _ in range(4)]
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(4) as pool:
        for object_id in object_ids:
            loop.run_in_executor(pool, produce, socket_path, object_id)
        values = await asyncio.gather(*[async_api.as_future(i) for i in object_ids])
    print(values)
    print(f"{len(values)} values after {time.monotonic() - started:.2f} s")
    async_api.shutdown()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:
        with plasma_store.start_plasma_store(100_000_000) as (socket_path, _):
            asyncio.run(main(socket_path))
