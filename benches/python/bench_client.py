"""plasma-bench's Python client: pyarrow 11's own plasma client, pointed at
either store, so that the daemon alone is compared; or, with the
environment variable BENCH_PY_CLIENT=plasma_store, our Python package
(which has the same API).

Usage: python bench_client.py SOCKET OP ARGS...
  put SIZE ITERS WARMUP   create + write + seal + release, ITERS times
                          after WARMUP untimed ones
  get SIZE ITERS WARMUP   one object of SIZE, then get + release ITERS
                          times after WARMUP untimed ones
  putget SIZE ITERS WARMUP
                          put_raw_buffer + get_buffers + release
  bigput SIZE ITERS WARMUP
                          put(numpy array of SIZE bytes), object deleted
                          after each (untimed)
  bigget SIZE ITERS WARMUP
                          get(id) of such an array + release
  await IDS_FILE STAMPS_FILE
                          (plasma_store) asyncio futures for the ids in
                          IDS_FILE (hex, one a line), registered before
                          "ready"; awaited in order, each resolution's
                          CLOCK_MONOTONIC stamp (ns) written to STAMPS_FILE
  pending N               (plasma_store) heap bytes per pending asyncio
                          future, N pending (re-executes itself with
                          PYTHONMALLOC=malloc; answer field heap_per_future)

Protocol with the harness (stdout, one JSON object per line): connect and
prepare, print {"ready": true}, wait for a line on stdin, run the timed loop,
print {"ops": N, "secs": S}, wait for stdin to close, exit. Errors: a
traceback on stderr and a non-zero exit status.
"""

import json
import os
import sys
import time
import warnings

CLIENT = os.environ.get("BENCH_PY_CLIENT", "pyarrow")
warnings.simplefilter("ignore", DeprecationWarning)  # Plasma is deprecated in pyarrow 11
if CLIENT == "plasma_store":
    import plasma_store as plasma  # noqa: E402
else:
    import pyarrow.plasma as plasma  # noqa: E402


class Ids:
    """Unique ids: a random 12-byte prefix per process, then a counter."""

    def __init__(self):
        self.prefix = os.urandom(12)
        self.n = 0

    def next(self):
        self.n += 1
        return plasma.ObjectID(self.prefix + self.n.to_bytes(8, "little"))


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def wait_go():
    return sys.stdin.readline() != ""


def put_once(client, oid, payload):
    buf = client.create(oid, len(payload))
    memoryview(buf).cast("B")[:] = payload
    client.seal(oid)
    del buf  # drops the last reference: the client releases the object


def run_put(client, size, iters, warmup):
    ids = Ids()
    payload = bytes((i * 31 + 7) % 256 for i in range(size))
    for _ in range(warmup):
        put_once(client, ids.next(), payload)
    todo = [ids.next() for _ in range(iters)]
    emit({"ready": True})
    if not wait_go():
        return
    t0 = time.perf_counter()
    for oid in todo:
        put_once(client, oid, payload)
    emit({"ops": iters, "secs": time.perf_counter() - t0})


def get_once(client, oid):
    [buf] = client.get_buffers([oid])
    return buf.size  # `buf` dies here: the client releases the object


def run_get(client, size, iters, warmup):
    ids = Ids()
    oid = ids.next()
    put_once(client, oid, bytes(size))
    for _ in range(warmup):
        get_once(client, oid)
    emit({"ready": True})
    if not wait_go():
        return
    total = 0
    t0 = time.perf_counter()
    for _ in range(iters):
        total += get_once(client, oid)
    secs = time.perf_counter() - t0
    if total != size * iters:
        raise SystemExit("get returned wrong sizes")
    emit({"ops": iters, "secs": secs})


def run_putget(client, size, iters, warmup):
    ids = Ids()
    payload = bytes((i * 31 + 7) % 256 for i in range(size))

    def once(oid):
        client.put_raw_buffer(payload, oid)
        [buf] = client.get_buffers([oid])
        return buf.size  # `buf` dies here: the client releases the object

    for _ in range(warmup):
        once(ids.next())
    todo = [ids.next() for _ in range(iters)]
    emit({"ready": True})
    if not wait_go():
        return
    total = 0
    t0 = time.perf_counter()
    for oid in todo:
        total += once(oid)
    secs = time.perf_counter() - t0
    if total != size * iters:
        raise SystemExit("get returned wrong sizes")
    emit({"ops": iters, "secs": secs})


