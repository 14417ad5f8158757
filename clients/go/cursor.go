package mongogate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"

	"go.mongodb.org/mongo-driver/v2/bson"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// Cursor iterates over the documents of a Find or Aggregate, which the
// server streams in batches. It is not safe for concurrent use. Close it
// (or iterate to the end, or use All) to end the stream: with a session,
// the session runs nothing else until then.
//
//	cur, err := coll.Find(ctx, bson.D{})
//	if err != nil { ... }
//	defer cur.Close(ctx)
//	for cur.Next(ctx) {
//		var v T
//		if err := cur.Decode(&v); err != nil { ... }
//	}
//	if err := cur.Err(); err != nil { ... }
type Cursor struct {
	// Current is the document Next moved to. It is only valid until the
	// next call to Next: copy it to keep it.
	Current bson.Raw

	recv   func() ([]*pb.Document, error)
	cancel context.CancelFunc
	batch  []*pb.Document
	done   bool
	err    error
}

// newCursor receives the first batch, so that Find and Aggregate report
// the server's refusal themselves.
func newCursor(cancel context.CancelFunc, recv func() ([]*pb.Document, error)) (*Cursor, error) {
	c := &Cursor{recv: recv, cancel: cancel}
	// A Cursor dropped without Close would keep its stream, and the
	// context's resources, until the deadline.
	runtime.AddCleanup(c, func(cancel context.CancelFunc) { cancel() }, cancel)
	if err := c.fill(); err != nil {
		return nil, err
	}
	return c, nil
}

// fill receives the next batch, or ends the stream.
func (c *Cursor) fill() error {
	docs, err := c.recv()
	switch {
	case errors.Is(err, io.EOF):
		c.finish()
		return nil
	case err != nil:
		c.finish()
		c.err = fromStatus(err)
		return c.err
	}
	c.batch = docs
	return nil
}

func (c *Cursor) finish() {
	c.done = true
	c.batch = nil
	c.cancel()
}

// Next moves to the next document, receiving the next batch when the
// current one is used up; it reports false at the end of the results or on
// an error (see Err). If ctx ends while Next waits for a batch, the stream
// is canceled.
func (c *Cursor) Next(ctx context.Context) bool {
	for {
		if len(c.batch) > 0 {
			d := c.batch[0]
			c.batch = c.batch[1:]
			raw, err := rawOf(d)
			if err != nil {
				c.err = err
				c.finish()
				return false
			}
			c.Current = raw
			return true
		}
		if c.done {
			return false
		}
		if ctx.Err() != nil {
			c.err = contextError(ctx)
			c.finish()
			return false
		}
		stop := context.AfterFunc(ctx, c.cancel)
		err := c.fill()
		stop()
		if err != nil {
			return false
		}
	}
}

// Decode unmarshals Current into v with bson.Unmarshal.
func (c *Cursor) Decode(v any) error {
	if c.Current == nil {
		return errors.New("mongogate: Decode before Next")
	}
	return bson.Unmarshal(c.Current, v)
}

// Err returns the error that ended the iteration, if any.
func (c *Cursor) Err() error { return c.err }

// RemainingBatchLength returns the number of documents left in the current
// batch: how many calls to Next will not wait for the server.
func (c *Cursor) RemainingBatchLength() int { return len(c.batch) }

// All decodes every remaining document into results, a pointer to a slice,
// and closes the cursor.
func (c *Cursor) All(ctx context.Context, results any) error {
	defer c.Close(ctx)
	rv := reflect.ValueOf(results)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("mongogate: All needs a pointer to a slice, got %T", results)
	}
	slice := rv.Elem().Slice(0, 0)
	elem := slice.Type().Elem()
	for c.Next(ctx) {
		v := reflect.New(elem)
		if err := bson.Unmarshal(c.Current, v.Interface()); err != nil {
			return err
		}
		slice = reflect.Append(slice, v.Elem())
	}
	rv.Elem().Set(slice)
	return c.Err()
}

// Close ends the stream. It is idempotent and always returns nil; its
// signature matches the driver's.
func (c *Cursor) Close(context.Context) error {
	if !c.done {
		c.finish()
	}
	return nil
}

// SingleResult is the result of FindOne and the FindOneAnd* operations:
// one document, or an error (ErrNoDocuments if nothing matched).
type SingleResult struct {
	raw bson.Raw
	err error
}

func singleResult(d *pb.Document) *SingleResult {
	if d == nil {
		return &SingleResult{err: ErrNoDocuments}
	}
	raw, err := rawOf(d)
	return &SingleResult{raw: raw, err: err}
}

// Decode unmarshals the document into v with bson.Unmarshal, or returns
// the operation's error.
func (r *SingleResult) Decode(v any) error {
	if r.err != nil {
		return r.err
	}
	return bson.Unmarshal(r.raw, v)
}

// Raw returns the document, or the operation's error.
func (r *SingleResult) Raw() (bson.Raw, error) { return r.raw, r.err }

// Err returns the operation's error: nil if it found a document.
func (r *SingleResult) Err() error { return r.err }

// DistinctResult is the result of Distinct: the distinct values as a BSON
// array, or an error.
type DistinctResult struct {
	arr bson.RawArray
	err error
}

func distinctResult(values []*pb.Value) *DistinctResult {
	raws := make([]bson.RawValue, 0, len(values))
	for _, v := range values {
		rv, err := rawValueOf(v)
		if err != nil {
			return &DistinctResult{err: err}
		}
		raws = append(raws, rv)
	}
	doc, err := bson.Marshal(bson.D{{Key: "v", Value: raws}})
	if err != nil {
		return &DistinctResult{err: fmt.Errorf("mongogate: distinct values: %w", err)}
	}
	return &DistinctResult{arr: bson.Raw(doc).Lookup("v").Array()}
}

// Decode unmarshals the values into v, typically a pointer to a slice
// (*[]string, *[]any), or returns the operation's error.
func (r *DistinctResult) Decode(v any) error {
	if r.err != nil {
		return r.err
	}
	return bson.RawValue{Type: bson.TypeArray, Value: r.arr}.Unmarshal(v)
}

// Raw returns the values as a BSON array, or the operation's error.
func (r *DistinctResult) Raw() (bson.RawArray, error) { return r.arr, r.err }

// Err returns the operation's error.
func (r *DistinctResult) Err() error { return r.err }
