package crud

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// closeTimeout bounds the killCursors that Close sends, which runs even
// when the caller's context is already cancelled.
const closeTimeout = 5 * time.Second

// Cursor yields the result of Find or Aggregate one server batch at a
// time, so that each batch can become one response message. It is not
// safe for concurrent use. Callers must Close it; Close is idempotent.
type Cursor struct {
	name string
	ns   Namespace
	cur  *mongo.Cursor
	// maxTime is the request's max_time and left what remains of it. The
	// driver sends no maxTimeMS for cursor operations (DRIVERS-2722), so
	// max_time bounds the time spent in the initial command and getMores
	// together, measured here: MongoDB's maxTimeMS is likewise cumulative
	// over a cursor's batches.
	maxTime time.Duration
	left    time.Duration
}

// NextBatch returns the next batch of documents, each a copy the caller
// owns. It returns io.EOF once the cursor is exhausted. On any error,
// including ctx's cancellation, the cursor closes itself.
func (c *Cursor) NextBatch(ctx context.Context) ([]bson.Raw, error) {
	if c.cur == nil {
		return nil, io.EOF
	}
	callCtx := ctx
	if c.maxTime > 0 {
		if c.left <= 0 {
			_ = c.Close(ctx)
			return nil, fmt.Errorf("crud: %s %s: max_time %v exceeded: %w", c.name, c.ns, c.maxTime, context.DeadlineExceeded)
		}
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, c.left)
		defer cancel()
	}
	start := time.Now()
	ok := c.cur.Next(callCtx)
	c.left -= time.Since(start)
	if !ok {
		err := c.cur.Err()
		closeErr := c.Close(ctx)
		if err != nil {
			return nil, opError(c.name, c.ns, err)
		}
		if closeErr != nil {
			return nil, closeErr
		}
		return nil, io.EOF
	}
	// The rest of the batch is already here: Next does not go to the
	// server until RemainingBatchLength is 0.
	n := c.cur.RemainingBatchLength()
	batch := make([]bson.Raw, 1, n+1)
	batch[0] = cloneRaw(c.cur.Current)
	for range n {
		if !c.cur.Next(callCtx) {
			err := c.cur.Err()
			_ = c.Close(ctx)
			return nil, opError(c.name, c.ns, err)
		}
		batch = append(batch, cloneRaw(c.cur.Current))
	}
	return batch, nil
}

// Close releases the cursor on the server (killCursors) if it is still
// open there. It runs even if ctx is cancelled, bounded by a few seconds,
// so a cancelled stream does not leave a cursor behind.
func (c *Cursor) Close(ctx context.Context) error {
	if c.cur == nil {
		return nil
	}
	cur := c.cur
	c.cur = nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	if err := cur.Close(ctx); err != nil {
		return fmt.Errorf("crud: close %s cursor on %s: %w", c.name, c.ns, err)
	}
	return nil
}

func cloneRaw(r bson.Raw) bson.Raw { return append(bson.Raw(nil), r...) }

// open runs fn, the cursor's initial command, within max_time.
func openCursor(ctx context.Context, name string, ns Namespace, maxTime time.Duration,
	fn func(context.Context) (*mongo.Cursor, error),
) (*Cursor, error) {
	callCtx, cancel := withMaxTime(ctx, maxTime)
	defer cancel()
	start := time.Now()
	cur, err := fn(callCtx)
	if err != nil {
		return nil, opError(name, ns, err)
	}
	return &Cursor{name: name, ns: ns, cur: cur, maxTime: maxTime, left: maxTime - time.Since(start)}, nil
}

// FindOptions are the options of Find.
type FindOptions struct {
	Skip int64
	// Limit caps the number of documents; 0 means no limit.
	Limit int64
	// BatchSize is the number of documents per batch; 0 means the
	// server's default.
	BatchSize int32
	// AllowDiskUse lets blocking sorts write temporary files; nil means
	// MongoDB's default.
	AllowDiskUse *bool
	CommonOptions
}

// Find returns the documents that match a filter, batch by batch.
type Find struct {
	Namespace Namespace
	Filter    *Document // nil matches every document
	Options   FindOptions
}

func (op Find) prepare() (bson.Raw, *options.FindOptionsBuilder, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, nil, err
	}
	filter, err := filterArg(op.Filter, false)
	if err != nil {
		return nil, nil, err
	}
	oo := op.Options
	if err := nonNegative("options.skip", oo.Skip); err != nil {
		return nil, nil, err
	}
	if err := nonNegative("options.limit", oo.Limit); err != nil {
		return nil, nil, err
	}
	if err := nonNegative("options.batch_size", int64(oo.BatchSize)); err != nil {
		return nil, nil, err
	}
	o := options.Find()
	if oo.Skip > 0 {
		o.SetSkip(oo.Skip)
	}
	if oo.Limit > 0 {
		o.SetLimit(oo.Limit)
	}
	if oo.BatchSize > 0 {
		o.SetBatchSize(oo.BatchSize)
	}
	if oo.AllowDiskUse != nil {
		o.SetAllowDiskUse(*oo.AllowDiskUse)
	}
	return filter, o, applyCommon(o, "options.", oo.CommonOptions, true)
}

// Validate decodes and checks the find without running it.
func (op Find) Validate() error { _, _, err := op.prepare(); return err }

// Do runs the find and returns its cursor, which the caller must Close.
func (op Find) Do(ctx context.Context, t Target) (*Cursor, error) {
	filter, o, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	return openCursor(ctx, "find", op.Namespace, op.Options.MaxTime, func(ctx context.Context) (*mongo.Cursor, error) {
		return coll.Find(ctx, filter, o)
	})
}

// AggregateOptions are the options of Aggregate.
type AggregateOptions struct {
	// AllowDiskUse lets blocking stages write temporary files; nil means
	// MongoDB's default.
	AllowDiskUse *bool
	// BatchSize is the number of documents per batch; 0 means the
	// server's default.
	BatchSize int32
	CommonOptions
}

// Aggregate runs an aggregation pipeline and returns its output batch by
// batch. A pipeline that ends in $out or $merge writes with the Target's
// write concern.
type Aggregate struct {
	Namespace Namespace
	Pipeline  []Document
	Options   AggregateOptions
}

func (op Aggregate) prepare() ([]bson.Raw, *options.AggregateOptionsBuilder, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, nil, err
	}
	stages, err := listArg("pipeline", op.Pipeline)
	if err != nil {
		return nil, nil, err
	}
	for i, s := range stages {
		if err := checkStage(prefixed("pipeline", i), s); err != nil {
			return nil, nil, err
		}
	}
	if stages == nil {
		stages = []bson.Raw{}
	}
	oo := op.Options
	if err := nonNegative("options.batch_size", int64(oo.BatchSize)); err != nil {
		return nil, nil, err
	}
	o := options.Aggregate()
	if oo.AllowDiskUse != nil {
		o.SetAllowDiskUse(*oo.AllowDiskUse)
	}
	if oo.BatchSize > 0 {
		o.SetBatchSize(oo.BatchSize)
	}
	return stages, o, applyCommon(o, "options.", oo.CommonOptions, true)
}

// Validate decodes and checks the aggregation without running it.
func (op Aggregate) Validate() error { _, _, err := op.prepare(); return err }

// Do runs the aggregation and returns its cursor, which the caller must
// Close.
func (op Aggregate) Do(ctx context.Context, t Target) (*Cursor, error) {
	stages, o, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	return openCursor(ctx, "aggregate", op.Namespace, op.Options.MaxTime, func(ctx context.Context) (*mongo.Cursor, error) {
		return coll.Aggregate(ctx, stages, o)
	})
}
