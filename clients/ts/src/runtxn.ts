// client.runTransaction: operations known up front, run atomically in one
// round trip (TransactionService.RunTransaction).

import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { DocumentFormat } from "./gen/mongogate/v1/common_pb.js";
import type { OperationResult, OperationSchema } from "./gen/mongogate/v1/transaction_pb.js";
import type { MongogateClient } from "./client.js";
import type { Collection } from "./collection.js";
import { MongogateClientError, toMongogateError } from "./errors.js";
import { transactionOptionsOf, type ClientSession, type TransactionOptions } from "./session.js";

type OperationInit = NonNullable<MessageInitShape<typeof OperationSchema>["operation"]>;
type ResultCase = OperationResult["result"];

/**
 * TxnOp is one operation of client.runTransaction, made by a collection's
 * ...Op methods (insertOneOp, updateOneOp, findOneOp, ...), which take the
 * arguments of the methods they are named after. Its result type is R.
 */
export class TxnOp<R = unknown> {
  private constructor(
    /** @internal */ readonly collection: Collection<any>,
    /** @internal */ readonly build: () => OperationInit,
    private readonly decode: (r: ResultCase) => unknown,
    private readonly nullable: boolean,
  ) {}

  /** @internal */
  static make<R>(collection: Collection<any>, build: () => OperationInit, decode: (r: ResultCase) => unknown, nullable = false): TxnOp<R> {
    return new TxnOp<R>(collection, build, decode, nullable);
  }

  /** @internal */
  result(r: OperationResult | undefined): R {
    const out = r ? this.decode(r.result) : undefined;
    if (out === undefined) throw new MongogateClientError("mongogate: RunTransaction answered a result of another kind");
    return (this.nullable ? (out as { v: R }).v : out) as R;
  }
}

export interface RunTransactionOptions extends TransactionOptions {
  /** Run in this session (which must have no open transaction); default: a session of the call's own. */
  session?: ClientSession;
  /** Time after which the server starts no new attempt (default 120 s, as the drivers' withTransaction). */
  transactionTimeoutMS?: number;
  /** Deadline of the RPC. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The results of runTransaction, one per operation in order. */
export interface RunTransactionResult<Results extends readonly unknown[] = unknown[]> {
  results: Results;
  /** Number within the session of the transaction that committed. */
  transactionNumber: number;
  /** How many times the transaction ran (1 if the first attempt committed). */
  attempts: number;
}

export type ResultsOf<Ops extends readonly TxnOp<any>[]> = { -readonly [K in keyof Ops]: Ops[K] extends TxnOp<infer R> ? R : never };

/** @internal */
export async function runTransaction<const Ops extends readonly TxnOp<any>[]>(
  client: MongogateClient,
  ops: Ops,
  options: RunTransactionOptions,
): Promise<RunTransactionResult<ResultsOf<Ops>>> {
  if (ops.length === 0) throw new MongogateClientError("mongogate: runTransaction needs at least one operation");
  const backend = ops[0]!.collection.db.backend;
  for (const op of ops) {
    if (op.collection.db.client !== client) throw new MongogateClientError("mongogate: an operation's collection belongs to another client");
    if (op.collection.db.backend !== backend) throw new MongogateClientError("mongogate: runTransaction's operations name different backends");
  }
  const operations = ops.map((op) => ({ operation: op.build() }));
  const { session, transactionTimeoutMS, timeoutMs, signal, ...txnOptions } = options;
  if (session) {
    if (session.client !== client) throw new MongogateClientError("mongogate: the session belongs to another client");
    session.checkUsable();
  }
  const hasOptions = Object.values(txnOptions).some((v) => v !== undefined);
  const rpc = session ? session.rpc : client.stubs;
  let resp;
  try {
    resp = await rpc.txns.runTransaction(
      {
        sessionToken: session?.token ?? "",
        client: backend,
        options: hasOptions ? transactionOptionsOf(client, txnOptions) : undefined,
        operations,
        responseFormat: DocumentFormat.BSON,
        timeout: transactionTimeoutMS !== undefined ? durationFromMs(transactionTimeoutMS) : undefined,
      },
      client.callOptions({ timeoutMs, signal }),
    );
  } catch (err) {
    throw toMongogateError(err);
  }
  const results = ops.map((op, i) => op.result(resp.results[i])) as unknown as ResultsOf<Ops>;
  return { results, transactionNumber: Number(resp.transactionNumber), attempts: resp.attempts };
}
