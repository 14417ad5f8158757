"""mongogate over HTTP from Python's standard library only (urllib, json).

Runs a transaction over the Connect protocol (JSON) and over REST, reads a
500-document Find both ways, and provokes error reasons, checking each
one's code on both protocols. test/web/python_test.go starts the servers
and passes:

  MONGOGATE_HTTP  base URL, e.g. http://127.0.0.1:50051
  MONGOGATE_DB    a database of the test's own
  ALICE_KEY, BOB_KEY  API keys; alice may write MONGOGATE_DB only (authz)
  SESSION_LIMIT   sessions a principal may hold
"""

import json
import os
import struct
import sys
import time
import urllib.error
import urllib.request

BASE = os.environ["MONGOGATE_HTTP"]
DB = os.environ["MONGOGATE_DB"]
ALICE = os.environ["ALICE_KEY"]
BOB = os.environ["BOB_KEY"]
SESSION_LIMIT = int(os.environ["SESSION_LIMIT"])

# Connect's code names and REST's HTTP statuses of the gRPC codes a
# reason comes with (google/rpc/code.proto).
HTTP_STATUS = {
    "invalid_argument": 400, "failed_precondition": 400, "out_of_range": 400,
    "unauthenticated": 401, "permission_denied": 403, "not_found": 404,
    "aborted": 409, "already_exists": 409, "resource_exhausted": 429,
    "canceled": 499, "internal": 500, "unknown": 500, "unimplemented": 501,
    "unavailable": 503, "deadline_exceeded": 504,
}
GRPC_CODE = {
    "canceled": 1, "unknown": 2, "invalid_argument": 3, "deadline_exceeded": 4,
    "not_found": 5, "already_exists": 6, "permission_denied": 7,
    "resource_exhausted": 8, "failed_precondition": 9, "aborted": 10,
    "out_of_range": 11, "unimplemented": 12, "internal": 13, "unavailable": 14,
    "unauthenticated": 16,
}


def post(path, body, key=ALICE, content_type="application/json", raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method="POST")
    req.add_header("Content-Type", content_type)
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Connect:
    """Calls over the Connect protocol with JSON."""

    name = "connect"

    @staticmethod
    def call(service, method, body, key=ALICE):
        status, data = post("/mongogate.v1.%s/%s" % (service, method), body, key)
        return status, json.loads(data or b"{}")

    @staticmethod
    def reason(status, body):
        """The code name and ErrorInfo reason of an error answer."""
        for d in body.get("details", []):
            if d.get("type") == "google.rpc.ErrorInfo":
                code = body["code"]
                assert status == HTTP_STATUS[code], (status, body)
                return code, d["debug"]["reason"]
        raise AssertionError("no ErrorInfo in %r (HTTP %d)" % (body, status))

    @staticmethod
    def find(body, key=ALICE):
        """A Find, read as a Connect stream: the documents, or the error."""
        msg = json.dumps(body).encode()
        status, data = post("/mongogate.v1.DocumentService/Find", None, key,
                            "application/connect+json", struct.pack(">BI", 0, len(msg)) + msg)
        assert status == 200, (status, data)
        docs, batches = [], 0
        while data:
            flags, n = struct.unpack(">BI", data[:5])
            payload, data = json.loads(data[5:5 + n]), data[5 + n:]
            if flags & 2:
                if "error" in payload:
                    raise AssertionError("stream error %r" % payload["error"])
                return docs, batches
            batches += 1
            docs.extend(payload.get("documents", []))
        raise AssertionError("stream without its end message")


REST_PATHS = {
    ("SessionService", "StartSession"): "/v1/sessions",
    ("SessionService", "GetSession"): "/v1/sessions:get",
    ("SessionService", "EndSession"): "/v1/sessions:end",
    ("TransactionService", "StartTransaction"): "/v1/sessions:startTransaction",
    ("TransactionService", "CommitTransaction"): "/v1/sessions:commitTransaction",
    ("TransactionService", "AbortTransaction"): "/v1/sessions:abortTransaction",
}


