package mongogate_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/clients/go/options"
)

// commitRecorder counts CommitTransaction calls and keeps their errors.
type commitRecorder struct {
	mu     sync.Mutex
	calls  int
	errors []error
}

func (r *commitRecorder) option() mongogate.Option {
	return mongogate.WithDialOptions(grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if method == "/mongogate.v1.TransactionService/CommitTransaction" {
				r.mu.Lock()
				r.calls++
				if err != nil {
					r.errors = append(r.errors, mongogate.FromStatus(err))
				}
				r.mu.Unlock()
			}
			return err
		}))
}

func (r *commitRecorder) snapshot() (int, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, append([]error(nil), r.errors...)
}

// WithTransaction reruns fn after a transient transaction error, and
// recommits (without rerunning fn) after an unknown commit result; either
// way the data is written exactly once.
func TestWithTransactionRetries(t *testing.T) {
	tests := []struct {
		name string
		// arm sets the fail point; it may return a function to run
		// concurrently with WithTransaction.
		arm         func(t *testing.T, g *gate) func()
		wantRuns    int
		wantCommits func(n int) bool
		wantErrs    []error // each must have been seen from a CommitTransaction
	}{
		{
			name: "WriteConflict on insert reruns fn",
			arm: func(t *testing.T, g *gate) func() {
				g.failPoint(t, bson.D{{Key: "times", Value: 1}}, bson.D{
					{Key: "failCommands", Value: bson.A{"insert"}},
					{Key: "errorCode", Value: 112},
				})
				return nil
			},
			wantRuns:    2,
			wantCommits: func(n int) bool { return n == 1 },
		},
		{
			name: "transient error on commit reruns fn",
			arm: func(t *testing.T, g *gate) func() {
				g.failPoint(t, bson.D{{Key: "times", Value: 1}}, bson.D{
					{Key: "failCommands", Value: bson.A{"commitTransaction"}},
					{Key: "errorCode", Value: 251},
					{Key: "errorLabels", Value: bson.A{"TransientTransactionError"}},
				})
				return nil
			},
			wantRuns:    2,
			wantCommits: func(n int) bool { return n == 2 },
			wantErrs:    []error{mongogate.ErrTransactionAborted},
		},
		{
			name: "unknown commit result recommits",
			arm: func(t *testing.T, g *gate) func() {
				g.failPoint(t, "alwaysOn", bson.D{
					{Key: "failCommands", Value: bson.A{"commitTransaction"}},
					{Key: "closeConnection", Value: true},
				})
				admin := g.direct(t).Database("admin")
				return func() {
					time.Sleep(time.Second)
					if err := failPointOff(admin); err != nil {
						t.Errorf("turn the fail point off: %v", err)
					}
				}
			},
			wantRuns:    1,
			wantCommits: func(n int) bool { return n >= 2 },
			wantErrs:    []error{mongogate.ErrUnknownCommitResult},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGate(t, gateConfig{commitRetryLimit: 300 * time.Millisecond})
			var rec commitRecorder
			c := mustClient(t, g, rec.option())
			ctx := testCtx(t)
			coll := c.Database(dbName(t)).Collection("c")
			// Create the collection outside the transaction.
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "seed"}}); err != nil {
				t.Fatal(err)
			}
			s := mustSession(t, c)
			var wg sync.WaitGroup
			if concurrently := tt.arm(t, g); concurrently != nil {
				wg.Go(concurrently)
			}
			var runs atomic.Int32
			res, err := s.WithTransaction(ctx, func(ctx context.Context) (any, error) {
				runs.Add(1)
				if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}}); err != nil {
					return nil, err
				}
				return "done", nil
			})
			wg.Wait()
			if err != nil || res != "done" {
				t.Fatalf("WithTransaction = %v, %v", res, err)
			}
			if n := int(runs.Load()); n != tt.wantRuns {
				t.Errorf("fn ran %d times, want %d", n, tt.wantRuns)
			}
			commits, errs := rec.snapshot()
			if !tt.wantCommits(commits) {
				t.Errorf("%d CommitTransaction calls (errors %v)", commits, errs)
			}
			for _, want := range tt.wantErrs {
				seen := false
				for _, e := range errs {
					seen = seen || errors.Is(e, want)
				}
				if !seen {
					t.Errorf("no commit failed with %v; commit errors: %v", want, errs)
				}
			}
			if n := g.count(t, coll.Database().Name(), coll.Name(), bson.D{{Key: "_id", Value: "x"}}); n != 1 {
				t.Errorf("document written %d times, want once", n)
			}
			if s.InTransaction() {
				t.Errorf("transaction still open after WithTransaction")
			}
			info, err := s.Describe(ctx)
			if err != nil || info.LastTransaction.Outcome != mongogate.OutcomeCommitted {
				t.Errorf("Describe = %+v, %v", info, err)
			}
		})
	}
}

