import { test } from "node:test";
import assert from "node:assert/strict";
import { BSON } from "bson";
import { TRANSPORTS, clientFor, dbName, skipReason } from "./helpers.js";
import { Binary, Decimal128, Double, Int32, Long, ObjectId } from "../src/index.js";

// Every BSON type the brief names, nested, in an order that is not sorted.
function sample() {
  return {
    _id: new ObjectId(),
    zeta: new Int32(7),
    alpha: new Double(1),
    long: Long.fromString("9007199254740993"),
    smallLong: Long.fromNumber(5),
    dec: Decimal128.fromString("1234567890.123456789012345678901234"),
    when: new Date("2024-02-29T12:34:56.789Z"),
    bin: new Binary(new Uint8Array([0, 1, 2, 255]), 0),
    uuid: new Binary(new Uint8Array(16).fill(7), 4),
    nested: { b: [new Int32(1), [new Double(2.5), [Long.fromNumber(3), "s"]]], a: { y: null, x: true } },
    mid: "text",
  };
}

for (const tc of TRANSPORTS) {
  test(`BSON types round-trip exactly over ${tc.name}`, async (t) => {
    const skip = await skipReason(tc);
    if (skip) return t.skip(skip);
    // promoteValues: false keeps Int32 and Double as such: an exact round trip.
    const client = clientFor(tc, t, { bsonOptions: { deserialize: { promoteValues: false } } });
    const coll = client.db(dbName("types")).collection("docs");
    const doc = sample();
    const { insertedId } = await coll.insertOne(doc);
    assert.ok(insertedId instanceof ObjectId && insertedId.equals(doc._id));

    const back = await coll.findOne({ _id: doc._id });
    assert.ok(back);
    // Byte-identical BSON: every type, value and key order survived.
    assert.deepEqual(Buffer.from(BSON.serialize(back)), Buffer.from(BSON.serialize(doc)));
    assert.deepEqual(Object.keys(back), Object.keys(doc));
    assert.deepEqual(Object.keys(back["nested"]["a"]), ["y", "x"]);
    assert.ok(back["zeta"] instanceof Int32);
    assert.ok(back["alpha"] instanceof Double);
    assert.ok(back["long"] instanceof Long && back["long"].toString() === "9007199254740993");
    assert.ok(back["dec"] instanceof Decimal128 && back["dec"].toString() === doc.dec.toString());
    assert.ok(back["when"] instanceof Date && back["when"].getTime() === doc.when.getTime());
    assert.ok(back["bin"] instanceof Binary && back["bin"].sub_type === 0);
    assert.equal(back["uuid"].sub_type, 4);

    // The same through the stream, a filter on a typed value, and distinct.
    const viaFind = await coll.find({ long: Long.fromString("9007199254740993") }).toArray();
    assert.equal(viaFind.length, 1);
    assert.deepEqual(Buffer.from(BSON.serialize(viaFind[0]!)), Buffer.from(BSON.serialize(doc)));
    const ids = await coll.distinct("_id");
    assert.ok(ids[0] instanceof ObjectId && ids[0].equals(doc._id));
  });

  test(`default decoding keeps Long, ObjectId, Decimal128, Date, Binary over ${tc.name}`, async (t) => {
    const skip = await skipReason(tc);
    if (skip) return t.skip(skip);
    const client = clientFor(tc, t);
    const coll = client.db(dbName("types_default")).collection("docs");
    const doc = sample();
    await coll.insertOne(doc);
    const back = await coll.findOne({ _id: doc._id });
    assert.ok(back);
    assert.ok(back["smallLong"] instanceof Long, "int64 stays Long by default (promoteLongs: false)");
    assert.equal(back["zeta"], 7);
    assert.equal(back["alpha"], 1);
    assert.ok(back["dec"] instanceof Decimal128);
    assert.ok(back["when"] instanceof Date);
    assert.ok(back["bin"] instanceof Binary);
    assert.deepEqual(Object.keys(back), Object.keys(doc));
  });
}
