import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { ADDR2, ADDR3, API_KEY, TRANSPORTS, clientFor, dbName, encodeErrorInfo, failPoint, failPointOff, skipReason, sleep, wireError } from "./helpers.js";
import { ErrorReason, ErrorReasonSchema } from "../src/gen/mongogate/v1/common_pb.js";
import { nodeClientOptions } from "../src/node.js";
import { MongogateClient, MongogateError, connectTransport, REASONS, reasonOf, errorReasonFromWire, toMongogateError, type Reason } from "../src/index.js";

// The code that comes with each reason: the first word of each ErrorReason
// value's comment in common.proto (MONGO_ERROR's "(varies)" aside).
const CODE_OF: Record<Reason, Code | undefined> = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  FORBIDDEN_OPERATOR: Code.InvalidArgument,
  SESSION_NOT_FOUND: Code.NotFound,
  SESSION_EXPIRED: Code.NotFound,
  SESSION_CLIENT_MISMATCH: Code.FailedPrecondition,
  TRANSACTION_IN_PROGRESS: Code.FailedPrecondition,
  NO_TRANSACTION: Code.FailedPrecondition,
  TRANSACTIONS_NOT_SUPPORTED: Code.FailedPrecondition,
  TRANSACTION_ABORTED: Code.Aborted,
  UNKNOWN_COMMIT_RESULT: Code.Unavailable,
  DUPLICATE_KEY: Code.AlreadyExists,
  SESSION_LIMIT: Code.ResourceExhausted,
  UNAUTHENTICATED: Code.Unauthenticated,
  NAMESPACE_FORBIDDEN: Code.PermissionDenied,
  BACKEND_UNAVAILABLE: Code.Unavailable,
  SHUTTING_DOWN: Code.Unavailable,
  DEADLINE_EXCEEDED: Code.DeadlineExceeded,
  MONGO_ERROR: undefined,
  CANCELED: Code.Canceled,
  INTERNAL: Code.Internal,
  SESSION_OWNER_GONE: Code.NotFound,
  RESULT_TOO_LARGE: Code.ResourceExhausted,
  CHANGE_STREAM_HISTORY_LOST: Code.OutOfRange,
  WATCH_TOO_SLOW: Code.Unavailable,
};

test("REASONS is every ErrorReason value of the generated enum, named as on the wire", () => {
  const fromEnum = ErrorReasonSchema.values.filter((v) => v.number !== 0).map((v) => v.name.replace(/^ERROR_REASON_/, ""));
  assert.deepEqual([...REASONS], fromEnum);
  assert.ok(REASONS.length >= 22);
  for (const r of REASONS) {
    const n = errorReasonFromWire(r);
    assert.notEqual(n, undefined, r);
    assert.equal(reasonOf(n!), r);
    assert.ok(r in CODE_OF, `${r} has no expected code in this test`);
  }
  assert.equal(reasonOf(ErrorReason.UNSPECIFIED), "");
  assert.equal(errorReasonFromWire("UNSPECIFIED"), undefined);
});

test("every reason on the wire becomes MongogateError.reason (unit)", () => {
  for (const r of REASONS) {
    const code = CODE_OF[r] ?? Code.FailedPrecondition;
    const e = toMongogateError(wireError(code, r, { mongo_code: "112", mongo_code_name: "WriteConflict", labels: "TransientTransactionError,X" }));
    assert.ok(e instanceof MongogateError);
    assert.equal(e.reason, r);
    assert.equal(e.code, code);
    assert.equal(e.mongoCode, 112);
    assert.equal(e.mongoCodeName, "WriteConflict");
    assert.deepEqual([...e.labels], ["TransientTransactionError", "X"]);
    assert.ok(e.hasErrorLabel("TransientTransactionError"));
    assert.ok(e.retryable, "a TransientTransactionError label makes it retryable");
    assert.equal(e.rawMessage, "boom");
    assert.match(e.message, new RegExp(`^mongogate: ${r} \\(MongoDB 112 WriteConflict\\): boom$`));
  }
  // Another domain's ErrorInfo is not ours; a status without one has no reason.
  const other = new ConnectError("x", Code.NotFound);
  other.details = [{ type: "google.rpc.ErrorInfo", value: encodeErrorInfo("SESSION_NOT_FOUND", {}, "example.com") }];
  assert.equal(toMongogateError(other).reason, "");
  const bare = toMongogateError(new ConnectError("deadline", Code.DeadlineExceeded));
  assert.equal(bare.reason, "");
  assert.equal(bare.code, Code.DeadlineExceeded);
  assert.equal(bare.retryable, false);
});

