#!/usr/bin/python3
"""FindOne and InsertOne from Python, through mongogate and with PyMongo.

    /usr/bin/python3 compare.py --gate ADDR --mongo URI --db NAME
                                [--rounds N] [--dur SECONDS | --ops N] [--warm N]

One client, one process, in alternating rounds (each round starts with the
other side, so drift of a noisy machine falls on both):

  mongogate  Python gRPC (grpcio, stubs generated from proto/) -> mongogate
             at ADDR -> the backend; documents as BSON both ways (encoded
             and decoded with PyMongo's bson, as the Go client does).
  PyMongo    PyMongo -> the same backend at URI.

FindOne reads a random _id of 1,000 seeded documents; InsertOne inserts a
document without _id (PyMongo adds an ObjectId itself, mongogate's server
adds one). Prints p50, p99 and ops/s of each side and mongogate/PyMongo.
Exits 1 on any error, 2 if PyMongo cannot talk to the backend at all.

test/bench's TestBenchPython runs it against an in-process emulator and
gate. The stubs come from PYTHONPATH, or are generated into a temporary
directory when missing there (protoc and grpc_python_plugin, Debian's
protobuf-compiler and protobuf-compiler-grpc). Run it with Debian's
/usr/bin/python3, which sees python3-grpcio and python3-pymongo
(scripts/install-otherlang.sh installs both).
"""

import argparse
import atexit
import glob
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

import bson
import grpc
import pymongo
import pymongo.errors
from pymongo import common

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "..", "proto"))
GOOGLEAPIS = os.path.join(os.path.dirname(PROTO_ROOT), "third_party", "googleapis")
SEEDED = 1000
PAYLOAD = "x" * 64
TIMEOUT = 10  # seconds, per operation


def protoc_flags():
    """Extra protoc flags for proto3 `optional`: built in from protoc 3.15,
    behind a flag in 3.12 to 3.14, missing before."""
    out = subprocess.run(["protoc", "--version"], check=True, capture_output=True, text=True).stdout
    m = re.search(r"(\d+)\.(\d+)", out)
    if not m:
        sys.exit(f"cannot read protoc version from {out!r}")
    major, minor = int(m.group(1)), int(m.group(2))
    if major == 3 and minor < 12:
        sys.exit(f"{out.strip()} cannot compile proto3 optional; need protoc >= 3.12")
    if major == 3 and minor < 15:
        return ["--experimental_allow_proto3_optional"]
    return []


def import_stubs():
    """Imports the generated modules, generating them first if needed."""
    try:
        from mongogate.v1 import common_pb2  # noqa: F401
    except ImportError:
        out = tempfile.mkdtemp(prefix="mongogate-py-")
        atexit.register(shutil.rmtree, out, ignore_errors=True)
        protos = sorted(glob.glob(os.path.join(PROTO_ROOT, "mongogate", "v1", "*.proto")))
        # google.api.http's definition, which the contract imports.
        protos += [os.path.join(GOOGLEAPIS, "google", "api", f) for f in ("annotations.proto", "http.proto")]
        subprocess.run(
            ["protoc", "-I", PROTO_ROOT, "-I", GOOGLEAPIS, "--python_out", out, "--grpc_out", out,
             "--plugin=protoc-gen-grpc=" + shutil.which("grpc_python_plugin"), *protoc_flags(), *protos],
            check=True)
        sys.path.insert(0, out)
    from mongogate.v1 import common_pb2, document_pb2, document_pb2_grpc
    return common_pb2, document_pb2, document_pb2_grpc


common_pb2, document_pb2, document_pb2_grpc = import_stubs()
BSON = common_pb2.DOCUMENT_FORMAT_BSON


def new_doc(n):
    return {"n": n, "name": "user", "payload": PAYLOAD}


class Gate:
    """The mongogate side: raw gRPC stubs, BSON documents."""

    def __init__(self, channel, db):
        self.docs = document_pb2_grpc.DocumentServiceStub(channel)
        self.users = common_pb2.Namespace(database=db, collection="py_users")
        self.inserts = common_pb2.Namespace(database=db, collection="py_insert_mongogate")

    def find_one(self, i):
        resp = self.docs.FindOne(document_pb2.FindOneRequest(
            namespace=self.users, filter=common_pb2.Document(bson=bson.encode({"_id": i})),
            response_format=BSON), timeout=TIMEOUT)
        if not resp.HasField("document"):
            raise LookupError(f"mongogate: no document with _id {i}")
        return bson.decode(resp.document.bson)

    def insert_one(self, n):
        resp = self.docs.InsertOne(document_pb2.InsertOneRequest(
            namespace=self.inserts, document=common_pb2.Document(bson=bson.encode(new_doc(n))),
            response_format=BSON), timeout=TIMEOUT)
        return bson.decode(resp.inserted_id.bson)["v"]


class Direct:
    """The PyMongo side."""

    def __init__(self, client, db):
        self.users = client[db]["py_users"]
        self.inserts = client[db]["py_insert_pymongo"]

    def find_one(self, i):
        doc = self.users.find_one({"_id": i})
        if doc is None:
            raise LookupError(f"pymongo: no document with _id {i}")
        return doc

    def insert_one(self, n):
        return self.inserts.insert_one(new_doc(n)).inserted_id


def run_round(op, ops, dur, lat):
    """Runs op until ops operations are done (ops > 0) or dur seconds have
    passed; appends each latency (ns) to lat when it is not None. Returns
    (operations, elapsed seconds)."""
    done = 0
    start = time.perf_counter_ns()
    deadline = start + int(dur * 1e9)
    while True:
        t0 = time.perf_counter_ns()
        op()
        t1 = time.perf_counter_ns()
        if lat is not None:
            lat.append(t1 - t0)
        done += 1
        if (ops > 0 and done >= ops) or (ops <= 0 and t1 >= deadline):
            return done, (t1 - start) / 1e9


