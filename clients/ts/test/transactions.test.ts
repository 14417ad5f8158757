import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, createRouterTransport } from "@connectrpc/connect";
import { CallRecorder, TRANSPORTS, clientFor, dbName, failPoint, failPointOff, skipReason, sleep, wireError } from "./helpers.js";
import { TransactionService } from "../src/gen/mongogate/v1/transaction_pb.js";
import { SessionService, TransactionOutcome } from "../src/gen/mongogate/v1/session_pb.js";
import { MongogateClient, MongogateError, OwnerGoneError, backoffCeilingMs, toMongogateError, type ClientSession } from "../src/index.js";

for (const tc of TRANSPORTS) {
  test(`withTransaction retries a write conflict with another session and commits once over ${tc.name}`, async (t) => {
    const skip = await skipReason(tc);
    if (skip) return t.skip(skip);
    const client = clientFor(tc, t);
    const db = client.db(dbName("conflict"));
    const acct = db.collection("accounts");
    const log = db.collection("log");
    await acct.insertOne({ _id: "acct", n: 0 });
    await log.insertOne({ _id: "seed" });

    let runsA = 0;
    let runsB = 0;
    let bRetried!: () => void;
    const bHasRetried = new Promise<void>((r) => (bRetried = r));
    let aWrote!: () => void;
    const aHasWritten = new Promise<void>((r) => (aWrote = r));

    const sa = await client.startSession();
    const sb = await client.startSession();
    t.after(() => Promise.all([sa.endSession(), sb.endSession()]));

    // A updates the document first and keeps its transaction open until B
    // has met the conflict and started over at least once.
    const a = sa.withTransaction(async (s) => {
      runsA++;
      await acct.updateOne({ _id: "acct" }, { $inc: { n: 1 } }, { session: s });
      await log.insertOne({ _id: "A" }, { session: s });
      aWrote();
      await bHasRetried;
      return "A";
    });
    await aHasWritten;
    const b = sb.withTransaction(async (s) => {
      runsB++;
      if (runsB === 2) bRetried();
      await acct.updateOne({ _id: "acct" }, { $inc: { n: 10 } }, { session: s });
      await log.insertOne({ _id: "B" }, { session: s });
      return "B";
    });
    assert.deepEqual(await Promise.all([a, b]), ["A", "B"]);
    assert.equal(runsA, 1);
    assert.ok(runsB >= 2, `B ran ${runsB} times; it should have met A's write and run again`);
    // The data shows each transaction committed exactly once.
    assert.deepEqual(await acct.findOne({ _id: "acct" }), { _id: "acct", n: 11 });
    assert.deepEqual((await log.find({}, { sort: { _id: 1 } }).toArray()).map((d) => d["_id"]), ["A", "B", "seed"]);
    assert.equal(await sa.transactionOutcome(), "committed");
    assert.equal(await sb.transactionOutcome(), "committed");
  });

  test(`withTransaction commits again after UnknownTransactionCommitResult and commits once over ${tc.name}`, async (t) => {
    const skip = await skipReason(tc);
    if (skip) return t.skip(skip);
    const commits = new CallRecorder("CommitTransaction");
    const client = clientFor(tc, t, {}, undefined, [commits.interceptor()]);
    const coll = client.db(dbName("unknown_commit")).collection("c");
    await coll.insertOne({ _id: "seed" });
    const s = await client.startSession();
    t.after(() => s.endSession());
    let runs = 0;
    let off: Promise<void> | undefined;
    try {
      const res = await s.withTransaction(async (s) => {
        runs++;
        await coll.insertOne({ _id: "once" }, { session: s });
        if (runs === 1) {
          // Every commit closes the server's connection to MongoDB for a
          // second: the server's own retries (--commit-retry-limit 300ms)
          // give up with UNKNOWN_COMMIT_RESULT, and the client commits again.
          await failPoint("alwaysOn", { failCommands: ["commitTransaction"], closeConnection: true });
          off = sleep(1500).then(failPointOff);
        }
        return "done";
      });
      assert.equal(res, "done");
    } finally {
      await off;
      await failPointOff();
    }
    assert.equal(runs, 1, "an unknown commit result does not rerun the callback");
    const unknown = commits.outcomes.filter((o) => o !== "ok" && o.code === Code.Unavailable && o.reason === "UNKNOWN_COMMIT_RESULT");
    assert.ok(unknown.length >= 1, `the client saw no UNKNOWN_COMMIT_RESULT: ${JSON.stringify(commits.outcomes)}`);
    assert.equal(commits.outcomes.at(-1), "ok");
    assert.equal(await coll.countDocuments({ _id: "once" }), 1);
    assert.equal(await s.transactionOutcome(), "committed");
  });

  test(`explicit transactions, runTransaction, await using over ${tc.name}`, async (t) => {
    const skip = await skipReason(tc);
    if (skip) return t.skip(skip);
    const client = clientFor(tc, t);
    const coll = client.db(dbName("explicit")).collection("c");
    await coll.insertOne({ _id: 0 });

    let kept: ClientSession;
    {
      await using s = await client.startSession();
      kept = s;
      await s.startTransaction({ writeConcern: { w: "majority" }, readConcern: { level: "snapshot" } });
      assert.ok(s.inTransaction());
      await coll.insertOne({ _id: 1 }, { session: s });
      assert.equal(await coll.countDocuments({}, { session: s }), 2);
      assert.equal(await coll.countDocuments(), 1, "not visible outside before commit");
      const info = await s.describe();
      assert.equal(info.inTransaction, true);
      assert.equal(info.lastTransaction?.outcome, "in_progress");
      await s.commitTransaction();
      assert.ok(!s.inTransaction());
      assert.equal(await s.transactionOutcome(1), "committed");

      await s.startTransaction();
      await coll.insertOne({ _id: 2 }, { session: s });
      await s.abortTransaction();
      assert.equal(await s.getTransactionOutcome(), "aborted");
      assert.equal(await coll.countDocuments({ _id: 2 }), 0);

      // A callback that throws aborts and rethrows; nothing is committed.
      await assert.rejects(
        s.withTransaction(async (s) => {
          await coll.insertOne({ _id: 3 }, { session: s });
          throw new Error("no");
        }),
        /no/,
      );
      assert.equal(await coll.countDocuments({ _id: 3 }), 0);
    }
    assert.ok(kept.ended, "await using ended the session");
    await assert.rejects(kept.startTransaction(), /session has ended/);

    const r = await client.runTransaction([
      coll.insertOneOp({ _id: 10 }),
      coll.updateOneOp({ _id: 10 }, { $set: { x: 1 } }),
      coll.findOneOp({ _id: 10 }),
      coll.countDocumentsOp({}),
      coll.distinctOp("_id"),
    ]);
    assert.equal(r.attempts, 1);
    assert.deepEqual(r.results[0], { acknowledged: true, insertedId: 10 });
    assert.equal(r.results[1].modifiedCount, 1);
    assert.deepEqual(r.results[2], { _id: 10, x: 1 });
    assert.equal(r.results[3], 3);
    assert.deepEqual(r.results[4], [0, 1, 10]);

    const err = await client.runTransaction([coll.insertOneOp({ _id: 11 }), coll.insertOneOp({ _id: 10 })]).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof MongogateError && err.reason === "DUPLICATE_KEY", String(err));
    assert.equal(err.metadata["operation_index"], "1");
    assert.equal(await coll.countDocuments({ _id: 11 }), 0, "the failed transaction wrote nothing");
  });

  test(`keep-alive: one timer per client refreshes every session over ${tc.name}`, async (t) => {
    const skip = await skipReason(tc);
    if (skip) return t.skip(skip);
    const client = clientFor(tc, t, { keepAliveIntervalMs: 200 });
    const coll = client.db(dbName("keepalive")).collection("c");
    const sessions = await Promise.all(Array.from({ length: 5 }, () => client.startSession({ idleTimeoutMS: 700 })));
    assert.equal(client.keeper.size, 5);
    assert.equal(client.keeper.timers, 1, "one timer for all the client's sessions");
    await sleep(2000);
    for (const s of sessions) await coll.findOne({}, { session: s }); // still alive
    await Promise.all(sessions.map((s) => s.endSession()));
    assert.equal(client.keeper.size, 0);
    assert.equal(client.keeper.timers, 0);
  });
}