class REST:
    """The same calls over the REST paths."""

    name = "rest"

    @staticmethod
    def call(service, method, body, key=ALICE):
        path = REST_PATHS.get((service, method))
        if path is None:
            ns = body.pop("namespace")
            verb = method[0].lower() + method[1:]
            path = "/v1/databases/%s/collections/%s:%s" % (ns["database"], ns["collection"], verb)
        status, data = post(path, body, key)
        return status, json.loads(data or b"{}")

    @staticmethod
    def reason(status, body):
        for d in body.get("details", []):
            if d.get("@type") == "type.googleapis.com/google.rpc.ErrorInfo":
                code = next(name for name, n in GRPC_CODE.items() if n == body["code"])
                assert status == HTTP_STATUS[code], (status, body)
                return code, d["reason"]
        raise AssertionError("no ErrorInfo in %r (HTTP %d)" % (body, status))

    @staticmethod
    def find(body, key=ALICE):
        ns = body.pop("namespace")
        status, data = post("/v1/databases/%s/collections/%s:find" % (ns["database"], ns["collection"]), body, key)
        assert status == 200, (status, data)
        return json.loads(data)["documents"], 1


def ok(p, service, method, body, key=ALICE):
    status, resp = p.call(service, method, dict(body), key)
    assert status == 200, "%s %s.%s: HTTP %d %r" % (p.name, service, method, status, resp)
    return resp


def fails(p, want_code, want_reason, service, method, body, key=ALICE):
    status, resp = p.call(service, method, dict(body), key)
    assert status != 200, "%s %s.%s succeeded, want %s" % (p.name, service, method, want_reason)
    code, reason = p.reason(status, resp)
    assert (code, reason) == (want_code, want_reason), \
        "%s %s.%s: %s %s, want %s %s" % (p.name, service, method, code, reason, want_code, want_reason)
    print("%-8s %-28s %s (HTTP %d)" % (p.name, reason, code, status))


def ns(coll):
    return {"database": DB, "collection": coll}


def start_session(p, options=None, client=None):
    body = {}
    if options:
        body["options"] = options
    if client:
        body["client"] = client
    return ok(p, "SessionService", "StartSession", body)["session"]["token"]


def end_session(p, token):
    ok(p, "SessionService", "EndSession", {"sessionToken": token})


def transaction(p):
    coll = "txn_" + p.name
    token = start_session(p)
    ok(p, "TransactionService", "StartTransaction", {"sessionToken": token})
    doc = {"_id": {"$oid": "65f1c0de2b7e4a1d9c3b8a0" + ("1" if p is Connect else "2")},
           "n": {"$numberLong": "1"}, "when": {"$date": {"$numberLong": "1700000000000"}}}
    ok(p, "DocumentService", "InsertOne", {"sessionToken": token, "namespace": ns(coll), "document": doc})
    outside = ok(p, "DocumentService", "FindOne", {"namespace": ns(coll), "filter": {"_id": doc["_id"]}})
    assert "document" not in outside, "visible before the commit: %r" % outside
    committed = ok(p, "TransactionService", "CommitTransaction", {"sessionToken": token, "transactionNumber": "1"})
    assert committed == {"transactionNumber": "1", "committed": True}, committed
    after = ok(p, "DocumentService", "FindOne", {"namespace": ns(coll), "filter": {"_id": doc["_id"]}})
    assert after["document"] == doc, "read back %r, wrote %r" % (after["document"], doc)
    end_session(p, token)
    print("%-8s transaction committed, its document visible only after the commit" % p.name)


def find_500():
    docs = [{"_id": {"$numberInt": str(i)}, "pad": "x" * 20} for i in range(500)]
    ok(REST, "DocumentService", "InsertMany", {"namespace": ns("five_hundred"), "documents": docs})
    for p in (REST, Connect):
        got, batches = p.find({"namespace": ns("five_hundred"), "options": {"sort": {"_id": 1}}})
        assert got == docs, "%s: %d documents, not the 500 inserted in order" % (p.name, len(got))
        print("%-8s find read 500 documents in %d message(s)" % (p.name, batches))


