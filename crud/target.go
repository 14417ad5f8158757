package crud

import (
	"context"
	"errors"
	"fmt"

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
	var copts []options.Lister[options.CollectionOptions]
	if t.WriteConcern != nil {
		copts = append(copts, options.Collection().SetWriteConcern(t.WriteConcern))
	}
	coll := t.Client.Database(ns.Database).Collection(ns.Collection, copts...)
	// Even a nil session is stored, so that a session in the caller's ctx
	// cannot leak into the operation: Target is the only source.
	return mongo.NewSessionContext(ctx, t.Session), coll, nil
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
