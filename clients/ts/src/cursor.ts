// Cursors over Find's and Aggregate's server streams, read lazily.

import type { Document as PbDocument } from "./gen/mongogate/v1/common_pb.js";
import type { Codec, Document } from "./codec.js";
import { toMongogateError } from "./errors.js";

/** Opens the stream; the cursor calls it once, on its first read. */
export type StreamOpener = (signal: AbortSignal) => AsyncIterable<{ documents: PbDocument[] }>;

/**
 * AbstractCursor reads a server stream one batch (one response message) at
 * a time, only when the documents it has are used up, and decodes each
 * document when it is returned. The stream's flow control (HTTP/2 windows)
 * holds the rest back on the server, so a large result never sits in the
 * client's memory. Iterate it with `for await`, or use next(), hasNext()
 * and toArray(); close() (or leaving a for-await loop early) cancels the
 * stream.
 */
export abstract class AbstractCursor<T = Document> implements AsyncIterable<T>, AsyncDisposable {
  private iterator?: AsyncIterator<{ documents: PbDocument[] }>;
  private readonly abort = new AbortController();
  private batch: PbDocument[] = [];
  private index = 0;
  private done = false;
  private batches = 0;
  private returned = 0;

  protected constructor(
    private readonly open: StreamOpener,
    protected readonly codec: Codec,
  ) {}

  /** Whether the stream has started (a read happened). */
  protected get started(): boolean {
    return this.iterator !== undefined || this.done;
  }

  /** Response messages (batches) received from the server so far. */
  get batchesReceived(): number {
    return this.batches;
  }

  /** Documents returned to the caller so far. */
  get documentsReturned(): number {
    return this.returned;
  }

  /** Documents received but not yet returned. */
  bufferedCount(): number {
    return this.batch.length - this.index;
  }

  /** Whether the cursor is exhausted or closed. */
  get closed(): boolean {
    return this.done;
  }

  private async fill(): Promise<boolean> {
    while (this.index >= this.batch.length) {
      if (this.done) return false;
      if (!this.iterator) this.iterator = this.open(this.abort.signal)[Symbol.asyncIterator]();
      let r: IteratorResult<{ documents: PbDocument[] }>;
      try {
        r = await this.iterator.next();
      } catch (err) {
        this.done = true;
        this.batch = [];
        this.index = 0;
        if (this.abort.signal.aborted) return false;
        throw toMongogateError(err);
      }
      if (r.done) {
        this.done = true;
        this.batch = [];
        this.index = 0;
        return false;
      }
      this.batches++;
      this.batch = r.value.documents;
      this.index = 0;
    }
    return true;
  }

  /** Whether next() has a document to return. */
  async hasNext(): Promise<boolean> {
    return this.fill();
  }

  /** The next document, or null once the cursor is exhausted. */
  async next(): Promise<T | null> {
    if (!(await this.fill())) return null;
    const d = this.batch[this.index]!;
    this.batch[this.index++] = undefined as unknown as PbDocument; // let it be collected
    this.returned++;
    return this.codec.fromDoc<T>(d);
  }

  /** Every remaining document. */
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for (let d = await this.next(); d !== null; d = await this.next()) out.push(d);
    return out;
  }

  /** Cancels the stream; later reads return nothing. */
  async close(): Promise<void> {
    if (this.done && !this.iterator) return;
    const wasDone = this.done;
    this.done = true;
    this.batch = [];
    this.index = 0;
    if (!wasDone) this.abort.abort();
    const it = this.iterator;
    this.iterator = undefined;
    try {
      await it?.return?.();
    } catch {
      // The stream was cancelled on purpose.
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (let d = await this.next(); d !== null; d = await this.next()) yield d;
    } finally {
      await this.close();
    }
  }
}

/** FindCursor is the cursor of Collection.find. */
export class FindCursor<T = Document> extends AbstractCursor<T> {
  /** @internal */
  constructor(
    open: (signal: AbortSignal, o: FindCursorOptions) => AsyncIterable<{ documents: PbDocument[] }>,
    codec: Codec,
    private readonly o: FindCursorOptions,
  ) {
    super((signal) => open(signal, this.o), codec);
  }

  private set<K extends keyof FindCursorOptions>(k: K, v: FindCursorOptions[K]): this {
    if (this.started) throw new Error("mongogate: the cursor has already started");
    this.o[k] = v;
    return this;
  }

  sort(sort: Document): this {
    return this.set("sort", sort);
  }
  project(projection: Document): this {
    return this.set("projection", projection);
  }
  skip(n: number): this {
    return this.set("skip", n);
  }
  limit(n: number): this {
    return this.set("limit", n);
  }
  batchSize(n: number): this {
    return this.set("batchSize", n);
  }
}

/** The options a FindCursor's builder methods change before it starts. */
export interface FindCursorOptions {
  sort?: Document;
  projection?: Document;
  skip?: number;
  limit?: number;
  batchSize?: number;
}

/** AggregationCursor is the cursor of Collection.aggregate. */
export class AggregationCursor<T = Document> extends AbstractCursor<T> {
  /** @internal */
  constructor(open: StreamOpener, codec: Codec) {
    super(open, codec);
  }
}