// withTransaction's rules against an in-memory server whose answers the
// test scripts: what the real backend cannot be made to do on cue.
function scripted(commit: (n: number) => void, outcome: () => TransactionOutcome = () => TransactionOutcome.UNKNOWN) {
  let commits = 0;
  let started = 0;
  const transport = createRouterTransport(({ service }) => {
    service(SessionService, {
      startSession: () => ({ session: { token: "mg-x.secret", client: "default", instanceId: "mg-x", idleTimeout: { seconds: 300n } } }),
      endSession: () => ({}),
      refreshSession: () => ({}),
    });
    service(TransactionService, {
      startTransaction: () => ({ transactionNumber: BigInt(++started), depth: 1 }),
      commitTransaction: (req) => {
        commit(++commits);
        return { transactionNumber: req.transactionNumber, committed: true };
      },
      abortTransaction: (req) => ({ transactionNumber: req.transactionNumber, aborted: true }),
      getTransactionOutcome: (req) => ({ transactionNumber: req.transactionNumber, outcome: outcome() }),
    });
  });
  const client = new MongogateClient({ transport, keepAliveIntervalMs: -1 });
  return { client, commits: () => commits, started: () => started };
}

test("withTransaction rules (unit): what is retried and what is not", async (t) => {
  await t.test("UNKNOWN_COMMIT_RESULT: commit again, callback once", async () => {
    const sc = scripted((n) => {
      if (n <= 2) throw wireError(Code.Unavailable, "UNKNOWN_COMMIT_RESULT");
    });
    const s = await sc.client.startSession();
    let runs = 0;
    assert.equal(await s.withTransaction(async () => ++runs), 1);
    assert.equal(sc.commits(), 3);
    assert.equal(sc.started(), 1);
    await sc.client.close();
  });
  await t.test("a lost answer (UNAVAILABLE without reason): commit again", async () => {
    const sc = scripted((n) => {
      if (n === 1) throw wireError(Code.Unavailable, "");
    });
    const s = await sc.client.startSession();
    await s.withTransaction(async () => 0);
    assert.equal(sc.commits(), 2);
    await sc.client.close();
  });
  await t.test("MaxTimeMSExpired with the UnknownTransactionCommitResult label: not retried", async () => {
    const sc = scripted(() => {
      throw wireError(Code.DeadlineExceeded, "DEADLINE_EXCEEDED", { mongo_code: "50", mongo_code_name: "MaxTimeMSExpired", labels: "UnknownTransactionCommitResult" });
    });
    const s = await sc.client.startSession();
    await assert.rejects(s.withTransaction(async () => 0), (e: unknown) => e instanceof MongogateError && e.mongoCodeName === "MaxTimeMSExpired");
    assert.equal(sc.commits(), 1);
    await sc.client.close();
  });
  await t.test("TRANSACTION_ABORTED on commit: rerun the callback in a new transaction", async () => {
    const sc = scripted((n) => {
      if (n === 1) throw wireError(Code.Aborted, "TRANSACTION_ABORTED", { labels: "TransientTransactionError" });
    });
    const s = await sc.client.startSession();
    let runs = 0;
    await s.withTransaction(async () => ++runs);
    assert.equal(runs, 2);
    assert.equal(sc.started(), 2);
    await sc.client.close();
  });
  await t.test("a TransientTransactionError from the callback: rerun; other errors: thrown", async () => {
    const sc = scripted(() => {});
    const s = await sc.client.startSession();
    let runs = 0;
    await s.withTransaction(async () => {
      if (++runs < 3) throw wireError(Code.FailedPrecondition, "MONGO_ERROR", { labels: "TransientTransactionError" });
    });
    assert.equal(runs, 3);
    runs = 0;
    await assert.rejects(
      s.withTransaction(async () => {
        runs++;
        throw toMongogateError(wireError(Code.AlreadyExists, "DUPLICATE_KEY"));
      }),
      (e: unknown) => e instanceof MongogateError && e.reason === "DUPLICATE_KEY",
    );
    assert.equal(runs, 1);
    await sc.client.close();
  });
  await t.test("owner gone during commit: the recorded outcome decides", async () => {
    const gone = () => {
      throw wireError(Code.NotFound, "SESSION_OWNER_GONE");
    };
    const ok = scripted(gone, () => TransactionOutcome.COMMITTED);
    const s1 = await ok.client.startSession();
    assert.equal(await s1.withTransaction(async () => "kept"), "kept");
    assert.equal(ok.commits(), 1);
    await ok.client.close();

    const aborted = scripted(gone, () => TransactionOutcome.ABORTED);
    const s2 = await aborted.client.startSession();
    await assert.rejects(s2.withTransaction(async () => 0), (e: unknown) => e instanceof OwnerGoneError && e.reason === "SESSION_OWNER_GONE" && e.outcome === "aborted");
    assert.equal(aborted.started(), 1, "never rerun: the session is gone");
    await aborted.client.close();
  });
  await t.test("backoff: 5 ms growing by half up to 500 ms", () => {
    assert.equal(backoffCeilingMs(1), 5);
    assert.equal(backoffCeilingMs(2), 7.5);
    assert.equal(backoffCeilingMs(3), 11.25);
    assert.equal(backoffCeilingMs(50), 500);
  });
});
