// A bank transfer with the mongogate TypeScript client: two accounts, a
// transfer inside withTransaction (retried on write conflicts), a batch of
// writes in one round trip with runTransaction, and an error branched on
// its reason. See README.md beside this file to run it.

import { Long, MongogateClient, MongogateError } from "@mongogate/client";
import { nodeClientOptions } from "@mongogate/client/node";

const address = process.env["MONGOGATE_ADDR"] ?? "localhost:50051";

await using client = new MongogateClient(nodeClientOptions(address));
const accounts = client.db("bank").collection("accounts");
const ledger = client.db("bank").collection("ledger");
await accounts.deleteMany({});
await ledger.deleteMany({});
await accounts.insertMany([
  { _id: "alice", balance: Long.fromNumber(100) },
  { _id: "bob", balance: Long.fromNumber(0) },
]);

async function transfer(from: string, to: string, amount: number): Promise<void> {
  await using session = await client.startSession();
  await session.withTransaction(async (session) => {
    const source = await accounts.findOne({ _id: from }, { session });
    if (!source || source["balance"].lessThan(amount)) throw new Error(`${from} cannot pay ${amount}`);
    await accounts.updateOne({ _id: from }, { $inc: { balance: Long.fromNumber(-amount) } }, { session });
    await accounts.updateOne({ _id: to }, { $inc: { balance: Long.fromNumber(amount) } }, { session });
    await ledger.insertOne({ from, to, amount: Long.fromNumber(amount), at: new Date() }, { session });
  });
}

await transfer("alice", "bob", 30);
await transfer("bob", "alice", 5);

// Writes known up front: one round trip, retried by the server as
// withTransaction is.
const { results, attempts } = await client.runTransaction([
  accounts.insertOneOp({ _id: "carol", balance: Long.fromNumber(0) }),
  ledger.countDocumentsOp({}),
]);
console.log(`carol opened (${attempts} attempt); ledger has ${results[1]} entries`);

try {
  await accounts.insertOne({ _id: "carol", balance: Long.fromNumber(0) });
} catch (e) {
  if (!(e instanceof MongogateError && e.reason === "DUPLICATE_KEY")) throw e;
  console.log("carol already exists:", e.reason);
}

let total = 0;
for await (const a of accounts.find({}, { sort: { _id: 1 } })) {
  console.log(`${a["_id"]} ${a["balance"]}`);
  total += Number(a["balance"]);
}
console.log(`total ${total}`);
