// Shared by the tests: the servers test/tsclient started (addresses in the
// environment), a client per transport, fail points through the MongoDB
// Node driver, metrics.

import { MongoClient } from "mongodb";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { MongogateClient, connectTransport, toMongogateError, type MongogateClientOptions } from "../src/index.js";
import { nodeClientOptions, nodeTransport } from "../src/node.js";

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests through test/tsclient (go test ./test/tsclient)`);
  return v;
}

/** The first server's gRPC address (host:port). */
export const ADDR = need("MONGOGATE_TS_ADDR");
/** A second server on the same backend. */
export const ADDR2 = process.env["MONGOGATE_TS_ADDR2"] ?? "";
export const METRICS = process.env["MONGOGATE_TS_METRICS"] ?? "";
export const METRICS2 = process.env["MONGOGATE_TS_METRICS2"] ?? "";
/** A server that authenticates MONGOGATE_TS_API_KEY and allows it the databases ts_*. */
export const ADDR3 = process.env["MONGOGATE_TS_ADDR3"] ?? "";
export const API_KEY = process.env["MONGOGATE_TS_API_KEY"] ?? "";
/** The backend's connection string, for fail points. */
export const MONGO_URI = process.env["MONGOGATE_TS_MONGO_URI"] ?? "";

let connectProbe: Promise<boolean> | undefined;

/**
 * Whether the server answers the Connect protocol on its address (the HTTP
 * surface). MONGOGATE_TS_REQUIRE_CONNECT=1 makes its absence an error.
 */
export function connectSupported(): Promise<boolean> {
  connectProbe ??= (async () => {
    let ok = false;
    try {
      const r = await fetch(`http://${ADDR}/mongogate.v1.SessionService/GetSession`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
        signal: AbortSignal.timeout(3000),
      });
      const body = (await r.json().catch(() => ({}))) as { code?: string };
      ok = typeof body.code === "string";
    } catch {
      ok = false;
    }
    if (!ok && process.env["MONGOGATE_TS_REQUIRE_CONNECT"] === "1") {
      throw new Error(`the server at ${ADDR} does not answer the Connect protocol, and MONGOGATE_TS_REQUIRE_CONNECT=1`);
    }
    return ok;
  })();
  return connectProbe;
}

export const CONNECT_SKIP = "the server does not serve the Connect protocol yet (HTTP surface)";

/** A transport the tests run over. */
export interface TransportCase {
  name: "grpc" | "connect";
  /** Options for a client to address (default ADDR). */
  options(address?: string, extra?: Partial<MongogateClientOptions>, interceptors?: Interceptor[]): MongogateClientOptions;
  /** A plain transport to address, for raw stubs. */
  transport(address?: string): { transport: Transport; close(): void };
}

export const grpcCase: TransportCase = {
  name: "grpc",
  options: (address = ADDR, extra = {}, interceptors = []) => ({ ...nodeClientOptions(address, { interceptors }), ...extra }),
  transport: (address = ADDR) => nodeTransport(address),
};

export const connectCase: TransportCase = {
  name: "connect",
  options: (address = ADDR, extra = {}, interceptors = []) => ({
    transport: connectTransport(address, { interceptors }),
    instanceTransports: (a: string) => connectTransport(a, { interceptors }),
    ...extra,
  }),
  transport: (address = ADDR) => ({ transport: connectTransport(address), close() {} }),
};

/** Both transports; the test of "connect" skips while the server lacks it. */
export const TRANSPORTS: TransportCase[] = [grpcCase, connectCase];

/** skipUnless returns the skip reason for a transport the server does not serve, or false. */
export async function skipReason(tc: TransportCase): Promise<string | false> {
  if (tc.name === "connect" && !(await connectSupported())) return CONNECT_SKIP;
  return false;
}

/** A client for the transport, closed when the test ends. */
export function clientFor(
  tc: TransportCase,
  t: { after(fn: () => unknown): void },
  extra: Partial<MongogateClientOptions> = {},
  address = ADDR,
  interceptors: Interceptor[] = [],
): MongogateClient {
  const c = new MongogateClient(tc.options(address, extra, interceptors));
  t.after(() => c.close());
  return c;
}

let seq = 0;
/** A database name of the test's own. */
export function dbName(what: string): string {
  return `ts_${what.replace(/[^A-Za-z0-9]/g, "_").slice(0, 30)}_${process.pid}_${++seq}`;
}

/** Runs fn with a MongoDB driver connected straight to the backend. */
export async function withBackend<T>(fn: (m: MongoClient) => Promise<T>): Promise<T> {
  if (!MONGO_URI) throw new Error("MONGOGATE_TS_MONGO_URI is not set");
  const m = new MongoClient(MONGO_URI, { serverSelectionTimeoutMS: 5000 });
  try {
    return await fn(m);
  } finally {
    await m.close();
  }
}

/** Configures the backend's failCommand fail point. */
export function failPoint(mode: unknown, data: Record<string, unknown>): Promise<void> {
  return withBackend(async (m) => {
    await m.db("admin").command({ configureFailPoint: "failCommand", mode, data });
  });
}

export function failPointOff(): Promise<void> {
  return withBackend(async (m) => {
    await m.db("admin").command({ configureFailPoint: "failCommand", mode: "off" });
  });
}

/** The sum of a Prometheus counter's samples at a /metrics URL. */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

/**
 * A transport that sends each call to the next of several transports in
 * turn, as a load balancer in front of the instances does.
 */
export function roundRobin(ts: Transport[]): Transport {
  let i = 0;
  const next = () => ts[i++ % ts.length]!;
  return {
    unary: (...args) => next().unary(...args),
    stream: (...args) => next().stream(...args),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records the calls of one RPC method (by name) and how each ended. */
export class CallRecorder {
  readonly outcomes: (MongogateErrorLike | "ok")[] = [];
  constructor(private readonly method: string) {}
  interceptor(): Interceptor {
    return (next) => async (req) => {
      if (req.method.name !== this.method) return next(req);
      try {
        const r = await next(req);
        this.outcomes.push("ok");
        return r;
      } catch (e) {
        const me = toMongogateError(e);
        this.outcomes.push({ code: me.code, reason: me.reason, message: me.rawMessage });
        throw e;
      }
    };
  }
  get calls(): number {
    return this.outcomes.length;
  }
}

export interface MongogateErrorLike {
  code: Code;
  reason: string;
  message: string;
}

/** A google.rpc.ErrorInfo of domain mongogate.dev, encoded. */
export function encodeErrorInfo(reason: string, metadata: Record<string, string> = {}, domain = "mongogate.dev"): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, 2).string(reason);
  w.tag(2, 2).string(domain);
  for (const [k, v] of Object.entries(metadata)) {
    w.tag(3, 2).fork().tag(1, 2).string(k).tag(2, 2).string(v).join();
  }
  return w.finish();
}

/** A ConnectError as the server sends it: a code and an ErrorInfo. */
export function wireError(code: Code, reason: string, metadata: Record<string, string> = {}, extra: { type: string; value: Uint8Array }[] = []): ConnectError {
  const e = new ConnectError("boom", code);
  e.details = [{ type: "google.rpc.ErrorInfo", value: encodeErrorInfo(reason, metadata) }, ...extra];
  return e;
}
