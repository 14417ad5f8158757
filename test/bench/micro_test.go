package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	mongogate "github.com/mongogate/mongogate/clients/go"
)

// The Go benchmarks below time one operation serially on each side, with
// allocations counted (client, server and backend: the whole process):
// the quick way to see what a change to mongogate's own path buys before
// a full run (TestBenchFull) measures it against the floor. Each path has
// the sides of the full run: mongogate, floor (the bare round trips of
// mongogate's calls, then the direct call, in one operation), direct
// (the driver alone) and, for FindOne and InsertOne, the bare proxy.
//
//	go test ./test/bench -run '^$' -bench . -benchmem -count 5

func benchEnv(b *testing.B) (*env, context.Context) {
	b.Helper()
	e := newEnv(b)
	ctx := context.Background()
	docs := make([]any, seeded)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "name", Value: fmt.Sprintf("user-%d", i)}, {Key: "n", Value: i}, {Key: "payload", Value: payload}}
	}
	if _, err := e.direct.Database(e.db).Collection("users").InsertMany(ctx, docs); err != nil {
		b.Fatal(err)
	}
	return e, ctx
}

// probeOp is op as a probe (e.record) runs it: once, as client 0.
func probeOp(op func(context.Context, int) error) func(context.Context) error {
	return func(ctx context.Context) error { return op(ctx, 0) }
}

// runSides runs each side as a sub-benchmark named after it.
func runSides(b *testing.B, ctx context.Context, sides ...side) {
	for _, s := range sides {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.op(ctx, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFindOne(b *testing.B) {
	e, ctx := benchEnv(b)
	filter := bson.D{{Key: "_id", Value: seeded / 2}}
	find := func(coll *mongogate.Collection) func(context.Context, int) error {
		return func(ctx context.Context, _ int) error {
			_, err := coll.FindOne(ctx, filter).Raw()
			return err
		}
	}
	direct := e.direct.Database(e.db).Collection("users")
	findDirect := func(ctx context.Context, _ int) error {
		_, err := direct.FindOne(ctx, filter).Raw()
		return err
	}
	f := startFloor(b, e.record(ctx, b, "FindOne", probeOp(find(e.probe.Database(e.db).Collection("users")))))
	runSides(b, ctx, append(sides3(find(e.mg.Database(e.db).Collection("users")), withFloor(f, findDirect), findDirect),
		side{"bare", find(e.bare.Database(e.db).Collection("users"))})...)
}

func BenchmarkInsertOne(b *testing.B) {
	e, ctx := benchEnv(b)
	var seq atomic.Int64
	insert := func(coll *mongogate.Collection) func(context.Context, int) error {
		return func(ctx context.Context, _ int) error {
			_, err := coll.InsertOne(ctx, newDoc(seq.Add(1)))
			return err
		}
	}
	insertDirect := func(coll *mongo.Collection) func(context.Context, int) error {
		return func(ctx context.Context, _ int) error {
			_, err := coll.InsertOne(ctx, newDoc(seq.Add(1)))
			return err
		}
	}
	db := e.direct.Database(e.db)
	f := startFloor(b, e.record(ctx, b, "InsertOne", probeOp(insert(e.probe.Database(e.db).Collection("inserts")))))
	runSides(b, ctx, append(sides3(insert(e.mg.Database(e.db).Collection("inserts")),
		withFloor(f, insertDirect(db.Collection("inserts_floor"))), insertDirect(db.Collection("inserts_direct"))),
		side{"bare", insert(e.bare.Database(e.db).Collection("inserts_bare"))})...)
}

func BenchmarkSessionPair(b *testing.B) {
	e, ctx := benchEnv(b)
	f := startFloor(b, e.record(ctx, b, "session pair", probeOp(sessionPair(e.probe))))
	runSides(b, ctx, sides3(sessionPair(e.mg), withFloor(f, e.directSessionPair), e.directSessionPair)...)
}

// txnBench is what the transaction benchmarks share: the collection
// "txn", created up front, its mongogate and driver handles, and a
// driver session kept for the whole benchmark, as the full run's direct
// side keeps one per client.
type txnBench struct {
	seq    atomic.Int64
	gate   *mongogate.Collection
	direct func(context.Context, int) error
}

func newTxnBench(b *testing.B, e *env, ctx context.Context) *txnBench {
	b.Helper()
	if err := e.direct.Database(e.db).CreateCollection(ctx, "txn"); err != nil {
		b.Fatal(err)
	}
	s, err := e.direct.StartSession()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.EndSession(context.Background()) })
	tx := &txnBench{gate: e.mg.Database(e.db).Collection("txn")}
	coll := e.direct.Database(e.db).Collection("txn")
	tx.direct = func(ctx context.Context, _ int) error {
		_, err := s.WithTransaction(ctx, func(ctx context.Context) (any, error) {
			for range txnInserts {
				if _, err := coll.InsertOne(ctx, newDoc(tx.seq.Add(1))); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
		return err
	}
	return tx
}

func BenchmarkRunTransaction(b *testing.B) {
	e, ctx := benchEnv(b)
	tx := newTxnBench(b, e, ctx)
	run := func(c *mongogate.Client, coll *mongogate.Collection) func(context.Context, int) error {
		return func(ctx context.Context, _ int) error {
			ops := make([]mongogate.TxnOp, txnInserts)
			for i := range ops {
				ops[i] = coll.InsertOneOp(newDoc(tx.seq.Add(1)))
			}
			_, err := c.RunTransaction(ctx, ops)
			return err
		}
	}
	f := startFloor(b, e.record(ctx, b, "RunTransaction", probeOp(run(e.probe, e.probe.Database(e.db).Collection("txn")))))
	runSides(b, ctx, sides3(run(e.mg, tx.gate), withFloor(f, tx.direct), tx.direct)...)
}

func BenchmarkExplicitTransaction(b *testing.B) {
	e, ctx := benchEnv(b)
	tx := newTxnBench(b, e, ctx)
	explicit := func(c *mongogate.Client, coll *mongogate.Collection) func(context.Context, int) error {
		s, err := c.StartSession(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.End(context.Background()) })
		return func(ctx context.Context, _ int) error { return explicitTxn(ctx, s, coll, &tx.seq, nil) }
	}
	f := startFloor(b, e.record(ctx, b, "explicit transaction", probeOp(explicit(e.probe, e.probe.Database(e.db).Collection("txn")))))
	runSides(b, ctx, sides3(explicit(e.mg, tx.gate), withFloor(f, tx.direct), tx.direct)...)
}
