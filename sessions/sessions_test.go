package sessions

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewConfig(t *testing.T) {
	bad := []struct {
		name string
		cfg  Config
	}{
		{"no instance id", Config{}},
		{"upper-case instance id", Config{InstanceID: "Inst"}},
		{"dot in instance id", Config{InstanceID: "a.b"}},
		{"instance id too long", Config{InstanceID: strings.Repeat("a", 33)}},
		{"negative idle timeout", Config{InstanceID: "i", IdleTimeout: -time.Second}},
		{"negative txn lifetime", Config{InstanceID: "i", TxnLifetime: -time.Second}},
		{"max idle at server timeout", Config{InstanceID: "i", MaxIdleTimeout: 30 * time.Minute}},
		{"idle above max idle", Config{InstanceID: "i", IdleTimeout: 10 * time.Minute, MaxIdleTimeout: 5 * time.Minute}},
		{"negative max sessions", Config{InstanceID: "i", MaxSessions: -1}},
		{"negative max per principal", Config{InstanceID: "i", MaxPerPrincipal: -1}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := New(tc.cfg); err == nil {
				r.Close(context.Background())
				t.Fatal("New succeeded")
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		r := mustRegistry(t, Config{InstanceID: strings.Repeat("a", 32)}, nil)
		c := r.cfg
		got := []any{c.IdleTimeout, c.MaxIdleTimeout, c.AbsoluteTimeout, c.TxnLifetime, c.TombstoneTTL, c.MaxSessions, c.MaxPerPrincipal}
		want := []any{5 * time.Minute, 29 * time.Minute, time.Hour, time.Minute, time.Hour, 100_000, 10_000}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("config field %d = %v, want %v", i, got[i], want[i])
			}
		}
		if c.Logger == nil || c.Now == nil {
			t.Error("no default logger or clock")
		}
		if r.InstanceID() != strings.Repeat("a", 32) {
			t.Fatalf("InstanceID %q", r.InstanceID())
		}
	})
}

func TestToken(t *testing.T) {
	r := mustRegistry(t, Config{InstanceID: "inst-1"}, nil)
	format := regexp.MustCompile(`^inst-1\.[A-Za-z0-9_-]{24}$`)
	seen := make(map[string]bool)
	for range 10_000 {
		e := mustCreate(t, r, "alice", Options{})
		if !format.MatchString(e.Token) {
			t.Fatalf("token %q does not match %v", e.Token, format)
		}
		if seen[e.Token] {
			t.Fatalf("token issued twice")
		}
		seen[e.Token] = true
		if got := InstanceOf(e.Token); got != "inst-1" {
			t.Fatalf("InstanceOf = %q", got)
		}
		if got, want := e.Redacted(), "inst-1."+e.Token[7:11]+"…"; got != want {
			t.Fatalf("Redacted = %q, want %q", got, want)
		}
	}

	cases := []struct {
		token, instance, redacted string
	}{
		{"i.AbCdEfGh", "i", "i.AbCd…"},
		{"i.Ab", "i", "i.Ab…"},
		{"", "", "(malformed)"},
		{"nodot", "", "(malformed)"},
		{".AbCdEf", "", "(malformed)"},
		{"i.", "", "(malformed)"},
		{"UPPER.AbCdEf", "", "(malformed)"},
		{strings.Repeat("a", 33) + ".AbCdEf", "", "(malformed)"},
	}
	for _, tc := range cases {
		t.Run(tc.token, func(t *testing.T) {
			if got := InstanceOf(tc.token); got != tc.instance {
				t.Errorf("InstanceOf = %q, want %q", got, tc.instance)
			}
			if got := Redact(tc.token); got != tc.redacted {
				t.Errorf("Redact = %q, want %q", got, tc.redacted)
			}
		})
	}
}

