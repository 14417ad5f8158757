// Db and Collection: CRUD and aggregation in the style of the Node driver.

import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { DocumentFormat, type Document as PbDocument, type PipelineSchema, type Value as PbValue } from "./gen/mongogate/v1/common_pb.js";
import { ReturnDocument, type IndexedId, type WriteModelSchema } from "./gen/mongogate/v1/document_pb.js";
import type { CallOptions, MongogateClient, Stubs } from "./client.js";
import type { BsonOptions, Codec, Document } from "./codec.js";
import { AggregationCursor, FindCursor, type FindCursorOptions } from "./cursor.js";
import { MongogateClientError, toMongogateError } from "./errors.js";
import { writeConcernOf, type WriteConcern } from "./session.js";
import type { ClientSession } from "./session.js";
import { TxnOp } from "./runtxn.js";

const BSON_FORMAT = DocumentFormat.BSON;

export interface DbOptions {
  /** Backend (named client) of the database; default: the client's. */
  backend?: string;
  writeConcern?: WriteConcern;
  bsonOptions?: BsonOptions;
}

export interface CollectionOptions {
  writeConcern?: WriteConcern;
  bsonOptions?: BsonOptions;
}

/** An index to use: its key pattern, or its name. */
export type Hint = Document | string;

export interface WriteOptions extends CallOptions {
  /** Not allowed inside a transaction (the transaction's applies). */
  writeConcern?: WriteConcern;
  comment?: string;
}

export interface InsertOneOptions extends WriteOptions {
  bypassDocumentValidation?: boolean;
}
export interface InsertManyOptions extends InsertOneOptions {
  ordered?: boolean;
}
export interface FindOneOptions extends CallOptions {
  projection?: Document;
  sort?: Document;
  skip?: number;
  hint?: Hint;
  comment?: string;
  maxTimeMS?: number;
  collation?: Document;
}
export interface FindOptions extends FindOneOptions {
  limit?: number;
  batchSize?: number;
  let?: Document;
  allowDiskUse?: boolean;
}
export interface UpdateOptions extends WriteOptions {
  upsert?: boolean;
  arrayFilters?: Document[];
  hint?: Hint;
  let?: Document;
  collation?: Document;
  bypassDocumentValidation?: boolean;
}
export interface ReplaceOptions extends WriteOptions {
  upsert?: boolean;
  hint?: Hint;
  let?: Document;
  collation?: Document;
  bypassDocumentValidation?: boolean;
}
export interface DeleteOptions extends WriteOptions {
  hint?: Hint;
  let?: Document;
  collation?: Document;
}
export interface FindOneAndUpdateOptions extends UpdateOptions {
  returnDocument?: "before" | "after";
  projection?: Document;
  sort?: Document;
}
export interface FindOneAndReplaceOptions extends ReplaceOptions {
  returnDocument?: "before" | "after";
  projection?: Document;
  sort?: Document;
}
export interface FindOneAndDeleteOptions extends DeleteOptions {
  projection?: Document;
  sort?: Document;
}
export interface CountDocumentsOptions extends CallOptions {
  skip?: number;
  limit?: number;
  hint?: Hint;
  comment?: string;
  maxTimeMS?: number;
  collation?: Document;
}
export interface DistinctOptions extends CallOptions {
  comment?: string;
  maxTimeMS?: number;
  collation?: Document;
}
export interface AggregateOptions extends CallOptions {
  allowDiskUse?: boolean;
  batchSize?: number;
  bypassDocumentValidation?: boolean;
  collation?: Document;
  comment?: string;
  hint?: Hint;
  let?: Document;
  maxTimeMS?: number;
  /** Of a pipeline ending in $out or $merge. */
  writeConcern?: WriteConcern;
}
export interface BulkWriteOptions extends WriteOptions {
  ordered?: boolean;
  bypassDocumentValidation?: boolean;
  let?: Document;
}

/** An update: operators ({$set: ...}), or an aggregation pipeline (an array of stages). */
export type Update = Document | Document[];

/** One write of bulkWrite, as the Node driver spells it. */
export type AnyBulkWriteOperation =
  | { insertOne: { document: Document } }
  | { updateOne: { filter: Document; update: Update; upsert?: boolean; arrayFilters?: Document[]; collation?: Document; hint?: Hint } }
  | { updateMany: { filter: Document; update: Update; upsert?: boolean; arrayFilters?: Document[]; collation?: Document; hint?: Hint } }
  | { replaceOne: { filter: Document; replacement: Document; upsert?: boolean; collation?: Document; hint?: Hint } }
  | { deleteOne: { filter: Document; collation?: Document; hint?: Hint } }
  | { deleteMany: { filter: Document; collation?: Document; hint?: Hint } };

