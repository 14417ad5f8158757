package emulator_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongogate/mongogate/emulator"
)

// lsidDoc is the {id: UUID} document of a driver session, as killSessions
// and endSessions take it.
func lsidDoc(t *testing.T, sess *mongo.Session) bson.D {
	t.Helper()
	var d bson.D
	if err := bson.Unmarshal(sess.ID(), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func mustSession(t *testing.T, client *mongo.Client) *mongo.Session {
	t.Helper()
	sess, err := client.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.EndSession(context.Background()) })
	return sess
}

func hasCode(err error, code int) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(code)
}

func hasLabel(err error, label string) bool {
	var le mongo.LabeledError
	return errors.As(err, &le) && le.HasErrorLabel(label)
}

func adminCommand(t *testing.T, client *mongo.Client, cmd bson.D) error {
	t.Helper()
	return client.Database("admin").RunCommand(ctxT(t), cmd).Err()
}

// TestKillSessionsReleasesDeadOwnersTransaction is mongogate's takeover of
// a dead instance's session: instance A wrote documents in a transaction
// and died; instance B kills A's session by its lsid. B's writes to the same
// documents then go through at once, and A's writes never appear.
func TestKillSessionsReleasesDeadOwnersTransaction(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	clientA := mustConnect(t, srv.URI())
	clientB := mustConnect(t, srv.URI())
	collA := clientA.Database("db").Collection("c")
	collB := clientB.Database("db").Collection("c")
	ctx := ctxT(t)
	if _, err := collB.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "by", Value: "setup"}}); err != nil {
		t.Fatal(err)
	}

	sessA := mustSession(t, clientA)
	if err := sessA.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sctxA := mongo.NewSessionContext(ctx, sessA)
	if _, err := collA.UpdateOne(sctxA, bson.D{{Key: "_id", Value: "x"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "by", Value: "A"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := collA.InsertOne(sctxA, bson.D{{Key: "_id", Value: "y"}, {Key: "by", Value: "A"}}); err != nil {
		t.Fatal(err)
	}
	// Before the kill, B's transactional write to x conflicts.
	sessB := mustSession(t, clientB)
	_ = sessB.StartTransaction()
	_, err := collB.UpdateOne(mongo.NewSessionContext(ctx, sessB), bson.D{{Key: "_id", Value: "x"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "by", Value: "B"}}}})
	if !hasCode(err, 112) {
		t.Fatalf("B's write to x while A's transaction holds it: %v, want WriteConflict", err)
	}
	_ = sessB.AbortTransaction(ctx)

	if err := adminCommand(t, clientB, bson.D{{Key: "killSessions", Value: bson.A{lsidDoc(t, sessA)}}}); err != nil {
		t.Fatalf("killSessions: %v", err)
	}

	// B's writes go through immediately: a transaction on x (WriteConflict
	// would fail it at once), and a plain insert of y (it would wait).
	quick, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	sessB2 := mustSession(t, clientB)
	if err := sessB2.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sctxB := mongo.NewSessionContext(quick, sessB2)
	if _, err := collB.UpdateOne(sctxB, bson.D{{Key: "_id", Value: "x"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "by", Value: "B"}}}}); err != nil {
		t.Fatalf("B's transactional write to x after killSessions: %v", err)
	}
	if err := sessB2.CommitTransaction(quick); err != nil {
		t.Fatalf("B's commit: %v", err)
	}
	if _, err := collB.InsertOne(quick, bson.D{{Key: "_id", Value: "y"}, {Key: "by", Value: "B"}}); err != nil {
		t.Fatalf("B's insert of y after killSessions: %v", err)
	}

	// A's transaction is gone: its next statement and its commit fail with
	// NoSuchTransaction, and none of its writes became visible.
	_, err = collA.InsertOne(sctxA, bson.D{{Key: "_id", Value: "z"}, {Key: "by", Value: "A"}})
	if !hasCode(err, 251) || !hasLabel(err, "TransientTransactionError") {
		t.Errorf("A's statement after the kill: %v, want NoSuchTransaction with TransientTransactionError", err)
	}
	if err := sessA.CommitTransaction(ctx); !hasCode(err, 251) {
		t.Errorf("A's commit after the kill: %v, want NoSuchTransaction", err)
	}
	if n := count(t, collB, bson.D{{Key: "by", Value: "A"}}); n != 0 {
		t.Errorf("%d documents written by A, want 0", n)
	}
	if n := count(t, collB, bson.D{{Key: "by", Value: "B"}}); n != 2 {
		t.Errorf("%d documents written by B, want 2", n)
	}
}

