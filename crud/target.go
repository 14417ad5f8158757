package crud

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Target is where and how an operation runs: the backend's client, the
// session to run in, and the request's write concern. An operation names
// its own namespace, so one Target serves a whole RunTransaction.
type Target struct {
	// Client is the backend's driver client. Required.
	Client *mongo.Client
	// Session is the driver session to run in, and in its transaction if
	// one is open; nil runs without an explicit session (the driver uses
	// an implicit one). It is the only session used: one already in ctx
	// is ignored.
	Session *mongo.Session
	// WriteConcern is the request's write concern; nil means the
	// session's, transaction's or client's default. It is refused inside
	// a transaction (the transaction's applies) and, when unacknowledged
	// (w:0), with any session.
	WriteConcern *writeconcern.WriteConcern
}

// check enforces the rules on the write concern: valid, not w:0 with a
// session (the driver would silently run it outside the session), not
// set inside a transaction.
func (t Target) check() error {
	if t.Client == nil {
		return errors.New("crud: target has no client")
	}
	wc := t.WriteConcern
	if wc == nil {
		return nil
	}
	if !wc.IsValid() {
		return &ArgError{Field: "write_concern", Reason: "w must be a non-negative number or a tag, and w 0 cannot ask for journal"}
	}
	if t.Session == nil {
		return nil
	}
	if !wc.Acknowledged() {
		return ErrUnacknowledgedInSession
	}
	if t.Session.TransactionRunning() {
		return &ArgError{Field: "write_concern", Reason: "not allowed inside a transaction; the transaction's write concern applies"}
	}
	return nil
}

// open checks t and returns the collection of ns with t's write concern,
// and ctx carrying t's session.
func (t Target) open(ctx context.Context, ns Namespace) (context.Context, *mongo.Collection, error) {
	if err := t.check(); err != nil {
		return ctx, nil, err
	}
	var coll *mongo.Collection
	if t.WriteConcern != nil {
		coll = t.Client.Database(ns.Database).Collection(ns.Collection, options.Collection().SetWriteConcern(t.WriteConcern))
	} else {
		coll = collections.get(t.Client, ns)
	}
	// A nil session is stored too when the caller's ctx carries one, so
	// that it cannot leak into the operation: Target is the only source.
	if t.Session != nil || mongo.SessionFromContext(ctx) != nil {
		ctx = mongo.NewSessionContext(ctx, t.Session)
	}
	return ctx, coll, nil
}

// maxCachedCollections bounds the collection handles kept: namespaces
// come from requests, so there may be any number of them.
const maxCachedCollections = 4096

// collections caches the driver's handles of the collections operations
// use with the client's defaults: making one costs a Database and a
// Collection (14 allocations) per call otherwise. Handles are safe for
// concurrent use. When the cache is full it starts afresh.
var collections collectionCache

type collectionKey struct {
	client *mongo.Client
	ns     Namespace
}

type collectionCache struct {
	m atomic.Pointer[sync.Map]
	n atomic.Int64
}

func (c *collectionCache) get(client *mongo.Client, ns Namespace) *mongo.Collection {
	m := c.m.Load()
	if m == nil {
		m = &sync.Map{}
		if !c.m.CompareAndSwap(nil, m) {
			m = c.m.Load()
		}
	}
	key := collectionKey{client, ns}
	if v, ok := m.Load(key); ok {
		return v.(*mongo.Collection)
	}
	coll := client.Database(ns.Database).Collection(ns.Collection)
	if c.n.Add(1) > maxCachedCollections {
		c.n.Store(0)
		c.m.Store(&sync.Map{})
		return coll
	}
	v, _ := m.LoadOrStore(key, coll)
	return v.(*mongo.Collection)
}

// opError wraps a driver error with the operation and namespace, keeping
// it inspectable (mongo.CommandError, WriteException, labels, codes).
func opError(name string, ns Namespace, err error) error {
	return fmt.Errorf("crud: %s %s: %w", name, ns, err)
}

// rawValue converts an _id the driver decoded into a Go value back to BSON.
func rawValue(v any) (bson.RawValue, error) {
	t, b, err := bson.MarshalValue(v)
	if err != nil {
		return bson.RawValue{}, fmt.Errorf("crud: encode _id: %w", err)
	}
	return bson.RawValue{Type: t, Value: b}, nil
}
