package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

const (
	// probes is the number of sessions the lookup figure cycles over.
	probes = 100
	// expiryRate is the share of the idle sessions that expire per second
	// in the reaper figure.
	expiryRate = 0.01
	// idleLong is the default idle timeout of the gate that holds the
	// idle sessions: the sessions that must not expire outlive the whole
	// figure, the clock's jump included.
	idleLong = 25 * time.Minute
	// jump is how far ahead of the sessions' creation the expiry window
	// opens on that gate's clock. The reaper figure moves the clock there
	// once the sessions are open and measured, so that the expiries need
	// no real wait. idleLong − jump leaves 10 minutes for the window; the
	// expiring sessions' idle timeouts (jump plus a share of the window)
	// stay below the registry's 29-minute maximum.
	jump = 15 * time.Minute
	// lead is how long before the window the moved clock lands.
	lead = 500 * time.Millisecond
	// maxWindow bounds -bench-expiry-window accordingly.
	maxWindow = 5 * time.Minute
)

// clock is a registry clock that the reaper figure moves ahead.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// idleFigures are the scale of idle state (DESIGN §7): p.sessions idle
// sessions opened by the StartSession RPC on a gate of their own, which
// raises its session limits for them; the heap they take; the p50 of
// FindOne with a token over 100 of them, against a gate that holds only
// 100; and the CPU the process spends while 1% of them expire per
// second.
func idleFigures(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	n := p.sessions
	expiring := max(1, int(float64(n)*expiryRate*p.window.Seconds()))
	heapFig := fmt.Sprintf("Idle sessions (%d): heap per session", n)
	totalFig := fmt.Sprintf("Idle sessions (%d): heap of all", n)
	lookupFig := fmt.Sprintf("Lookup p50 (FindOne w/ token), %d → %d sessions", probes, n)
	reapFig := fmt.Sprintf("Reaper: %d of %d sessions expire at 1%%/s", expiring, n)
	if expiring > n-probes || p.window > maxWindow {
		t.Fatalf("%s: %d sessions cannot expire at 1%%/s for %v (at most %v, and %d sessions)", reapFig, expiring, p.window, maxWindow, n-probes)
	}
	if !p.keeps(heapFig, "mongogate") && !p.keeps(heapFig, "direct") && !p.keeps(lookupFig, "mongogate") && !p.keeps(reapFig, "mongogate") {
		return
	}
	var directPer float64
	if p.keeps(heapFig, "direct") {
		directPer = driverSessionHeap(t, e.uri, n)
	}

	// A fresh gate: its driver's session pool is empty, so every
	// StartSession allocates a server session id as the first ones on a
	// production server do.
	clk := &clock{}
	g := startGate(t, e.uri, gateOptions{maxSessions: n + 2*probes + 1, idleTimeout: idleLong, now: clk.now})
	st := g.stubs(t)
	windowAt := clk.now().Add(jump)
	// open starts count sessions from 16 goroutines, keeping their tokens
	// when tokens is not nil; opts gives session i its options.
	open := func(count int, tokens []string, opts func(i int) *pb.SessionOptions) {
		var next atomic.Int64
		var wg sync.WaitGroup
		var first atomic.Pointer[error]
		for range 16 {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < count; i = int(next.Add(1)) - 1 {
					req := &pb.StartSessionRequest{}
					if opts != nil {
						req.Options = opts(i)
					}
					resp, err := st.sessions.StartSession(ctx, req)
					if err != nil {
						first.CompareAndSwap(nil, &err)
						return
					}
					if tokens != nil {
						tokens[i] = resp.GetSession().GetToken()
					}
				}
			})
		}
		wg.Wait()
		if err := first.Load(); err != nil {
			t.Fatalf("%s: StartSession: %v", heapFig, *err)
		}
	}
	// Warm the connection, its buffers and the server's pools.
	warm := make([]string, probes)
	open(probes, warm, nil)
	for _, tok := range warm {
		if _, err := st.sessions.EndSession(ctx, &pb.EndSessionRequest{SessionToken: tok}); err != nil {
			t.Fatal(err)
		}
	}
	tokens := make([]string, probes)
	open(probes, tokens, nil)

	goroutines := runtime.NumGoroutine()
	before := heap()
	started := time.Now()
	// The first sessions added expire in the reaper's window, evenly
	// spread over it; the others keep the gate's idleLong.
	open(n-probes, nil, func(i int) *pb.SessionOptions {
		if i >= expiring {
			return nil
		}
		at := windowAt.Add(p.window * time.Duration(i) / time.Duration(expiring))
		return &pb.SessionOptions{IdleTimeout: durationpb.New(at.Sub(clk.now()))}
	})
	took := time.Since(started)
	after := heap()
	added := float64(n - probes)
	if got := g.reg.Stats().Active; got != int64(n) {
		t.Fatalf("%s: %d sessions open, want %d", heapFig, got, n)
	}
	perAlloc := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / added
	perInuse := float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / added
	const gib, million = float64(1 << 30), 1_000_000
	tb.add(row{figure: heapFig, gate: fmtBytes(perAlloc), floor: "-", direct: driverCell(directPer, 1),
		target: fmt.Sprintf("≤ %.0f B", gib/million), verdict: verdict(perAlloc*million <= gib)})
	total := row{figure: totalFig, gate: fmtBytes(perAlloc * float64(n)), floor: "-", direct: driverCell(directPer, n), target: "≤ 1 GiB at 10⁶"}
	if n >= million {
		total.verdict = verdict(perAlloc*float64(n) <= gib)
	}
	tb.add(total)
	tb.notes = append(tb.notes, fmt.Sprintf("idle sessions: HeapAlloc %+.0f B, HeapInuse %+.0f B per session added, goroutines %+d; "+
		"whole process HeapAlloc %s with them (emulator and other gates included); opened at %.0f/s by StartSession RPCs from 16 goroutines; "+
		"direct column: the driver's own mongo.Session + server session id, no mongogate",
		perAlloc, perInuse, runtime.NumGoroutine()-goroutines, fmtBytes(float64(after.HeapAlloc)), added/took.Seconds()))

	lookupFigure(ctx, t, p, e, tb, st, tokens, lookupFig)
	if p.keeps(reapFig, "mongogate") {
		reaperFigure(ctx, t, p, tb, g, st, clk, windowAt, expiring, reapFig)
	}
}