// TestKillSessionsInterruptsBlockedOperation: an operation of the killed
// session that waits for a document lock fails with Interrupted.
func TestKillSessionsInterruptsBlockedOperation(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	coll := client.Database("db").Collection("c")
	ctx := ctxT(t)
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	holder := mustSession(t, client)
	_ = holder.StartTransaction()
	if _, err := coll.UpdateOne(mongo.NewSessionContext(ctx, holder), bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "by", Value: "holder"}}}}); err != nil {
		t.Fatal(err)
	}

	victim := mustSession(t, client)
	done := make(chan error, 1)
	go func() {
		_, err := coll.UpdateOne(mongo.NewSessionContext(ctx, victim), bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "by", Value: "victim"}}}})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("write to a locked document returned at once: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := adminCommand(t, client, bson.D{{Key: "killSessions", Value: bson.A{lsidDoc(t, victim)}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !hasCode(err, 11601) {
			t.Errorf("blocked write of a killed session: %v, want Interrupted (11601)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked write not interrupted by killSessions")
	}
	// Only the victim's session was killed.
	if err := holder.CommitTransaction(ctx); err != nil {
		t.Errorf("commit of the other session's transaction: %v", err)
	}
}

func TestKillSessionsClosesCursors(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	coll := client.Database("db").Collection("c")
	ctx := ctxT(t)
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "_id", Value: 3}}}); err != nil {
		t.Fatal(err)
	}
	sess := mustSession(t, client)
	sctx := mongo.NewSessionContext(ctx, sess)
	cur, err := coll.Find(sctx, bson.D{}, options.Find().SetBatchSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	if !cur.Next(sctx) {
		t.Fatalf("first document: %v", cur.Err())
	}
	if err := adminCommand(t, client, bson.D{{Key: "killSessions", Value: bson.A{lsidDoc(t, sess)}}}); err != nil {
		t.Fatal(err)
	}
	if cur.Next(sctx) {
		t.Fatal("getMore on a killed session's cursor returned a document")
	}
	if err := cur.Err(); !hasCode(err, 43) {
		t.Errorf("getMore on a killed session's cursor: %v, want CursorNotFound (43)", err)
	}
}

// TestKillCommandsAbortTransactions runs each way of killing sessions
// against an open transaction.
func TestKillCommandsAbortTransactions(t *testing.T) {
	tests := []struct {
		name   string
		cmd    func(lsid bson.D) bson.D
		killed bool
	}{
		{"killSessions by lsid", func(l bson.D) bson.D { return bson.D{{Key: "killSessions", Value: bson.A{l}}} }, true},
		{"killSessions of another lsid", func(bson.D) bson.D {
			return bson.D{{Key: "killSessions", Value: bson.A{bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}}}}}
		}, false},
		{"killSessions empty list", func(bson.D) bson.D { return bson.D{{Key: "killSessions", Value: bson.A{}}} }, true},
		{"killAllSessions empty list", func(bson.D) bson.D { return bson.D{{Key: "killAllSessions", Value: bson.A{}}} }, true},
		{"killAllSessions of a user", func(bson.D) bson.D {
			return bson.D{{Key: "killAllSessions", Value: bson.A{bson.D{{Key: "user", Value: "u"}, {Key: "db", Value: "admin"}}}}}
		}, false},
		{"killAllSessionsByPattern lsid", func(l bson.D) bson.D {
			return bson.D{{Key: "killAllSessionsByPattern", Value: bson.A{bson.D{{Key: "lsid", Value: l}}}}}
		}, true},
		{"killAllSessionsByPattern empty list", func(bson.D) bson.D { return bson.D{{Key: "killAllSessionsByPattern", Value: bson.A{}}} }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := mustStart(t, emulator.Config{})
			client := mustConnect(t, srv.URI())
			coll := client.Database("db").Collection("c")
			ctx := ctxT(t)
			sess := mustSession(t, client)
			_ = sess.StartTransaction()
			if _, err := coll.InsertOne(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "_id", Value: 1}, {Key: "by", Value: "txn"}}); err != nil {
				t.Fatal(err)
			}
			if err := adminCommand(t, client, tc.cmd(lsidDoc(t, sess))); err != nil {
				t.Fatalf("%v: %v", tc.cmd(lsidDoc(t, sess)), err)
			}
			short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			_, err := coll.InsertOne(short, bson.D{{Key: "_id", Value: 1}, {Key: "by", Value: "plain"}})
			commitErr := sess.CommitTransaction(ctx)
			if tc.killed {
				if err != nil {
					t.Errorf("plain insert after the kill: %v", err)
				}
				if !hasCode(commitErr, 251) {
					t.Errorf("commit after the kill: %v, want NoSuchTransaction", commitErr)
				}
				return
			}
			if err == nil {
				t.Error("plain insert succeeded while the transaction held the document")
			}
			if commitErr != nil {
				t.Errorf("commit of the transaction that was not killed: %v", commitErr)
			}
		})
	}
}