test("RetryInfo and BadRequest details are decoded (unit)", () => {
  const retry = new BinaryWriter();
  retry.tag(1, 2).fork().tag(1, 0).int64(2).tag(2, 0).int32(500_000_000).join();
  const bad = new BinaryWriter();
  bad.tag(1, 2).fork().tag(1, 2).string("filter").tag(2, 2).string("not a document").join();
  const e = toMongogateError(
    wireError(Code.Unavailable, "SHUTTING_DOWN", {}, [
      { type: "google.rpc.RetryInfo", value: retry.finish() },
      { type: "google.rpc.BadRequest", value: bad.finish() },
    ]),
  );
  assert.equal(e.retryDelayMs, 2500);
  assert.ok(e.retryable);
  assert.deepEqual(e.violations, [{ field: "filter", description: "not a document" }]);
});

async function expectReason(p: Promise<unknown>, reason: Reason, what: string): Promise<MongogateError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MongogateError, `${what}: ${String(err)} is not a MongogateError`);
    assert.equal(err.reason, reason, `${what}: ${err.message}`);
    if (CODE_OF[reason] !== undefined) assert.equal(err.code, CODE_OF[reason], `${what}: code of ${err.message}`);
    return err;
  }
  assert.fail(`${what}: succeeded, want ${reason}`);
}

for (const tc of TRANSPORTS) {
  test(`the reasons a server reaches come back as MongogateError.reason over ${tc.name}`, async (t) => {
    const skip = await skipReason(tc);
    if (skip) return t.skip(skip);
    const client = clientFor(tc, t);
    const db = client.db(dbName("errors"));
    const coll = db.collection("c");
    await coll.insertOne({ _id: 1 });
    const seen = new Set<Reason>();
    const want = async (p: Promise<unknown>, r: Reason, what: string) => {
      const e = await expectReason(p, r, what);
      seen.add(r);
      return e;
    };

    const invalid = await want(client.db("").collection("").findOne({}), "INVALID_ARGUMENT", "empty namespace");
    assert.ok(invalid.violations.length > 0, "INVALID_ARGUMENT names the offending fields");
    const forbidden = await want(coll.findOne({ $where: "true" }), "FORBIDDEN_OPERATOR", "$where");
    assert.equal(forbidden.metadata["operator"], "$where");
    await want(coll.insertOne({ _id: 1 }), "DUPLICATE_KEY", "duplicate _id");

    const raw = client.stubs.docs;
    await want(raw.findOne({ sessionToken: "nobody.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", namespace: coll.ns() }).catch((e) => Promise.reject(toMongogateError(e))), "SESSION_NOT_FOUND", "unknown token");

    const s = await client.startSession();
    await s.startTransaction();
    await want(s.startTransaction(), "TRANSACTION_IN_PROGRESS", "second startTransaction");
    await s.startTransaction({ joinExisting: true });
    await s.abortTransaction();
    await want(coll.insertOne({ _id: 2 }, { session: s }), "TRANSACTION_ABORTED", "write after an inner abort");
    await s.abortTransaction().catch(() => {});
    await want(s.commitTransaction(), "TRANSACTION_ABORTED", "commit of the aborted transaction");
    await s.endSession();

    const s2 = await client.startSession();
    await want(s2.commitTransaction(), "NO_TRANSACTION", "commit without a transaction");
    await want(client.db(db.databaseName, { backend: "other" }).collection("c").findOne({}, { session: s2 }), "SESSION_CLIENT_MISMATCH", "session of another backend");
    await s2.endSession();

    const snap = await client.startSession({ snapshot: true });
    await want(snap.startTransaction(), "TRANSACTIONS_NOT_SUPPORTED", "transaction on a snapshot session");
    await snap.endSession();

    const short = await client.startSession({ idleTimeoutMS: 300, keepAliveIntervalMs: -1 });
    await sleep(1200);
    await want(coll.findOne({}, { session: short }), "SESSION_EXPIRED", "idle session");
    await short.endSession();

    await failPoint({ times: 1 }, { failCommands: ["distinct"], errorCode: 2 });
    try {
      const m = await want(coll.distinct("_id"), "MONGO_ERROR", "MongoDB error 2");
      assert.equal(m.mongoCode, 2);
    } finally {
      await failPointOff();
    }

    // MaxTimeMSExpired and ShutdownInProgress from MongoDB (three times:
    // the server's driver retries reads). Not on aggregate: every server
    // reads its instance directory with one each second, which would take
    // the failures meant for this call.
    await failPoint({ times: 3 }, { failCommands: ["find"], errorCode: 50 });
    try {
      await want(coll.findOne({}), "DEADLINE_EXCEEDED", "MongoDB MaxTimeMSExpired");
    } finally {
      await failPointOff();
    }
    await failPoint({ times: 3 }, { failCommands: ["distinct"], errorCode: 91 });
    try {
      const u = await want(coll.distinct("_id"), "BACKEND_UNAVAILABLE", "MongoDB ShutdownInProgress");
      assert.ok(u.retryable, "BACKEND_UNAVAILABLE carries RetryInfo");
    } finally {
      await failPointOff();
    }
    // The server marks the backend down until its next health check passes.
    for (let i = 0; ; i++) {
      try {
        await coll.findOne({});
        break;
      } catch (e) {
        if (i >= 100) throw e;
        await sleep(100);
      }
    }

    // CANCELED: a call the caller cancels.
    const ctl = new AbortController();
    const pending = coll.find({}, { signal: ctl.signal }).toArray();
    ctl.abort();
    const cancelled = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (cancelled !== undefined) {
      assert.ok(cancelled instanceof MongogateError && cancelled.code === Code.Canceled, String(cancelled));
    }

    // SESSION_LIMIT: the second server allows 20 sessions per principal.
    if (ADDR2) {
      const c2 = clientFor(tc, t, { keepAliveIntervalMs: -1 }, ADDR2);
      const held = [];
      try {
        for (let i = 0; i < 25; i++) held.push(await c2.startSession());
        assert.fail("25 sessions allowed, want at most 20");
      } catch (e) {
        assert.ok(e instanceof MongogateError && e.reason === "SESSION_LIMIT", String(e));
        assert.ok(e.retryable, "SESSION_LIMIT carries RetryInfo");
        seen.add("SESSION_LIMIT");
      } finally {
        await Promise.all(held.map((h) => h.endSession()));
      }
    }
    t.diagnostic(`reasons provoked on the server: ${[...seen].sort().join(", ")}`);
    // UNKNOWN_COMMIT_RESULT is provoked in transactions.test.ts,
    // UNAUTHENTICATED and NAMESPACE_FORBIDDEN by the test below.
    const elsewhere: Reason[] = ["UNKNOWN_COMMIT_RESULT", "UNAUTHENTICATED", "NAMESPACE_FORBIDDEN"];
    t.diagnostic(`reasons checked by the unit test only: ${REASONS.filter((r) => !seen.has(r) && !elsewhere.includes(r)).join(", ")}`);
  });
}

