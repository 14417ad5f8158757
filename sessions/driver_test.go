package sessions

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/session"
)

// mustDriverSession starts a real driver session with a transaction open.
// No server is needed: the driver connects lazily, and aborting a
// transaction that sent no command is local.
func mustDriverSession(t *testing.T) *mongo.Session {
	t.Helper()
	client, err := mongo.Connect(options.Client().
		ApplyURI("mongodb://127.0.0.1:1/?directConnection=true").
		SetServerSelectionTimeout(100 * time.Millisecond))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	sess, err := client.StartSession()
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	if err := sess.StartTransaction(); err != nil {
		t.Fatalf("StartTransaction: %v", err)
	}
	if err := sess.AdvanceClusterTime(nil); err != nil {
		t.Fatalf("using the new driver session: %v", err)
	}
	return sess
}

// assertDriverEnded checks that the registry aborted the transaction and
// ended the driver session.
func assertDriverEnded(t *testing.T, sess *mongo.Session) {
	t.Helper()
	if sess.TransactionRunning() {
		t.Error("driver transaction still running")
	}
	if err := sess.AdvanceClusterTime(nil); !errors.Is(err, session.ErrSessionEnded) {
		t.Errorf("using the driver session: %v, want %v", err, session.ErrSessionEnded)
	}
}

func TestDriverSession(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T, r *Registry) (*Entry, *mongo.Session) {
		sess := mustDriverSession(t)
		e, err := r.Create("alice", "default", sess, Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		release := mustAcquire(t, r, e)
		e.Txn = &fakeTxn{N: 1, State: txnInProgress, Depth: 1, Started: r.Now()}
		release()
		return e, sess
	}
	t.Run("End", func(t *testing.T) {
		r := mustRegistry(t, Config{}, nil)
		e, sess := open(t, r)
		aborted, err := r.End(ctx, e.Token, "alice")
		if err != nil || !aborted {
			t.Fatalf("End = %v, %v", aborted, err)
		}
		assertDriverEnded(t, sess)
	})
	t.Run("idle expiry", func(t *testing.T) {
		clk := newClock()
		r := mustRegistry(t, Config{IdleTimeout: time.Minute}, clk)
		_, sess := open(t, r)
		clk.Add(time.Minute)
		r.reapNow()
		// The reaper ends driver sessions on its workers; Close waits.
		if err := r.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if s := r.Stats(); s.Expired != 1 {
			t.Fatalf("stats %+v", s)
		}
		assertDriverEnded(t, sess)
	})
	t.Run("transaction lifetime", func(t *testing.T) {
		clk := newClock()
		r := mustRegistry(t, Config{TxnLifetime: time.Minute}, clk)
		e, sess := open(t, r)
		clk.Add(time.Minute)
		release := mustAcquire(t, r, e)
		if txnOf(e).State != txnAborted || sess.TransactionRunning() {
			t.Fatalf("Txn %+v, driver transaction running %v", txnOf(e), sess.TransactionRunning())
		}
		release()
	})
	t.Run("Close", func(t *testing.T) {
		r := mustRegistry(t, Config{}, nil)
		_, sess := open(t, r)
		if err := r.Close(ctx); err != nil {
			t.Fatal(err)
		}
		assertDriverEnded(t, sess)
	})
}
