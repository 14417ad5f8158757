// FindOne's latency through MongogateClient and through the raw generated
// stub on the same gRPC transport (one HTTP/2 connection each), measured
// in alternating rounds so that both see the same machine. Prints one JSON
// line last: p50 and p99 in microseconds and the ratio client/raw.
//
// "raw" does what any user of the stub must: encode the filter to BSON and
// decode the answer. "rawbare" sends a pre-encoded filter and decodes
// nothing, the floor.
//
//     MONGOGATE_TS_ADDR=127.0.0.1:50051 node dist/bench/findone.js
//
// MONGOGATE_TS_BENCH_TRANSPORT=connect measures the Connect protocol over
// fetch instead of gRPC over HTTP/2 (the server must serve it).

import { createClient } from "@connectrpc/connect";
import { BSON } from "bson";
import { DocumentService } from "../src/gen/mongogate/v1/document_pb.js";
import { DocumentFormat } from "../src/gen/mongogate/v1/common_pb.js";
import { MongogateClient, ObjectId, connectTransport } from "../src/index.js";
import { nodeClientOptions, nodeTransport } from "../src/node.js";

const addr = process.env["MONGOGATE_TS_ADDR"] ?? "127.0.0.1:50051";
const iterations = Number(process.env["MONGOGATE_TS_BENCH_ITERATIONS"] ?? 3000);
const rounds = 10;

const useConnect = process.env["MONGOGATE_TS_BENCH_TRANSPORT"] === "connect";
const client = new MongogateClient(useConnect ? { transport: connectTransport(addr) } : nodeClientOptions(addr, { routing: false }));
const raw = useConnect ? { transport: connectTransport(addr), close() {} } : nodeTransport(addr);
const stub = createClient(DocumentService, raw.transport);
const ns = { database: "bench_ts", collection: "findone" };
const coll = client.db(ns.database).collection(ns.collection);

const id = new ObjectId();
await coll.deleteMany({});
await coll.insertOne({ _id: id, name: "benchmark", n: 42, tags: ["a", "b", "c"], nested: { x: 1.5, when: new Date() } });

const filterDoc = { _id: id };
const bareFilter = { value: { case: "bson" as const, value: BSON.serialize(filterDoc) } };

const fns: Record<string, () => Promise<unknown>> = {
  client: () => coll.findOne(filterDoc),
  raw: async () => {
    const r = await stub.findOne({
      namespace: ns,
      filter: { value: { case: "bson", value: BSON.serialize(filterDoc) } },
      responseFormat: DocumentFormat.BSON,
    });
    return r.document?.value.case === "bson" ? BSON.deserialize(r.document.value.value, { promoteLongs: false }) : null;
  },
  rawbare: () => stub.findOne({ namespace: ns, filter: bareFilter, responseFormat: DocumentFormat.BSON }),
};
const samples: Record<string, number[]> = { client: [], raw: [], rawbare: [] };

async function run(name: string, n: number, record: boolean) {
  const f = fns[name]!;
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await f();
    const us = Number(process.hrtime.bigint() - t0) / 1000;
    if (record) samples[name]!.push(us);
  }
}

// Warm up both paths (JIT, connections).
for (const name of Object.keys(fns)) await run(name, 300, false);
const per = Math.ceil(iterations / rounds);
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? ["client", "raw", "rawbare"] : ["rawbare", "raw", "client"];
  for (const name of order) await run(name, per, true);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const out = {
  transport: useConnect ? "connect" : "grpc",
  iterations: per * rounds,
  clientP50Us: pct(samples["client"]!, 50),
  rawP50Us: pct(samples["raw"]!, 50),
  rawBareP50Us: pct(samples["rawbare"]!, 50),
  clientP99Us: pct(samples["client"]!, 99),
  rawP99Us: pct(samples["raw"]!, 99),
  ratio: 0,
  ratioBare: 0,
};
out.ratio = Math.round((out.clientP50Us / out.rawP50Us) * 1000) / 1000;
out.ratioBare = Math.round((out.clientP50Us / out.rawBareP50Us) * 1000) / 1000;
await coll.deleteMany({});
await client.close();
raw.close();
console.log(`FindOne p50 over ${out.transport}: client ${out.clientP50Us.toFixed(1)} µs, raw stub ${out.rawP50Us.toFixed(1)} µs (bare ${out.rawBareP50Us.toFixed(1)} µs); client/raw ${out.ratio}`);
console.log(JSON.stringify(out));
