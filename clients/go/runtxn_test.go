package mongogate_test

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/clients/go/options"
)

// mustSeed creates coll with docs, outside any transaction.
func mustSeed(t *testing.T, coll *mongogate.Collection, docs ...bson.D) {
	t.Helper()
	if _, err := coll.InsertMany(testCtx(t), docs); err != nil {
		t.Fatalf("seed %s: %v", coll.Name(), err)
	}
}

// Every kind of operation runs, in order, and returns the result its
// single-operation method would.
func TestRunTransaction(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	coll := c.Database(dbName(t)).Collection("c")
	mustSeed(t, coll,
		bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "n", Value: 1}},
		bson.D{{Key: "_id", Value: "c"}, {Key: "n", Value: 2}},
	)
	byID := func(id string) bson.D { return bson.D{{Key: "_id", Value: id}} }
	inc := bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 10}}}}

	res, err := c.RunTransaction(ctx, []mongogate.TxnOp{
		coll.InsertOneOp(byID("d")),
		coll.InsertManyOp([]bson.D{byID("e"), byID("f")}),
		coll.UpdateOneOp(byID("a"), inc),
		coll.UpdateManyOp(bson.D{{Key: "n", Value: 1}}, inc),
		coll.ReplaceOneOp(byID("g"), bson.D{{Key: "n", Value: 7}}, options.Replace().SetUpsert(true)),
		coll.DeleteOneOp(byID("c")),
		coll.DeleteManyOp(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"e", "f"}}}}}),
		coll.FindOneOp(byID("a")),
		coll.FindOneOp(byID("c")),
		coll.CountDocumentsOp(nil),
	}, options.RunTransaction().SetWriteConcern(options.Majority()))
	if err != nil {
		t.Fatalf("RunTransaction: %v", err)
	}
	if res.Attempts != 1 || res.TransactionNumber < 1 {
		t.Errorf("Attempts %d, TransactionNumber %d; want 1 and a number", res.Attempts, res.TransactionNumber)
	}
	if len(res.Results) != 10 {
		t.Fatalf("%d results, want 10", len(res.Results))
	}
	if r, ok := res.Results[0].(*mongogate.InsertOneResult); !ok || r.InsertedID != "d" {
		t.Errorf("insert_one result %#v", res.Results[0])
	}
	if r, ok := res.Results[1].(*mongogate.InsertManyResult); !ok || len(r.InsertedIDs) != 2 || r.InsertedIDs[1] != "f" {
		t.Errorf("insert_many result %#v", res.Results[1])
	}
	if r, ok := res.Results[2].(*mongogate.UpdateResult); !ok || r.MatchedCount != 1 || r.ModifiedCount != 1 {
		t.Errorf("update_one result %#v", res.Results[2])
	}
	// a now has n 11, so only b matches n 1.
	if r, ok := res.Results[3].(*mongogate.UpdateResult); !ok || r.MatchedCount != 1 || r.ModifiedCount != 1 {
		t.Errorf("update_many result %#v", res.Results[3])
	}
	if r, ok := res.Results[4].(*mongogate.UpdateResult); !ok || r.UpsertedCount != 1 || r.UpsertedID != "g" {
		t.Errorf("replace_one result %#v", res.Results[4])
	}
	if r, ok := res.Results[5].(*mongogate.DeleteResult); !ok || r.DeletedCount != 1 {
		t.Errorf("delete_one result %#v", res.Results[5])
	}
	if r, ok := res.Results[6].(*mongogate.DeleteResult); !ok || r.DeletedCount != 2 {
		t.Errorf("delete_many result %#v", res.Results[6])
	}
	var a struct {
		N int `bson:"n"`
	}
	if r, ok := res.Results[7].(*mongogate.SingleResult); !ok || r.Decode(&a) != nil || a.N != 11 {
		t.Errorf("find_one result %#v, decoded %+v", res.Results[7], a)
	}
	if r, ok := res.Results[8].(*mongogate.SingleResult); !ok || !errors.Is(r.Err(), mongogate.ErrNoDocuments) {
		t.Errorf("find_one of a deleted document: %#v", res.Results[8])
	}
	// a, b, d, g.
	if n, ok := res.Results[9].(int64); !ok || n != 4 {
		t.Errorf("count_documents result %#v, want int64 4", res.Results[9])
	}
	if n := g.count(t, coll.Database().Name(), coll.Name(), bson.D{}); n != 4 {
		t.Errorf("%d documents after commit, want 4", n)
	}
}

