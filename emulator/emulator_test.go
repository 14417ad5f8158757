package emulator_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongogate/mongogate/emulator"
)

func mustStart(t *testing.T, cfg emulator.Config) *emulator.Server {
	t.Helper()
	srv, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return srv
}

func mustConnect(t *testing.T, uri string, opts ...*options.ClientOptions) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(append([]*options.ClientOptions{options.Client().ApplyURI(uri)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func count(t *testing.T, coll *mongo.Collection, filter any) int64 {
	t.Helper()
	n, err := coll.CountDocuments(ctxT(t), filter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCRUDRoundTrip(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	coll := mustConnect(t, srv.URI()).Database("db").Collection("c")
	ctx := ctxT(t)

	oid := bson.NewObjectID()
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: oid}, {Key: "n", Value: int64(1)}, {Key: "tags", Value: bson.A{"a", "b"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "n", Value: int32(2)}}, bson.D{{Key: "n", Value: 3.5}}}); err != nil {
		t.Fatal(err)
	}
	var got bson.D
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if v, _ := got[1].Value.(int64); v != 1 || got[0].Value != oid {
		t.Errorf("FindOne = %v", got)
	}
	if n := count(t, coll, bson.D{{Key: "n", Value: bson.D{{Key: "$gte", Value: 2}}}}); n != 2 {
		t.Errorf("count n>=2 = %d, want 2", n)
	}
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "tags", Value: "b"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 10}}}})
	if err != nil || res.MatchedCount != 1 || res.ModifiedCount != 1 {
		t.Fatalf("UpdateOne = %+v, %v", res, err)
	}
	up, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "new"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil || up.UpsertedID != "new" {
		t.Fatalf("upsert = %+v, %v", up, err)
	}
	_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "new"}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Errorf("duplicate insert err = %v, want duplicate key", err)
	}
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "n", Value: -1}}).SetBatchSize(1))
	if err != nil {
		t.Fatal(err)
	}
	var all []bson.M
	if err := cur.All(ctx, &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 || all[0]["n"] != int64(11) {
		t.Errorf("sorted find (over getMore) = %v", all)
	}
	del, err := coll.DeleteMany(ctx, bson.D{{Key: "n", Value: bson.D{{Key: "$lt", Value: 5}}}})
	if err != nil || del.DeletedCount != 2 {
		t.Fatalf("DeleteMany = %+v, %v", del, err)
	}
	if n := count(t, coll, bson.D{}); n != 2 {
		t.Errorf("count after delete = %d, want 2", n)
	}
}

func TestTransactionIsolationAndAbort(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	coll := client.Database("db").Collection("c")
	ctx := ctxT(t)
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 0}}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		commit bool
		want   int64
	}{{"commit makes writes visible", true, 2}, {"abort discards writes", false, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := coll.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$ne", Value: 0}}}}); err != nil {
				t.Fatal(err)
			}
			sess, err := client.StartSession()
			if err != nil {
				t.Fatal(err)
			}
			defer sess.EndSession(ctx)
			if err := sess.StartTransaction(); err != nil {
				t.Fatal(err)
			}
			sctx := mongo.NewSessionContext(ctx, sess)
			if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
				t.Fatal(err)
			}
			if n := count(t, coll, bson.D{}); n != 1 {
				t.Errorf("outside the transaction: %d documents, want 1", n)
			}
			inside, err := coll.CountDocuments(sctx, bson.D{})
			if err != nil || inside != 2 {
				t.Errorf("inside the transaction: %d documents (%v), want 2", inside, err)
			}
			if tc.commit {
				err = sess.CommitTransaction(ctx)
			} else {
				err = sess.AbortTransaction(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := count(t, coll, bson.D{}); n != tc.want {
				t.Errorf("after: %d documents, want %d", n, tc.want)
			}
		})
	}
}

func TestSnapshotIsolation(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	coll := client.Database("db").Collection("c")
	ctx := ctxT(t)
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "old"}}); err != nil {
		t.Fatal(err)
	}
	sess, _ := client.StartSession()
	defer sess.EndSession(ctx)
	_ = sess.StartTransaction()
	sctx := mongo.NewSessionContext(ctx, sess)
	if err := coll.FindOne(sctx, bson.D{{Key: "_id", Value: 1}}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "new"}}}}); err != nil {
		t.Fatal(err)
	}
	var got struct{ V string }
	if err := coll.FindOne(sctx, bson.D{{Key: "_id", Value: 1}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.V != "old" {
		t.Errorf("transaction read %q after a later outside write, want the snapshot's %q", got.V, "old")
	}
	_, err := coll.UpdateOne(sctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "txn"}}}})
	var se mongo.ServerError
	if !errors.As(err, &se) || !se.HasErrorCode(112) || !se.HasErrorLabel("TransientTransactionError") {
		t.Errorf("write to a document changed after the snapshot: %v, want WriteConflict with TransientTransactionError", err)
	}
}

