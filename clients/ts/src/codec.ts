// Documents and values as BSON bytes, through the bson package.

import { BSON, type DeserializeOptions, type Document as BsonDocument, type SerializeOptions } from "bson";
import { create } from "@bufbuild/protobuf";
import { DocumentSchema, ValueSchema, type Document as PbDocument, type Value as PbValue } from "./gen/mongogate/v1/common_pb.js";
import { MongogateClientError } from "./errors.js";

/** A document: a plain object whose values are JS and bson types. */
export type Document = BsonDocument;

/**
 * How documents are decoded and encoded; the bson package's options. The
 * default is the Node driver's, except that int64 stays a Long (so that a
 * Long survives a round trip): { promoteLongs: false }. For exact numeric
 * types, so that Int32 and Double survive too, use { promoteValues: false }.
 */
export interface BsonOptions {
  deserialize?: DeserializeOptions;
  serialize?: SerializeOptions;
}

// Over Connect's JSON format the server writes a Document as the Extended
// JSON object itself (common.proto), which the generated message cannot
// read: it arrives empty. The client sends and reads binary protobuf.
const FORMAT_HINT =
  "mongogate: a response document holds neither json nor bson: the transport uses Connect's JSON format, whose documents the client cannot read; use the binary format (useBinaryFormat: true)";

export const DEFAULT_DESERIALIZE: DeserializeOptions = { promoteLongs: false };

export class Codec {
  constructor(
    readonly deserializeOptions: DeserializeOptions = DEFAULT_DESERIALIZE,
    readonly serializeOptions: SerializeOptions = {},
  ) {}

  with(o: BsonOptions | undefined): Codec {
    if (!o || (!o.deserialize && !o.serialize)) return this;
    return new Codec({ ...this.deserializeOptions, ...o.deserialize }, { ...this.serializeOptions, ...o.serialize });
  }

  /** doc encodes a document; undefined stays undefined (the field unset). */
  doc(d: Document | undefined, what: string): PbDocument | undefined {
    if (d === undefined || d === null) return undefined;
    if (typeof d !== "object" || Array.isArray(d)) {
      throw new MongogateClientError(`mongogate: ${what} must be a document (a plain object), not ${Array.isArray(d) ? "an array" : typeof d}`);
    }
    return create(DocumentSchema, { value: { case: "bson", value: BSON.serialize(d, this.serializeOptions) } });
  }

  /** requiredDoc encodes a document that must be given. */
  requiredDoc(d: Document | undefined, what: string): PbDocument {
    const out = this.doc(d, what);
    if (!out) throw new MongogateClientError(`mongogate: ${what} is required (use {} to match every document)`);
    return out;
  }

  docs(ds: readonly Document[] | undefined, what: string): PbDocument[] {
    return (ds ?? []).map((d, i) => this.requiredDoc(d, `${what}[${i}]`));
  }

  /** fromDoc decodes a response document; undefined when unset. */
  fromDoc<T = Document>(d: PbDocument | undefined): T | null {
    if (!d) return null;
    switch (d.value.case) {
      case "bson":
        return BSON.deserialize(d.value.value, this.deserializeOptions) as T;
      case "json":
        return BSON.EJSON.parse(d.value.value, { relaxed: false }) as T;
      default:
        throw new MongogateClientError(FORMAT_HINT);
    }
  }

  /** value decodes a Value, a BSON document {"v": value}. */
  fromValue(v: PbValue | undefined): unknown {
    if (!v) return undefined;
    switch (v.value.case) {
      case "bson":
        return BSON.deserialize(v.value.value, this.deserializeOptions)["v"];
      case "json":
        return BSON.EJSON.parse(v.value.value, { relaxed: false });
      default:
        throw new MongogateClientError(FORMAT_HINT);
    }
  }

  toValue(x: unknown): PbValue {
    return create(ValueSchema, { value: { case: "bson", value: BSON.serialize({ v: x }, this.serializeOptions) } });
  }
}