export interface InsertOneResult {
  acknowledged: boolean;
  insertedId: unknown;
}
export interface InsertManyResult {
  acknowledged: boolean;
  insertedCount: number;
  insertedIds: Record<number, unknown>;
}
export interface UpdateResult {
  acknowledged: boolean;
  matchedCount: number;
  modifiedCount: number;
  upsertedCount: number;
  upsertedId: unknown | null;
}
export interface DeleteResult {
  acknowledged: boolean;
  deletedCount: number;
}
export interface BulkWriteResult {
  acknowledged: boolean;
  insertedCount: number;
  matchedCount: number;
  modifiedCount: number;
  deletedCount: number;
  upsertedCount: number;
  insertedIds: Record<number, unknown>;
  upsertedIds: Record<number, unknown>;
}

/** Db is a database handle of a client; it makes no call. */
export class Db {
  readonly backend: string;
  /** @internal */ readonly codec: Codec;
  constructor(
    readonly client: MongogateClient,
    readonly databaseName: string,
    readonly options: DbOptions = {},
  ) {
    this.backend = options.backend ?? client.backend;
    this.codec = client.codec.with(options.bsonOptions);
  }

  /** A collection handle; no call is made. */
  collection<T extends Document = Document>(name: string, options: CollectionOptions = {}): Collection<T> {
    return new Collection<T>(this, name, options);
  }
}

const toNumber = (n: bigint | number): number => Number(n);

/** @internal */
export function hintOf(codec: Codec, h: Hint | undefined) {
  if (h === undefined) return { case: undefined };
  if (typeof h === "string") return { case: "hintName" as const, value: h };
  return { case: "hint" as const, value: codec.requiredDoc(h, "hint") };
}

/** @internal */
export function updateSpecOf(codec: Codec, u: Update) {
  if (Array.isArray(u)) {
    const p: MessageInitShape<typeof PipelineSchema> = { stages: codec.docs(u, "update pipeline") };
    return { case: "updatePipeline" as const, value: p };
  }
  if (u === undefined || u === null) throw new MongogateClientError("mongogate: update is required");
  return { case: "update" as const, value: codec.requiredDoc(u, "update") };
}

/** Whether a findOne has options to send; none is the hot path of a point read. */
const hasFindOneOptions = (o: FindOneOptions) =>
  o.projection !== undefined || o.sort !== undefined || !!o.skip || o.hint !== undefined || !!o.comment || !!o.maxTimeMS || o.collation !== undefined;

const ms = (v: number | undefined) => (v !== undefined && v > 0 ? durationFromMs(v) : undefined);
const returnDocumentOf = (r: "before" | "after" | undefined) =>
  r === "after" ? ReturnDocument.AFTER : r === "before" ? ReturnDocument.BEFORE : ReturnDocument.UNSPECIFIED;

function idsOf(codec: Codec, ids: IndexedId[]): Record<number, unknown> {
  const out: Record<number, unknown> = {};
  for (const x of ids) out[Number(x.index)] = codec.fromValue(x.id);
  return out;
}

/** Collection runs operations on one collection. */
export class Collection<TSchema extends Document = Document> {
  readonly collectionName: string;
  readonly dbName: string;
  /** @internal */ readonly codec: Codec;
  private readonly writeConcern?: WriteConcern;

  constructor(
    readonly db: Db,
    name: string,
    options: CollectionOptions = {},
  ) {
    this.collectionName = name;
    this.dbName = db.databaseName;
    this.codec = db.codec.with(options.bsonOptions);
    this.writeConcern = options.writeConcern ?? db.options.writeConcern;
  }

  /** The namespace, "db.collection". */
  get namespace(): string {
    return `${this.dbName}.${this.collectionName}`;
  }

  /** @internal */ ns() {
    return { database: this.dbName, collection: this.collectionName };
  }

  private get client(): MongogateClient {
    return this.db.client;
  }

  /** The stubs, token and call options of a call. */
  private target(o: CallOptions | undefined): { rpc: Stubs; sessionToken: string; client: string; call: { timeoutMs?: number; signal?: AbortSignal } } {
    this.client.checkOpen();
    const s = o?.session;
    if (s) {
      if (s.client !== this.client) throw new MongogateClientError("mongogate: the session belongs to another client");
      s.checkUsable();
    }
    return {
      rpc: s ? s.rpc : this.client.stubs,
      sessionToken: s ? s.token : "",
      client: this.db.backend,
      call: this.client.callOptions(o),
    };
  }

