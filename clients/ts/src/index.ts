// @mongogate/client: MongoDB sessions and transactions through mongogate,
// in the style of the MongoDB Node driver. Works wherever fetch does
// (browsers, Deno, Bun, edge runtimes, Node); "@mongogate/client/node"
// adds gRPC over HTTP/2 and per-instance routing for Node.

export {
  MongogateClient,
  connectTransport,
  apiKeyInterceptor,
  baseUrlOf,
  type MongogateClientOptions,
  type InstanceTransports,
  type CallOptions,
} from "./client.js";
export * from "./collection.js";
export { AbstractCursor, FindCursor, AggregationCursor } from "./cursor.js";
export {
  ClientSession,
  OwnerGoneError,
  WITH_TRANSACTION_LIMIT_MS,
  backoffCeilingMs,
  type SessionOptions,
  type TransactionOptions,
  type StartTransactionOptions,
  type WithTransactionOptions,
  type TransactionOutcome,
  type SessionInfo,
  type WriteConcern,
  type ReadPreference,
  type ReadPreferenceModeName,
} from "./session.js";
export { TxnOp, type RunTransactionOptions, type RunTransactionResult } from "./runtxn.js";
export {
  MongogateError,
  MongogateClientError,
  REASONS,
  ERROR_DOMAIN,
  LABEL_TRANSIENT_TRANSACTION_ERROR,
  LABEL_UNKNOWN_TRANSACTION_COMMIT_RESULT,
  reasonOf,
  errorReasonFromWire,
  toMongogateError,
  isTransientTransactionError,
  isUnknownCommitResult,
  type Reason,
  type FieldViolation,
} from "./errors.js";
export { type Document, type BsonOptions } from "./codec.js";
export { Code } from "@connectrpc/connect";
export * as BSON from "bson";
export { ObjectId, Long, Int32, Double, Decimal128, Binary, Timestamp } from "bson";