func TestOwnerIsolation(t *testing.T) {
	ctx := context.Background()
	r := mustRegistry(t, Config{}, nil)
	e := mustCreate(t, r, "alice", Options{})
	ops := []struct {
		name string
		do   func(token, principal string) error
	}{
		{"Acquire", func(token, principal string) error {
			_, release, err := r.Acquire(ctx, token, principal)
			if err == nil {
				release()
			}
			return err
		}},
		{"Refresh", func(token, principal string) error {
			_, err := r.Refresh(token, principal)
			return err
		}},
		{"End", func(token, principal string) error {
			_, err := r.End(ctx, token, principal)
			return err
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			wantErr(t, "other principal", op.do(e.Token, "mallory"), ErrNotFound)
			wantErr(t, "unknown token", op.do("inst-1.AAAAAAAAAAAAAAAAAAAAAAAA", "alice"), ErrNotFound)
			wantErr(t, "malformed token", op.do("garbage", "alice"), ErrNotFound)
		})
	}
	mustAcquire(t, r, e)()
	if _, err := r.Refresh(e.Token, "alice"); err != nil {
		t.Fatalf("owner Refresh: %v", err)
	}
}

func TestIdleExpiry(t *testing.T) {
	ctx := context.Background()
	cfg := Config{IdleTimeout: time.Minute, TombstoneTTL: 10 * time.Minute}
	for _, reap := range []bool{true, false} {
		name := map[bool]string{true: "reaper", false: "on use"}[reap]
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			r := mustRegistry(t, cfg, clk)
			e := mustCreate(t, r, "alice", Options{})
			clk.Add(59 * time.Second)
			r.reapNow()
			if s := r.Stats(); s.Expired != 0 || s.Active != 1 {
				t.Fatalf("before idle timeout: %+v", s)
			}
			clk.Add(time.Second)
			if reap {
				r.reapNow()
				if s := r.Stats(); s.Expired != 1 || s.Active != 0 {
					t.Fatalf("after reaping: %+v", s)
				}
			}
			_, _, err := r.Acquire(ctx, e.Token, "alice")
			wantErr(t, "Acquire", err, ErrExpired)
			_, err = r.Refresh(e.Token, "alice")
			wantErr(t, "Refresh", err, ErrExpired)
			_, err = r.End(ctx, e.Token, "alice")
			wantErr(t, "End", err, ErrExpired)
			_, _, err = r.Acquire(ctx, e.Token, "mallory")
			wantErr(t, "Acquire by another principal", err, ErrNotFound)
			if s := r.Stats(); s.Expired != 1 || s.Active != 0 || s.Ended != 0 {
				t.Fatalf("stats %+v", s)
			}

			clk.Add(10 * time.Minute)
			if reap {
				r.reapNow()
				sh := &r.shards[e.state.shard]
				sh.mu.Lock()
				n := len(sh.tombs)
				sh.mu.Unlock()
				if n != 0 {
					t.Fatalf("%d tombstones left after their TTL", n)
				}
			}
			_, _, err = r.Acquire(ctx, e.Token, "alice")
			wantErr(t, "Acquire after tombstone TTL", err, ErrNotFound)
		})
	}
}

func TestIdleTimeoutOption(t *testing.T) {
	cases := []struct {
		name  string
		asked time.Duration
		want  time.Duration
	}{
		{"default", 0, 5 * time.Minute},
		{"shorter", time.Minute, time.Minute},
		{"longer", 20 * time.Minute, 20 * time.Minute},
		{"capped", 45 * time.Minute, 29 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			r := mustRegistry(t, Config{}, clk)
			e := mustCreate(t, r, "alice", Options{IdleTimeout: tc.asked})
			idle, abs := r.Deadlines(e)
			if want := clk.Now().Add(tc.want); !idle.Equal(want) {
				t.Errorf("idle deadline %v, want %v", idle, want)
			}
			if want := clk.Now().Add(time.Hour); !abs.Equal(want) {
				t.Errorf("absolute deadline %v, want %v", abs, want)
			}
		})
	}
}

func TestRefreshExtendsIdle(t *testing.T) {
	clk := newClock()
	r := mustRegistry(t, Config{IdleTimeout: time.Minute}, clk)
	e := mustCreate(t, r, "alice", Options{})
	clk.Add(50 * time.Second)
	got, err := r.Refresh(e.Token, "alice")
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	want := clk.Now().Add(time.Minute)
	if !got.Equal(want) {
		t.Fatalf("Refresh = %v, want %v", got, want)
	}
	if idle, _ := r.Deadlines(e); !idle.Equal(want) {
		t.Fatalf("idle deadline %v, want %v", idle, want)
	}
	// Past the deadline the session was created with: its heap slot is
	// stale and must be re-queued, not expired.
	clk.Add(50 * time.Second)
	r.reapNow()
	if s := r.Stats(); s.Expired != 0 {
		t.Fatalf("refreshed session expired: %+v", s)
	}
	clk.Add(10 * time.Second)
	r.reapNow()
	if s := r.Stats(); s.Expired != 1 {
		t.Fatalf("session did not expire at its refreshed deadline: %+v", s)
	}
}

