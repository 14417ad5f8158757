// ClientSession: a MongoDB session held by the server, named by a token.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampDate } from "@bufbuild/protobuf/wkt";
import {
  ReadPreferenceMode,
  ReadPreferenceSchema,
  TransactionOptionsSchema,
  WriteConcernSchema,
  type TransactionOptions as PbTransactionOptions,
} from "./gen/mongogate/v1/common_pb.js";
import { SessionState, TransactionOutcome as PbOutcome } from "./gen/mongogate/v1/session_pb.js";
import type { StartTransactionResponse } from "./gen/mongogate/v1/transaction_pb.js";
import type { MongogateClient, Stubs } from "./client.js";
import type { Document } from "./codec.js";
import {
  MongogateClientError,
  MongogateError,
  isTransientTransactionError,
  isUnknownCommitResult,
  toMongogateError,
} from "./errors.js";

// Symbol.asyncDispose exists from Node 20.4 (and in every runtime with
// `await using`); elsewhere the well-known registry symbol stands in.
(Symbol as { asyncDispose?: symbol }).asyncDispose ??= Symbol.for("Symbol.asyncDispose");

/** The server's default idle timeout, assumed when StartSession reports none. */
const SERVER_DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;
/** How long withTransaction keeps retrying, as in the MongoDB drivers. */
export const WITH_TRANSACTION_LIMIT_MS = 120_000;
/** Backoff between withTransaction's retries: jittered, 5 ms growing by half up to 500 ms. */
const BACKOFF_INITIAL_MS = 5;
const BACKOFF_MAX_MS = 500;
/** Bounds the calls the client makes on its own behalf (aborts after a failure, ends). */
const CLEANUP_TIMEOUT_MS = 10_000;

/** MongoDB's write concern. */
export interface WriteConcern {
  /** A number of nodes, or "majority", or a tag. */
  w?: number | string;
  /** Journal acknowledgment. */
  j?: boolean;
}

export type ReadPreferenceModeName = "primary" | "primaryPreferred" | "secondary" | "secondaryPreferred" | "nearest";

export interface ReadPreference {
  mode: ReadPreferenceModeName;
  tagSets?: Document[];
  maxStalenessSeconds?: number;
}

/** Options of a transaction; unset ones fall back to the session's, then the backend's. */
export interface TransactionOptions {
  readConcern?: { level: string };
  writeConcern?: WriteConcern;
  readPreference?: ReadPreference;
  /** Upper bound on the commit, including the server's retries after an unknown result. */
  maxCommitTimeMS?: number;
  /**
   * Record the outcome durably, so that transactionOutcome() answers from
   * any instance even after the session's instance died during the commit.
   */
  recordOutcome?: boolean;
}

export interface StartTransactionOptions extends TransactionOptions {
  /** Join an open transaction one level deeper instead of failing with TRANSACTION_IN_PROGRESS. */
  joinExisting?: boolean;
}

export interface WithTransactionOptions extends StartTransactionOptions {
  /** Stops the retries (and aborts the transaction) when it aborts. */
  signal?: AbortSignal;
}

export interface SessionOptions {
  /** Backend (named client) to bind the session to. */
  backend?: string;
  causalConsistency?: boolean;
  snapshot?: boolean;
  /** Inactivity after which the server expires the session. */
  idleTimeoutMS?: number;
  defaultTransactionOptions?: TransactionOptions;
  /** Overrides the client's keepAliveIntervalMs for this session. */
  keepAliveIntervalMs?: number;
}

/** Where a transaction stands. */
export type TransactionOutcome = "none" | "in_progress" | "committed" | "aborted" | "unknown";

function outcomeOf(o: PbOutcome): TransactionOutcome {
  switch (o) {
    case PbOutcome.IN_PROGRESS:
      return "in_progress";
    case PbOutcome.COMMITTED:
      return "committed";
    case PbOutcome.ABORTED:
      return "aborted";
    case PbOutcome.UNKNOWN:
      return "unknown";
    default:
      return "none";
  }
}

/** A session as the server describes it (GetSession). */
export interface SessionInfo {
  backend: string;
  instanceId: string;
  instanceAddress: string;
  created?: Date;
  expireTime?: Date;
  absoluteExpireTime?: Date;
  idleTimeoutMS: number;
  inTransaction: boolean;
  lastTransaction?: { number: number; outcome: TransactionOutcome; depth: number; started?: Date };
}

