// MongogateClient: the entry point, in the style of the MongoDB Node driver's
// MongoClient.

import { createClient, type Client as RpcClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { DocumentService } from "./gen/mongogate/v1/document_pb.js";
import { SessionService } from "./gen/mongogate/v1/session_pb.js";
import { TransactionService } from "./gen/mongogate/v1/transaction_pb.js";
import { Codec, type BsonOptions } from "./codec.js";
import { MongogateClientError } from "./errors.js";
import { Keeper } from "./keepalive.js";
import { Db, type DbOptions } from "./collection.js";
import { ClientSession, type SessionOptions } from "./session.js";
import { runTransaction, type ResultsOf, type RunTransactionOptions, type RunTransactionResult, type TxnOp } from "./runtxn.js";

/** The three services' stubs on one transport. */
export interface Stubs {
  sessions: RpcClient<typeof SessionService>;
  txns: RpcClient<typeof TransactionService>;
  docs: RpcClient<typeof DocumentService>;
}

export function stubsOf(t: Transport): Stubs {
  return {
    sessions: createClient(SessionService, t),
    txns: createClient(TransactionService, t),
    docs: createClient(DocumentService, t),
  };
}

/**
 * Where a session's calls go when the client routes by instance: a map
 * from instance address (host:port, as Session.instance_address gives it)
 * to transport, or a function returning the transport for an address
 * (undefined: use the main transport, which forwards).
 */
export type InstanceTransports = Record<string, Transport> | ((address: string) => Transport | undefined);

export interface MongogateClientOptions {
  /** The transport of every call (createConnectTransport, createGrpcTransport, ...). */
  transport: Transport;
  /**
   * Per-instance routing: a session's calls go straight to the instance
   * that holds it. Without it they go through `transport`, and the instance
   * that takes them forwards them to the owner.
   */
  instanceTransports?: InstanceTransports;
  /** Backend (named client) of databases that name none. Default: the server's "default". */
  backend?: string;
  /** Bounds every call that has no timeoutMs of its own (streams: until the cursor ends). 0: unbounded. */
  timeoutMs?: number;
  /**
   * How often a session is refreshed while held. Default: a third of the
   * session's idle timeout; negative disables keep-alive.
   */
  keepAliveIntervalMs?: number;
  /** How documents are decoded and encoded (see BsonOptions). */
  bsonOptions?: BsonOptions;
  /** Called by close(), e.g. to close the transports' connections. */
  onClose?: () => void | Promise<void>;
}

/** Options of one call. */
export interface CallOptions {
  /** Run in this session (and in its transaction, if one is open). */
  session?: ClientSession;
  /** Deadline of this call in milliseconds. */
  timeoutMs?: number;
  /** Cancels the call. */
  signal?: AbortSignal;
}

/** The "http://" or "https://" base URL of an address given as host:port or URL. */
export function baseUrlOf(address: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) return address.replace(/\/+$/, "");
  const host = address.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  const loopback = host === "localhost" || host === "::1" || /^127\./.test(host);
  return (loopback ? "http://" : "https://") + address;
}

/** An interceptor sending `authorization: Bearer <key>` on every call. */
export function apiKeyInterceptor(key: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  };
}

/**
 * A Connect transport (HTTP/1.1 or HTTP/2 through fetch: browsers, Deno,
 * Bun, edge runtimes, Node) for a mongogate address, in the binary format.
 * A transport of your own must use the binary format too
 * (useBinaryFormat: true): over Connect JSON the server writes documents
 * as Extended JSON objects, which the generated messages cannot read.
 */
export function connectTransport(address: string, opts: { apiKey?: string; interceptors?: Interceptor[] } = {}): Transport {
  const interceptors = [...(opts.interceptors ?? [])];
  if (opts.apiKey) interceptors.push(apiKeyInterceptor(opts.apiKey));
  // Binary, never JSON: see FORMAT_HINT in codec.ts.
  return createConnectTransport({ baseUrl: baseUrlOf(address), useBinaryFormat: true, interceptors });
}

/**
 * MongogateClient talks to a mongogate server. Create one per server and
 * share it; close() it when done.
 *
 *     const client = new MongogateClient("http://localhost:50051");
 *     const orders = client.db("shop").collection("orders");
 *     await orders.insertOne({ item: "tea", qty: 2 });
 */