func TestConcurrentConflictingTransactions(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	coll := client.Database("db").Collection("c")
	ctx := ctxT(t)
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	const n = 2
	var (
		sessions [n]*mongo.Session
		errs     [n]error
	)
	for i := range sessions {
		s, err := client.StartSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.EndSession(ctx)
		_ = s.StartTransaction()
		sessions[i] = s
	}
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Go(func() {
			sctx := mongo.NewSessionContext(ctx, s)
			if _, err := coll.UpdateOne(sctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}); err != nil {
				errs[i] = err
				_ = s.AbortTransaction(ctx)
				return
			}
		})
	}
	wg.Wait()
	committed := 0
	for i, s := range sessions {
		if errs[i] != nil {
			var se mongo.ServerError
			if !errors.As(errs[i], &se) || !se.HasErrorLabel("TransientTransactionError") {
				t.Errorf("loser error %v, want TransientTransactionError", errs[i])
			}
			continue
		}
		if err := s.CommitTransaction(ctx); err != nil {
			t.Errorf("winner commit: %v", err)
			continue
		}
		committed++
	}
	if committed != 1 {
		t.Errorf("%d transactions committed, want exactly 1", committed)
	}
	var doc struct{ N int }
	_ = coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&doc)
	if doc.N != 1 {
		t.Errorf("n = %d, want 1", doc.N)
	}
}

func failPoint(t *testing.T, client *mongo.Client, cmd bson.D) {
	t.Helper()
	if err := client.Database("admin").RunCommand(ctxT(t), cmd).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.Database("admin").RunCommand(context.Background(), bson.D{
			{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}).Err()
	})
}

func TestCommitUnknownResultThenRetry(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	coll := client.Database("db").Collection("c")
	ctx := ctxT(t)
	if err := client.Database("db").CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	sess, _ := client.StartSession()
	defer sess.EndSession(ctx)
	_ = sess.StartTransaction()
	if _, err := coll.InsertOne(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	failPoint(t, client, bson.D{
		{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: 2}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"commitTransaction"}}, {Key: "closeConnection", Value: true}}},
	})
	// Without a deadline the driver retries a commit once; with one it
	// keeps retrying until the deadline (client-side operation timeout).
	err := sess.CommitTransaction(context.Background())
	var le mongo.LabeledError
	if !errors.As(err, &le) || !le.HasErrorLabel("UnknownTransactionCommitResult") {
		t.Fatalf("commit with the connection closed twice: %v, want UnknownTransactionCommitResult", err)
	}
	if err := sess.CommitTransaction(ctx); err != nil {
		t.Fatalf("commit again: %v", err)
	}
	if n := count(t, coll, bson.D{{Key: "_id", Value: 1}}); n != 1 {
		t.Errorf("document committed %d times, want exactly once", n)
	}
}

func TestTransactionLifetimeLimit(t *testing.T) {
	srv := mustStart(t, emulator.Config{TransactionLifetimeLimit: time.Second})
	client := mustConnect(t, srv.URI())
	coll := client.Database("db").Collection("c")
	ctx := ctxT(t)
	sess, _ := client.StartSession()
	defer sess.EndSession(ctx)
	_ = sess.StartTransaction()
	sctx := mongo.NewSessionContext(ctx, sess)
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		if _, err = coll.InsertOne(sctx, bson.D{{Key: "_id", Value: bson.NewObjectID()}}); err != nil {
			break
		}
	}
	var se mongo.ServerError
	if !errors.As(err, &se) || !se.HasErrorCode(251) || !se.HasErrorLabel("TransientTransactionError") {
		t.Fatalf("statement after the lifetime limit: %v, want NoSuchTransaction with TransientTransactionError", err)
	}
	if n := count(t, coll, bson.D{}); n != 0 {
		t.Errorf("%d documents after the expired transaction, want 0", n)
	}
}

// serverStatus's transactions.currentOpen counts open transactions, as
// MongoDB's does.
func TestServerStatusOpenTransactions(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	ctx := ctxT(t)
	currentOpen := func() int64 {
		t.Helper()
		var st struct {
			Transactions struct {
				CurrentOpen int64 `bson:"currentOpen"`
			} `bson:"transactions"`
		}
		if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "serverStatus", Value: 1}}).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st.Transactions.CurrentOpen
	}
	if n := currentOpen(); n != 0 {
		t.Fatalf("currentOpen %d before any transaction, want 0", n)
	}
	sess, err := client.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	_ = sess.StartTransaction()
	if _, err := client.Database("db").Collection("c").InsertOne(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if n := currentOpen(); n != 1 {
		t.Fatalf("currentOpen %d with a transaction open, want 1", n)
	}
	if err := sess.AbortTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if n := currentOpen(); n != 0 {
		t.Fatalf("currentOpen %d after the abort, want 0", n)
	}
}

