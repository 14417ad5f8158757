import { test } from "node:test";
import assert from "node:assert/strict";
import { TRANSPORTS, clientFor, dbName, skipReason } from "./helpers.js";

const N = 10_000;
const BATCH = 100;

for (const tc of TRANSPORTS) {
  test(`a ${N}-document find is read lazily, batch by batch, over ${tc.name}`, async (t) => {
    const skip = await skipReason(tc);
    if (skip) return t.skip(skip);
    const client = clientFor(tc, t);
    const coll = client.db(dbName("lazy")).collection("many");
    for (let i = 0; i < N; i += 1000) {
      await coll.insertMany(Array.from({ length: 1000 }, (_, j) => ({ _id: i + j, pad: "x".repeat(100) })));
    }
    assert.equal(await coll.countDocuments(), N);

    const cursor = coll.find({}, { sort: { _id: 1 }, batchSize: BATCH });
    assert.equal(cursor.batchesReceived, 0, "find makes no call before the cursor is read");
    let seen = 0;
    for await (const d of cursor) {
      assert.equal(d["_id"], seen);
      seen++;
      if (seen === 10) break;
    }
    assert.equal(seen, 10);
    assert.ok(cursor.batchesReceived <= 2, `consumed 10 documents, pulled ${cursor.batchesReceived} batches`);
    assert.ok(cursor.closed, "leaving the loop closes the cursor");

    // Read on: the client never holds more than one batch beyond what was consumed.
    const c2 = coll.find({}, { sort: { _id: 1 }, batchSize: BATCH });
    let n = 0;
    let maxBuffered = 0;
    while (await c2.hasNext()) {
      maxBuffered = Math.max(maxBuffered, c2.bufferedCount());
      const d = await c2.next();
      assert.equal(d!["_id"], n);
      n++;
      assert.ok(c2.batchesReceived <= Math.ceil(n / BATCH) + 1, `after ${n} documents, ${c2.batchesReceived} batches`);
    }
    assert.equal(n, N);
    assert.ok(maxBuffered <= BATCH, `at most one batch buffered, saw ${maxBuffered}`);
    assert.ok(c2.batchesReceived >= N / BATCH, `all ${N} documents came in batches of ${BATCH} or fewer: ${c2.batchesReceived}`);

    // Aggregate is read the same way.
    const agg = coll.aggregate([{ $match: {} }, { $sort: { _id: 1 } }], { batchSize: BATCH });
    assert.deepEqual((await agg.next())!["_id"], 0);
    assert.ok(agg.batchesReceived <= 2);
    await agg.close();
    assert.equal(await agg.next(), null);
  });
}
