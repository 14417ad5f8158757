// MongogateError: every failed call, with the status code and what the
// google.rpc details of the status say (see common.proto's ErrorReason).

import { Code, ConnectError } from "@connectrpc/connect";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { ErrorReason, ErrorReasonSchema } from "./gen/mongogate/v1/common_pb.js";

/** The ErrorInfo domain of every error a mongogate server produces. */
export const ERROR_DOMAIN = "mongogate.dev";

/** MongoDB's error label: rerunning the whole transaction may succeed. */
export const LABEL_TRANSIENT_TRANSACTION_ERROR = "TransientTransactionError";
/** MongoDB's error label: the commit may have succeeded; committing again is safe. */
export const LABEL_UNKNOWN_TRANSACTION_COMMIT_RESULT = "UnknownTransactionCommitResult";

const REASON_PREFIX = "ERROR_REASON_";

/**
 * A reason as google.rpc.ErrorInfo carries it: the name of an ErrorReason
 * value of common.proto without its ERROR_REASON_ prefix, e.g.
 * "SESSION_NOT_FOUND" (protoc-gen-es names the enum members the same way:
 * ErrorReason.SESSION_NOT_FOUND).
 */
export type Reason = Exclude<keyof typeof ErrorReason, "UNSPECIFIED">;

/** Every reason of the wire contract, from the generated ErrorReason enum. */
export const REASONS: readonly Reason[] = ErrorReasonSchema.values
  .filter((v) => v.number !== ErrorReason.UNSPECIFIED)
  .map((v) => v.name.slice(REASON_PREFIX.length) as Reason);

/** The wire reason of an ErrorReason value; "" for UNSPECIFIED and unknown numbers. */
export function reasonOf(r: ErrorReason): Reason | "" {
  if (r === ErrorReason.UNSPECIFIED) return "";
  const v = ErrorReasonSchema.values.find((x) => x.number === r);
  return v ? (v.name.slice(REASON_PREFIX.length) as Reason) : "";
}

/** The ErrorReason value of a wire reason, or undefined. */
export function errorReasonFromWire(reason: string): ErrorReason | undefined {
  const v = ErrorReasonSchema.values.find((x) => x.name === REASON_PREFIX + reason);
  return v && v.number !== ErrorReason.UNSPECIFIED ? (v.number as ErrorReason) : undefined;
}

/** One offending request field of an INVALID_ARGUMENT (google.rpc.BadRequest). */
export interface FieldViolation {
  field: string;
  description: string;
}

/**
 * MongogateError is a failed call. Branch on `code` and `reason`, never on
 * the message text.
 */
export class MongogateError extends Error {
  override name = "MongogateError";
  /** The status code (Connect's Code, numbered as gRPC's codes). */
  readonly code: Code;
  /**
   * The ErrorInfo reason, e.g. "SESSION_NOT_FOUND"; "" when the status has
   * no ErrorInfo of domain mongogate.dev (an error made by the transport
   * itself, such as a client-side deadline or an unreachable server).
   */
  readonly reason: Reason | "";
  /** The status message without the code in front, for people. */
  readonly rawMessage: string;
  /** The ErrorInfo metadata: mongo_code, mongo_code_name, labels and reason-specific keys. */
  readonly metadata: Readonly<Record<string, string>>;
  /** MongoDB's error labels, e.g. TransientTransactionError. */
  readonly labels: readonly string[];
  /** MongoDB's error code and its name, when MongoDB produced the error. */
  readonly mongoCode?: number;
  readonly mongoCodeName?: string;
  /** The server's RetryInfo delay in milliseconds, if it sent one. */
  readonly retryDelayMs?: number;
  /** The BadRequest field violations of an INVALID_ARGUMENT. */
  readonly violations: readonly FieldViolation[];

  constructor(init: {
    code: Code;
    reason?: Reason | "";
    message?: string;
    metadata?: Record<string, string>;
    retryDelayMs?: number;
    violations?: FieldViolation[];
    cause?: unknown;
  }) {
    const reason = init.reason ?? "";
    const metadata = init.metadata ?? {};
    const what = reason || Code[init.code] || String(init.code);
    const mongoCode = metadata["mongo_code"] !== undefined ? Number.parseInt(metadata["mongo_code"], 10) : undefined;
    const mongoCodeName = metadata["mongo_code_name"] || undefined;
    let text = `mongogate: ${what}`;
    if (mongoCode !== undefined && !Number.isNaN(mongoCode)) {
      text += ` (MongoDB ${mongoCode}${mongoCodeName ? " " + mongoCodeName : ""})`;
    }
    if (init.message) text += `: ${init.message}`;
    super(text, init.cause !== undefined ? { cause: init.cause } : undefined);
    this.code = init.code;
    this.reason = reason;
    this.rawMessage = init.message ?? "";
    this.metadata = Object.freeze({ ...metadata });
    this.labels = Object.freeze(metadata["labels"] ? metadata["labels"].split(",") : []);
    if (mongoCode !== undefined && !Number.isNaN(mongoCode)) this.mongoCode = mongoCode;
    if (mongoCodeName) this.mongoCodeName = mongoCodeName;
    if (init.retryDelayMs !== undefined) this.retryDelayMs = init.retryDelayMs;
    this.violations = Object.freeze(init.violations ?? []);
  }

  /** Whether MongoDB attached the label to the error. */
  hasErrorLabel(label: string): boolean {
    return this.labels.includes(label);
  }

