package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	flagFull = flag.Bool("bench-full", false, "run TestBenchFull (also MONGOGATE_BENCH_FULL=1)")
	flagDur  = flag.Duration("bench-dur", 10*time.Second, "full run: time per side of each throughput or latency figure")
	flagRun  = flag.String("bench-run", "", "full run: only the measurements whose \"figure/side\" matches this regexp")
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
	// sessions is the number of idle sessions of the heap figure.
	sessions int
	// only keeps the measurements whose "figure/side" matches; nil keeps
	// all.
	only *regexp.Regexp
}

func smokePlan() plan {
	return plan{rounds: 2, ops: 128, warm: 32, clients: 64, sessions: 1_000}
}

func fullPlan(t testing.TB) plan {
	p := plan{rounds: 5, dur: *flagDur / 5, warm: 2_000, clients: 64, sessions: 100_000}
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

// row is one line of the table.
type row struct {
	figure, direct, gate, ratio, target, verdict string
}

// table collects the figures and prints them once at the end.
type table struct {
	title string
	rows  []row
	notes []string // printed under the table
}

// add appends r, unless -bench-run left both of its sides out.
func (tb *table) add(r row) {
	if strings.HasPrefix(r.direct, "-") && strings.HasPrefix(r.gate, "-") {
		return
	}
	tb.rows = append(tb.rows, r)
}

// latencyRows adds the p50 and p99 rows of a latency figure; the p50 ratio
// is the one DESIGN §7 sets a target for, when target is not "".
func (tb *table) latencyRows(figure string, direct, gate result, target float64) {
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p99", 0.99}} {
		d, g := direct.quantile(q.q), gate.quantile(q.q)
		r := row{figure: figure + " " + q.name, direct: fmtDur(d), gate: fmtDur(g), ratio: fmtRatio(float64(g), float64(d))}
		if q.name == "p50" && target > 0 && d > 0 && g > 0 {
			r.target = fmt.Sprintf("≤ %.1f", target)
			r.verdict = verdict(float64(g)/float64(d) <= target)
		}
		tb.add(r)
	}
	tb.cpuRow(direct, gate)
}

// rateRow adds a throughput figure and the CPU time per operation behind
// it; target > 0 is the least ratio mongogate/direct that DESIGN §7 asks
// for.
func (tb *table) rateRow(figure, unit string, direct, gate result, target float64) {
	d, g := direct.perSecond(), gate.perSecond()
	r := row{figure: figure, direct: fmtRate(d, unit), gate: fmtRate(g, unit), ratio: fmtRatio(g, d)}
	if target > 0 && d > 0 && g > 0 {
		r.target = fmt.Sprintf("≥ %.1f", target)
		r.verdict = verdict(g/d >= target)
	}
	tb.add(r)
	tb.cpuRow(direct, gate)
}

// cpuRow adds the CPU time per operation of the figure above.
func (tb *table) cpuRow(direct, gate result) {
	d, g := direct.cpuPerOp(), gate.cpuPerOp()
	tb.add(row{figure: cpuFigure, direct: fmtDur(d), gate: fmtDur(g), ratio: fmtRatio(float64(g), float64(d))})
}

// cpuFigure names the rows that cpuRow adds; they may be empty where the
// CPU time cannot be read.
const cpuFigure = "  CPU per op (whole process)"

func (tb *table) print(w io.Writer) {
	head := row{"figure", "direct", "mongogate", "mg/direct", "target", ""}
	widths := make([]int, 6)
	all := append([]row{head}, tb.rows...)
	for _, r := range all {
		for i, c := range r.cells() {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n", tb.title)
	for n, r := range all {
		for i, c := range r.cells() {
			pad := widths[i] - len([]rune(c))
			if i == 0 {
				b.WriteString(c + strings.Repeat(" ", pad))
			} else {
				b.WriteString(" | " + strings.Repeat(" ", pad) + c)
			}
		}
		b.WriteString("\n")
		if n == 0 {
			total := len(widths)*3 - 3
			for _, w := range widths {
				total += w
			}
			b.WriteString(strings.Repeat("-", total) + "\n")
		}
	}
	for _, n := range tb.notes {
		b.WriteString(n + "\n")
	}
	fmt.Fprint(w, b.String())
}

func (r row) cells() []string {
	return []string{r.figure, r.direct, r.gate, r.ratio, r.target, r.verdict}
}

// complete reports whether every figure has both a mongogate value and a
// ratio or a note saying why not.
func (tb *table) complete() error {
	if len(tb.rows) == 0 {
		return fmt.Errorf("no rows")
	}
	for _, r := range tb.rows {
		if r.figure == cpuFigure {
			continue
		}
		if r.gate == "" || r.gate == "-" || r.ratio == "" {
			return fmt.Errorf("row %q is incomplete: %+v", r.figure, r)
		}
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

func fmtDur(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	us := float64(d) / float64(time.Microsecond)
	if us >= 10_000 {
		return fmt.Sprintf("%.1f ms", us/1000)
	}
	return fmt.Sprintf("%.0f µs", us)
}

func fmtRate(v float64, unit string) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

func fmtRatio(gate, direct float64) string {
	if gate <= 0 || direct <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", gate/direct)
}

// fullRun reports whether the full benchmark was asked for.
func fullRun() bool {
	return *flagFull || os.Getenv("MONGOGATE_BENCH_FULL") == "1"
}
