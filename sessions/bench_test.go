package sessions

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
)

// idleSessionHeap creates n sessions (no driver session) and returns the
// heap they take, per session, after a GC on either side.
func idleSessionHeap(tb testing.TB, n int) float64 {
	tb.Helper()
	r := mustRegistry(tb, Config{MaxSessions: n, MaxPerPrincipal: n}, nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		mustCreate(tb, r, "alice", Options{})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(r)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TestHeapPerIdleSession guards the design target: 100,000 idle sessions
// take at most 2 KiB of heap each, driver session excluded.
func TestHeapPerIdleSession(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 100,000 sessions")
	}
	per := idleSessionHeap(t, 100_000)
	t.Logf("%.0f bytes of heap per idle session", per)
	if per > 2048 {
		t.Fatalf("%.0f bytes of heap per idle session, target 2048", per)
	}
}

func BenchmarkIdleSessionHeap(b *testing.B) {
	var per float64
	for b.Loop() {
		per = idleSessionHeap(b, 100_000)
	}
	b.ReportMetric(per, "B/session")
}

func BenchmarkCreateAcquireEnd(b *testing.B) {
	ctx := context.Background()
	r := mustRegistry(b, Config{}, nil)
	b.ReportAllocs()
	for b.Loop() {
		e, err := r.Create("alice", "default", nil, Options{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		_, release, err := r.Acquire(ctx, e.Token, "alice")
		if err != nil {
			b.Fatal(err)
		}
		release()
		if _, err := r.End(ctx, e.Token, "alice"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateEndParallel is StartSession+EndSession as the service
// sees it, from many goroutines (the design asks for ≥ 20,000 pairs/s on
// 2 cores).
func BenchmarkCreateEndParallel(b *testing.B) {
	ctx := context.Background()
	r := mustRegistry(b, Config{}, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e, err := r.Create("alice", "default", nil, Options{}, nil)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := r.End(ctx, e.Token, "alice"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAcquireParallel acquires and releases from many goroutines,
// over many sessions (the shards' contention) and over one (the queue's).
func BenchmarkAcquireParallel(b *testing.B) {
	for _, sessions := range []int{1, 1024, 100_000} {
		b.Run("sessions="+strconv.Itoa(sessions), func(b *testing.B) {
			ctx := context.Background()
			r := mustRegistry(b, Config{MaxSessions: sessions, MaxPerPrincipal: sessions}, nil)
			tokens := make([]string, sessions)
			for i := range tokens {
				tokens[i] = mustCreate(b, r, "alice", Options{}).Token
			}
			var seq atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := seq.Add(7919)
				for pb.Next() {
					i++
					_, release, err := r.Acquire(ctx, tokens[i%uint64(len(tokens))], "alice")
					if err != nil {
						b.Error(err)
						return
					}
					release()
				}
			})
		})
	}
}

func BenchmarkRefreshParallel(b *testing.B) {
	r := mustRegistry(b, Config{}, nil)
	tokens := make([]string, 1024)
	for i := range tokens {
		tokens[i] = mustCreate(b, r, "alice", Options{}).Token
	}
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := seq.Add(7919)
		for pb.Next() {
			i++
			if _, err := r.Refresh(tokens[i%uint64(len(tokens))], "alice"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