func TestAbsoluteExpiry(t *testing.T) {
	clk := newClock()
	r := mustRegistry(t, Config{IdleTimeout: time.Minute, AbsoluteTimeout: 3 * time.Minute}, clk)
	e := mustCreate(t, r, "alice", Options{})
	for range 3 {
		clk.Add(50 * time.Second)
		r.reapNow()
		mustAcquire(t, r, e)()
	}
	clk.Add(30 * time.Second)
	r.reapNow()
	if s := r.Stats(); s.Expired != 1 || s.Active != 0 {
		t.Fatalf("after absolute timeout: %+v", s)
	}
	_, _, err := r.Acquire(context.Background(), e.Token, "alice")
	wantErr(t, "Acquire", err, ErrExpired)
}

// An operation that outlives the session's absolute lifetime finishes; the
// session expires right after it, before anything queued behind it runs.
func TestAbsoluteExpiryWhileHeld(t *testing.T) {
	clk := newClock()
	r := mustRegistry(t, Config{AbsoluteTimeout: 3 * time.Minute}, clk)
	e := mustCreate(t, r, "alice", Options{})
	release := mustAcquire(t, r, e)
	queued := make(chan error, 1)
	go func() {
		_, rel, err := r.Acquire(context.Background(), e.Token, "alice")
		if err == nil {
			rel()
		}
		queued <- err
	}()
	waitQueued(t, r, e, 1)
	clk.Add(4 * time.Minute)
	r.reapNow()
	if s := r.Stats(); s.Expired != 0 {
		t.Fatalf("held session expired: %+v", s)
	}
	if _, err := r.Refresh(e.Token, "alice"); !errors.Is(err, ErrExpired) {
		t.Fatalf("Refresh past the absolute deadline: %v, want %v", err, ErrExpired)
	}
	release()
	wantErr(t, "queued Acquire", <-queued, ErrExpired)
	if s := r.Stats(); s.Expired != 1 || s.Active != 0 {
		t.Fatalf("after release: %+v", s)
	}
}

func TestHeldSessionNeverIdles(t *testing.T) {
	clk := newClock()
	r := mustRegistry(t, Config{IdleTimeout: time.Minute}, clk)
	e := mustCreate(t, r, "alice", Options{})
	release := mustAcquire(t, r, e)
	clk.Add(10 * time.Minute)
	r.reapNow()
	if got, err := r.Refresh(e.Token, "alice"); err != nil || !got.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("Refresh while held = %v, %v", got, err)
	}
	release()
	if idle, _ := r.Deadlines(e); !idle.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("release did not restart the idle clock: %v", idle)
	}
	clk.Add(59 * time.Second)
	r.reapNow()
	if s := r.Stats(); s.Expired != 0 {
		t.Fatalf("expired while held or just after: %+v", s)
	}
	clk.Add(time.Second)
	r.reapNow()
	if s := r.Stats(); s.Expired != 1 {
		t.Fatalf("not expired a minute after release: %+v", s)
	}
}

