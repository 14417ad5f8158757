// A transaction and a streamed Find against mongogate from a browser, over
// the Connect protocol with @connectrpc/connect-web. The services come from
// mongogate's descriptor set (gen/mongogate/v1/mongogate.binpb), so the page
// needs no generated code; documents travel as Extended JSON text in the
// binary protobuf format.
//
// ?api= names mongogate's address; the page must be served from an origin
// mongogate allows (--allow-origin). It shows what happened in #log, and,
// with ?report=/path, posts the outcome to that path of its own origin.

import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { createFileRegistry, fromBinary, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import descriptors from "../../../gen/mongogate/v1/mongogate.binpb";

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptors));

function service(name: string): DescService {
  const s = registry.getService(name);
  if (!s) throw new Error(`no service ${name} in the descriptor set`);
  return s;
}

const params = new URLSearchParams(location.search);
const transport = createConnectTransport({
  baseUrl: params.get("api") ?? "http://127.0.0.1:50051",
  useBinaryFormat: true,
});
// Dynamic services: requests and responses are plain objects.
const sessions = createClient(service("mongogate.v1.SessionService"), transport) as Client<DescService> & Record<string, any>;
const transactions = createClient(service("mongogate.v1.TransactionService"), transport) as Record<string, any>;
const documents = createClient(service("mongogate.v1.DocumentService"), transport) as Record<string, any>;

const logEl = document.getElementById("log")!;
function log(line: string) {
  logEl.textContent += line + "\n";
}

async function run(): Promise<Record<string, unknown>> {
  const namespace = { database: params.get("db") ?? "demo", collection: "browser" };
  const { session } = await sessions.startSession({});
  const sessionToken: string = session.token;
  log(`session ${session.instanceId}`);
  const started = await transactions.startTransaction({ sessionToken });
  const id = crypto.randomUUID();
  await documents.insertOne({
    sessionToken,
    namespace,
    document: { value: { case: "json", value: JSON.stringify({ _id: id, from: "browser", n: { $numberLong: "1" } }) } },
  });
  const committed = await transactions.commitTransaction({ sessionToken, transactionNumber: started.transactionNumber });
  log(`transaction ${committed.transactionNumber} committed: ${committed.committed}`);
  const found: unknown[] = [];
  let batches = 0;
  for await (const batch of documents.find({ namespace, filter: { value: { case: "json", value: JSON.stringify({ _id: id }) } } })) {
    batches++;
    for (const d of batch.documents) found.push(JSON.parse(d.value.value));
  }
  log(`find streamed ${found.length} document(s) in ${batches} message(s): ${JSON.stringify(found)}`);
  await sessions.endSession({ sessionToken });
  return { committed: committed.committed, transactionNumber: String(committed.transactionNumber), found, id };
}

async function report(outcome: Record<string, unknown>) {
  const path = params.get("report");
  if (path) {
    await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(outcome) });
  }
}

run().then(
  (result) => report({ ok: true, ...result }),
  (err: unknown) => {
    log(`failed: ${String(err)}`);
    return report({ ok: false, error: String(err) });
  },
);
