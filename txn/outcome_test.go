package txn

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/sessions"
)

// The outcome record is a register MongoDB decides: open from the start
// of the transaction, committed by the transaction itself just before its
// commit, aborted by a fence from outside. A fence that comes first makes
// the commit fail; one that comes once the transaction wrote its record
// waits for the transaction to end and then finds it committed.
func TestOutcomeFence(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	o, err := NewOutcomes(OutcomesConfig{
		Backends: map[string]*mongo.Client{"": f.client}, Database: f.coll.Database().Name(), Collection: "outcomes",
		FenceTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := mustManager(t, Config{Outcomes: o})
	e := f.mustEntry(t, sessions.Options{})
	yes := true
	record := func(n int64) Record {
		t.Helper()
		r, _, found, err := o.find(ctx, "", OutcomeID(e.Token, n))
		if err != nil || !found {
			t.Fatalf("record of transaction %d: found %v, %v", n, found, err)
		}
		return r
	}

	n, _, err := m.Start(ctx, e, Options{RecordOutcome: &yes}, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if r := record(n); r.State != RecordOpen || r.status() != InProgress {
		t.Fatalf("record of a started transaction: %+v, want open", r)
	}
	f.mustInsert(t, e, "fenced")
	r, decided, err := o.fence(ctx, "", OutcomeID(e.Token, n))
	if err != nil || !decided || r.status() != Aborted {
		t.Fatalf("fence of an open transaction = %+v, %v, %v; want aborted", r, decided, err)
	}
	if _, err := m.Commit(ctx, e, n); !errors.Is(err, ErrFenced) || !errors.Is(err, ErrAborted) {
		t.Fatalf("Commit after the fence: %v, want ErrFenced (an ErrAborted)", err)
	}
	wantCount(t, f, "fenced", 0)

	n, _, err = m.Start(ctx, e, Options{RecordOutcome: &yes}, false, true)
	if err != nil {
		t.Fatal(err)
	}
	f.mustInsert(t, e, "kept")
	sub := subjectOf(e)
	if err := m.recordBeforeCommit(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if _, decided, err := o.fence(ctx, "", OutcomeID(e.Token, n)); err != nil || decided {
		t.Fatalf("fence of a transaction that wrote its record: decided %v, %v; want undecided (it waits for the transaction)", decided, err)
	}
	if _, err := m.Commit(ctx, e, n); err != nil {
		t.Fatalf("Commit after an undecided fence: %v", err)
	}
	wantCount(t, f, "kept", 1)
	if r, decided, err := o.fence(ctx, "", OutcomeID(e.Token, n)); err != nil || !decided || r.status() != Committed {
		t.Fatalf("fence after the commit = %+v, %v, %v; want committed", r, decided, err)
	}
}