// driverCell is the direct column of the heap rows: n driver sessions of
// per bytes each.
func driverCell(per float64, n int) string {
	if per == 0 {
		return "-"
	}
	return fmtBytes(per*float64(n)) + " (driver only)"
}

// lookupFigure: FindOne with the tokens in turn on the gate behind st,
// in rounds alternating with a second gate that holds only 100 sessions:
// only the registry's size differs, and the lookup must stay O(1).
func lookupFigure(ctx context.Context, t *testing.T, p plan, e *env, tb *table, st stubs, tokens []string, fig string) {
	filter, err := bson.Marshal(bson.D{{Key: "_id", Value: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ns := &pb.Namespace{Database: e.db, Collection: "users"}
	findWith := func(name string, st stubs, tokens []string) side {
		var next atomic.Int64
		return side{name, func(ctx context.Context, _ int) error {
			resp, err := st.docs.FindOne(ctx, &pb.FindOneRequest{
				SessionToken: tokens[next.Add(1)%int64(len(tokens))], Namespace: ns,
				Filter:         &pb.Document{Value: &pb.Document_Bson{Bson: filter}},
				ResponseFormat: pb.DocumentFormat_DOCUMENT_FORMAT_BSON,
			})
			if err == nil && resp.GetDocument() == nil {
				err = errors.New("document not found")
			}
			return err
		}}
	}
	small := startGate(t, e.uri, gateOptions{})
	smallStubs := small.stubs(t)
	smallTokens := make([]string, len(tokens))
	for i := range smallTokens {
		resp, err := smallStubs.sessions.StartSession(ctx, &pb.StartSessionRequest{})
		if err != nil {
			t.Fatal(err)
		}
		smallTokens[i] = resp.GetSession().GetToken()
	}
	lookupPlan := p
	lookupPlan.dur = p.dur / 2
	r := measure(ctx, t, lookupPlan, fig, 1, findWith("mongogate 100", smallStubs, smallTokens), findWith("mongogate", st, tokens))
	a, b := r[0].quantile(0.5), r[1].quantile(0.5)
	row := row{figure: fig, gate: fmtDur(a) + " → " + fmtDur(b), floor: "-", direct: "-",
		ratio: fmtRatio(float64(b), float64(a)) + " (N/100)", residual: fmtResidual(b, a), target: "≤ 1.20 (N/100)"}
	if a > 0 && b > 0 {
		row.verdict = verdict(float64(b) <= 1.2*float64(a))
	}
	tb.add(row)
}

// reaperFigure measures the process's CPU while expiring sessions
// expire at 1% of all per second: it moves the gate's clock to just
// before their window, waits until the last of them has expired, and
// subtracts what the process spends over as long a span when nothing
// expires.
func reaperFigure(ctx context.Context, t *testing.T, p plan, tb *table, g *gate, st stubs, clk *clock, windowAt time.Time, expiring int, fig string) {
	c0, w0 := cpuTime(), time.Now()
	time.Sleep(p.window)
	idle := float64(cpuTime()-c0) / float64(time.Since(w0))

	ahead := windowAt.Add(-lead).Sub(clk.now())
	if ahead <= 0 {
		t.Fatalf("%s: the figure took longer than %v before its expiry window", fig, jump)
	}
	clk.offset.Add(int64(ahead))
	// The reaper sleeps on a timer set by the old clock; a session due
	// before any other wakes it.
	resp, err := st.sessions.StartSession(ctx, &pb.StartSessionRequest{Options: &pb.SessionOptions{IdleTimeout: durationpb.New(lead / 5)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.sessions.EndSession(ctx, &pb.EndSessionRequest{SessionToken: resp.GetSession().GetToken()}); err != nil {
		t.Fatal(err)
	}
	expired0 := g.reg.Stats().Expired
	time.Sleep(windowAt.Sub(clk.now()))

	c1, w1 := cpuTime(), time.Now()
	limit := w1.Add(p.window + 30*time.Second)
	for {
		got := g.reg.Stats().Expired - expired0
		if got >= uint64(expiring) {
			break
		}
		if time.Now().After(limit) {
			t.Fatalf("%s: %d of %d sessions expired %v after the window opened", fig, got, expiring, limit.Sub(w1))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A session counts as expired when the reaper takes it; ending its
	// driver session follows on a worker.
	time.Sleep(20 * time.Millisecond)
	span := time.Since(w1)
	cpu := time.Duration(float64(cpuTime()-c1) - idle*float64(span))
	tb.add(row{figure: fig, gate: fmt.Sprintf("%.1f%% of a core, %.1f µs/expiry",
		100*float64(cpu)/float64(span), float64(cpu)/float64(time.Microsecond)/float64(expiring)), floor: "-", direct: "-"})
	tb.notes = append(tb.notes, fmt.Sprintf("reaper: %d sessions expired in %v (%.0f/s); whole-process CPU (reaper, its driver EndSession calls, GC) "+
		"less the %.1f%% of a core the process spends when nothing expires; the gate's clock was moved %v ahead to open the window",
		expiring, span.Round(time.Millisecond), float64(expiring)/span.Seconds(), 100*idle, ahead.Round(time.Second)))
}

// driverSessionHeap is the heap of one idle driver session (mongo.Session
// and its server session id), with no mongogate: n sessions held by a
// client of their own, which is disconnected after, so that its pool of
// n server sessions does not stay on the heap.
func driverSessionHeap(t *testing.T, uri string, n int) float64 {
	c := connectDriver(t, uri)
	held := make([]*mongo.Session, n)
	before := heap()
	for i := range held {
		s, err := c.StartSession()
		if err != nil {
			t.Fatal(err)
		}
		held[i] = s
	}
	after := heap()
	for _, s := range held {
		s.EndSession(context.Background())
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := c.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// heap reads the memory statistics after garbage collection has settled
// (two cycles: the first can leave sync.Pool victims).
func heap() runtime.MemStats {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m
}
