package e2e

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

// A transaction's writes are visible outside it once committed, and never
// once aborted.
func TestTransactionVisibility(t *testing.T) {
	t.Parallel()
	b := mustBackend(t)
	s := mustStartServer(t, b)
	db := testbackend.DBName(t)
	ns := namespace(db, "items")

	t.Run("commit", func(t *testing.T) {
		ctx := testCtx(t)
		token := s.mustStartSession(ctx, t)
		number := s.mustStartTransaction(ctx, t, token)
		s.mustInsert(ctx, t, token, ns, `{"_id": "committed", "n": {"$numberLong": "1"}}`)
		if got := s.findOne(ctx, t, token, ns, `{"_id": "committed"}`); got == "" {
			t.Fatal("the transaction does not see its own insert")
		}
		if got := s.findOne(ctx, t, "", ns, `{"_id": "committed"}`); got != "" {
			t.Fatalf("uncommitted insert visible outside the transaction: %s", got)
		}
		s.mustCommit(ctx, t, token, number)
		want := `{"_id":"committed","n":{"$numberLong":"1"}}`
		if got := s.findOne(ctx, t, "", ns, `{"_id": "committed"}`); got != want {
			t.Fatalf("after commit FindOne = %q, want %q", got, want)
		}
		if n := b.count(t, db, "items", bson.D{{Key: "_id", Value: "committed"}}); n != 1 {
			t.Fatalf("MongoDB has %d committed documents, want 1", n)
		}
	})

	t.Run("abort", func(t *testing.T) {
		ctx := testCtx(t)
		token := s.mustStartSession(ctx, t)
		number := s.mustStartTransaction(ctx, t, token)
		s.mustInsert(ctx, t, token, ns, `{"_id": "aborted"}`)
		if got := s.findOne(ctx, t, "", ns, `{"_id": "aborted"}`); got != "" {
			t.Fatalf("uncommitted insert visible outside the transaction: %s", got)
		}
		resp, err := s.Txns.AbortTransaction(ctx, &pb.AbortTransactionRequest{SessionToken: token, TransactionNumber: number})
		if err != nil || !resp.GetAborted() {
			t.Fatalf("AbortTransaction = %v, %v; want aborted", resp, err)
		}
		if got := s.findOne(ctx, t, "", ns, `{"_id": "aborted"}`); got != "" {
			t.Fatalf("aborted insert visible: %s", got)
		}
		if got := s.findOne(ctx, t, token, ns, `{"_id": "aborted"}`); got != "" {
			t.Fatalf("aborted insert visible in its own session: %s", got)
		}
		if n := b.count(t, db, "items", bson.D{{Key: "_id", Value: "aborted"}}); n != 0 {
			t.Fatalf("MongoDB has %d documents of the aborted transaction, want 0", n)
		}
	})
}

// A commit that fails twice with UnknownTransactionCommitResult is retried
// and commits exactly once. A closed connection is also retried by the
// driver itself; a write concern error only by mongogate's retry loop.
func TestCommitRetriesUnknownResult(t *testing.T) {
	t.Parallel()
	b := mustBackend(t)
	s := mustStartServer(t, b)
	db := testbackend.DBName(t)

	tests := []struct {
		name string
		data bson.D
	}{
		{"connection closed", bson.D{{Key: "closeConnection", Value: true}}},
		{"write concern error", bson.D{{Key: "writeConcernError", Value: bson.D{
			{Key: "code", Value: 64},
			{Key: "codeName", Value: "WriteConcernTimeout"},
			{Key: "errmsg", Value: "waiting for replication timed out"},
			{Key: "errInfo", Value: bson.D{{Key: "wtimeout", Value: true}}},
		}}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			coll := fmt.Sprintf("items%d", i)
			token := s.mustStartSession(ctx, t)
			number := s.mustStartTransaction(ctx, t, token)
			s.mustInsert(ctx, t, token, namespace(db, coll), `{"_id": "once"}`)
			data := append(bson.D{{Key: "failCommands", Value: bson.A{"commitTransaction"}}}, tt.data...)
			b.failPoint(t, bson.D{{Key: "times", Value: 2}}, data)
			s.mustCommit(ctx, t, token, number)
			if n := b.count(t, db, coll, nil); n != 1 {
				t.Fatalf("MongoDB has %d documents, want exactly 1", n)
			}
			if got := s.lastOutcome(ctx, t, token); got != pb.TransactionOutcome_TRANSACTION_OUTCOME_COMMITTED {
				t.Fatalf("GetSession outcome %v, want COMMITTED", got)
			}
		})
	}
}