func TestTxnLifetime(t *testing.T) {
	for _, reap := range []bool{true, false} {
		name := map[bool]string{true: "reaper", false: "on use"}[reap]
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			r := mustRegistry(t, Config{IdleTimeout: 5 * time.Minute, TxnLifetime: time.Minute}, clk)
			e := mustCreate(t, r, "alice", Options{})
			release := mustAcquire(t, r, e)
			e.Txn = &fakeTxn{N: 1, State: txnInProgress, Depth: 2, Started: r.Now()}
			release()

			clk.Add(59 * time.Second)
			r.reapNow()
			release = mustAcquire(t, r, e)
			if txnOf(e).State != txnInProgress {
				t.Fatalf("transaction %v before its lifetime ended", txnOf(e).State)
			}
			release()

			clk.Add(time.Second)
			if reap {
				r.reapNow()
				if s := r.Stats(); s.TxnExpired != 1 {
					t.Fatalf("reaper did not abort the transaction: %+v", s)
				}
			}
			release = mustAcquire(t, r, e)
			// Both levels the client opened stay open until it closes them.
			want := fakeTxn{N: 1, State: txnAborted, Depth: 0, Dangling: 2, Started: txnOf(e).Started}
			if *txnOf(e) != want {
				t.Fatalf("Txn %+v, want %+v", txnOf(e), want)
			}
			release()
			if s := r.Stats(); s.TxnExpired != 1 || s.Expired != 0 || s.Active != 1 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
	t.Run("finished transactions stay", func(t *testing.T) {
		clk := newClock()
		r := mustRegistry(t, Config{TxnLifetime: time.Minute}, clk)
		for _, state := range []fakeState{txnNone, txnCommitted, txnAborted, txnUnknown} {
			e := mustCreate(t, r, "alice", Options{})
			release := mustAcquire(t, r, e)
			e.Txn = &fakeTxn{N: 1, State: state, Started: r.Now()}
			release()
		}
		clk.Add(2 * time.Minute)
		r.reapNow()
		if s := r.Stats(); s.TxnExpired != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// Expiry aborts an open transaction, never commits it.
func TestExpiryAbortsTxn(t *testing.T) {
	clk := newClock()
	r := mustRegistry(t, Config{IdleTimeout: time.Minute, TxnLifetime: time.Hour}, clk)
	e := mustCreate(t, r, "alice", Options{})
	release := mustAcquire(t, r, e)
	e.Txn = &fakeTxn{N: 3, State: txnInProgress, Depth: 1, Started: r.Now()}
	release()
	clk.Add(time.Minute)
	r.reapNow()
	if s := r.Stats(); s.Expired != 1 {
		t.Fatalf("stats %+v", s)
	}
	if txnOf(e).State != txnAborted || txnOf(e).Depth != 0 {
		t.Fatalf("Txn after expiry %+v", txnOf(e))
	}
}

func TestFIFO(t *testing.T) {
	const n = 50
	ctx := context.Background()
	r := mustRegistry(t, Config{}, nil)
	e := mustCreate(t, r, "alice", Options{})
	release := mustAcquire(t, r, e)

	var (
		mu    sync.Mutex
		order []int
	)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, rel, err := r.Acquire(ctx, e.Token, "alice")
			if err == nil {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				rel()
			}
			errs <- err
		}()
		waitQueued(t, r, e, i+1)
	}
	release()
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("Acquire: %v", err)
		}
	}
	for i, got := range order {
		if got != i {
			t.Fatalf("turn %d went to arrival %d; order %v", i, got, order)
		}
	}
}

func TestQueueCancel(t *testing.T) {
	r := mustRegistry(t, Config{}, nil)
	e := mustCreate(t, r, "alice", Options{})
	release := mustAcquire(t, r, e)

	var (
		mu    sync.Mutex
		order []string
	)
	acquire := func(ctx context.Context, name string, done chan<- error) {
		_, rel, err := r.Acquire(ctx, e.Token, "alice")
		if err == nil {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			rel()
		}
		done <- err
	}
	a, b, c := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	bctx, cancel := context.WithCancel(context.Background())
	go acquire(context.Background(), "a", a)
	waitQueued(t, r, e, 1)
	go acquire(bctx, "b", b)
	waitQueued(t, r, e, 2)
	go acquire(context.Background(), "c", c)
	waitQueued(t, r, e, 3)

	cancel()
	wantErr(t, "cancelled waiter", <-b, context.Canceled)
	waitQueued(t, r, e, 2)

	expired, cancel2 := context.WithTimeout(context.Background(), -time.Second)
	defer cancel2()
	_, _, err := r.Acquire(expired, e.Token, "alice")
	wantErr(t, "Acquire with a done context", err, context.DeadlineExceeded)
	if got := r.queued(e); got != 2 {
		t.Fatalf("%d waiters after a done-context Acquire, want 2", got)
	}

	release()
	for name, ch := range map[string]chan error{"a": a, "c": c} {
		if err := <-ch; err != nil {
			t.Fatalf("Acquire %s: %v", name, err)
		}
	}
	if strings.Join(order, "") != "ac" {
		t.Fatalf("order %v, want [a c]", order)
	}
}

