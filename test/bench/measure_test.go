package bench

import (
	"context"
	"flag"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	flagFull     = flag.Bool("bench-full", false, "run TestBenchFull, and TestBenchPython in full (also MONGOGATE_BENCH_FULL=1)")
	flagDur      = flag.Duration("bench-dur", 10*time.Second, "full run: time per side of each throughput or latency figure")
	flagBackend  = flag.String("bench-backend", "inproc", "full run: the emulator in this process (inproc) or a cmd/emulator process of its own (process)")
	flagRun      = flag.String("bench-run", "", "full run: only the measurements whose \"figure/side\" matches this regexp")
	flagSessions = flag.Int("bench-sessions", 1_000_000, "full run: idle sessions of the idle-state figures")
	flagWindow   = flag.Duration("bench-expiry-window", 10*time.Second, "full run: how long the reaper figure lets 1% of the idle sessions expire per second")
)

// plan is how much of each measurement a run does.
type plan struct {
	// rounds alternates the sides this many times; each side runs ops
	// operations (when > 0) or for dur in each round.
	rounds int
	ops    int
	dur    time.Duration
	// warm operations per side before the first round, not recorded.
	warm int
	// clients is the concurrency of the throughput figures.
	clients int
	// sessions is the number of idle sessions of the idle-state figures;
	// window is how long 1% of them expire per second in the reaper's.
	sessions int
	window   time.Duration
	// only keeps the measurements whose "figure/side" matches; nil keeps
	// all.
	only *regexp.Regexp
}

func smokePlan() plan {
	return plan{rounds: 2, ops: 128, warm: 32, clients: 64, sessions: 1_000, window: 500 * time.Millisecond}
}

func fullPlan(t testing.TB) plan {
	p := plan{rounds: 20, dur: *flagDur / 20, warm: 2_000, clients: 64, sessions: *flagSessions, window: *flagWindow}
	if p.sessions < 1_000 || p.window <= 0 {
		t.Fatalf("-bench-sessions must be at least 1000 and -bench-expiry-window positive")
	}
	if *flagRun != "" {
		re, err := regexp.Compile(*flagRun)
		if err != nil {
			t.Fatalf("-bench-run: %v", err)
		}
		p.only = re
	}
	return p
}

func (p plan) keeps(figure, side string) bool {
	return p.only == nil || p.only.MatchString(figure+"/"+side)
}

// side is one way to do a figure's operation. op runs one operation as
// client number c (0 ≤ c < clients), so that per-client state (a session)
// needs no lock.
type side struct {
	name string
	op   func(ctx context.Context, c int) error
}

// result is what one side did over all rounds.
type result struct {
	ops     int
	elapsed time.Duration   // summed over rounds
	cpu     time.Duration   // process CPU time used meanwhile, summed over rounds
	lat     []time.Duration // every operation's latency, sorted
}

// cpuPerOp is the whole process's CPU time (client, server, emulator and
// runtime) per operation: unlike throughput, it hardly depends on what
// else the machine runs.
func (r result) cpuPerOp() time.Duration {
	if r.ops == 0 || r.cpu <= 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ops)
}

func (r result) perSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// quantile is the q-quantile of the latencies (nearest rank).
func (r result) quantile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(q*float64(len(r.lat))+0.5) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

// measure runs each side with clients concurrent clients: a warm-up, then
// p.rounds rounds in which every side runs in turn (starting with a
// different side each round). It fails the test on the first error.
// Sides that -bench-run leaves out get a zero result.
func measure(ctx context.Context, t testing.TB, p plan, figure string, clients int, sides ...side) []result {
	t.Helper()
	return measureWith(ctx, t, p, figure, clients, nil, sides...)
}

// measureWith is measure with reset, when not nil, run before each round
// (untimed): for figures that write, it empties what they wrote, so that
// every round finds the backend as the first did. A garbage collection
// follows it, so that no round pays for the garbage of the one before.
func measureWith(ctx context.Context, t testing.TB, p plan, figure string, clients int, reset func(), sides ...side) []result {
	t.Helper()
	results := make([]result, len(sides))
	var kept []int
	for i, s := range sides {
		if p.keeps(figure, s.name) {
			kept = append(kept, i)
		}
	}
	if len(kept) == 0 {
		return results
	}
	for _, i := range kept {
		if _, err := runRound(ctx, clients, p.warm, 0, sides[i].op, nil); err != nil {
			t.Fatalf("%s/%s: warm-up: %v", figure, sides[i].name, err)
		}
	}
	for r := range p.rounds {
		for k := range kept {
			i := kept[(k+r)%len(kept)]
			if reset != nil {
				reset()
			}
			runtime.GC()
			res := &results[i]
			n, err := runRound(ctx, clients, p.ops, p.dur, sides[i].op, &res.lat)
			if err != nil {
				t.Fatalf("%s/%s: %v", figure, sides[i].name, err)
			}
			res.ops += n.ops
			res.elapsed += n.elapsed
			res.cpu += n.cpu
		}
	}
	for i := range results {
		slices.Sort(results[i].lat)
	}
	return results
}

// runRound runs op from clients goroutines until ops operations are done
// (ops > 0) or dur has passed, appending each latency to lat (when not
// nil). It stops at the first error and returns it.
func runRound(ctx context.Context, clients, ops int, dur time.Duration, op func(context.Context, int) error, lat *[]time.Duration) (result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		tickets atomic.Int64
		mu      sync.Mutex
		wg      sync.WaitGroup
		total   atomic.Int64
	)
	start, cpu0 := time.Now(), cpuTime()
	deadline := start.Add(dur)
	for c := range clients {
		wg.Go(func() {
			var mine []time.Duration
			if lat != nil {
				mine = make([]time.Duration, 0, 1024)
			}
			for ctx.Err() == nil {
				if ops > 0 && tickets.Add(1) > int64(ops) {
					break
				}
				t0 := time.Now()
				if err := op(ctx, c); err != nil {
					cancel(err)
					break
				}
				t1 := time.Now()
				if lat != nil {
					mine = append(mine, t1.Sub(t0))
				}
				total.Add(1)
				if ops <= 0 && t1.After(deadline) {
					break
				}
			}
			if lat != nil {
				mu.Lock()
				*lat = append(*lat, mine...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res := result{ops: int(total.Load()), elapsed: time.Since(start), cpu: cpuTime() - cpu0}
	return res, context.Cause(ctx)
}