export class MongogateClient implements AsyncDisposable {
  /** @internal */ readonly stubs: Stubs;
  /** @internal */ readonly codec: Codec;
  /** @internal */ readonly keeper = new Keeper();
  /** @internal */ readonly defaultTimeoutMs: number;
  /** @internal */ readonly keepAliveIntervalMs: number;
  readonly backend: string;
  private readonly instanceTransports?: InstanceTransports;
  private readonly peers = new Map<string, Stubs>();
  private readonly live = new Set<ClientSession>();
  private readonly onClose?: () => void | Promise<void>;
  private closedFlag = false;

  /**
   * An address ("http://host:port", or "host:port": plaintext on loopback,
   * TLS elsewhere) gives a Connect transport over fetch; pass options with
   * a transport for anything else (gRPC in Node: see "@mongogate/client/node").
   */
  constructor(addressOrOptions: string | MongogateClientOptions) {
    const o: MongogateClientOptions = typeof addressOrOptions === "string" ? { transport: connectTransport(addressOrOptions) } : addressOrOptions;
    if (!o.transport) throw new MongogateClientError("mongogate: a transport is required");
    if ((o.timeoutMs ?? 0) < 0) throw new MongogateClientError("mongogate: negative timeoutMs");
    this.stubs = stubsOf(o.transport);
    this.instanceTransports = o.instanceTransports;
    this.backend = o.backend ?? "";
    this.defaultTimeoutMs = o.timeoutMs ?? 0;
    this.keepAliveIntervalMs = o.keepAliveIntervalMs ?? 0;
    this.codec = new Codec().with(o.bsonOptions);
    this.onClose = o.onClose;
  }

  /** A database handle; no call is made. */
  db(name: string, options: DbOptions = {}): Db {
    return new Db(this, name, options);
  }

  /** Starts a session on the server (see ClientSession). */
  async startSession(options: SessionOptions = {}): Promise<ClientSession> {
    this.checkOpen();
    const s = await ClientSession.start(this, options);
    if (this.closedFlag) {
      await s.endSession().catch(() => {});
      throw new MongogateClientError("mongogate: client is closed");
    }
    this.live.add(s);
    return s;
  }

  /**
   * Runs fn with a new session and ends the session however fn returns
   * (ending aborts a transaction fn left open), as the Node driver's
   * withSession does.
   */
  async withSession<T>(fn: (session: ClientSession) => Promise<T>, options: SessionOptions = {}): Promise<T> {
    const s = await this.startSession(options);
    try {
      return await fn(s);
    } finally {
      await s.endSession();
    }
  }

  /**
   * Runs operations atomically in one transaction, in one round trip (the
   * RunTransaction RPC), with the drivers' retry loop on the server. Make
   * the operations with a collection's ...Op methods (insertOneOp,
   * updateOneOp, ...). Resolves with one result per operation.
   */
  runTransaction<const Ops extends readonly TxnOp<any>[]>(ops: Ops, options: RunTransactionOptions = {}): Promise<RunTransactionResult<ResultsOf<Ops>>> {
    this.checkOpen();
    return runTransaction(this, ops, options);
  }

  /** Ends every session still held and stops the keep-alive. Idempotent. */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    await this.keeper.close();
    await Promise.allSettled([...this.live].map((s) => s.endSession()));
    this.live.clear();
    await this.onClose?.();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** @internal */ checkOpen(): void {
    if (this.closedFlag) throw new MongogateClientError("mongogate: client is closed");
  }

  /** @internal */ forget(s: ClientSession): void {
    this.live.delete(s);
  }

  /** @internal The stubs of the instance at address, when routing; else the main ones. */
  peer(address: string): Stubs {
    if (!address || !this.instanceTransports) return this.stubs;
    let stubs = this.peers.get(address);
    if (stubs) return stubs;
    const it = this.instanceTransports;
    const t = typeof it === "function" ? it(address) : it[address];
    if (!t) return this.stubs;
    stubs = stubsOf(t);
    this.peers.set(address, stubs);
    return stubs;
  }

  /** @internal Connect call options for a call. */
  callOptions(o: { timeoutMs?: number; signal?: AbortSignal } = {}): { timeoutMs?: number; signal?: AbortSignal } {
    const out: { timeoutMs?: number; signal?: AbortSignal } = {};
    const t = o.timeoutMs ?? this.defaultTimeoutMs;
    if (t > 0) out.timeoutMs = t;
    if (o.signal) out.signal = o.signal;
    return out;
  }
}
