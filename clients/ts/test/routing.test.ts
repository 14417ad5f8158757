import { test } from "node:test";
import assert from "node:assert/strict";
import { ADDR, ADDR2, METRICS, METRICS2, TRANSPORTS, dbName, metric, roundRobin, skipReason } from "./helpers.js";
import { MongogateClient } from "../src/index.js";

const FORWARDED = "mongogate_forwarded_calls_total";

async function forwarded(): Promise<number> {
  return (await metric(METRICS, FORWARDED)) + (await metric(METRICS2, FORWARDED));
}

// Two instances on one backend, and a client whose main transport spreads
// calls over both, as a load balancer does: sessions land on either.
async function scenario(client: MongogateClient, what: string): Promise<string[]> {
  const coll = client.db(dbName(what)).collection("c");
  const owners: string[] = [];
  for (let i = 0; i < 4; i++) {
    await using s = await client.startSession();
    owners.push(s.instanceAddress);
    await s.withTransaction(async (s) => {
      await coll.insertOne({ _id: `${i}` }, { session: s });
      await coll.updateOne({ _id: `${i}` }, { $set: { n: i } }, { session: s });
      assert.equal((await coll.find({ _id: `${i}` }, { session: s }).toArray()).length, 1);
      assert.equal(await coll.countDocuments({}, { session: s }), i + 1);
    });
    await s.describe();
  }
  assert.equal(await coll.countDocuments(), 4);
  return owners;
}

for (const tc of TRANSPORTS) {
  test(`a session's calls go to its owner when the client routes by instance, over ${tc.name}`, async (t) => {
    if (!ADDR2) return t.skip("needs two servers (MONGOGATE_TS_ADDR2)");
    const skip = await skipReason(tc);
    if (skip) return t.skip(skip);
    const a = tc.transport(ADDR);
    const b = tc.transport(ADDR2);
    const base = tc.options(ADDR);
    const client = new MongogateClient({ ...base, transport: roundRobin([a.transport, b.transport]) });
    t.after(async () => {
      await client.close();
      a.close();
      b.close();
    });
    const before = await forwarded();
    const owners = await scenario(client, "routed");
    assert.deepEqual(new Set(owners), new Set([ADDR, ADDR2]), "sessions landed on both instances");
    assert.equal(await forwarded(), before, `${FORWARDED} grew: a session call went through the wrong instance`);
  });

  test(`without per-instance routing a session's calls are forwarded by the instance that takes them, over ${tc.name}`, async (t) => {
    if (!ADDR2) return t.skip("needs two servers (MONGOGATE_TS_ADDR2)");
    const skip = await skipReason(tc);
    if (skip) return t.skip(skip);
    const a = tc.transport(ADDR);
    const b = tc.transport(ADDR2);
    const client = new MongogateClient({ transport: roundRobin([a.transport, b.transport]), keepAliveIntervalMs: -1 });
    t.after(async () => {
      await client.close();
      a.close();
      b.close();
    });
    const before = await forwarded();
    await scenario(client, "forwarded");
    assert.ok((await forwarded()) > before, `${FORWARDED} did not grow: no call was forwarded`);
  });
}