// An operation that fails aborts the transaction: nothing is written and
// the error names the operation.
func TestRunTransactionOperationFails(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	coll := c.Database(dbName(t)).Collection("c")
	mustSeed(t, coll, bson.D{{Key: "_id", Value: "taken"}})

	_, err := c.RunTransaction(ctx, []mongogate.TxnOp{
		coll.InsertOneOp(bson.D{{Key: "_id", Value: "partial"}}),
		coll.UpdateOneOp(bson.D{{Key: "_id", Value: "taken"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}),
		coll.InsertOneOp(bson.D{{Key: "_id", Value: "taken"}}),
	})
	requireIs(t, err, mongogate.ErrDuplicateKey)
	var e *mongogate.Error
	if !errors.As(err, &e) || e.Code != codes.AlreadyExists {
		t.Fatalf("error %v, want an *Error with code AlreadyExists", err)
	}
	if i, ok := e.OperationIndex(); !ok || i != 2 {
		t.Errorf("OperationIndex = %d, %v; want 2", i, ok)
	}
	db := coll.Database().Name()
	if n := g.count(t, db, coll.Name(), bson.D{{Key: "_id", Value: "partial"}}); n != 0 {
		t.Errorf("aborted transaction's insert is visible")
	}
	if n := g.count(t, db, coll.Name(), bson.D{{Key: "x", Value: 1}}); n != 0 {
		t.Errorf("aborted transaction's update is visible")
	}
}

// Operations that cannot be sent fail in the client, naming the operation.
func TestRunTransactionRefused(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	other := mustClient(t, g)
	ctx := testCtx(t)
	db := dbName(t)
	coll := c.Database(db).Collection("c")
	tests := []struct {
		name string
		ops  []mongogate.TxnOp
		want error // nil: any error
	}{
		{"no operations", nil, nil},
		{"nil document", []mongogate.TxnOp{coll.InsertOneOp(bson.D{}), coll.InsertOneOp(nil)}, mongogate.ErrNilDocument},
		{"nil write filter", []mongogate.TxnOp{coll.DeleteManyOp(nil)}, mongogate.ErrNilDocument},
		{"zero TxnOp", []mongogate.TxnOp{{}}, nil},
		{"another Client's collection", []mongogate.TxnOp{other.Database(db).Collection("c").InsertOneOp(bson.D{})}, nil},
		{"two backends", []mongogate.TxnOp{
			coll.InsertOneOp(bson.D{}),
			c.Database(db, options.Database().SetBackend(backendOther)).Collection("c").InsertOneOp(bson.D{}),
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.RunTransaction(ctx, tt.ops)
			if err == nil {
				t.Fatal("RunTransaction succeeded")
			}
			if tt.want != nil {
				requireIs(t, err, tt.want)
			}
			var e *mongogate.Error
			if errors.As(err, &e) {
				t.Errorf("error %v came from the server", err)
			}
		})
	}
}

// With a session in the context the transaction is the session's.
func TestRunTransactionInSession(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	coll := c.Database(dbName(t)).Collection("c")
	mustSeed(t, coll, bson.D{{Key: "_id", Value: "seed"}})
	s := mustSession(t, c)
	sctx := mongogate.NewSessionContext(ctx, s)

	var numbers []int64
	for _, id := range []string{"x", "y"} {
		res, err := c.RunTransaction(sctx, []mongogate.TxnOp{coll.InsertOneOp(bson.D{{Key: "_id", Value: id}})})
		if err != nil {
			t.Fatalf("RunTransaction: %v", err)
		}
		numbers = append(numbers, res.TransactionNumber)
	}
	if numbers[1] != numbers[0]+1 {
		t.Errorf("transaction numbers %v, want consecutive numbers of one session", numbers)
	}
	info, err := s.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lt := info.LastTransaction; lt == nil || lt.Number != numbers[1] || lt.Outcome != mongogate.OutcomeCommitted {
		t.Errorf("session's last transaction %+v, want number %d committed", lt, numbers[1])
	}

	t.Run("open transaction", func(t *testing.T) {
		if err := s.StartTransaction(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.AbortTransaction(ctx) }()
		_, err := c.RunTransaction(sctx, []mongogate.TxnOp{coll.InsertOneOp(bson.D{{Key: "_id", Value: "z"}})})
		requireIs(t, err, mongogate.ErrTransactionInProgress)
	})

	t.Run("ended session", func(t *testing.T) {
		s, err := c.StartSession(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.End(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = c.RunTransaction(mongogate.NewSessionContext(ctx, s), []mongogate.TxnOp{coll.InsertOneOp(bson.D{})})
		requireIs(t, err, mongogate.ErrSessionEnded)
	})
}

// A write conflict reruns the whole transaction on the server: two
// attempts, the data written once.
func TestRunTransactionRetriesWriteConflict(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	coll := c.Database(dbName(t)).Collection("c")
	mustSeed(t, coll, bson.D{{Key: "_id", Value: "seed"}})
	g.failPoint(t, bson.D{{Key: "times", Value: 1}}, bson.D{
		{Key: "failCommands", Value: bson.A{"insert"}},
		{Key: "errorCode", Value: 112},
	})

	res, err := c.RunTransaction(ctx, []mongogate.TxnOp{
		coll.UpdateOneOp(bson.D{{Key: "_id", Value: "seed"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}),
		coll.InsertOneOp(bson.D{{Key: "_id", Value: "x"}}),
	})
	if err != nil {
		t.Fatalf("RunTransaction: %v", err)
	}
	if res.Attempts != 2 {
		t.Errorf("Attempts = %d, want 2", res.Attempts)
	}
	db := coll.Database().Name()
	if n := g.count(t, db, coll.Name(), bson.D{{Key: "_id", Value: "x"}}); n != 1 {
		t.Errorf("document written %d times, want once", n)
	}
	if n := g.count(t, db, coll.Name(), bson.D{{Key: "n", Value: 1}}); n != 1 {
		t.Errorf("the update applied other than once")
	}
}
