import { test } from "node:test";
import assert from "node:assert/strict";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ADDR, TRANSPORTS, clientFor, connectCase, dbName, skipReason } from "./helpers.js";
import { MongogateClient, MongogateClientError, MongogateError } from "../src/index.js";

for (const tc of TRANSPORTS) {
  test(`CRUD over ${tc.name}`, async (t) => {
    const skip = await skipReason(tc);
    if (skip) return t.skip(skip);
    const client = clientFor(tc, t);
    const coll = client.db(dbName("crud")).collection("items");

    const one = await coll.insertOne({ _id: "a", qty: 1, tags: ["x"] });
    assert.deepEqual(one, { acknowledged: true, insertedId: "a" });
    const many = await coll.insertMany([{ _id: "b", qty: 2 }, { _id: "c", qty: 3 }]);
    assert.equal(many.insertedCount, 2);
    assert.deepEqual(many.insertedIds, { 0: "b", 1: "c" });

    assert.deepEqual(await coll.findOne({ _id: "b" }), { _id: "b", qty: 2 });
    assert.equal(await coll.findOne({ _id: "nope" }), null);
    assert.deepEqual(await coll.findOne({}, { sort: { qty: -1 }, projection: { _id: 1 } }), { _id: "c" });

    const all = await coll.find({ qty: { $gte: 2 } }).sort({ qty: 1 }).toArray();
    assert.deepEqual(all.map((d) => d["_id"]), ["b", "c"]);
    const limited = await coll.find({}, { sort: { _id: 1 }, skip: 1, limit: 1 }).toArray();
    assert.deepEqual(limited.map((d) => d["_id"]), ["b"]);

    const upd = await coll.updateOne({ _id: "a" }, { $inc: { qty: 10 } });
    assert.equal(upd.matchedCount, 1);
    assert.equal(upd.modifiedCount, 1);
    const ups = await coll.updateOne({ _id: "u" }, { $set: { qty: 0 } }, { upsert: true });
    assert.equal(ups.upsertedCount, 1);
    assert.equal(ups.upsertedId, "u");
    const um = await coll.updateMany({}, [{ $set: { seen: true } }]);
    assert.equal(um.matchedCount, 4);
    const rep = await coll.replaceOne({ _id: "u" }, { qty: 99 });
    assert.equal(rep.modifiedCount, 1);

    assert.deepEqual(await coll.findOneAndUpdate({ _id: "a" }, { $set: { qty: 0 } }, { returnDocument: "after", projection: { qty: 1 } }), { _id: "a", qty: 0 });
    assert.deepEqual(await coll.findOneAndReplace({ _id: "u" }, { qty: 1 }, { projection: { qty: 1 } }), { _id: "u", qty: 99 });
    assert.deepEqual(await coll.findOneAndDelete({ _id: "u" }, { projection: { qty: 1 } }), { _id: "u", qty: 1 });
    assert.equal(await coll.findOneAndDelete({ _id: "u" }), null);

    assert.equal(await coll.countDocuments(), 3);
    assert.equal(await coll.countDocuments({ qty: { $gt: 1 } }), 2);
    assert.deepEqual((await coll.distinct("qty")).sort(), [0, 2, 3]);

    const agg = await coll.aggregate([{ $group: { _id: null, total: { $sum: "$qty" } } }]).toArray();
    assert.deepEqual(agg, [{ _id: null, total: 5 }]);

    const bw = await coll.bulkWrite([
      { insertOne: { document: { _id: "d", qty: 4 } } },
      { updateOne: { filter: { _id: "d" }, update: { $inc: { qty: 1 } } } },
      { updateMany: { filter: { qty: { $gte: 3 } }, update: { $set: { big: true } } } },
      { replaceOne: { filter: { _id: "e" }, replacement: { qty: 5 }, upsert: true } },
      { deleteOne: { filter: { _id: "b" } } },
      { deleteMany: { filter: { qty: 0 } } },
    ]);
    assert.equal(bw.insertedCount, 1);
    assert.deepEqual(bw.insertedIds, { 0: "d" });
    assert.equal(bw.upsertedCount, 1);
    assert.deepEqual(bw.upsertedIds, { 3: "e" });
    assert.equal(bw.deletedCount, 2);

    const del = await coll.deleteMany({});
    assert.equal(del.deletedCount, 3);
    assert.equal((await coll.deleteOne({ _id: "zz" })).deletedCount, 0);

    await assert.rejects(coll.insertOne({ _id: "d" }).then(() => coll.insertOne({ _id: "d" })), (e: unknown) => e instanceof MongogateError && e.reason === "DUPLICATE_KEY");
  });
}

test("a Connect transport in the JSON format fails clearly instead of reading empty documents", async (t) => {
  const skip = await skipReason(connectCase);
  if (skip) return t.skip(skip);
  const client = new MongogateClient({ transport: createConnectTransport({ baseUrl: `http://${ADDR}`, useBinaryFormat: false }) });
  t.after(() => client.close());
  const coll = client.db(dbName("jsonformat")).collection("c");
  await assert.rejects(coll.insertOne({ _id: 1 }), (e: unknown) => e instanceof MongogateClientError && /binary format/.test(e.message));
  await assert.rejects(coll.findOne({ _id: 1 }), (e: unknown) => e instanceof MongogateClientError && /binary format/.test(e.message));
});