func TestRetryableWriteReturnsCachedResult(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	coll := client.Database("db").Collection("c")
	ctx := ctxT(t)
	failPoint(t, client, bson.D{
		{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"update"}}, {Key: "writeConcernError", Value: bson.D{
			{Key: "code", Value: 91}, {Key: "errmsg", Value: "Replication is being shut down"}}}}},
	})
	// The first attempt applies the $inc and fails with a retryable write
	// concern error; the driver retries and must get the cached result, not
	// a second increment.
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	var doc struct{ N int }
	_ = coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&doc)
	if doc.N != 1 {
		t.Errorf("n = %d after a retried $inc, want 1", doc.N)
	}
}

func TestUnknownCommand(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	err := client.Database("db").RunCommand(ctxT(t), bson.D{{Key: "noSuchCommand", Value: 1}}).Err()
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 59 {
		t.Errorf("unknown command: %v, want code 59 CommandNotFound", err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	srv, err := emulator.New(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	// Leave a writer blocked on a transaction's document lock, and a
	// blocking fail point, to prove Close unblocks them too.
	coll := client.Database("db").Collection("c")
	sess, _ := client.StartSession()
	_ = sess.StartTransaction()
	if _, err := coll.InsertOne(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan struct{})
	go func() {
		defer close(blocked)
		// The driver retries the write once the server is gone and would
		// wait out the whole deadline selecting a server: keep it short.
		ictx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, _ = coll.InsertOne(ictx, bson.D{{Key: "_id", Value: 1}})
	}()
	time.Sleep(100 * time.Millisecond)
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(closeCtx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_ = client.Disconnect(ctx)
	<-blocked
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// onPrimaryTransactionalWrite, as the retryable-writes spec tests use it:
// the write commits and the connection drops (the retry must get the first
// result, not write twice), or it never commits.
func TestOnPrimaryTransactionalWrite(t *testing.T) {
	tests := []struct {
		name    string
		mode    bson.D
		data    bson.D
		wantErr bool
	}{
		{"committed on first attempt", bson.D{{Key: "times", Value: 1}}, bson.D{}, false},
		{"not committed on first attempt", bson.D{{Key: "times", Value: 1}}, bson.D{{Key: "failBeforeCommitExceptionCode", Value: 1}}, false},
		{"never committed", bson.D{{Key: "times", Value: 2}}, bson.D{{Key: "failBeforeCommitExceptionCode", Value: 1}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := mustStart(t, emulator.Config{})
			client := mustConnect(t, srv.URI())
			coll := client.Database("db").Collection("c")
			ctx := context.Background()
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 11}}); err != nil {
				t.Fatal(err)
			}
			failPoint(t, client, bson.D{{Key: "configureFailPoint", Value: "onPrimaryTransactionalWrite"}, {Key: "mode", Value: tc.mode}, {Key: "data", Value: tc.data}})
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "x", Value: 1}}}})
			if _, ierr := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}}); ierr != nil && !tc.wantErr {
				t.Fatalf("insert: %v", ierr)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("update err = %v, want error %v", err, tc.wantErr)
			}
			var doc struct{ X int }
			_ = coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&doc)
			want := 12
			if tc.wantErr {
				want = 11
			}
			if doc.X != want {
				t.Errorf("x = %d, want %d (applied exactly once, or never)", doc.X, want)
			}
		})
	}
}

// TestIDLookupMatchesWholeFilter: a filter with an _id equality beside
// other conditions finds the document by _id and still applies the rest.
func TestIDLookupMatchesWholeFilter(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	coll := mustConnect(t, srv.URI()).Database("db").Collection("c")
	ctx := ctxT(t)
	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: 1}, {Key: "s", Value: "open"}},
		bson.D{{Key: "_id", Value: 2}, {Key: "s", Value: "open"}},
	}); err != nil {
		t.Fatal(err)
	}
	set := bson.D{{Key: "$set", Value: bson.D{{Key: "s", Value: "done"}}}}
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "s", Value: "done"}}, set)
	if err != nil || res.MatchedCount != 0 {
		t.Fatalf("update of _id 1 with s done = %+v, %v; want 0 matched", res, err)
	}
	res, err = coll.UpdateOne(ctx, bson.D{{Key: "s", Value: "open"}, {Key: "_id", Value: bson.D{{Key: "$eq", Value: 2}}}}, set)
	if err != nil || res.MatchedCount != 1 {
		t.Fatalf("update of _id 2 with s open = %+v, %v; want 1 matched", res, err)
	}
	if n := count(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "s", Value: "open"}}); n != 1 {
		t.Errorf("_id 1 still open: count %d, want 1", n)
	}
	if n := count(t, coll, bson.D{{Key: "_id", Value: 2}, {Key: "s", Value: "open"}}); n != 0 {
		t.Errorf("_id 2 no longer open: count %d, want 0", n)
	}
	if n := count(t, coll, bson.D{{Key: "_id", Value: 3}, {Key: "s", Value: "open"}}); n != 0 {
		t.Errorf("missing _id: count %d, want 0", n)
	}
}
