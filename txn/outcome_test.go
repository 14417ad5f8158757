package txn

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/sessions"
)

// The outcome record is a register MongoDB decides: a transaction that
// records its outcome inserts it, committed, inside itself just before
// its commit; a fence inserts it, aborted, from outside, for a transaction
// the session's marker says records. A fence that comes first makes the
// commit fail, whether it came before the transaction's snapshot
// (DuplicateKey) or after it (WriteConflict); one that comes once the
// transaction wrote its record waits for the transaction to end and then
// finds it committed. A transaction that does not record is never fenced;
// RunTransaction's attempts write their record open before they start.
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
	yes, no := true, false
	start := func(record *bool) int64 {
		t.Helper()
		n, _, err := m.Start(ctx, e, Options{RecordOutcome: record}, false, true)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	decide := func(n int64, principal string) (Outcome, bool, error) {
		return o.decide(ctx, e.Token, principal, n, "")
	}
	wantDecided := func(what string, n int64, want Status, fromRecord bool) {
		t.Helper()
		out, found, err := decide(n, e.Principal)
		if err != nil || !found || out.Status != want || out.FromRecord != fromRecord {
			t.Fatalf("%s: outcome of transaction %d = %+v, found %v, %v; want %v (from record %v)", what, n, out, found, err, want, fromRecord)
		}
	}
	wantNoRecord := func(what string, n int64) {
		t.Helper()
		if _, _, found, err := o.find(ctx, "", OutcomeID(e.Token, n)); err != nil || found {
			t.Fatalf("%s: record of transaction %d found %v, %v; want none", what, n, found, err)
		}
	}

	// Fenced after the transaction's snapshot, and before it.
	n := start(&yes)
	wantNoRecord("a started transaction", n)
	f.mustInsert(t, e, "fenced-late")
	wantDecided("fence of a running transaction", n, Aborted, true)
	if _, err := m.Commit(ctx, e, n); !errors.Is(err, ErrFenced) || !errors.Is(err, ErrAborted) {
		t.Fatalf("Commit after the fence: %v, want ErrFenced (an ErrAborted)", err)
	}
	wantCount(t, f, "fenced-late", 0)
	n = start(&yes)
	wantDecided("fence of a transaction that ran nothing yet", n, Aborted, true)
	f.mustInsert(t, e, "fenced-early")
	if _, err := m.Commit(ctx, e, n); !errors.Is(err, ErrFenced) {
		t.Fatalf("Commit after the fence: %v, want ErrFenced", err)
	}
	wantCount(t, f, "fenced-early", 0)

	// The record written first: the fence waits, then finds it committed.
	kept := start(&yes)
	f.mustInsert(t, e, "kept")
	if err := m.recordBeforeCommit(ctx, subjectOf(e)); err != nil {
		t.Fatal(err)
	}
	wantDecided("fence of a transaction that wrote its record", kept, Unknown, true)
	if _, err := m.Commit(ctx, e, kept); err != nil {
		t.Fatalf("Commit after an undecided fence: %v", err)
	}
	wantCount(t, f, "kept", 1)
	wantDecided("after the commit", kept, Committed, true)

	// Not recording: the marker says so, and nothing is fenced.
	plain := start(&no)
	f.mustInsert(t, e, "plain")
	if out, found, err := decide(plain, e.Principal); err != nil || found {
		t.Fatalf("outcome of a transaction that records none = %+v, found %v, %v; want nothing found", out, found, err)
	}
	if _, err := m.Commit(ctx, e, plain); err != nil {
		t.Fatalf("Commit of a transaction that records none: %v", err)
	}
	wantCount(t, f, "plain", 1)
	wantNoRecord("a transaction that records none", plain)
	wantDecided("an earlier transaction, after the choice changed", kept, Committed, true)

	// Recording again; another principal neither learns nor fences.
	n = start(&yes)
	if _, _, err := decide(n, "bob"); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("another principal asking: %v, want sessions.ErrNotFound", err)
	}
	wantNoRecord("after another principal asked", n)
	if _, err := m.Commit(ctx, e, n); err != nil {
		t.Fatalf("Commit after another principal asked: %v", err)
	}
	wantDecided("recording again", n, Committed, true)

	// RunTransaction's attempts write their record open first: a number
	// without a record never started, and is not fenced.
	if _, err := m.RunWithin(ctx, e, Options{RecordOutcome: &yes}, 0, func(ctx context.Context) error {
		return f.insert(ctx, e, "run")
	}); err != nil {
		t.Fatal(err)
	}
	run := peek(e).number
	wantCount(t, f, "run", 1)
	wantDecided("a RunTransaction attempt", run, Committed, true)
	if out, found, err := decide(run+1, e.Principal); err != nil || found {
		t.Fatalf("outcome of a number after RunTransaction's = %+v, found %v, %v; want nothing found (never started)", out, found, err)
	}
	wantNoRecord("a number after RunTransaction's", run+1)
	// And a started transaction inserts again.
	n = start(&yes)
	wantNoRecord("a started transaction after RunTransaction", n)
	wantDecided("fence after RunTransaction", n, Aborted, true)
	if _, err := m.Commit(ctx, e, n); !errors.Is(err, ErrFenced) {
		t.Fatalf("Commit after the fence: %v, want ErrFenced", err)
	}
}

func TestMarkerInserts(t *testing.T) {
	m := marker{Flips: []flip{{From: 0}, {From: 3, Inserts: true}, {From: 5}, {From: 5, Inserts: true}, {From: 9}}}
	for _, tt := range []struct {
		n              int64
		inserts, known bool
	}{{1, false, true}, {3, true, true}, {4, true, true}, {5, true, true}, {8, true, true}, {9, false, true}, {100, false, true}} {
		if inserts, known := m.inserts(tt.n); inserts != tt.inserts || known != tt.known {
			t.Errorf("inserts(%d) = %v, %v; want %v, %v", tt.n, inserts, known, tt.inserts, tt.known)
		}
	}
	truncated := marker{Flips: []flip{{From: 7, Inserts: true}}}
	if _, known := truncated.inserts(6); known {
		t.Error("a number before every kept flip is known")
	}
}
