#!/usr/bin/python3
"""A mongogate transaction from Python, with nothing but gRPC stubs.

    /usr/bin/python3 scenario.py ADDR

Starts a session, runs one transaction that commits and one that aborts,
and checks after each step what a reader outside the session sees. Prints
every step; exits 1 on the first mismatch or RPC error.

The stubs come from proto/ (protoc --python_out --grpc_out with
grpc_python_plugin). Put the directory holding them on PYTHONPATH, as
test/otherlang does; without it the script generates them itself into a
temporary directory. Run it with Debian's /usr/bin/python3, which sees
Debian's python3-grpcio and python3-protobuf (scripts/install-otherlang.sh).
"""

import atexit
import glob
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "..", "proto"))


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
        subprocess.run(
            ["protoc", "-I", PROTO_ROOT, "--python_out", out, "--grpc_out", out,
             "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", *protoc_flags(), *protos],
            check=True)
        sys.path.insert(0, out)
        print(f"generated stubs in {out}")
    from mongogate.v1 import common_pb2, document_pb2, document_pb2_grpc
    from mongogate.v1 import session_pb2, session_pb2_grpc
    from mongogate.v1 import transaction_pb2, transaction_pb2_grpc
    return (common_pb2, document_pb2, document_pb2_grpc, session_pb2,
            session_pb2_grpc, transaction_pb2, transaction_pb2_grpc)


(common_pb2, document_pb2, document_pb2_grpc, session_pb2, session_pb2_grpc,
 transaction_pb2, transaction_pb2_grpc) = import_stubs()

TIMEOUT = 10  # seconds, per RPC


class Mismatch(Exception):
    pass


def check(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: got {got!r}, want {want!r}")
    print(f"  ok   {what} = {got!r}")


def doc(obj):
    """A Document holding canonical Extended JSON."""
    return common_pb2.Document(json=json.dumps(obj))


class Scenario:
    def __init__(self, channel, database):
        self.sessions = session_pb2_grpc.SessionServiceStub(channel)
        self.txns = transaction_pb2_grpc.TransactionServiceStub(channel)
        self.docs = document_pb2_grpc.DocumentServiceStub(channel)
        self.ns = common_pb2.Namespace(database=database, collection="accounts")

    def count(self, token, flt):
        return self.docs.CountDocuments(document_pb2.CountDocumentsRequest(
            session_token=token, namespace=self.ns, filter=doc(flt)), timeout=TIMEOUT).count

    def find_one(self, token, flt):
        resp = self.docs.FindOne(document_pb2.FindOneRequest(
            session_token=token, namespace=self.ns, filter=doc(flt)), timeout=TIMEOUT)
        return json.loads(resp.document.json) if resp.HasField("document") else None

    def insert(self, token, body):
        resp = self.docs.InsertOne(document_pb2.InsertOneRequest(
            session_token=token, namespace=self.ns, document=doc(body)), timeout=TIMEOUT)
        print(f"  insert {json.dumps(body)} -> inserted_id {resp.inserted_id.json}")
        return resp

    def outcome(self, token):
        s = self.sessions.GetSession(session_pb2.GetSessionRequest(session_token=token), timeout=TIMEOUT).session
        return session_pb2.TransactionOutcome.Name(s.last_transaction.outcome)

    def run(self):
        print(f"namespace {self.ns.database}.{self.ns.collection}")
        token = self.sessions.StartSession(session_pb2.StartSessionRequest(), timeout=TIMEOUT).session.token
        print(f"StartSession -> token {token[:12]}…")
        try:
            self.commit_path(token)
            self.abort_path(token)
        finally:
            self.sessions.EndSession(session_pb2.EndSessionRequest(session_token=token), timeout=TIMEOUT)
            print("EndSession")

    def commit_path(self, token):
        committed = {"batch": {"$numberInt": "1"}}
        txn = self.txns.StartTransaction(transaction_pb2.StartTransactionRequest(session_token=token),
                                         timeout=TIMEOUT)
        print(f"StartTransaction -> transaction_number {txn.transaction_number}")
        alice_id = {"$oid": secrets.token_hex(12)}
        self.insert(token, {"_id": alice_id, "name": "alice", "batch": {"$numberInt": "1"},
                            "balance": {"$numberLong": "100"}})
        self.insert(token, {"name": "bob", "batch": {"$numberInt": "1"},
                            "balance": {"$numberDecimal": "250.75"}})
        check("count inside the transaction", self.count(token, committed), 2)
        check("count outside before commit", self.count("", committed), 0)
        check("findOne alice outside before commit", self.find_one("", {"_id": alice_id}), None)

        resp = self.txns.CommitTransaction(transaction_pb2.CommitTransactionRequest(
            session_token=token, transaction_number=txn.transaction_number), timeout=TIMEOUT)
        print(f"CommitTransaction -> committed {resp.committed}")
        check("commit response committed", resp.committed, True)
        check("last transaction outcome", self.outcome(token), "TRANSACTION_OUTCOME_COMMITTED")
        check("count outside after commit", self.count("", committed), 2)
        alice = self.find_one("", {"_id": alice_id})
        check("findOne alice outside after commit: _id", alice and alice.get("_id"), alice_id)
        check("findOne alice outside after commit: balance (canonical int64)",
              alice and alice.get("balance"), {"$numberLong": "100"})

    def abort_path(self, token):
        aborted = {"batch": {"$numberInt": "2"}}
        txn = self.txns.StartTransaction(transaction_pb2.StartTransactionRequest(session_token=token),
                                         timeout=TIMEOUT)
        print(f"StartTransaction -> transaction_number {txn.transaction_number}")
        carol_id = {"$oid": secrets.token_hex(12)}
        self.insert(token, {"_id": carol_id, "name": "carol", "batch": {"$numberInt": "2"}})
        self.insert(token, {"name": "dave", "batch": {"$numberInt": "2"}})
        check("count inside the transaction", self.count(token, aborted), 2)
        check("count outside before abort", self.count("", aborted), 0)
        check("findOne carol outside before abort", self.find_one("", {"_id": carol_id}), None)

        resp = self.txns.AbortTransaction(transaction_pb2.AbortTransactionRequest(
            session_token=token, transaction_number=txn.transaction_number), timeout=TIMEOUT)
        print(f"AbortTransaction -> aborted {resp.aborted}")
        check("abort response aborted", resp.aborted, True)
        check("last transaction outcome", self.outcome(token), "TRANSACTION_OUTCOME_ABORTED")
        check("count outside after abort", self.count("", aborted), 0)
        check("count in the session after abort", self.count(token, aborted), 0)
        check("findOne carol outside after abort", self.find_one("", {"_id": carol_id}), None)
        check("committed documents untouched", self.count("", {}), 2)


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} ADDR")
    addr = sys.argv[1]
    database = "mg_otherlang_py_" + secrets.token_hex(4)
    with grpc.insecure_channel(addr) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        except grpc.FutureTimeoutError:
            print(f"FAIL no gRPC server at {addr} within {TIMEOUT} s")
            return 1
        try:
            Scenario(channel, database).run()
        except Mismatch as e:
            print(f"FAIL {e}")
            return 1
        except grpc.RpcError as e:
            print(f"FAIL rpc error {e.code().name}: {e.details()}")
            return 1
    print("PASS python scenario")
    return 0


if __name__ == "__main__":
    sys.exit(main())
