package txn

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mongogate/mongogate/internal/testkit"
	"github.com/mongogate/mongogate/sessions"
)

// TestRegistryAbortsThroughManager wires a registry to a Manager as
// cmd/server does: every way the registry ends a transaction goes through
// AbortFor, so the transaction is aborted in MongoDB, its writes never
// appear, and OnOutcome reports it.
func TestRegistryAbortsThroughManager(t *testing.T) {
	tests := []struct {
		name string
		// end makes the registry end e's transaction; release is the
		// test's hold on e.
		end          func(t *testing.T, reg *sessions.Registry, e *sessions.Entry, release func(), clk *testkit.Clock)
		wantDangling int
	}{
		{"EndSession", func(t *testing.T, reg *sessions.Registry, e *sessions.Entry, release func(), _ *testkit.Clock) {
			release()
			aborted, err := reg.End(context.Background(), e.Token, e.Principal)
			if err != nil || !aborted {
				t.Fatalf("End = %v, %v; want a transaction aborted", aborted, err)
			}
		}, 0},
		{"idle expiry", func(t *testing.T, reg *sessions.Registry, e *sessions.Entry, release func(), clk *testkit.Clock) {
			release()
			clk.Add(time.Hour)
			if _, _, err := reg.Acquire(context.Background(), e.Token, e.Principal); err == nil {
				t.Fatal("Acquire after the idle timeout succeeded")
			}
		}, 0},
		{"transaction lifetime", func(t *testing.T, reg *sessions.Registry, e *sessions.Entry, release func(), clk *testkit.Clock) {
			release()
			clk.Add(2 * time.Second)
			_, again, err := reg.Acquire(context.Background(), e.Token, e.Principal)
			if err != nil {
				t.Fatalf("Acquire after the transaction lifetime: %v", err)
			}
			again()
		}, 2},
		{"shutdown", func(t *testing.T, reg *sessions.Registry, e *sessions.Entry, release func(), _ *testkit.Clock) {
			release()
			if err := reg.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFixture(t)
			var (
				mu       sync.Mutex
				outcomes []Status
			)
			m := mustManager(t, Config{OnOutcome: func(s Status) {
				mu.Lock()
				outcomes = append(outcomes, s)
				mu.Unlock()
			}})
			clk := testkit.NewClock(time.Now())
			reg, err := sessions.New(sessions.Config{
				InstanceID: "test", Now: clk.Now,
				IdleTimeout: time.Minute, TxnLifetime: time.Second,
				AbortTxn: m.AbortFor,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = reg.Close(context.Background()) })

			s, err := f.client.StartSession()
			if err != nil {
				t.Fatal(err)
			}
			e, err := reg.Create("alice", "default", s, sessions.Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, release, err := reg.Acquire(context.Background(), e.Token, "alice")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for range 2 {
				if _, _, err := m.Start(ctx, e, Options{}, true, true); err != nil {
					t.Fatalf("Start: %v", err)
				}
			}
			f.mustInsert(t, e, "x")

			tt.end(t, reg, e, release, clk)

			if peek(e).status != Aborted || peek(e).depth != 0 || peek(e).dangling != tt.wantDangling {
				t.Errorf("Txn = %+v, want aborted, depth 0, dangling %d", *peek(e), tt.wantDangling)
			}
			if e.Session.TransactionRunning() {
				t.Error("the driver's transaction is still running")
			}
			wantCount(t, f, "x", 0)
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(outcomes, []Status{Aborted}) {
				t.Errorf("OnOutcome saw %v, want one abort", outcomes)
			}
		})
	}
}