  /**
   * Whether retrying may help: the server sent a RetryInfo, or MongoDB
   * labelled the error TransientTransactionError (rerun the transaction)
   * or UnknownTransactionCommitResult (commit again).
   */
  get retryable(): boolean {
    return (
      this.retryDelayMs !== undefined ||
      this.hasErrorLabel(LABEL_TRANSIENT_TRANSACTION_ERROR) ||
      this.hasErrorLabel(LABEL_UNKNOWN_TRANSACTION_COMMIT_RESULT)
    );
  }
}

/** Errors of the client itself; they never come from the server. */
export class MongogateClientError extends Error {
  override name = "MongogateClientError";
}

const TYPE_ERROR_INFO = "google.rpc.ErrorInfo";
const TYPE_RETRY_INFO = "google.rpc.RetryInfo";
const TYPE_BAD_REQUEST = "google.rpc.BadRequest";

interface IncomingDetail {
  type: string;
  value: Uint8Array;
}

/** toMongogateError converts anything a call threw into a MongogateError. */
export function toMongogateError(err: unknown): MongogateError {
  if (err instanceof MongogateError) return err;
  const ce = ConnectError.from(err);
  let reason: Reason | "" = "";
  let metadata: Record<string, string> = {};
  let retryDelayMs: number | undefined;
  const violations: FieldViolation[] = [];
  for (const d of ce.details) {
    if (!("type" in d)) continue;
    const detail = d as IncomingDetail;
    try {
      switch (detail.type) {
        case TYPE_ERROR_INFO: {
          const info = decodeErrorInfo(detail.value);
          if (info.domain !== ERROR_DOMAIN || reason !== "") break;
          reason = info.reason as Reason;
          metadata = info.metadata;
          break;
        }
        case TYPE_RETRY_INFO:
          retryDelayMs = decodeRetryInfo(detail.value);
          break;
        case TYPE_BAD_REQUEST:
          violations.push(...decodeBadRequest(detail.value));
          break;
      }
    } catch {
      // A detail that does not decode is left out, as connect-es does.
    }
  }
  return new MongogateError({ code: ce.code, reason, message: ce.rawMessage, metadata, retryDelayMs, violations, cause: err });
}

// The google.rpc messages are decoded by hand: three small messages are not
// worth generating (and vendoring) google/rpc/error_details.proto.

function decodeErrorInfo(b: Uint8Array): { reason: string; domain: string; metadata: Record<string, string> } {
  const r = new BinaryReader(b);
  const out = { reason: "", domain: "", metadata: {} as Record<string, string> };
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) out.reason = r.string();
    else if (no === 2 && wt === WireType.LengthDelimited) out.domain = r.string();
    else if (no === 3 && wt === WireType.LengthDelimited) {
      const [k, v] = decodeStringPair(r.bytes());
      out.metadata[k] = v;
    } else r.skip(wt, no);
  }
  return out;
}

function decodeStringPair(b: Uint8Array): [string, string] {
  const r = new BinaryReader(b);
  let k = "";
  let v = "";
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) k = r.string();
    else if (no === 2 && wt === WireType.LengthDelimited) v = r.string();
    else r.skip(wt, no);
  }
  return [k, v];
}

function decodeRetryInfo(b: Uint8Array): number {
  const r = new BinaryReader(b);
  let ms = 0;
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) {
      const d = new BinaryReader(r.bytes());
      let seconds = 0;
      let nanos = 0;
      while (d.pos < d.len) {
        const [dn, dw] = d.tag();
        if (dn === 1 && dw === WireType.Varint) seconds = Number(d.int64());
        else if (dn === 2 && dw === WireType.Varint) nanos = d.int32();
        else d.skip(dw, dn);
      }
      ms = seconds * 1000 + nanos / 1e6;
    } else r.skip(wt, no);
  }
  return ms;
}

function decodeBadRequest(b: Uint8Array): FieldViolation[] {
  const r = new BinaryReader(b);
  const out: FieldViolation[] = [];
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) {
      const [field, description] = decodeStringPair(r.bytes());
      out.push({ field, description });
    } else r.skip(wt, no);
  }
  return out;
}

/** Rerunning the transaction from its start may succeed after err. */
export function isTransientTransactionError(err: unknown): boolean {
  err = asMongogateError(err);
  if (!(err instanceof MongogateError)) return false;
  return (err.code === Code.Aborted && err.reason === "TRANSACTION_ABORTED") || err.hasErrorLabel(LABEL_TRANSIENT_TRANSACTION_ERROR);
}

/**
 * A commit that failed with err may have committed, so committing again is
 * the way to learn it. A status without a reason came from the transport:
 * the server may have received the commit and lost the answer. A
 * MaxTimeMSExpired commit is not: it ran out of the very time a retry would
 * need (the drivers' convenient-API rule).
 */
export function isUnknownCommitResult(err: unknown): boolean {
  err = asMongogateError(err);
  if (!(err instanceof MongogateError)) return false;
  if (err.mongoCodeName === "MaxTimeMSExpired" || err.mongoCode === 50) return false;
  if (err.hasErrorLabel(LABEL_UNKNOWN_TRANSACTION_COMMIT_RESULT)) return true;
  return err.code === Code.Unavailable && (err.reason === "UNKNOWN_COMMIT_RESULT" || err.reason === "");
}

/** A MongogateError, or the MongogateError of a ConnectError (a raw stub's); else err. */
function asMongogateError(err: unknown): unknown {
  return err instanceof ConnectError ? toMongogateError(err) : err;
}
