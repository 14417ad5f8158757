// @mongogate/client in a browser: the Connect protocol over fetch, a
// transaction run by withTransaction, BSON types read back, a streamed find.
// test/web/browser_test.go bundles this page's script with esbuild, loads it
// in headless Chromium and reads the outcome it posts to ?report=.

import { Decimal128, Long, ObjectId } from "bson";
import { MongogateClient } from "../../../clients/ts/src/index.js";

const params = new URLSearchParams(location.search);

async function run(): Promise<Record<string, unknown>> {
  const client = new MongogateClient(params.get("api") ?? "http://127.0.0.1:50051");
  try {
    const coll = client.db(params.get("db") ?? "demo").collection("tsbrowser");
    const _id = new ObjectId();
    const session = await client.startSession();
    try {
      await session.withTransaction(async (s) => {
        await coll.insertOne({ _id, n: Long.fromNumber(7), price: Decimal128.fromString("12.50"), at: new Date(0) }, { session: s });
      });
    } finally {
      await session.endSession();
    }
    const back = await coll.findOne({ _id });
    let streamed = 0;
    for await (const _ of coll.find({})) {
      streamed++;
    }
    return {
      id: _id.toHexString(),
      types: back
        ? [back._id instanceof ObjectId, back.n instanceof Long, back.price instanceof Decimal128, back.at instanceof Date].every(Boolean)
        : false,
      price: back ? String(back.price) : "",
      streamed,
    };
  } finally {
    await client.close();
  }
}

run().then(
  (result) => report({ ok: true, ...result }),
  (err: unknown) => report({ ok: false, error: String(err) }),
);

async function report(outcome: Record<string, unknown>) {
  document.body.textContent = JSON.stringify(outcome);
  const path = params.get("report");
  if (path) {
    await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(outcome) });
  }
}