// A commit whose outcome stays unknown past --commit-retry-limit fails with
// UNKNOWN_COMMIT_RESULT and RetryInfo; committing the same transaction again
// once MongoDB answers commits it, once.
func TestCommitUnknownResultThenRetry(t *testing.T) {
	t.Parallel()
	b := mustBackend(t)
	s := mustStartServer(t, b, "--commit-retry-limit", "2s")
	db := testbackend.DBName(t)
	ns := namespace(db, "items")
	ctx := testCtx(t)

	token := s.mustStartSession(ctx, t)
	number := s.mustStartTransaction(ctx, t, token)
	s.mustInsert(ctx, t, token, ns, `{"_id": "unknown"}`)
	b.failPoint(t, "alwaysOn", bson.D{
		{Key: "failCommands", Value: bson.A{"commitTransaction"}},
		{Key: "closeConnection", Value: true},
	})

	_, err := s.Txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: number})
	st := testkit.WantReason(t, "CommitTransaction whose connection closed", err, codes.Unavailable, pb.ErrorReason_ERROR_REASON_UNKNOWN_COMMIT_RESULT)
	if ri := testkit.RetryInfo(st.Err()); ri == nil || ri.GetRetryDelay().AsDuration() <= 0 {
		t.Fatalf("UNKNOWN_COMMIT_RESULT without a positive RetryInfo: %v", st.Details())
	}
	if got := s.lastOutcome(ctx, t, token); got != pb.TransactionOutcome_TRANSACTION_OUTCOME_UNKNOWN {
		t.Fatalf("GetSession outcome after the failed commit %v, want UNKNOWN", got)
	}

	b.failPointOff(t)
	s.mustCommit(ctx, t, token, number)
	if n := b.count(t, db, "items", nil); n != 1 {
		t.Fatalf("MongoDB has %d documents, want exactly 1", n)
	}
	if got := s.lastOutcome(ctx, t, token); got != pb.TransactionOutcome_TRANSACTION_OUTCOME_COMMITTED {
		t.Fatalf("GetSession outcome %v, want COMMITTED", got)
	}
}

// Committing a committed transaction again succeeds: the first response may
// have been lost, not the commit.
func TestCommitIsIdempotent(t *testing.T) {
	t.Parallel()
	b := mustBackend(t)
	s := mustStartServer(t, b)
	db := testbackend.DBName(t)
	ctx := testCtx(t)

	token := s.mustStartSession(ctx, t)
	number := s.mustStartTransaction(ctx, t, token)
	s.mustInsert(ctx, t, token, namespace(db, "items"), `{"_id": "twice"}`)
	s.mustCommit(ctx, t, token, number)
	s.mustCommit(ctx, t, token, number)
	if n := b.count(t, db, "items", nil); n != 1 {
		t.Fatalf("MongoDB has %d documents, want exactly 1", n)
	}
}

// RunTransaction reruns the whole transaction after a WriteConflict (a
// TransientTransactionError), as the drivers' withTransaction does.
func TestRunTransactionRetriesWriteConflict(t *testing.T) {
	t.Parallel()
	b := mustBackend(t)
	s := mustStartServer(t, b)
	db := testbackend.DBName(t)
	ctx := testCtx(t)

	b.failPoint(t, bson.D{{Key: "times", Value: 1}}, bson.D{
		{Key: "failCommands", Value: bson.A{"insert"}},
		{Key: "errorCode", Value: 112}, // WriteConflict
	})
	resp, err := s.Txns.RunTransaction(ctx, &pb.RunTransactionRequest{
		Operations: []*pb.Operation{{Operation: &pb.Operation_InsertOne{InsertOne: &pb.InsertOneOperation{
			Namespace: namespace(db, "items"),
			Document:  jsonDoc(`{"_id": "run"}`),
		}}}},
	})
	if err != nil {
		t.Fatalf("RunTransaction: %v", err)
	}
	if resp.GetAttempts() != 2 {
		t.Fatalf("RunTransaction attempts = %d, want 2 (one WriteConflict, one commit)", resp.GetAttempts())
	}
	if len(resp.GetResults()) != 1 || resp.GetResults()[0].GetInsertOne() == nil {
		t.Fatalf("RunTransaction results = %v, want one insert_one result", resp.GetResults())
	}
	if n := b.count(t, db, "items", nil); n != 1 {
		t.Fatalf("MongoDB has %d documents, want exactly 1", n)
	}
}

