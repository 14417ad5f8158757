package bench

import (
	"context"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	mongogate "github.com/mongogate/mongogate/clients/go"
)

// The Go benchmarks below time one operation on each side, serially, with
// allocations counted: the quick way to see what a change to mongogate's
// own path buys before a full run (TestBenchFull) measures it against the
// floor.
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

func BenchmarkFindOne(b *testing.B) {
	e, ctx := benchEnv(b)
	gate := e.mg.Database(e.db).Collection("users")
	direct := e.direct.Database(e.db).Collection("users")
	filter := bson.D{{Key: "_id", Value: seeded / 2}}
	f := startFloor(b, e.record(ctx, b, "FindOne", func(ctx context.Context) error {
		_, err := e.probe.Database(e.db).Collection("users").FindOne(ctx, filter).Raw()
		return err
	}))
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := f.roundTrips(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mongogate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := gate.FindOne(ctx, filter).Raw(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := direct.FindOne(ctx, filter).Raw(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkInsertOne(b *testing.B) {
	e, ctx := benchEnv(b)
	gate := e.mg.Database(e.db).Collection("inserts")
	direct := e.direct.Database(e.db).Collection("inserts")
	b.Run("mongogate", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := gate.InsertOne(ctx, newDoc(int64(i))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := direct.InsertOne(ctx, newDoc(int64(i))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSessionPair(b *testing.B) {
	e, ctx := benchEnv(b)
	b.Run("mongogate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := e.mg.StartSession(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.End(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRunTransaction(b *testing.B) {
	e, ctx := benchEnv(b)
	if err := e.direct.Database(e.db).CreateCollection(ctx, "txn"); err != nil {
		b.Fatal(err)
	}
	coll := e.mg.Database(e.db).Collection("txn")
	b.Run("mongogate", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ops := make([]mongogate.TxnOp, 3)
			for j := range ops {
				ops[j] = coll.InsertOneOp(newDoc(int64(i*3 + j)))
			}
			if _, err := e.mg.RunTransaction(ctx, ops); err != nil {
				b.Fatal(err)
			}
		}
	})
}