def errors():
    for p in (Connect, REST):
        token = start_session(p)
        t = {"sessionToken": token}
        fails(p, "not_found", "SESSION_NOT_FOUND", "SessionService", "GetSession", {"sessionToken": token + "x"})
        fails(p, "invalid_argument", "INVALID_ARGUMENT", "DocumentService", "InsertOne",
              {"namespace": ns("e"), "document": {"a": {"$numberLong": "not a number"}}})
        fails(p, "invalid_argument", "FORBIDDEN_OPERATOR", "DocumentService", "FindOne",
              {"namespace": ns("e"), "filter": {"$where": "true"}})
        fails(p, "failed_precondition", "NO_TRANSACTION", "TransactionService", "CommitTransaction", t)
        ok(p, "TransactionService", "StartTransaction", t)
        fails(p, "failed_precondition", "TRANSACTION_IN_PROGRESS", "TransactionService", "StartTransaction", t)
        fails(p, "failed_precondition", "SESSION_CLIENT_MISMATCH", "DocumentService", "InsertOne",
              dict(t, client="other", namespace=ns("e"), document={"a": 1}))
        ok(p, "TransactionService", "AbortTransaction", t)
        fails(p, "aborted", "TRANSACTION_ABORTED", "TransactionService", "CommitTransaction", t)
        ok(p, "DocumentService", "InsertOne", {"namespace": ns("dup_" + p.name), "document": {"_id": 1}})
        fails(p, "already_exists", "DUPLICATE_KEY", "DocumentService", "InsertOne",
              {"namespace": ns("dup_" + p.name), "document": {"_id": 1}})
        fails(p, "unauthenticated", "UNAUTHENTICATED", "SessionService", "StartSession", {}, key=None)
        fails(p, "permission_denied", "NAMESPACE_FORBIDDEN", "DocumentService", "InsertOne",
              {"namespace": {"database": "elsewhere", "collection": "x"}, "document": {"a": 1}})
        end_session(p, token)

        standalone = start_session(p, client="standalone")
        fails(p, "failed_precondition", "TRANSACTIONS_NOT_SUPPORTED", "TransactionService", "StartTransaction",
              {"sessionToken": standalone})
        end_session(p, standalone)

        short = start_session(p, options={"idleTimeout": "1s"})
        deadline = time.monotonic() + 10
        while True:
            status, resp = p.call("SessionService", "GetSession", {"sessionToken": short})
            if status != 200:
                code, reason = p.reason(status, resp)
                assert (code, reason) == ("not_found", "SESSION_EXPIRED"), (code, reason)
                print("%-8s %-28s %s (HTTP %d)" % (p.name, reason, code, status))
                break
            assert time.monotonic() < deadline, "a session idle for 1s had not expired after 10s"
            time.sleep(0.2)  # polling for the expiry, bounded above

        bobs = [ok(p, "SessionService", "StartSession", {}, key=BOB)["session"]["token"]
                for _ in range(SESSION_LIMIT)]
        fails(p, "resource_exhausted", "SESSION_LIMIT", "SessionService", "StartSession", {}, key=BOB)
        for b in bobs:
            ok(p, "SessionService", "EndSession", {"sessionToken": b}, key=BOB)

    many = [{"_id": i} for i in range(10_001)]
    ok(REST, "DocumentService", "InsertMany", {"namespace": ns("too_many"), "documents": many})
    status, data = post("/v1/databases/%s/collections/too_many:find" % DB, {})
    code, reason = REST.reason(status, json.loads(data))
    assert (code, reason) == ("resource_exhausted", "RESULT_TOO_LARGE"), (code, reason)
    print("%-8s %-28s %s (HTTP %d)" % ("rest", reason, code, status))


def main():
    for p in (Connect, REST):
        transaction(p)
    find_500()
    errors()
    print("ok")


if __name__ == "__main__":
    sys.exit(main())