for (const tc of TRANSPORTS) {
  test(`API keys and namespace rules: UNAUTHENTICATED and NAMESPACE_FORBIDDEN over ${tc.name}`, async (t) => {
    if (!ADDR3 || !API_KEY) return t.skip("needs a server with --api-keys and --authz (MONGOGATE_TS_ADDR3)");
    const skip = await skipReason(tc);
    if (skip) return t.skip(skip);
    const withKey = (key?: string) => {
      const c = new MongogateClient(
        tc.name === "grpc" ? nodeClientOptions(ADDR3, { apiKey: key }) : { transport: connectTransport(ADDR3, { apiKey: key }) },
      );
      t.after(() => c.close());
      return c;
    };
    const good = withKey(API_KEY);
    const allowed = good.db(dbName("auth")).collection("c");
    await allowed.insertOne({ _id: 1 });
    await using s = await good.startSession();
    await s.withTransaction(async (s) => {
      await allowed.insertOne({ _id: 2 }, { session: s });
    });
    assert.equal(await allowed.countDocuments(), 2);

    const denied = await expectReason(good.db("forbidden").collection("c").findOne({}), "NAMESPACE_FORBIDDEN", "a database outside the rules");
    assert.equal(denied.metadata["database"], "forbidden");
    await expectReason(withKey(undefined).db(dbName("auth")).collection("c").findOne({}), "UNAUTHENTICATED", "no API key");
    await expectReason(withKey("wrong-key").db(dbName("auth")).collection("c").findOne({}), "UNAUTHENTICATED", "a wrong API key");
  });
}