// A release func called again, even after someone else's turn began,
// does not end that turn.
func TestReleaseTwice(t *testing.T) {
	r := mustRegistry(t, Config{}, nil)
	e := mustCreate(t, r, "alice", Options{})
	first := mustAcquire(t, r, e)
	first()
	first()
	second := mustAcquire(t, r, e)
	done := make(chan error, 1)
	go func() {
		_, rel, err := r.Acquire(context.Background(), e.Token, "alice")
		if err == nil {
			rel()
		}
		done <- err
	}()
	waitQueued(t, r, e, 1)
	first()
	if got := r.queued(e); got != 1 {
		t.Fatalf("stale release let a waiter in: %d waiting", got)
	}
	second()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	r := mustRegistry(t, Config{MaxSessions: 3, MaxPerPrincipal: 2, IdleTimeout: time.Minute}, clk)
	steps := []struct {
		principal string
		want      error
	}{
		{"alice", nil},
		{"alice", nil},
		{"alice", ErrLimit}, // per principal
		{"bob", nil},
		{"carol", ErrLimit}, // total
	}
	var alice *Entry
	for i, s := range steps {
		e, err := r.Create(s.principal, "default", nil, Options{}, nil)
		if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
			t.Fatalf("step %d: Create(%s) error %v, want %v", i, s.principal, err, s.want)
		}
		if alice == nil && e != nil {
			alice = e
		}
	}
	if s := r.Stats(); s.Active != 3 || s.Started != 3 {
		t.Fatalf("stats %+v", s)
	}

	if _, err := r.End(ctx, alice.Token, "alice"); err != nil {
		t.Fatalf("End: %v", err)
	}
	mustCreate(t, r, "carol", Options{})
	_, err := r.Create("alice", "default", nil, Options{}, nil)
	wantErr(t, "Create over the total", err, ErrLimit)

	clk.Add(time.Minute)
	r.reapNow()
	if s := r.Stats(); s.Active != 0 {
		t.Fatalf("after expiry: %+v", s)
	}
	mustCreate(t, r, "alice", Options{})
	mustCreate(t, r, "alice", Options{})
	mustCreate(t, r, "dave", Options{})
	for i := range r.principals {
		ps := &r.principals[i]
		ps.mu.Lock()
		for p, n := range ps.n {
			if want := map[string]int{"alice": 2, "dave": 1}[p]; n != want {
				t.Errorf("principal %q counted %d, want %d", p, n, want)
			}
		}
		ps.mu.Unlock()
	}
}

