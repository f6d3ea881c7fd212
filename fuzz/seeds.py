#!/usr/bin/env python3
"""Seeds the fuzz corpora from the frames captured between pyarrow 11 and
the real Plasma 11 store (protocol/tests/data/vectors.json).

usage: fuzz/seeds.py VECTORS_JSON CORPUS_DIR

Writes CORPUS_DIR/{frame,request,reply}/<name>: for `request` and `reply`,
one byte of message type then the payload (the targets' input format); for
`frame`, a limit-picking byte then the whole frame or notification as it
crossed the socket. Captured payloads shown abbreviated are skipped.
Existing files are kept, so a corpus grown by earlier runs stays.
"""

import hashlib
import json
import os
import sys


def unhex(text):
    if text is None or "..." in text:
        return None
    return bytes.fromhex(text)


def write(corpus, target, data):
    folder = os.path.join(corpus, target)
    os.makedirs(folder, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    vectors, corpus = sys.argv[1], sys.argv[2]
    with open(vectors) as f:
        capture = json.load(f)
    counts = {}
    for scenario in capture["scenarios"]:
        for record in scenario["records"]:
            payload = unhex(record.get("payload_hex"))
            if payload is None:
                continue
            kind, direction = record.get("kind"), record.get("dir")
            if kind == "frame":
                msg_type = record["type"]
                header = unhex(record["header_hex"])
                target = "request" if direction == "c2s" else "reply"
                seeds = [(target, bytes([msg_type]) + payload), ("frame", b"\x03" + header + payload)]
            elif kind == "notification":
                prefix = len(payload).to_bytes(8, "little")
                seeds = [("frame", b"\x03" + prefix + payload)]
            else:
                continue
            for target, data in seeds:
                write(corpus, target, data)
                counts[target] = counts.get(target, 0) + 1
    print("seeded " + ", ".join(f"{t}: {n}" for t, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