def measure(sides, args):
    """Alternating rounds of each side's op; returns {name: (latencies,
    operations, seconds)}."""
    for _, op in sides:
        run_round(op, args.warm, 0, None)
    out = {name: ([], 0, 0.0) for name, _ in sides}
    for r in range(args.rounds):
        for k in range(len(sides)):
            name, op = sides[(k + r) % len(sides)]
            lat, ops, secs = out[name]
            n, s = run_round(op, args.ops, args.dur, lat)
            out[name] = (lat, ops + n, secs + s)
    for lat, _, _ in out.values():
        lat.sort()
    return out


def quantile(lat, q):
    """Nearest rank, as test/bench's Go side."""
    if not lat:
        return 0
    i = int(q * len(lat) + 0.5) - 1
    return lat[min(max(i, 0), len(lat) - 1)]


def report(rows, figure, res):
    g_lat, g_ops, g_secs = res["mongogate"]
    d_lat, d_ops, d_secs = res["pymongo"]
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        g, d = quantile(g_lat, q) / 1e3, quantile(d_lat, q) / 1e3
        rows.append((f"{figure}, 1 client {name}", f"{g:.0f} µs", f"{d:.0f} µs",
                     f"{g / d:.2f}" if d else "n/a", f"{g - d:+.0f} µs"))
    g, d = g_ops / g_secs, d_ops / d_secs
    rows.append((f"{figure}, 1 client", f"{g:.0f} ops/s", f"{d:.0f} ops/s",
                 f"{g / d:.2f}" if d else "n/a", f"{1e6 / g - 1e6 / d:+.0f} µs/op"))


def print_table(title, rows):
    head = ("figure", "mongogate (grpcio)", "PyMongo", "mg/PyMongo", "mg−PyMongo")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print()
    print(title)
    for n, r in enumerate([head, *rows]):
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        print(" | ".join(cells))
        if n == 0:
            print("-" * (sum(widths) + 3 * (len(widths) - 1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gate", required=True, help="mongogate's address, host:port")
    ap.add_argument("--mongo", required=True, help="connection string of the same backend")
    ap.add_argument("--db", required=True, help="database to use; its collections py_* are dropped at the end")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dur", type=float, default=2.0, help="seconds per side per round")
    ap.add_argument("--ops", type=int, default=0, help="operations per side per round instead of --dur")
    ap.add_argument("--warm", type=int, default=500, help="operations per side before the first round")
    args = ap.parse_args()

    client = pymongo.MongoClient(args.mongo, serverSelectionTimeoutMS=TIMEOUT * 1000)
    try:
        hello = client.admin.command("isMaster")
    except (pymongo.errors.ConfigurationError, pymongo.errors.ServerSelectionTimeoutError) as e:
        # PyMongo 3.11 speaks wire versions up to 9 (MongoDB 4.4); a
        # backend whose minWireVersion is above that is refused here.
        print(f"FAIL pymongo {pymongo.version} cannot talk to {args.mongo}: {e}")
        return 2
    db = client[args.db]
    for name in ("py_users", "py_insert_mongogate", "py_insert_pymongo"):
        db.drop_collection(name)
    db.py_users.insert_many([{"_id": i, "name": f"user-{i}", "n": i, "payload": PAYLOAD} for i in range(SEEDED)])

    with grpc.insecure_channel(args.gate) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        except grpc.FutureTimeoutError:
            print(f"FAIL no gRPC server at {args.gate} within {TIMEOUT} s")
            return 1
        gate, direct = Gate(channel, args.db), Direct(client, args.db)
        rows = []
        try:
            res = measure([("mongogate", lambda: gate.find_one(random.randrange(SEEDED))),
                           ("pymongo", lambda: direct.find_one(random.randrange(SEEDED)))], args)
            report(rows, "FindOne by _id", res)
            seq = iter(range(1 << 62))
            res = measure([("mongogate", lambda: gate.insert_one(next(seq))),
                           ("pymongo", lambda: direct.insert_one(next(seq)))], args)
            report(rows, "InsertOne", res)
            # What grpcio itself costs per call here: a health check, an
            # empty request (raw bytes, no stubs needed) on mongogate's
            # server, which does no work for it.
            check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                        request_serializer=lambda _: b"", response_deserializer=bytes)
            empty = measure([("grpcio", lambda: check(None, timeout=TIMEOUT))], args)["grpcio"][0]
        except grpc.RpcError as e:
            print(f"FAIL rpc error {e.code().name}: {e.details()}")
            return 1
        except (pymongo.errors.PyMongoError, LookupError) as e:
            print(f"FAIL {e}")
            return 1
    for name in ("py_users", "py_insert_mongogate", "py_insert_pymongo"):
        db.drop_collection(name)

    per = f"{args.ops} ops" if args.ops > 0 else f"{args.dur:g} s"
    print_table(
        f"Python side by side ({args.rounds} rounds × {per} per side; backend wire version {hello.get('maxWireVersion')}, "
        f"server {client.server_info().get('version')}; PyMongo {pymongo.version} "
        f"(C extensions: {'yes' if pymongo.has_c() and bson.has_c() else 'no'}) speaking wire version "
        f"{min(hello.get('maxWireVersion', 0), common.MAX_SUPPORTED_WIRE_VERSION)}; "
        f"grpcio {grpc.__version__}; Python {sys.version.split()[0]})", rows)
    print(f"an empty RPC from grpcio (health check on mongogate's server) takes p50 {quantile(empty, 0.5) / 1e3:.0f} µs, "
          f"p99 {quantile(empty, 0.99) / 1e3:.0f} µs: the Python client's own share of mongogate's column")
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
