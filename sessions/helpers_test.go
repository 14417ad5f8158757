package sessions

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/mongogate/mongogate/internal/testkit"
)

// clock is a settable clock for Config.Now.
type clock = testkit.Clock

func newClock() *clock { return testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) }

// mustRegistry returns a registry on clk (a fresh clock if nil) and
// closes it when the test ends.
func mustRegistry(t testing.TB, cfg Config, clk *clock) *Registry {
	t.Helper()
	if cfg.InstanceID == "" {
		cfg.InstanceID = "inst-1"
	}
	if clk == nil {
		clk = newClock()
	}
	cfg.Now = clk.Now
	if cfg.AbortTxn == nil {
		cfg.AbortTxn = fakeAbortTxn
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// fakeTxn stands in for txn.State, which this package cannot import: the
// registry reads it only through TxnSlot.
type fakeTxn struct {
	N               int64
	State           fakeState
	Depth, Dangling int
	Started         time.Time
}

type fakeState int

const (
	txnNone fakeState = iota
	txnInProgress
	txnCommitted
	txnAborted
	txnUnknown
)

func (f *fakeTxn) OpenSince() (time.Time, bool) { return f.Started, f.State == txnInProgress }
func (f *fakeTxn) CommitPending() bool          { return f.State == txnUnknown }
func (f *fakeTxn) Number() int64                { return f.N }

// txnOf is e's fake transaction state, nil if it has none.
func txnOf(e *Entry) *fakeTxn {
	f, _ := e.Txn.(*fakeTxn)
	return f
}

// fakeAbortTxn stands in for txn.Manager.AbortFor: it aborts an open
// transaction the way the transaction layer does (the driver's too, when
// there is a driver session), so the tests see what the registry asked
// for.
func fakeAbortTxn(ctx context.Context, e *Entry, cause Cause) bool {
	f := txnOf(e)
	if f == nil || f.State != txnInProgress {
		return false
	}
	if e.Session != nil {
		_ = e.Session.AbortTransaction(ctx)
	}
	if cause == CauseLifetime {
		f.Dangling = f.Depth
	}
	f.State, f.Depth = txnAborted, 0
	return true
}

func mustCreate(t testing.TB, r *Registry, principal string, opts Options) *Entry {
	t.Helper()
	e, err := r.Create(principal, "default", nil, opts, nil)
	if err != nil {
		t.Fatalf("Create(%q): %v", principal, err)
	}
	return e
}

// mustAcquire acquires e for its owner; the release is also registered as
// a cleanup, which is harmless when the test released it already.
func mustAcquire(t testing.TB, r *Registry, e *Entry) func() {
	t.Helper()
	got, release, err := r.Acquire(context.Background(), e.Token, e.Principal)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", e.Redacted(), err)
	}
	if got != e {
		t.Fatalf("Acquire(%s) returned another entry", e.Redacted())
	}
	t.Cleanup(release)
	return release
}

// queued is the number of callers waiting for their turn on e.
func (r *Registry) queued(e *Entry) int {
	sh := &r.shards[e.state.shard]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e.state.head == nil {
		return 0
	}
	n := 1 // the waiters form a ring
	for w := e.state.head.next; w != e.state.head; w = w.next {
		n++
	}
	return n
}

// waitQueued waits until n callers wait on e. It polls because a
// goroutine's arrival in the queue has no other observable sign.
func waitQueued(t testing.TB, r *Registry, e *Entry, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.queued(e) != n {
		if time.Now().After(deadline) {
			t.Fatalf("queue of %s: %d waiters, want %d", e.Redacted(), r.queued(e), n)
		}
		runtime.Gosched()
		time.Sleep(50 * time.Microsecond)
	}
}

// reapNow runs a reaper pass at the registry's current time, as the
// background reaper would once its timer fired.
func (r *Registry) reapNow() { r.reap(r.cfg.Now()) }

// pops is how many heap slots and tombstones all reaper passes popped so
// far, the background reaper's included.
func (r *Registry) pops() int64 {
	r.reapMu.Lock()
	defer r.reapMu.Unlock()
	return r.reapPops
}

func wantErr(t testing.TB, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: error %v, want %v", what, got, want)
	}
}