// join_existing nests transactions: only the outermost commit commits, and
// an abort at any depth aborts the whole transaction.
func TestJoinExisting(t *testing.T) {
	t.Parallel()
	b := mustBackend(t)
	s := mustStartServer(t, b)
	db := testbackend.DBName(t)
	ns := namespace(db, "items")

	t.Run("outer commit commits", func(t *testing.T) {
		ctx := testCtx(t)
		token := s.mustStartSession(ctx, t)
		number := s.mustStartTransaction(ctx, t, token)
		joined, err := s.Txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token, JoinExisting: true})
		if err != nil {
			t.Fatalf("StartTransaction join_existing: %v", err)
		}
		if joined.GetDepth() != 2 || joined.GetTransactionNumber() != number {
			t.Fatalf("join = number %d depth %d, want number %d depth 2", joined.GetTransactionNumber(), joined.GetDepth(), number)
		}
		s.mustInsert(ctx, t, token, ns, `{"_id": "nested"}`)

		inner, err := s.Txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: number})
		if err != nil {
			t.Fatalf("inner CommitTransaction: %v", err)
		}
		if inner.GetCommitted() || inner.GetDepth() != 1 {
			t.Fatalf("inner commit = committed %v depth %d, want false and 1", inner.GetCommitted(), inner.GetDepth())
		}
		if got := s.findOne(ctx, t, "", ns, `{"_id": "nested"}`); got != "" {
			t.Fatalf("visible after the inner commit only: %s", got)
		}

		s.mustCommit(ctx, t, token, number)
		if got := s.findOne(ctx, t, "", ns, `{"_id": "nested"}`); got == "" {
			t.Fatal("not visible after the outer commit")
		}
	})

	t.Run("inner abort aborts", func(t *testing.T) {
		ctx := testCtx(t)
		token := s.mustStartSession(ctx, t)
		number := s.mustStartTransaction(ctx, t, token)
		if _, err := s.Txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token, JoinExisting: true}); err != nil {
			t.Fatalf("StartTransaction join_existing: %v", err)
		}
		s.mustInsert(ctx, t, token, ns, `{"_id": "inner-aborted"}`)
		abort, err := s.Txns.AbortTransaction(ctx, &pb.AbortTransactionRequest{SessionToken: token, TransactionNumber: number})
		if err != nil || !abort.GetAborted() {
			t.Fatalf("inner AbortTransaction = %v, %v; want aborted", abort, err)
		}
		// The outer level is still open in the caller's code: its writes
		// must not run outside the transaction they were meant for.
		_, err = s.Docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns,
			Document: &pb.Document{Value: &pb.Document_Json{Json: `{"_id": "outer-after-abort"}`}}})
		testkit.WantReason(t, "InsertOne at the outer level after an inner abort", err, codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED)
		_, err = s.Txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: number})
		testkit.WantReason(t, "outer CommitTransaction after an inner abort", err, codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED)
		if n := b.count(t, db, "items", bson.D{{Key: "_id", Value: "outer-after-abort"}}); n != 0 {
			t.Fatalf("a write after the inner abort reached MongoDB outside the transaction")
		}
		// Every level is closed now: the session works again.
		s.mustInsert(ctx, t, token, ns, `{"_id": "after-all-levels"}`)
		if got := s.findOne(ctx, t, "", ns, `{"_id": "inner-aborted"}`); got != "" {
			t.Fatalf("aborted insert visible: %s", got)
		}
		if n := b.count(t, db, "items", bson.D{{Key: "_id", Value: "inner-aborted"}}); n != 0 {
			t.Fatalf("MongoDB has %d documents of the aborted transaction, want 0", n)
		}
	})
}