  private wc(o: WriteOptions | undefined) {
    // Inside a transaction the transaction's write concern applies; the
    // collection's default is not sent there.
    const w = o?.writeConcern ?? (o?.session?.inTransaction() ? undefined : this.writeConcern);
    return writeConcernOf(w);
  }

  private async call<R>(f: () => Promise<R>): Promise<R> {
    try {
      return await f();
    } catch (err) {
      throw toMongogateError(err);
    }
  }

  private value(v: PbValue | undefined): unknown {
    return this.codec.fromValue(v);
  }

  async insertOne(doc: TSchema | Document, options: InsertOneOptions = {}): Promise<InsertOneResult> {
    const document = this.codec.requiredDoc(doc, "document");
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.insertOne(
        {
          sessionToken: t.sessionToken,
          client: t.client,
          namespace: this.ns(),
          document,
          options: { bypassDocumentValidation: options.bypassDocumentValidation ?? false, comment: options.comment ?? "" },
          writeConcern: this.wc(options),
          responseFormat: BSON_FORMAT,
        },
        t.call,
      ),
    );
    return { acknowledged: r.acknowledged, insertedId: this.value(r.insertedId) };
  }

  async insertMany(docs: readonly (TSchema | Document)[], options: InsertManyOptions = {}): Promise<InsertManyResult> {
    if (!Array.isArray(docs) || docs.length === 0) throw new MongogateClientError("mongogate: insertMany needs at least one document");
    const documents = this.codec.docs(docs, "documents");
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.insertMany(
        {
          sessionToken: t.sessionToken,
          client: t.client,
          namespace: this.ns(),
          documents,
          options: { ordered: options.ordered, bypassDocumentValidation: options.bypassDocumentValidation ?? false, comment: options.comment ?? "" },
          writeConcern: this.wc(options),
          responseFormat: BSON_FORMAT,
        },
        t.call,
      ),
    );
    const insertedIds: Record<number, unknown> = {};
    r.insertedIds.forEach((v, i) => (insertedIds[i] = this.value(v)));
    return { acknowledged: r.acknowledged, insertedCount: r.insertedIds.length, insertedIds };
  }

  /** @internal */ findOneOptionsOf(o: FindOneOptions) {
    return {
      projection: this.codec.doc(o.projection, "projection"),
      sort: this.codec.doc(o.sort, "sort"),
      skip: BigInt(o.skip ?? 0),
      hintSpec: hintOf(this.codec, o.hint),
      comment: o.comment ?? "",
      maxTime: ms(o.maxTimeMS),
      collation: this.codec.doc(o.collation, "collation"),
    };
  }

  /** The first matching document, or null. */
  async findOne<T = TSchema>(filter: Document = {}, options: FindOneOptions = {}): Promise<T | null> {
    const f = this.codec.doc(filter, "filter");
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.findOne(
        { sessionToken: t.sessionToken, client: t.client, namespace: this.ns(), filter: f, options: hasFindOneOptions(options) ? this.findOneOptionsOf(options) : undefined, responseFormat: BSON_FORMAT },
        t.call,
      ),
    );
    return this.codec.fromDoc<T>(r.document);
  }

  /**
   * A cursor over the matching documents. No call is made until the cursor
   * is read; it then reads the server's stream one batch at a time.
   */
  find<T = TSchema>(filter: Document = {}, options: FindOptions = {}): FindCursor<T> {
    const f = this.codec.doc(filter, "filter");
    const cursorOptions: FindCursorOptions = {
      sort: options.sort,
      projection: options.projection,
      skip: options.skip,
      limit: options.limit,
      batchSize: options.batchSize,
    };
    const open = (signal: AbortSignal, co: FindCursorOptions) => {
      const t = this.target(options);
      const call = { ...t.call, signal: anySignal(signal, options.signal) };
      if (co.limit !== undefined && co.limit < 0) throw new MongogateClientError("mongogate: negative limit");
      return t.rpc.docs.find(
        {
          sessionToken: t.sessionToken,
          client: t.client,
          namespace: this.ns(),
          filter: f,
          options: {
            projection: this.codec.doc(co.projection, "projection"),
            sort: this.codec.doc(co.sort, "sort"),
            skip: BigInt(co.skip ?? 0),
            limit: BigInt(co.limit ?? 0),
            batchSize: co.batchSize ?? 0,
            hintSpec: hintOf(this.codec, options.hint),
            comment: options.comment ?? "",
            maxTime: ms(options.maxTimeMS),
            let: this.codec.doc(options.let, "let"),
            collation: this.codec.doc(options.collation, "collation"),
            allowDiskUse: options.allowDiskUse,
          },
          responseFormat: BSON_FORMAT,
        },
        call,
      );
    };
    return new FindCursor<T>(open, this.codec, cursorOptions);
  }

  /** A cursor over the pipeline's output, read lazily like find's. */
  aggregate<T = Document>(pipeline: Document[] = [], options: AggregateOptions = {}): AggregationCursor<T> {
    const stages = this.codec.docs(pipeline, "pipeline");
    const open = (signal: AbortSignal) => {
      const t = this.target(options);
      const call = { ...t.call, signal: anySignal(signal, options.signal) };
      return t.rpc.docs.aggregate(
        {
          sessionToken: t.sessionToken,
          client: t.client,
          namespace: this.ns(),
          pipeline: stages,
          options: {
            allowDiskUse: options.allowDiskUse,
            batchSize: options.batchSize ?? 0,
            bypassDocumentValidation: options.bypassDocumentValidation ?? false,
            collation: this.codec.doc(options.collation, "collation"),
            comment: options.comment ?? "",
            hintSpec: hintOf(this.codec, options.hint),
            let: this.codec.doc(options.let, "let"),
            maxTime: ms(options.maxTimeMS),
          },
          writeConcern: writeConcernOf(options.writeConcern),
          responseFormat: BSON_FORMAT,
        },
        call,
      );
    };
    return new AggregationCursor<T>(open, this.codec);
  }

  /** @internal */ updateOptionsOf(o: UpdateOptions) {
    return {
      upsert: o.upsert ?? false,
      arrayFilters: this.codec.docs(o.arrayFilters, "arrayFilters"),
      hintSpec: hintOf(this.codec, o.hint),
      let: this.codec.doc(o.let, "let"),
      comment: o.comment ?? "",
      collation: this.codec.doc(o.collation, "collation"),
      bypassDocumentValidation: o.bypassDocumentValidation ?? false,
    };
  }

  /** @internal */ updateResultOf(r: { matchedCount: bigint; modifiedCount: bigint; upsertedCount: bigint; upsertedId?: PbValue; acknowledged: boolean }): UpdateResult {
    return {
      acknowledged: r.acknowledged,
      matchedCount: toNumber(r.matchedCount),
      modifiedCount: toNumber(r.modifiedCount),
      upsertedCount: toNumber(r.upsertedCount),
      upsertedId: r.upsertedId ? this.value(r.upsertedId) : null,
    };
  }

  async updateOne(filter: Document, update: Update, options: UpdateOptions = {}): Promise<UpdateResult> {
    const f = this.codec.requiredDoc(filter, "filter");
    const updateSpec = updateSpecOf(this.codec, update);
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.updateOne(
        { sessionToken: t.sessionToken, client: t.client, namespace: this.ns(), filter: f, updateSpec, options: this.updateOptionsOf(options), writeConcern: this.wc(options), responseFormat: BSON_FORMAT },
        t.call,
      ),
    );
    return this.updateResultOf(r);
  }

  async updateMany(filter: Document, update: Update, options: UpdateOptions = {}): Promise<UpdateResult> {
    const f = this.codec.requiredDoc(filter, "filter");
    const updateSpec = updateSpecOf(this.codec, update);
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.updateMany(
        { sessionToken: t.sessionToken, client: t.client, namespace: this.ns(), filter: f, updateSpec, options: this.updateOptionsOf(options), writeConcern: this.wc(options), responseFormat: BSON_FORMAT },
        t.call,
      ),
    );
    return this.updateResultOf(r);
  }

  /** @internal */ replaceOptionsOf(o: ReplaceOptions) {
    return {
      upsert: o.upsert ?? false,
      hintSpec: hintOf(this.codec, o.hint),
      let: this.codec.doc(o.let, "let"),
      comment: o.comment ?? "",
      collation: this.codec.doc(o.collation, "collation"),
      bypassDocumentValidation: o.bypassDocumentValidation ?? false,
    };
  }

  async replaceOne(filter: Document, replacement: TSchema | Document, options: ReplaceOptions = {}): Promise<UpdateResult> {
    const f = this.codec.requiredDoc(filter, "filter");
    const rep = this.codec.requiredDoc(replacement, "replacement");
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.replaceOne(
        { sessionToken: t.sessionToken, client: t.client, namespace: this.ns(), filter: f, replacement: rep, options: this.replaceOptionsOf(options), writeConcern: this.wc(options), responseFormat: BSON_FORMAT },
        t.call,
      ),
    );
    return this.updateResultOf(r);
  }

  /** @internal */ deleteOptionsOf(o: DeleteOptions) {
    return {
      hintSpec: hintOf(this.codec, o.hint),
      let: this.codec.doc(o.let, "let"),
      comment: o.comment ?? "",
      collation: this.codec.doc(o.collation, "collation"),
    };
  }

  async deleteOne(filter: Document, options: DeleteOptions = {}): Promise<DeleteResult> {
    const f = this.codec.requiredDoc(filter, "filter");
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.deleteOne(
        { sessionToken: t.sessionToken, client: t.client, namespace: this.ns(), filter: f, options: this.deleteOptionsOf(options), writeConcern: this.wc(options) },
        t.call,
      ),
    );
    return { acknowledged: r.acknowledged, deletedCount: toNumber(r.deletedCount) };
  }

  async deleteMany(filter: Document, options: DeleteOptions = {}): Promise<DeleteResult> {
    const f = this.codec.requiredDoc(filter, "filter");
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.deleteMany(
        { sessionToken: t.sessionToken, client: t.client, namespace: this.ns(), filter: f, options: this.deleteOptionsOf(options), writeConcern: this.wc(options) },
        t.call,
      ),
    );
    return { acknowledged: r.acknowledged, deletedCount: toNumber(r.deletedCount) };
  }

  /** @internal */ findOneAndUpdateOptionsOf(o: FindOneAndUpdateOptions) {
    return {
      ...this.updateOptionsOf(o),
      returnDocument: returnDocumentOf(o.returnDocument),
      projection: this.codec.doc(o.projection, "projection"),
      sort: this.codec.doc(o.sort, "sort"),
    };
  }

  /** Updates the first match and returns it, before (default) or after the update; null if none matched. */
  async findOneAndUpdate<T = TSchema>(filter: Document, update: Update, options: FindOneAndUpdateOptions = {}): Promise<T | null> {
    const f = this.codec.requiredDoc(filter, "filter");
    const updateSpec = updateSpecOf(this.codec, update);
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.findOneAndUpdate(
        { sessionToken: t.sessionToken, client: t.client, namespace: this.ns(), filter: f, updateSpec, options: this.findOneAndUpdateOptionsOf(options), writeConcern: this.wc(options), responseFormat: BSON_FORMAT },
        t.call,
      ),
    );
    return this.codec.fromDoc<T>(r.document);
  }

  /** @internal */ findOneAndReplaceOptionsOf(o: FindOneAndReplaceOptions) {
    return {
      ...this.replaceOptionsOf(o),
      returnDocument: returnDocumentOf(o.returnDocument),
      projection: this.codec.doc(o.projection, "projection"),
      sort: this.codec.doc(o.sort, "sort"),
    };
  }

  async findOneAndReplace<T = TSchema>(filter: Document, replacement: TSchema | Document, options: FindOneAndReplaceOptions = {}): Promise<T | null> {
    const f = this.codec.requiredDoc(filter, "filter");
    const rep = this.codec.requiredDoc(replacement, "replacement");
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.findOneAndReplace(
        { sessionToken: t.sessionToken, client: t.client, namespace: this.ns(), filter: f, replacement: rep, options: this.findOneAndReplaceOptionsOf(options), writeConcern: this.wc(options), responseFormat: BSON_FORMAT },
        t.call,
      ),
    );
    return this.codec.fromDoc<T>(r.document);
  }

  /** @internal */ findOneAndDeleteOptionsOf(o: FindOneAndDeleteOptions) {
    return {
      ...this.deleteOptionsOf(o),
      projection: this.codec.doc(o.projection, "projection"),
      sort: this.codec.doc(o.sort, "sort"),
    };
  }

  async findOneAndDelete<T = TSchema>(filter: Document, options: FindOneAndDeleteOptions = {}): Promise<T | null> {
    const f = this.codec.requiredDoc(filter, "filter");
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.findOneAndDelete(
        { sessionToken: t.sessionToken, client: t.client, namespace: this.ns(), filter: f, options: this.findOneAndDeleteOptionsOf(options), writeConcern: this.wc(options), responseFormat: BSON_FORMAT },
        t.call,
      ),
    );
    return this.codec.fromDoc<T>(r.document);
  }

  /** @internal */ countOptionsOf(o: CountDocumentsOptions) {
    return {
      skip: BigInt(o.skip ?? 0),
      limit: BigInt(o.limit ?? 0),
      hintSpec: hintOf(this.codec, o.hint),
      comment: o.comment ?? "",
      maxTime: ms(o.maxTimeMS),
      collation: this.codec.doc(o.collation, "collation"),
    };
  }

  async countDocuments(filter: Document = {}, options: CountDocumentsOptions = {}): Promise<number> {
    const f = this.codec.doc(filter, "filter");
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.countDocuments({ sessionToken: t.sessionToken, client: t.client, namespace: this.ns(), filter: f, options: this.countOptionsOf(options) }, t.call),
    );
    return toNumber(r.count);
  }

  /** @internal */ distinctOptionsOf(o: DistinctOptions) {
    return { comment: o.comment ?? "", maxTime: ms(o.maxTimeMS), collation: this.codec.doc(o.collation, "collation") };
  }

  async distinct(key: string, filter: Document = {}, options: DistinctOptions = {}): Promise<unknown[]> {
    const f = this.codec.doc(filter, "filter");
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.distinct(
        { sessionToken: t.sessionToken, client: t.client, namespace: this.ns(), fieldName: key, filter: f, options: this.distinctOptionsOf(options), responseFormat: BSON_FORMAT },
        t.call,
      ),
    );
    return r.values.map((v) => this.value(v));
  }

  /** @internal */ writeModelsOf(ops: readonly AnyBulkWriteOperation[]): MessageInitShape<typeof WriteModelSchema>[] {
    if (!Array.isArray(ops) || ops.length === 0) throw new MongogateClientError("mongogate: bulkWrite needs at least one operation");
    const c = this.codec;
    return ops.map((op, i): MessageInitShape<typeof WriteModelSchema> => {
      if ("insertOne" in op) return { model: { case: "insertOne", value: { document: c.requiredDoc(op.insertOne.document, `operations[${i}].insertOne.document`) } } };
      if ("updateOne" in op || "updateMany" in op) {
        const m = "updateOne" in op ? op.updateOne : op.updateMany;
        const value = {
          filter: c.requiredDoc(m.filter, `operations[${i}].filter`),
          updateSpec: updateSpecOf(c, m.update),
          arrayFilters: c.docs(m.arrayFilters, "arrayFilters"),
          collation: c.doc(m.collation, "collation"),
          hintSpec: hintOf(c, m.hint),
          upsert: m.upsert ?? false,
        };
        return "updateOne" in op ? { model: { case: "updateOne", value } } : { model: { case: "updateMany", value } };
      }
      if ("replaceOne" in op) {
        const m = op.replaceOne;
        return {
          model: {
            case: "replaceOne",
            value: {
              filter: c.requiredDoc(m.filter, `operations[${i}].filter`),
              replacement: c.requiredDoc(m.replacement, `operations[${i}].replacement`),
              collation: c.doc(m.collation, "collation"),
              hintSpec: hintOf(c, m.hint),
              upsert: m.upsert ?? false,
            },
          },
        };
      }
      if ("deleteOne" in op || "deleteMany" in op) {
        const m = "deleteOne" in op ? op.deleteOne : op.deleteMany;
        const value = { filter: c.requiredDoc(m.filter, `operations[${i}].filter`), collation: c.doc(m.collation, "collation"), hintSpec: hintOf(c, m.hint) };
        return "deleteOne" in op ? { model: { case: "deleteOne", value } } : { model: { case: "deleteMany", value } };
      }
      throw new MongogateClientError(`mongogate: operations[${i}] is not a bulk write operation`);
    });
  }

  /** @internal */ bulkWriteResultOf(r: {
    acknowledged: boolean;
    insertedCount: bigint;
    matchedCount: bigint;
    modifiedCount: bigint;
    deletedCount: bigint;
    upsertedCount: bigint;
    insertedIds: IndexedId[];
    upsertedIds: IndexedId[];
  }): BulkWriteResult {
    return {
      acknowledged: r.acknowledged,
      insertedCount: toNumber(r.insertedCount),
      matchedCount: toNumber(r.matchedCount),
      modifiedCount: toNumber(r.modifiedCount),
      deletedCount: toNumber(r.deletedCount),
      upsertedCount: toNumber(r.upsertedCount),
      insertedIds: idsOf(this.codec, r.insertedIds),
      upsertedIds: idsOf(this.codec, r.upsertedIds),
    };
  }

  async bulkWrite(operations: readonly AnyBulkWriteOperation[], options: BulkWriteOptions = {}): Promise<BulkWriteResult> {
    const models = this.writeModelsOf(operations);
    const t = this.target(options);
    const r = await this.call(() =>
      t.rpc.docs.bulkWrite(
        {
          sessionToken: t.sessionToken,
          client: t.client,
          namespace: this.ns(),
          models,
          options: {
            ordered: options.ordered,
            bypassDocumentValidation: options.bypassDocumentValidation ?? false,
            comment: options.comment ?? "",
            let: this.codec.doc(options.let, "let"),
          },
          writeConcern: this.wc(options),
          responseFormat: BSON_FORMAT,
        },
        t.call,
      ),
    );
    return this.bulkWriteResultOf(r);
  }

  // Operations of client.runTransaction: the same arguments as the methods
  // they are named after (without session, write concern and call options).

  insertOneOp(doc: TSchema | Document, options: Omit<InsertOneOptions, keyof WriteOptions> & { comment?: string } = {}): TxnOp<InsertOneResult> {
    return TxnOp.make(this, () => ({
      case: "insertOne",
      value: {
        namespace: this.ns(),
        document: this.codec.requiredDoc(doc, "document"),
        options: { bypassDocumentValidation: options.bypassDocumentValidation ?? false, comment: options.comment ?? "" },
      },
    }), (r) => (r.case === "insertOne" && r.value ? { acknowledged: r.value.acknowledged, insertedId: this.value(r.value.insertedId) } : undefined));
  }

  insertManyOp(docs: readonly (TSchema | Document)[], options: { ordered?: boolean; bypassDocumentValidation?: boolean; comment?: string } = {}): TxnOp<InsertManyResult> {
    return TxnOp.make(this, () => ({
      case: "insertMany",
      value: {
        namespace: this.ns(),
        documents: this.codec.docs(docs, "documents"),
        options: { ordered: options.ordered, bypassDocumentValidation: options.bypassDocumentValidation ?? false, comment: options.comment ?? "" },
      },
    }), (r) => {
      if (r.case !== "insertMany" || !r.value) return undefined;
      const insertedIds: Record<number, unknown> = {};
      r.value.insertedIds.forEach((v, i) => (insertedIds[i] = this.value(v)));
      return { acknowledged: r.value.acknowledged, insertedCount: r.value.insertedIds.length, insertedIds };
    });
  }

  updateOneOp(filter: Document, update: Update, options: Omit<UpdateOptions, keyof CallOptions | "writeConcern"> = {}): TxnOp<UpdateResult> {
    return TxnOp.make(this, () => ({
      case: "updateOne",
      value: { namespace: this.ns(), filter: this.codec.requiredDoc(filter, "filter"), updateSpec: updateSpecOf(this.codec, update), options: this.updateOptionsOf(options) },
    }), (r) => (r.case === "updateOne" && r.value ? this.updateResultOf(r.value) : undefined));
  }

  updateManyOp(filter: Document, update: Update, options: Omit<UpdateOptions, keyof CallOptions | "writeConcern"> = {}): TxnOp<UpdateResult> {
    return TxnOp.make(this, () => ({
      case: "updateMany",
      value: { namespace: this.ns(), filter: this.codec.requiredDoc(filter, "filter"), updateSpec: updateSpecOf(this.codec, update), options: this.updateOptionsOf(options) },
    }), (r) => (r.case === "updateMany" && r.value ? this.updateResultOf(r.value) : undefined));
  }

  replaceOneOp(filter: Document, replacement: TSchema | Document, options: Omit<ReplaceOptions, keyof CallOptions | "writeConcern"> = {}): TxnOp<UpdateResult> {
    return TxnOp.make(this, () => ({
      case: "replaceOne",
      value: {
        namespace: this.ns(),
        filter: this.codec.requiredDoc(filter, "filter"),
        replacement: this.codec.requiredDoc(replacement, "replacement"),
        options: this.replaceOptionsOf(options),
      },
    }), (r) => (r.case === "replaceOne" && r.value ? this.updateResultOf(r.value) : undefined));
  }

  deleteOneOp(filter: Document, options: Omit<DeleteOptions, keyof CallOptions | "writeConcern"> = {}): TxnOp<DeleteResult> {
    return TxnOp.make(this, () => ({
      case: "deleteOne",
      value: { namespace: this.ns(), filter: this.codec.requiredDoc(filter, "filter"), options: this.deleteOptionsOf(options) },
    }), (r) => (r.case === "deleteOne" && r.value ? { acknowledged: r.value.acknowledged, deletedCount: toNumber(r.value.deletedCount) } : undefined));
  }

  deleteManyOp(filter: Document, options: Omit<DeleteOptions, keyof CallOptions | "writeConcern"> = {}): TxnOp<DeleteResult> {
    return TxnOp.make(this, () => ({
      case: "deleteMany",
      value: { namespace: this.ns(), filter: this.codec.requiredDoc(filter, "filter"), options: this.deleteOptionsOf(options) },
    }), (r) => (r.case === "deleteMany" && r.value ? { acknowledged: r.value.acknowledged, deletedCount: toNumber(r.value.deletedCount) } : undefined));
  }

  bulkWriteOp(operations: readonly AnyBulkWriteOperation[], options: { ordered?: boolean; bypassDocumentValidation?: boolean; comment?: string; let?: Document } = {}): TxnOp<BulkWriteResult> {
    return TxnOp.make(this, () => ({
      case: "bulkWrite",
      value: {
        namespace: this.ns(),
        models: this.writeModelsOf(operations),
        options: {
          ordered: options.ordered,
          bypassDocumentValidation: options.bypassDocumentValidation ?? false,
          comment: options.comment ?? "",
          let: this.codec.doc(options.let, "let"),
        },
      },
    }), (r) => (r.case === "bulkWrite" && r.value ? this.bulkWriteResultOf(r.value) : undefined));
  }

  findOneOp<T = TSchema>(filter: Document = {}, options: Omit<FindOneOptions, keyof CallOptions> = {}): TxnOp<T | null> {
    return TxnOp.make(this, () => ({
      case: "findOne",
      value: { namespace: this.ns(), filter: this.codec.doc(filter, "filter"), options: this.findOneOptionsOf(options) },
    }), (r) => (r.case === "findOne" && r.value ? { v: this.codec.fromDoc<T>(r.value.document) } : undefined), true);
  }

  findOneAndUpdateOp<T = TSchema>(filter: Document, update: Update, options: Omit<FindOneAndUpdateOptions, keyof CallOptions | "writeConcern"> = {}): TxnOp<T | null> {
    return TxnOp.make(this, () => ({
      case: "findOneAndUpdate",
      value: {
        namespace: this.ns(),
        filter: this.codec.requiredDoc(filter, "filter"),
        updateSpec: updateSpecOf(this.codec, update),
        options: this.findOneAndUpdateOptionsOf(options),
      },
    }), (r) => (r.case === "findOneAndUpdate" && r.value ? { v: this.codec.fromDoc<T>(r.value.document) } : undefined), true);
  }

  findOneAndReplaceOp<T = TSchema>(filter: Document, replacement: TSchema | Document, options: Omit<FindOneAndReplaceOptions, keyof CallOptions | "writeConcern"> = {}): TxnOp<T | null> {
    return TxnOp.make(this, () => ({
      case: "findOneAndReplace",
      value: {
        namespace: this.ns(),
        filter: this.codec.requiredDoc(filter, "filter"),
        replacement: this.codec.requiredDoc(replacement, "replacement"),
        options: this.findOneAndReplaceOptionsOf(options),
      },
    }), (r) => (r.case === "findOneAndReplace" && r.value ? { v: this.codec.fromDoc<T>(r.value.document) } : undefined), true);
  }

  findOneAndDeleteOp<T = TSchema>(filter: Document, options: Omit<FindOneAndDeleteOptions, keyof CallOptions | "writeConcern"> = {}): TxnOp<T | null> {
    return TxnOp.make(this, () => ({
      case: "findOneAndDelete",
      value: { namespace: this.ns(), filter: this.codec.requiredDoc(filter, "filter"), options: this.findOneAndDeleteOptionsOf(options) },
    }), (r) => (r.case === "findOneAndDelete" && r.value ? { v: this.codec.fromDoc<T>(r.value.document) } : undefined), true);
  }

  countDocumentsOp(filter: Document = {}, options: Omit<CountDocumentsOptions, keyof CallOptions> = {}): TxnOp<number> {
    return TxnOp.make(this, () => ({
      case: "countDocuments",
      value: { namespace: this.ns(), filter: this.codec.doc(filter, "filter"), options: this.countOptionsOf(options) },
    }), (r) => (r.case === "countDocuments" && r.value ? toNumber(r.value.count) : undefined));
  }

  distinctOp(key: string, filter: Document = {}, options: Omit<DistinctOptions, keyof CallOptions> = {}): TxnOp<unknown[]> {
    return TxnOp.make(this, () => ({
      case: "distinct",
      value: { namespace: this.ns(), fieldName: key, filter: this.codec.doc(filter, "filter"), options: this.distinctOptionsOf(options) },
    }), (r) => (r.case === "distinct" && r.value ? r.value.values.map((v) => this.value(v)) : undefined));
  }
}

/** A signal that aborts when either does. */
function anySignal(a: AbortSignal, b: AbortSignal | undefined): AbortSignal {
  if (!b) return a;
  const c = new AbortController();
  const abort = (s: AbortSignal) => () => c.abort(s.reason);
  if (a.aborted) c.abort(a.reason);
  else if (b.aborted) c.abort(b.reason);
  else {
    a.addEventListener("abort", abort(a), { once: true });
    b.addEventListener("abort", abort(b), { once: true });
  }
  return c.signal;
}

export type { PbDocument };
