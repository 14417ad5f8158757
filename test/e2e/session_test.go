package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

// With API keys on, a session belongs to the principal that started it:
// to anyone else its token does not exist.
func TestSessionOwnedByPrincipal(t *testing.T) {
	t.Parallel()
	aliceKey, bobKey := randomHex(16), randomHex(16)
	keys := filepath.Join(t.TempDir(), "api-keys")
	lines := fmt.Sprintf("alice %s\nbob %s\n", sha256Hex(aliceKey), sha256Hex(bobKey))
	if err := os.WriteFile(keys, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	b := mustBackend(t)
	s := mustStartServer(t, b, "--api-keys", keys)
	db := testbackend.DBName(t)
	ns := namespace(db, "items")
	ctx := testCtx(t)
	alice, bob := withKey(ctx, aliceKey), withKey(ctx, bobKey)

	token := s.mustStartSession(alice, t)
	number := s.mustStartTransaction(alice, t, token)
	s.mustInsert(alice, t, token, ns, `{"_id": "alice"}`)

	t.Run("other principal", func(t *testing.T) {
		_, err := s.Docs.FindOne(bob, &pb.FindOneRequest{SessionToken: token, Namespace: ns})
		testkit.WantReason(t, "bob's FindOne", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND)
		_, err = s.Sessions.GetSession(bob, &pb.GetSessionRequest{SessionToken: token})
		testkit.WantReason(t, "bob's GetSession", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND)
		_, err = s.Txns.CommitTransaction(bob, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: number})
		testkit.WantReason(t, "bob's CommitTransaction", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND)
		// Bob's key is good: his own session works.
		s.mustStartSession(bob, t)
	})

	t.Run("no or bad key", func(t *testing.T) {
		_, err := s.Sessions.StartSession(ctx, &pb.StartSessionRequest{})
		testkit.WantReason(t, "StartSession without a key", err, codes.Unauthenticated, pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED)
		_, err = s.Docs.FindOne(ctx, &pb.FindOneRequest{SessionToken: token, Namespace: ns})
		testkit.WantReason(t, "FindOne without a key", err, codes.Unauthenticated, pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED)
		_, err = s.Sessions.StartSession(withKey(ctx, randomHex(16)), &pb.StartSessionRequest{})
		testkit.WantReason(t, "StartSession with an unknown key", err, codes.Unauthenticated, pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED)
	})

	t.Run("health needs no key", func(t *testing.T) {
		resp, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health without a key = %v, %v; want SERVING", resp, err)
		}
	})

	// None of that disturbed alice's transaction.
	s.mustCommit(alice, t, token, number)
	if n := b.count(t, db, "items", nil); n != 1 {
		t.Fatalf("MongoDB has %d documents, want alice's 1", n)
	}
}

func sha256Hex(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// An idle session expires: its token answers SESSION_EXPIRED and its open
// transaction is aborted, never committed.
func TestIdleSessionExpires(t *testing.T) {
	t.Parallel()
	b := mustBackend(t)
	s := mustStartServer(t, b, "--idle-timeout", "1s")
	db := testbackend.DBName(t)
	ns := namespace(db, "items")
	ctx := testCtx(t)

	token := s.mustStartSession(ctx, t)
	number := s.mustStartTransaction(ctx, t, token)
	s.mustInsert(ctx, t, token, ns, `{"_id": "idle", "from": "transaction"}`)
	time.Sleep(2500 * time.Millisecond)

	_, err := s.Txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: number})
	testkit.WantReason(t, "CommitTransaction of an expired session", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_EXPIRED)
	_, err = s.Docs.FindOne(ctx, &pb.FindOneRequest{SessionToken: token, Namespace: ns})
	testkit.WantReason(t, "FindOne of an expired session", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_EXPIRED)

	if n := b.count(t, db, "items", nil); n != 0 {
		t.Fatalf("MongoDB has %d documents of the expired transaction, want 0", n)
	}
	// The same _id can be written now: the transaction is gone, not open.
	b.insertDirect(t, db, "items", bson.D{{Key: "_id", Value: "idle"}, {Key: "from", Value: "driver"}})
	if n := b.count(t, db, "items", bson.D{{Key: "from", Value: "transaction"}}); n != 0 {
		t.Fatalf("the expired transaction's insert was committed")
	}
}

// Concurrent RPCs on one token are queued and run one at a time on the
// driver session, so none of them fails for concurrent use.
func TestConcurrentCallsOnOneSession(t *testing.T) {
	t.Parallel()
	const calls = 50
	b := mustBackend(t)
	s := mustStartServer(t, b)
	db := testbackend.DBName(t)

	// run calls call(i) from calls goroutines at once and fails on any error.
	run := func(t *testing.T, call func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, calls)
		for i := range calls {
			wg.Go(func() { errs[i] = call(i) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}

	t.Run("inserts in one transaction", func(t *testing.T) {
		ctx := testCtx(t)
		ns := namespace(db, "txn")
		token := s.mustStartSession(ctx, t)
		number := s.mustStartTransaction(ctx, t, token)
		run(t, func(i int) error {
			_, err := s.Docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns,
				Document: jsonDoc(fmt.Sprintf(`{"_id": {"$numberInt": "%d"}}`, i))})
			return err
		})
		s.mustCommit(ctx, t, token, number)
		if n := b.count(t, db, "txn", nil); n != calls {
			t.Fatalf("MongoDB has %d documents, want %d", n, calls)
		}
	})

	t.Run("$inc without a transaction", func(t *testing.T) {
		ctx := testCtx(t)
		ns := namespace(db, "counter")
		token := s.mustStartSession(ctx, t)
		s.mustInsert(ctx, t, token, ns, `{"_id": "c", "n": {"$numberInt": "0"}}`)
		run(t, func(int) error {
			resp, err := s.Docs.UpdateOne(ctx, &pb.UpdateOneRequest{SessionToken: token, Namespace: ns,
				Filter:     jsonDoc(`{"_id": "c"}`),
				UpdateSpec: &pb.UpdateOneRequest_Update{Update: jsonDoc(`{"$inc": {"n": {"$numberInt": "1"}}}`)}})
			if err == nil && resp.GetModifiedCount() != 1 {
				err = fmt.Errorf("modified %d documents, want 1", resp.GetModifiedCount())
			}
			return err
		})
		var got struct{ N int32 }
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.driver.Database(db).Collection("counter").FindOne(cctx, bson.D{{Key: "_id", Value: "c"}}).Decode(&got); err != nil {
			t.Fatalf("driver FindOne: %v", err)
		}
		if got.N != calls {
			t.Fatalf("n = %d after %d $inc, want %d", got.N, calls, calls)
		}
	})
}