const modes: Record<ReadPreferenceModeName, ReadPreferenceMode> = {
  primary: ReadPreferenceMode.PRIMARY,
  primaryPreferred: ReadPreferenceMode.PRIMARY_PREFERRED,
  secondary: ReadPreferenceMode.SECONDARY,
  secondaryPreferred: ReadPreferenceMode.SECONDARY_PREFERRED,
  nearest: ReadPreferenceMode.NEAREST,
};

/** @internal */
export function writeConcernOf(wc: WriteConcern | undefined): MessageInitShape<typeof WriteConcernSchema> | undefined {
  if (!wc) return undefined;
  const w =
    typeof wc.w === "number"
      ? ({ case: "wNodes", value: wc.w } as const)
      : typeof wc.w === "string"
        ? ({ case: "wTag", value: wc.w } as const)
        : undefined;
  return { w, journal: wc.j };
}

/** @internal */
export function transactionOptionsOf(client: MongogateClient, o: TransactionOptions | undefined): PbTransactionOptions | undefined {
  if (!o) return undefined;
  let readPreference: MessageInitShape<typeof ReadPreferenceSchema> | undefined;
  if (o.readPreference) {
    const mode = modes[o.readPreference.mode];
    if (mode === undefined) throw new MongogateClientError(`mongogate: unknown read preference mode ${JSON.stringify(o.readPreference.mode)}`);
    readPreference = {
      mode,
      tagSets: client.codec.docs(o.readPreference.tagSets, "readPreference.tagSets"),
      maxStaleness: o.readPreference.maxStalenessSeconds ? durationFromMs(o.readPreference.maxStalenessSeconds * 1000) : undefined,
    };
  }
  return create(TransactionOptionsSchema, {
    readConcern: o.readConcern ? { level: o.readConcern.level } : undefined,
    writeConcern: writeConcernOf(o.writeConcern),
    readPreference,
    maxCommitTime: o.maxCommitTimeMS !== undefined ? durationFromMs(o.maxCommitTimeMS) : undefined,
    recordOutcome: o.recordOutcome,
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal): MongogateError {
  return toMongogateError(signal.reason ?? new DOMException("The operation was aborted.", "AbortError"));
}

/** The longest wait before retry attempt (from 1): 5 ms·1.5^(attempt-1), at most 500 ms. */
export function backoffCeilingMs(attempt: number): number {
  let d = BACKOFF_INITIAL_MS;
  for (let i = 1; i < attempt && d < BACKOFF_MAX_MS; i++) d += d / 2;
  return Math.min(d, BACKOFF_MAX_MS);
}

class RetryLimit extends Error {}

/** Waits before retry attempt; throws RetryLimit if the wait would end past the limit. */
async function sleepBackoff(attempt: number, start: number, signal?: AbortSignal): Promise<void> {
  const d = Math.random() * backoffCeilingMs(attempt);
  if (Date.now() - start + d >= WITH_TRANSACTION_LIMIT_MS) throw new RetryLimit();
  await sleep(d, signal);
}

function retryTime(start: number, signal?: AbortSignal): boolean {
  return !signal?.aborted && Date.now() - start < WITH_TRANSACTION_LIMIT_MS;
}

/**
 * ClientSession is a MongoDB session held by the server. Pass it as the
 * `session` option of an operation to run the operation in it, and in its
 * transaction if one is open. While held, the client keeps it alive
 * (RefreshSession, see MongogateClientOptions.keepAliveIntervalMs). Always
 * end it: endSession(), `await using`, or client.withSession().
 */
export class ClientSession implements AsyncDisposable {
  readonly client: MongogateClient;
  /** Backend the session is bound to. */
  readonly backend: string;
  /** The server's idle timeout for the session. */
  readonly idleTimeoutMS: number;
  /** Address of the instance holding the session ("" when it advertises none). */
  readonly instanceAddress: string;
  /** @internal */ readonly token: string;
  /** @internal */ readonly rpc: Stubs;
  private endedFlag = false;
  private txnNumber = 0;
  private depth = 0;
  private kept?: object;

  private constructor(client: MongogateClient, token: string, backend: string, idleTimeoutMS: number, instanceAddress: string) {
    this.client = client;
    this.token = token;
    this.backend = backend;
    this.idleTimeoutMS = idleTimeoutMS;
    this.instanceAddress = instanceAddress;
    this.rpc = client.peer(instanceAddress);
  }

  /** @internal */
  static async start(client: MongogateClient, o: SessionOptions): Promise<ClientSession> {
    let resp;
    try {
      resp = await client.stubs.sessions.startSession(
        {
          client: o.backend ?? client.backend,
          options: {
            causalConsistency: o.causalConsistency,
            snapshot: o.snapshot ?? false,
            idleTimeout: o.idleTimeoutMS !== undefined ? durationFromMs(o.idleTimeoutMS) : undefined,
            defaultTransactionOptions: transactionOptionsOf(client, o.defaultTransactionOptions),
          },
        },
        client.callOptions(),
      );
    } catch (err) {
      throw toMongogateError(err);
    }
    const ps = resp.session;
    if (!ps) throw new MongogateClientError("mongogate: StartSession answered no session");
    let idle = ps.idleTimeout ? durationMs(ps.idleTimeout) : 0;
    if (idle <= 0) idle = SERVER_DEFAULT_IDLE_TIMEOUT_MS;
    const s = new ClientSession(client, ps.token, ps.client, idle, ps.instanceAddress);
    let interval = o.keepAliveIntervalMs ?? client.keepAliveIntervalMs;
    if (interval === 0) interval = idle / 3;
    if (interval > 0) s.kept = client.keeper.add(s, interval);
    return s;
  }

  /**
   * The session in logs without its token: the owning instance and the
   * first characters of the secret.
   */
  get id(): string {
    const i = this.token.indexOf(".");
    if (i <= 0 || i === this.token.length - 1) return "(malformed)";
    return `${this.token.slice(0, i)}.${this.token.slice(i + 1, i + 5)}…`;
  }

  toString(): string {
    return `ClientSession(${this.id}, backend ${JSON.stringify(this.backend)})`;
  }

  /** Keeps the token out of console.log and util.inspect. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }

  toJSON(): object {
    return { id: this.id, backend: this.backend };
  }

  get ended(): boolean {
    return this.endedFlag;
  }

  /** Whether a transaction is open, as far as this session has seen. */
  inTransaction(): boolean {
    return this.depth > 0;
  }

  /** The number of the session's current or last transaction (0: none yet). */
  get transactionNumber(): number {
    return this.txnNumber;
  }

  /** @internal For Keeper. */
  async refresh(timeoutMs: number): Promise<boolean> {
    try {
      await this.rpc.sessions.refreshSession({ sessionToken: this.token }, { timeoutMs });
      return true;
    } catch (err) {
      const e = toMongogateError(err);
      return !(e.reason === "SESSION_NOT_FOUND" || e.reason === "SESSION_EXPIRED");
    }
  }

  /**
   * Ends the session on the server, aborting its open transaction (never
   * committing it), and stops its keep-alive. Idempotent; a session the
   * server has already forgotten ends without error.
   */
  async endSession(): Promise<void> {
    if (this.endedFlag) return;
    this.endedFlag = true;
    if (this.kept) this.client.keeper.remove(this.kept);
    this.client.forget(this);
    try {
      await this.rpc.sessions.endSession({ sessionToken: this.token }, this.client.callOptions({ timeoutMs: this.client.defaultTimeoutMs || CLEANUP_TIMEOUT_MS }));
    } catch (err) {
      const e = toMongogateError(err);
      if (e.reason === "SESSION_NOT_FOUND" || e.reason === "SESSION_EXPIRED") return;
      throw e;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.endSession();
  }

  /** @internal */ checkUsable(): void {
    if (this.endedFlag) throw new MongogateClientError("mongogate: session has ended");
  }

  /** Asks the server for the session's state, including its last transaction's outcome. */
  async describe(): Promise<SessionInfo> {
    this.checkUsable();
    let resp;
    try {
      resp = await this.rpc.sessions.getSession({ sessionToken: this.token }, this.client.callOptions());
    } catch (err) {
      throw toMongogateError(err);
    }
    const ps = resp.session!;
    const info: SessionInfo = {
      backend: ps.client,
      instanceId: ps.instanceId,
      instanceAddress: ps.instanceAddress,
      created: ps.createdTime && timestampDate(ps.createdTime),
      expireTime: ps.expireTime && timestampDate(ps.expireTime),
      absoluteExpireTime: ps.absoluteExpireTime && timestampDate(ps.absoluteExpireTime),
      idleTimeoutMS: ps.idleTimeout ? durationMs(ps.idleTimeout) : 0,
      inTransaction: ps.state === SessionState.IN_TRANSACTION,
    };
    if (ps.lastTransaction) {
      const lt = ps.lastTransaction;
      info.lastTransaction = {
        number: Number(lt.transactionNumber),
        outcome: outcomeOf(lt.outcome),
        depth: lt.depth,
        started: lt.startTime && timestampDate(lt.startTime),
      };
    }
    return info;
  }

  /**
   * How the session's transaction `number` (0: the current or last one)
   * stands (GetTransactionOutcome). Unlike describe() it works after the
   * instance holding the session is gone (SESSION_OWNER_GONE), from any
   * instance: a transaction that recorded its outcome answers "committed"
   * or "aborted"; "unknown" means not known yet (ask again) or never.
   */
  async transactionOutcome(number = 0): Promise<TransactionOutcome> {
    if (number === 0) number = this.txnNumber;
    let resp;
    try {
      // The client's own transport, not the session's instance, which may
      // be the one that is gone.
      resp = await this.client.stubs.txns.getTransactionOutcome(
        { sessionToken: this.token, transactionNumber: BigInt(number) },
        this.client.callOptions(),
      );
    } catch (err) {
      throw toMongogateError(err);
    }
    return outcomeOf(resp.outcome);
  }

  /** Same as transactionOutcome. */
  getTransactionOutcome(number = 0): Promise<TransactionOutcome> {
    return this.transactionOutcome(number);
  }

  /**
   * Opens a transaction: operations given this session run in it until
   * commitTransaction or abortTransaction. With joinExisting it joins an
   * open transaction one level deeper.
   */
  async startTransaction(options: StartTransactionOptions = {}): Promise<void> {
    await this.startTxn(options);
  }

  private async startTxn(options: StartTransactionOptions): Promise<StartTransactionResponse> {
    this.checkUsable();
    const { joinExisting, ...txnOptions } = options;
    const hasOptions = Object.values(txnOptions).some((v) => v !== undefined);
    let resp;
    try {
      resp = await this.rpc.txns.startTransaction(
        {
          sessionToken: this.token,
          options: hasOptions ? transactionOptionsOf(this.client, txnOptions) : undefined,
          joinExisting: joinExisting ?? false,
        },
        this.client.callOptions(),
      );
    } catch (err) {
      throw toMongogateError(err);
    }
    this.txnNumber = Number(resp.transactionNumber);
    this.depth = resp.depth;
    return resp;
  }

  /**
   * Commits the transaction, or closes one joined level of it. After an
   * UNKNOWN_COMMIT_RESULT (or a lost answer) calling it again is safe: it
   * names the same transaction, and committing a committed one succeeds.
   */
  async commitTransaction(): Promise<void> {
    this.checkUsable();
    const n = this.txnNumber;
    let resp;
    try {
      resp = await this.rpc.txns.commitTransaction({ sessionToken: this.token, transactionNumber: BigInt(n) }, this.client.callOptions());
    } catch (err) {
      const e = toMongogateError(err);
      if (e.reason === "TRANSACTION_ABORTED" || e.reason === "NO_TRANSACTION") this.transactionEnded(n);
      throw e;
    }
    if (this.txnNumber === n) this.depth = resp.depth;
  }

  /** Aborts the transaction, at any depth. Aborting an aborted transaction succeeds. */
  async abortTransaction(): Promise<void> {
    this.checkUsable();
    const n = this.txnNumber;
    try {
      await this.rpc.txns.abortTransaction({ sessionToken: this.token, transactionNumber: BigInt(n) }, this.client.callOptions());
    } catch (err) {
      const e = toMongogateError(err);
      if (e.reason === "NO_TRANSACTION") this.transactionEnded(n);
      throw e;
    }
    this.transactionEnded(n);
  }

  private transactionEnded(n: number): void {
    if (this.txnNumber === n) this.depth = 0;
  }

  private stillOpen(number: number, depth: number): boolean {
    return this.txnNumber === number && this.depth >= depth;
  }

  private async abortQuietly(): Promise<void> {
    try {
      await this.abortTransaction();
    } catch {
      // The transaction ends anyway (expiry, endSession); the caller's
      // error is the one that matters.
    }
  }

  /**
   * Runs fn in a transaction and commits it, with the retries of the
   * MongoDB drivers' convenient transaction API:
   *
   * - if fn (or the commit) fails with TRANSACTION_ABORTED or an error
   *   labelled TransientTransactionError, the transaction is aborted and fn
   *   runs again in a new one;
   * - if the commit fails with UNKNOWN_COMMIT_RESULT, the label
   *   UnknownTransactionCommitResult (not with MaxTimeMSExpired), or its
   *   answer is lost (UNAVAILABLE without a reason), the commit is sent
   *   again; fn is not rerun;
   * - if the instance holding the session dies during the commit
   *   (SESSION_OWNER_GONE), the transaction's recorded outcome decides
   *   (TransactionOptions.recordOutcome): success when it committed, else
   *   the SESSION_OWNER_GONE error;
   * - retries stop after 120 s or when options.signal aborts, throwing the
   *   last error; between retries it waits a jittered 5 ms growing by half
   *   up to 500 ms.
   *
   * fn may run more than once: it must have no effects outside the
   * transaction that a rerun would repeat. Any other error from fn aborts the
   * transaction and is thrown. If fn commits or aborts the transaction
   * itself, withTransaction returns fn's result without committing. Joining
   * an open transaction (joinExisting) commits only the joined level and
   * never reruns fn.
   */
  async withTransaction<T>(fn: (session: ClientSession) => Promise<T>, options: WithTransactionOptions = {}): Promise<T> {
    const { signal, ...startOptions } = options;
    const start = Date.now();
    let lastErr: unknown;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        try {
          await sleepBackoff(attempt, start, signal);
        } catch (err) {
          throw err instanceof RetryLimit ? lastErr : err;
        }
      }
      const started = await this.startTxn(startOptions);
      const number = Number(started.transactionNumber);
      const depth = started.depth;
      const joined = depth > 1;

      let res: T;
      try {
        res = await fn(this);
      } catch (err) {
        if (this.stillOpen(number, depth)) await this.abortQuietly();
        if (!joined && isTransientTransactionError(err) && retryTime(start, signal)) {
          lastErr = err;
          continue;
        }
        throw err;
      }
      if (!this.stillOpen(number, depth)) return res;
      if (signal?.aborted) {
        // The commit cannot be sent; do not leave the transaction holding
        // its locks until it expires.
        await this.abortQuietly();
        throw abortError(signal);
      }
      try {
        await this.commitLoop(start, signal);
        return res;
      } catch (err) {
        if (!joined && isTransientTransactionError(err) && retryTime(start, signal)) {
          lastErr = err;
          continue;
        }
        throw err;
      }
    }
  }

  /** Commits, and commits again while the outcome is unknown. */
  private async commitLoop(start: number, signal?: AbortSignal): Promise<void> {
    let last: unknown;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        try {
          await sleepBackoff(attempt, start, signal);
        } catch (err) {
          throw err instanceof RetryLimit ? last : err;
        }
      }
      try {
        await this.commitTransaction();
        return;
      } catch (err) {
        last = err;
        if (err instanceof MongogateError && err.reason === "SESSION_OWNER_GONE") {
          // A commit sent through another instance may have reached the
          // owner before it died.
          return this.lostOwnerOutcome(start, err, signal);
        }
        if (!isUnknownCommitResult(err) || !retryTime(start, signal)) throw err;
      }
    }
  }

  /**
   * Asks any instance how the transaction whose commit was under way when
   * its instance died ended, until known or out of time: resolves if it
   * committed; otherwise throws the SESSION_OWNER_GONE error, with
   * `outcome` in its cause chain telling "aborted" or "unknown".
   */
  private async lostOwnerOutcome(start: number, gone: MongogateError, signal?: AbortSignal): Promise<void> {
    const number = this.txnNumber;
    for (let attempt = 1; ; attempt++) {
      let o: TransactionOutcome | undefined;
      try {
        o = await this.transactionOutcome(number);
      } catch {
        o = undefined;
      }
      if (o === "committed") {
        this.transactionEnded(number);
        return;
      }
      if (o === "aborted") {
        this.transactionEnded(number);
        throw new OwnerGoneError(gone, "aborted");
      }
      try {
        await sleepBackoff(attempt, start, signal);
      } catch {
        throw new OwnerGoneError(gone, "unknown");
      }
    }
  }
}

/**
 * The error withTransaction throws when the instance holding the session
 * died during the commit and the transaction did not (or not knowably)
 * commit: a SESSION_OWNER_GONE MongogateError with the outcome learnt.
 */
export class OwnerGoneError extends MongogateError {
  override name = "OwnerGoneError";
  readonly outcome: "aborted" | "unknown";
  constructor(gone: MongogateError, outcome: "aborted" | "unknown") {
    super({
      code: gone.code,
      reason: gone.reason,
      message: `${gone.rawMessage} (transaction ${outcome === "aborted" ? "aborted" : "outcome unknown"})`,
      metadata: { ...gone.metadata },
      cause: gone,
    });
    this.outcome = outcome;
  }
}