def big_array(size):
    import numpy as np

    return np.arange(size // 8, dtype=np.float64)


def run_bigput(client, size, iters, warmup):
    ids = Ids()
    array = big_array(size)

    def once():
        oid = client.put(array, ids.next())
        t = time.perf_counter()
        client.delete([oid])
        return time.perf_counter() - t

    for _ in range(warmup):
        once()
    emit({"ready": True})
    if not wait_go():
        return
    t0 = time.perf_counter()
    untimed = sum(once() for _ in range(iters))
    emit({"ops": iters, "secs": time.perf_counter() - t0 - untimed})


def run_bigget(client, size, iters, warmup):
    array = big_array(size)
    oid = client.put(array, Ids().next())
    for _ in range(warmup):
        client.get(oid)
    emit({"ready": True})
    if not wait_go():
        return
    t0 = time.perf_counter()
    total = 0
    for _ in range(iters):
        total += client.get(oid).nbytes  # released as the array dies
    secs = time.perf_counter() - t0
    if total != array.nbytes * iters:
        raise SystemExit("get returned wrong sizes")
    emit({"ops": iters, "secs": secs})


def run_await(sock, ids_file, stamps_file):
    import asyncio

    from plasma_store import async_api

    with open(ids_file) as f:
        ids = [plasma.ObjectID(bytes.fromhex(line.strip())) for line in f if line.strip()]

    async def main():
        async_api.init(sock)
        futures = [async_api.as_future(oid, raw=True) for oid in ids]
        await asyncio.sleep(0.2)  # every Await written and registered
        emit({"ready": True})
        loop = asyncio.get_running_loop()
        go = loop.run_in_executor(None, wait_go)
        t0 = time.perf_counter()
        stamps = []
        kept = []
        for future in futures:
            kept.append(await future)
            stamps.append(time.monotonic_ns())
        secs = time.perf_counter() - t0
        await go
        with open(stamps_file, "w") as f:
            f.write("".join(f"{s}\n" for s in stamps))
        emit({"ops": len(ids), "secs": secs})
        async_api.shutdown()

    asyncio.run(main())


def mallinfo_bytes():
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                     "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


def run_pending(sock, n):
    if os.environ.get("PYTHONMALLOC") != "malloc":
        env = dict(os.environ, PYTHONMALLOC="malloc")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    import asyncio
    import gc

    from plasma_store import async_api

    ids = [plasma.ObjectID.from_random() for _ in range(n)]

    async def main():
        async_api.init(sock)
        warm = [async_api.as_future(plasma.ObjectID.from_random()) for _ in range(1000)]
        await asyncio.sleep(0.1)
        for f in warm:
            f.cancel()
        await asyncio.sleep(0.1)
        del warm
        gc.collect()
        before = mallinfo_bytes()
        t0 = time.perf_counter()
        futures = [async_api.as_future(oid) for oid in ids]
        await asyncio.sleep(0.3)  # registered and written out
        secs = time.perf_counter() - t0
        gc.collect()
        after = mallinfo_bytes()
        emit({"ready": True})
        await asyncio.get_running_loop().run_in_executor(None, wait_go)
        assert not any(f.done() for f in futures)
        emit({"ops": n, "secs": secs, "heap_per_future": (after - before) / n})
        async_api.shutdown()

    asyncio.run(main())


def main():
    if len(sys.argv) < 4:
        raise SystemExit("usage: bench_client.py SOCKET OP ARGS... (see the module doc)")
    sock, op = sys.argv[1], sys.argv[2]
    if op == "await":
        run_await(sock, sys.argv[3], sys.argv[4])
        wait_go()
        return
    if op == "pending":
        run_pending(sock, int(sys.argv[3]))
        wait_go()
        return
    size, iters, warmup = (int(a) for a in sys.argv[3:6])
    client = plasma.connect(sock)
    runs = {"put": run_put, "get": run_get, "putget": run_putget, "bigput": run_bigput, "bigget": run_bigget}
    if op not in runs:
        raise SystemExit("unknown op " + op)
    runs[op](client, size, iters, warmup)
    wait_go()
    client.disconnect()


if __name__ == "__main__":
    main()