// Errors that a rerun cannot fix end WithTransaction at once, with the
// transaction aborted.
func TestWithTransactionFails(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	coll := c.Database(dbName(t)).Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "taken"}}); err != nil {
		t.Fatal(err)
	}
	errApp := errors.New("insufficient funds")

	tests := []struct {
		name string
		fn   func(ctx context.Context) (any, error)
		want error
	}{
		{"fn's own error", func(ctx context.Context) (any, error) {
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "partial"}}); err != nil {
				return nil, err
			}
			return "partial result", errApp
		}, errApp},
		{"duplicate key", func(ctx context.Context) (any, error) {
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "partial"}}); err != nil {
				return nil, err
			}
			return coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "taken"}})
		}, mongogate.ErrDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSession(t, c)
			runs := 0
			_, err := s.WithTransaction(ctx, func(ctx context.Context) (any, error) {
				runs++
				return tt.fn(ctx)
			})
			requireIs(t, err, tt.want)
			if runs != 1 {
				t.Errorf("fn ran %d times, want once", runs)
			}
			if s.InTransaction() {
				t.Errorf("transaction left open")
			}
			if n := g.count(t, coll.Database().Name(), coll.Name(), bson.D{{Key: "_id", Value: "partial"}}); n != 0 {
				t.Errorf("aborted transaction's write is visible")
			}
		})
	}

	t.Run("panic aborts", func(t *testing.T) {
		s := mustSession(t, c)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("the panic did not propagate")
				}
			}()
			_, _ = s.WithTransaction(ctx, func(ctx context.Context) (any, error) {
				if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "partial"}}); err != nil {
					return nil, err
				}
				panic("boom")
			})
		}()
		if s.InTransaction() {
			t.Errorf("transaction left open")
		}
		info, err := s.Describe(ctx)
		if err != nil || info.LastTransaction.Outcome != mongogate.OutcomeAborted {
			t.Errorf("Describe = %+v, %v", info, err)
		}
	})

	t.Run("fn commits itself", func(t *testing.T) {
		s := mustSession(t, c)
		res, err := s.WithTransaction(ctx, func(ctx context.Context) (any, error) {
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "self"}}); err != nil {
				return nil, err
			}
			return 7, mongogate.SessionFromContext(ctx).CommitTransaction(ctx)
		})
		if err != nil || res != 7 {
			t.Fatalf("WithTransaction = %v, %v", res, err)
		}
		if n := g.count(t, coll.Database().Name(), coll.Name(), bson.D{{Key: "_id", Value: "self"}}); n != 1 {
			t.Errorf("self-committed write missing")
		}
	})

	t.Run("context ends before the commit", func(t *testing.T) {
		s := mustSession(t, c)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		_, err := s.WithTransaction(cctx, func(ctx context.Context) (any, error) {
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "partial"}}); err != nil {
				return nil, err
			}
			cancel()
			return nil, nil
		})
		requireIs(t, err, context.Canceled)
		requireIs(t, err, mongogate.ErrCanceled)
		info, err := s.Describe(ctx)
		if err != nil || info.LastTransaction.Outcome != mongogate.OutcomeAborted {
			t.Errorf("Describe = %+v, %v; want the transaction aborted", info, err)
		}
	})

	t.Run("ended session", func(t *testing.T) {
		s, err := c.StartSession(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.End(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = s.WithTransaction(ctx, func(ctx context.Context) (any, error) { return nil, nil })
		requireIs(t, err, mongogate.ErrSessionEnded)
		_, err = coll.InsertOne(mongogate.NewSessionContext(ctx, s), bson.D{})
		requireIs(t, err, mongogate.ErrSessionEnded)
	})
}

// Joining an open transaction commits only the joined level; the outer
// commit makes the writes visible.
func TestWithTransactionJoin(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	coll := c.Database(dbName(t)).Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "seed"}}); err != nil {
		t.Fatal(err)
	}
	s := mustSession(t, c)
	join := options.Transaction().SetJoinExisting(true)
	_, err := s.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "outer"}}); err != nil {
			return nil, err
		}
		_, err := s.WithTransaction(ctx, func(ctx context.Context) (any, error) {
			return coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "inner"}})
		}, join)
		if err != nil {
			return nil, err
		}
		if !s.InTransaction() {
			t.Errorf("the inner commit closed the outer transaction")
		}
		if n := g.count(t, coll.Database().Name(), coll.Name(), bson.D{{Key: "_id", Value: "inner"}}); n != 0 {
			t.Errorf("inner write visible before the outer commit")
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := g.count(t, coll.Database().Name(), coll.Name(), bson.D{}); n != 3 {
		t.Errorf("%d documents, want 3", n)
	}
}