func TestKillSessionsRefusesMalformedLsids(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	for _, tc := range []struct {
		name string
		arg  any
		code int
	}{
		{"not an array", "x", 14},
		{"element not a document", bson.A{1}, 14},
		{"missing id", bson.A{bson.D{}}, 40414},
		{"id not a UUID", bson.A{bson.D{{Key: "id", Value: "x"}}}, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{"killSessions", "endSessions"} {
				if err := adminCommand(t, client, bson.D{{Key: name, Value: tc.arg}}); !hasCode(err, tc.code) {
					t.Errorf("%s %v: %v, want code %d", name, tc.arg, err, tc.code)
				}
			}
		})
	}
}

// TestEndSessionsLeavesTransactionsToTheirLifetime: endSessions only marks
// sessions as ending. Their transactions stay open and can commit; the next
// session refresh closes their cursors.
func TestEndSessionsLeavesTransactionsToTheirLifetime(t *testing.T) {
	srv := mustStart(t, emulator.Config{SessionRefreshInterval: 100 * time.Millisecond})
	client := mustConnect(t, srv.URI())
	coll := client.Database("db").Collection("c")
	ctx := ctxT(t)
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "_id", Value: 3}}}); err != nil {
		t.Fatal(err)
	}

	reader := mustSession(t, client)
	rctx := mongo.NewSessionContext(ctx, reader)
	cur, err := coll.Find(rctx, bson.D{}, options.Find().SetBatchSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	if !cur.Next(rctx) {
		t.Fatalf("first document: %v", cur.Err())
	}

	writer := mustSession(t, client)
	_ = writer.StartTransaction()
	wctx := mongo.NewSessionContext(ctx, writer)
	if _, err := coll.InsertOne(wctx, bson.D{{Key: "_id", Value: 10}}); err != nil {
		t.Fatal(err)
	}
	// The driver sends endSessions itself only on Disconnect, for pooled
	// sessions; send it as a server would receive it.
	if err := adminCommand(t, client, bson.D{{Key: "endSessions", Value: bson.A{lsidDoc(t, reader), lsidDoc(t, writer)}}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // several refreshes

	if _, err := coll.InsertOne(wctx, bson.D{{Key: "_id", Value: 11}}); err != nil {
		t.Errorf("statement of an ended session's transaction: %v", err)
	}
	if err := writer.CommitTransaction(ctx); err != nil {
		t.Errorf("commit of an ended session's transaction: %v", err)
	}
	if n := count(t, coll, bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: 10}}}}); n != 2 {
		t.Errorf("%d documents committed by the ended session, want 2", n)
	}
	if cur.Next(rctx) {
		t.Fatal("getMore on an ended session's cursor after a refresh returned a document")
	}
	if err := cur.Err(); !hasCode(err, 43) {
		t.Errorf("getMore on an ended session's cursor after a refresh: %v, want CursorNotFound (43)", err)
	}
}
