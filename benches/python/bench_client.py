"""plasma-bench's Python client: pyarrow 11's own plasma client, pointed at
either store, so that the daemon alone is compared.

Usage: python bench_client.py SOCKET OP ARGS...
  put SIZE ITERS WARMUP   create + write + seal + release, ITERS times
                          after WARMUP untimed ones
  get SIZE ITERS WARMUP   one object of SIZE, then get + release ITERS
                          times after WARMUP untimed ones

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

warnings.simplefilter("ignore", DeprecationWarning)  # Plasma is deprecated in pyarrow 11
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


def main():
    if len(sys.argv) < 6:
        raise SystemExit("usage: bench_client.py SOCKET put|get SIZE ITERS WARMUP")
    sock, op = sys.argv[1], sys.argv[2]
    size, iters, warmup = (int(a) for a in sys.argv[3:6])
    client = plasma.connect(sock)
    if op == "put":
        run_put(client, size, iters, warmup)
    elif op == "get":
        run_get(client, size, iters, warmup)
    else:
        raise SystemExit("unknown op " + op)
    wait_go()
    client.disconnect()


if __name__ == "__main__":
    main()
