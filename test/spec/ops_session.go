package spec

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func (r *testRun) sessionOp(ctx context.Context, s *sessionEntity, name string, args bson.Raw) (opResult, error) {
	switch name {
	case "startTransaction":
		a := argReader{what: name}
		opts := a.transactionOptions(args)
		if a.err != nil {
			return opResult{}, a.err
		}
		return opResult{err: s.sess.StartTransaction(opts)}, nil
	case "withTransaction":
		return r.withTransaction(ctx, s, args)
	}
	if len(elements(args)) > 0 {
		return opResult{}, fmt.Errorf("%s takes no arguments, got %s", name, args)
	}
	switch name {
	case "commitTransaction":
		return opResult{err: s.sess.CommitTransaction(ctx)}, nil
	case "abortTransaction":
		return opResult{err: s.sess.AbortTransaction(ctx)}, nil
	case "endSession":
		s.sess.EndSession(ctx)
		return opResult{}, nil
	case "getSnapshotTime":
		cs := s.clientSession()
		if !cs.SnapshotTimeSet {
			return opResult{}, fmt.Errorf("getSnapshotTime: the session has no snapshot time yet")
		}
		return valueResult(cs.SnapshotTime, nil), nil
	}
	return opResult{}, fmt.Errorf("unsupported session operation %q", name)
}

// callbackFailure carries an assertion failure inside a withTransaction
// callback out through the driver, which sees it as a plain (non-retryable)
// error and aborts.
type callbackFailure struct{ err error }

func (f callbackFailure) Error() string { return f.err.Error() }

// withTransaction runs the callback operations inside the driver's
// WithTransaction. Each callback operation's own expectations are checked;
// its error, expected or not, is returned from the callback so that the
// driver's retry logic sees it, as the spec requires.
func (r *testRun) withTransaction(ctx context.Context, s *sessionEntity, args bson.Raw) (opResult, error) {
	a := argReader{what: "withTransaction"}
	var spec struct {
		Callback []operation `bson:"callback"`
	}
	if err := bson.Unmarshal(args, &spec); err != nil {
		return opResult{}, fmt.Errorf("withTransaction: %w", err)
	}
	callback := spec.Callback
	opts := a.transactionOptions(args, "callback")
	a.need("callback", callback != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	_, err := s.sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		for i, op := range callback {
			res, err := r.runOperation(ctx, op)
			if err != nil {
				return nil, callbackFailure{fmt.Errorf("callback operation %d (%s): %w", i, op.Name, err)}
			}
			if res.err != nil {
				return nil, res.err
			}
		}
		return nil, nil
	}, opts)
	var failure callbackFailure
	if errors.As(err, &failure) {
		return opResult{}, failure.err
	}
	return opResult{err: err}, nil
}

// sessionContext attaches the operation's "session" argument, if any, to ctx
// and returns the arguments without it.
func (r *testRun) sessionContext(ctx context.Context, args bson.Raw) (context.Context, bson.Raw, error) {
	v := lookup(args, "session")
	if !exists(v) {
		return ctx, args, nil
	}
	name, ok := v.StringValueOK()
	if !ok {
		return nil, nil, fmt.Errorf("session argument is not an entity name: %s", v)
	}
	s, err := get[*sessionEntity](r.entities, name)
	if err != nil {
		return nil, nil, err
	}
	return mongo.NewSessionContext(ctx, s.sess), without(args, "session"), nil
}
