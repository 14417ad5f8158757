#!/usr/bin/python3
"""FindOne's median latency through the client and through the raw
generated stub, on the same channel; prints JSON.

    /usr/bin/python3 clients/python/bench/findone.py ADDRESS [ITERATIONS]

The client's call includes encoding the filter dict and decoding the
returned document; the raw stub's sends a request built once and leaves the
response undecoded, so the ratio bounds the client's whole overhead. The
two alternate in rounds so that drift in the machine's load hits both.
"""

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import bson  # noqa: E402

from mongogate import MongogateClient  # noqa: E402
from mongogate._pb import common_pb2, document_pb2, document_pb2_grpc  # noqa: E402


def main():
    addr = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
    client = MongogateClient(addr, timeout=30)
    coll = client["bench_py"]["findone"]
    coll.delete_many({})
    coll.insert_one({"_id": 1, "name": "widget", "qty": 7, "tags": ["a", "b"], "price": 9.5})
    raw = document_pb2_grpc.DocumentServiceStub(client.channel)
    req = document_pb2.FindOneRequest(
        namespace=common_pb2.Namespace(database="bench_py", collection="findone"),
        filter=common_pb2.Document(bson=bson.encode({"_id": 1})),
        response_format=common_pb2.DOCUMENT_FORMAT_BSON)

    def via_client():
        return coll.find_one({"_id": 1})

    def via_raw():
        return raw.FindOne(req, timeout=30)

    for _ in range(300):  # warm up both paths
        via_client()
        via_raw()
    assert via_client()["qty"] == 7
    times = {"client": [], "raw": []}
    rounds, per = 20, max(1, n // 20)
    for r in range(rounds):
        order = (("client", via_client), ("raw", via_raw)) if r % 2 == 0 else (("raw", via_raw), ("client", via_client))
        for name, fn in order:
            ts = times[name]
            for _ in range(per):
                t0 = time.perf_counter_ns()
                fn()
                ts.append(time.perf_counter_ns() - t0)
    c50 = statistics.median(times["client"]) / 1000
    r50 = statistics.median(times["raw"]) / 1000
    client.close()
    print(json.dumps({"Iterations": rounds * per, "ClientP50": c50, "RawP50": r50, "Ratio": c50 / r50}))


if __name__ == "__main__":
    main()