func TestEnd(t *testing.T) {
	ctx := context.Background()
	r := mustRegistry(t, Config{}, nil)
	for _, open := range []bool{false, true} {
		e := mustCreate(t, r, "alice", Options{})
		release := mustAcquire(t, r, e)
		if open {
			e.Txn = &fakeTxn{N: 1, State: txnInProgress, Depth: 1, Started: r.Now()}
		}
		release()
		aborted, err := r.End(ctx, e.Token, "alice")
		if err != nil || aborted != open {
			t.Fatalf("End = %v, %v; want %v, nil", aborted, err, open)
		}
		if open && txnOf(e).State != txnAborted {
			t.Fatalf("Txn after End %+v", txnOf(e))
		}
		_, _, err = r.Acquire(ctx, e.Token, "alice")
		wantErr(t, "Acquire after End", err, ErrNotFound)
		_, err = r.Refresh(e.Token, "alice")
		wantErr(t, "Refresh after End", err, ErrNotFound)
		_, err = r.End(ctx, e.Token, "alice")
		wantErr(t, "End after End", err, ErrNotFound)
	}
	if s := r.Stats(); s.Ended != 2 || s.Active != 0 || s.Expired != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// End takes its place in the queue: operations queued before it run,
// operations queued after it find the session gone.
func TestEndWaitsForQueue(t *testing.T) {
	ctx := context.Background()
	r := mustRegistry(t, Config{}, nil)
	e := mustCreate(t, r, "alice", Options{})
	release := mustAcquire(t, r, e)

	var ran sync.Map
	acquire := func(i int, done chan<- error) {
		_, rel, err := r.Acquire(ctx, e.Token, "alice")
		if err == nil {
			ran.Store(i, true)
			rel()
		}
		done <- err
	}
	before, after := make(chan error, 5), make(chan error, 5)
	for i := range 5 {
		go acquire(i, before)
		waitQueued(t, r, e, i+1)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := r.End(ctx, e.Token, "alice")
		ended <- err
	}()
	waitQueued(t, r, e, 6)
	for i := range 5 {
		go acquire(10+i, after)
		waitQueued(t, r, e, 7+i)
	}

	release()
	for range 5 {
		if err := <-before; err != nil {
			t.Fatalf("Acquire queued before End: %v", err)
		}
	}
	if err := <-ended; err != nil {
		t.Fatalf("End: %v", err)
	}
	for range 5 {
		wantErr(t, "Acquire queued after End", <-after, ErrNotFound)
	}
	ran.Range(func(k, _ any) bool {
		if k.(int) >= 10 {
			t.Errorf("operation %d queued after End ran", k)
		}
		return true
	})
}

func TestEndContext(t *testing.T) {
	r := mustRegistry(t, Config{}, nil)
	e := mustCreate(t, r, "alice", Options{})
	release := mustAcquire(t, r, e)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.End(ctx, e.Token, "alice")
		done <- err
	}()
	waitQueued(t, r, e, 1)
	cancel()
	wantErr(t, "End", <-done, context.Canceled)
	release()
	mustAcquire(t, r, e)()
	if s := r.Stats(); s.Active != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	t.Run("ends everything", func(t *testing.T) {
		r := mustRegistry(t, Config{}, nil)
		var all []*Entry
		for range 100 {
			all = append(all, mustCreate(t, r, "alice", Options{}))
		}
		release := mustAcquire(t, r, all[0])
		all[0].Txn = &fakeTxn{N: 1, State: txnInProgress, Depth: 1, Started: r.Now()}
		release()

		if err := r.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if txnOf(all[0]).State != txnAborted {
			t.Fatalf("open transaction not aborted: %+v", txnOf(all[0]))
		}
		if s := r.Stats(); s.Active != 0 {
			t.Fatalf("stats %+v", s)
		}
		e := all[1]
		_, err := r.Create("alice", "default", nil, Options{}, nil)
		wantErr(t, "Create", err, ErrClosed)
		_, _, err = r.Acquire(ctx, e.Token, "alice")
		wantErr(t, "Acquire", err, ErrClosed)
		_, err = r.Refresh(e.Token, "alice")
		wantErr(t, "Refresh", err, ErrClosed)
		_, err = r.End(ctx, e.Token, "alice")
		wantErr(t, "End", err, ErrClosed)
		wantErr(t, "Close", r.Close(ctx), ErrClosed)
	})
	t.Run("waits for queued operations", func(t *testing.T) {
		r := mustRegistry(t, Config{}, nil)
		e := mustCreate(t, r, "alice", Options{})
		release := mustAcquire(t, r, e)
		queued := make(chan error, 1)
		go func() {
			_, rel, err := r.Acquire(ctx, e.Token, "alice")
			if err == nil {
				rel()
			}
			queued <- err
		}()
		waitQueued(t, r, e, 1)
		closed := make(chan error, 1)
		go func() { closed <- r.Close(ctx) }()
		waitQueued(t, r, e, 2)
		release()
		if err := <-queued; err != nil {
			t.Fatalf("operation queued before Close: %v", err)
		}
		if err := <-closed; err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
	t.Run("gives up at its deadline", func(t *testing.T) {
		r := mustRegistry(t, Config{}, nil)
		e := mustCreate(t, r, "alice", Options{})
		release := mustAcquire(t, r, e)
		e.Txn = &fakeTxn{N: 1, State: txnInProgress, Depth: 1, Started: r.Now()}
		cctx, cancel := context.WithCancel(ctx)
		closed := make(chan error, 1)
		go func() { closed <- r.Close(cctx) }()
		waitQueued(t, r, e, 1)
		cancel()
		wantErr(t, "Close", <-closed, context.Canceled)
		if s := r.Stats(); s.Active != 1 {
			t.Fatalf("stats before release %+v", s)
		}
		release()
		if s := r.Stats(); s.Active != 0 {
			t.Fatalf("stats after release %+v", s)
		}
		if txnOf(e).State != txnAborted {
			t.Fatalf("Txn %+v", txnOf(e))
		}
	})
}

// The reaper's cost follows what expires: sessions that are not due are
// never popped.
func TestReaperCost(t *testing.T) {
	const total, short = 10_000, 100
	clk := newClock()
	r := mustRegistry(t, Config{IdleTimeout: 5 * time.Minute, TombstoneTTL: time.Hour}, clk)
	var long []*Entry
	for i := range total {
		opts := Options{}
		if i%(total/short) == 0 {
			opts.IdleTimeout = time.Minute
		} else {
			long = append(long, mustCreate(t, r, "alice", opts))
			continue
		}
		mustCreate(t, r, "alice", opts)
	}

	p0 := r.pops()
	clk.Add(2 * time.Minute)
	r.reapNow()
	if got := r.pops() - p0; got != short {
		t.Fatalf("reaping %d expired of %d popped %d slots", short, total, got)
	}
	if s := r.Stats(); s.Expired != short || s.Active != total-short {
		t.Fatalf("stats %+v", s)
	}

	p0 = r.pops()
	clk.Add(2 * time.Minute)
	r.reapNow()
	if got := r.pops() - p0; got != 0 {
		t.Fatalf("a pass with nothing due popped %d", got)
	}

	// Used sessions' slots go stale; each is popped once and re-queued.
	const used = 1000
	for _, e := range long[:used] {
		mustAcquire(t, r, e)()
	}
	p0 = r.pops()
	clk.Add(time.Minute + time.Second) // past the creation deadline of 5m
	r.reapNow()
	if got, want := r.pops()-p0, int64(len(long)); got != want {
		t.Fatalf("popped %d, want %d", got, want)
	}
	if s := r.Stats(); s.Expired != uint64(total-used) || s.Active != used {
		t.Fatalf("stats %+v", s)
	}

	// Tombstones go when their TTL passes, and only then.
	p0 = r.pops()
	clk.Add(time.Hour)
	r.reapNow()
	if got, want := r.pops()-p0, int64(total); got != want {
		t.Fatalf("popped %d (tombstones and used sessions), want %d", got, want)
	}
}

// The background reaper wakes on its own at the earliest deadline.
func TestReaperWakes(t *testing.T) {
	r, err := New(Config{InstanceID: "i"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	mustCreate(t, r, "alice", Options{})
	mustCreate(t, r, "alice", Options{IdleTimeout: 5 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Expired != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("session not reaped: %+v", r.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLogsRedactTokens(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := newClock()
	r := mustRegistry(t, Config{Logger: logger, IdleTimeout: time.Minute, TxnLifetime: 30 * time.Second}, clk)
	var all []*Entry
	for range 3 {
		e := mustCreate(t, r, "alice", Options{})
		release := mustAcquire(t, r, e)
		e.Txn = &fakeTxn{N: 1, State: txnInProgress, Depth: 1, Started: r.Now()}
		release()
		all = append(all, e)
	}
	if _, err := r.End(context.Background(), all[0].Token, "alice"); err != nil {
		t.Fatal(err)
	}
	clk.Add(40 * time.Second)
	r.reapNow()
	clk.Add(time.Minute)
	r.reapNow()
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, e := range all {
		if strings.Contains(out, e.Token) || strings.Contains(out, e.Token[len("inst-1."):]) {
			t.Fatalf("log contains a whole token:\n%s", out)
		}
		if !strings.Contains(out, e.Redacted()) {
			t.Errorf("log does not name %s:\n%s", e.Redacted(), out)
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestAbortTxnCauses: the registry never changes transaction state
// itself; it calls Config.AbortTxn, holding the entry, with the cause.
func TestAbortTxnCauses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		end  func(t *testing.T, r *Registry, e *Entry, clk *clock)
		want Cause
	}{
		{"End", func(t *testing.T, r *Registry, e *Entry, _ *clock) {
			if _, err := r.End(ctx, e.Token, e.Principal); err != nil {
				t.Fatal(err)
			}
		}, CauseEnded},
		{"idle expiry", func(t *testing.T, r *Registry, e *Entry, clk *clock) {
			clk.Add(time.Hour)
			r.reapNow()
		}, CauseExpired},
		{"transaction lifetime", func(t *testing.T, r *Registry, e *Entry, clk *clock) {
			clk.Add(45 * time.Second)
			mustAcquire(t, r, e)()
		}, CauseLifetime},
		{"Close", func(t *testing.T, r *Registry, e *Entry, _ *clock) {
			if err := r.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}, CauseClosed},
		{"Renew", func(t *testing.T, r *Registry, e *Entry, _ *clock) {
			if _, err := r.Renew(ctx, "inst-2"); err != nil {
				t.Fatal(err)
			}
		}, CauseRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu     sync.Mutex
				causes []Cause
			)
			clk := newClock()
			r := mustRegistry(t, Config{IdleTimeout: time.Minute, TxnLifetime: 30 * time.Second, AbortTxn: func(ctx context.Context, e *Entry, c Cause) bool {
				aborted := fakeAbortTxn(ctx, e, c)
				if aborted {
					mu.Lock()
					causes = append(causes, c)
					mu.Unlock()
				}
				return aborted
			}}, clk)
			e := mustCreate(t, r, "alice", Options{})
			release := mustAcquire(t, r, e)
			e.Txn = &fakeTxn{N: 1, State: txnInProgress, Depth: 1, Started: e.Now()}
			release()
			tt.end(t, r, e, clk)
			_ = r.Close(ctx) // waits for the reaper's workers
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(causes, []Cause{tt.want}) {
				t.Errorf("transactions aborted for %v, want [%v]", causes, tt.want)
			}
		})
	}
}

// Renew revokes every session of the old id, idle or in use: their
// transactions are aborted, their tokens answer ErrOwnerGone to their
// owner (and ErrNotFound to anyone else), and new sessions carry the new
// id.
func TestRenew(t *testing.T) {
	ctx := context.Background()
	r := mustRegistry(t, Config{InstanceID: "inst-1"}, nil)
	idle := mustCreate(t, r, "alice", Options{})
	busy := mustCreate(t, r, "alice", Options{})
	for _, e := range []*Entry{idle, busy} {
		release := mustAcquire(t, r, e)
		e.Txn = &fakeTxn{N: 1, State: txnInProgress, Depth: 1, Started: e.Now()}
		release()
	}
	releaseBusy := mustAcquire(t, r, busy)
	rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	n, err := r.Renew(rctx, "inst-1-b")
	if n != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Renew with a session in use = %d, %v; want 1 revoked and the session in use left to its release", n, err)
	}
	if got := txnOf(idle).State; got != txnAborted {
		t.Errorf("the idle session's transaction is %v, want aborted", got)
	}
	releaseBusy()
	if got := txnOf(busy).State; got != txnAborted {
		t.Errorf("the busy session's transaction is %v after its release, want aborted", got)
	}
	for _, e := range []*Entry{idle, busy} {
		_, _, err := r.Acquire(ctx, e.Token, "alice")
		wantErr(t, "Acquire of a revoked session", err, ErrOwnerGone)
		_, err = r.Refresh(e.Token, "alice")
		wantErr(t, "Refresh of a revoked session", err, ErrOwnerGone)
		_, _, err = r.Acquire(ctx, e.Token, "bob")
		wantErr(t, "Acquire of a revoked session by another principal", err, ErrNotFound)
	}
	if got := r.Stats().Active; got != 0 {
		t.Errorf("%d sessions active after Renew, want 0", got)
	}
	fresh := mustCreate(t, r, "alice", Options{})
	if got := InstanceOf(fresh.Token); got != "inst-1-b" || r.InstanceID() != "inst-1-b" {
		t.Errorf("a new session's token names %q (registry %q), want inst-1-b", got, r.InstanceID())
	}
	if _, err := r.Renew(ctx, "Not Valid"); err == nil {
		t.Error("Renew accepted an invalid instance id")
	}
}
