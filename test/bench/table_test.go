package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// cols are the three columns of a figure: mongogate, its floor (what a
// proxy that cost nothing would take: bare gRPC round trips of mongogate's
// message sizes plus the direct driver call) and the direct driver call
// alone. A side that -bench-run left out, or that a figure lacks, is a
// zero result and prints as "-".
type cols struct {
	gate, floor, direct result
}

// row is one line of the table.
type row struct {
	figure, gate, floor, direct, ratio, residual, target, verdict string
}

func (r row) cells() []string {
	return []string{r.figure, r.gate, r.floor, r.direct, r.ratio, r.residual, r.target, r.verdict}
}

// table collects the figures and prints them once at the end.
type table struct {
	title string
	rows  []row
	notes []string // printed under the table
}

// add appends r, unless -bench-run left all of its sides out.
func (tb *table) add(r row) {
	empty := func(s string) bool { return s == "" || strings.HasPrefix(s, "-") }
	if empty(r.gate) && empty(r.floor) && empty(r.direct) {
		return
	}
	tb.rows = append(tb.rows, r)
}

// latencyRows adds the p50 and p99 rows of a latency figure and its CPU
// row. maxResidual > 0 is DESIGN §7's bound on the p50 residual
// (mongogate − floor).
func (tb *table) latencyRows(figure string, c cols, maxResidual time.Duration) {
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p99", 0.99}} {
		g, f, d := c.gate.quantile(q.q), c.floor.quantile(q.q), c.direct.quantile(q.q)
		r := row{figure: figure + " " + q.name, gate: fmtDur(g), floor: fmtDur(f), direct: fmtDur(d),
			ratio: fmtRatio(float64(g), float64(f)), residual: fmtResidual(g, f)}
		if q.name == "p50" && maxResidual > 0 && g > 0 && f > 0 {
			r.target = fmt.Sprintf("residual ≤ %.0f µs", float64(maxResidual)/float64(time.Microsecond))
			r.verdict = verdict(g-f <= maxResidual)
		}
		tb.add(r)
	}
	tb.cpuRow(c)
}

// ratioRows adds one latency row of g against f, with the target g/f ≤
// maxRatio when maxRatio > 0, and the CPU row of c.
func (tb *table) ratioRows(figure string, g, f time.Duration, maxRatio float64, c cols) {
	r := row{figure: figure, gate: fmtDur(g), floor: fmtDur(f), ratio: fmtRatio(float64(g), float64(f)), residual: fmtResidual(g, f)}
	if maxRatio > 0 && g > 0 && f > 0 {
		r.target = fmt.Sprintf("≤ %.2f", maxRatio)
		r.verdict = verdict(float64(g)/float64(f) <= maxRatio)
	}
	tb.add(r)
	tb.cpuRow(c)
}

// rateRow adds a throughput figure and its CPU row; minRatio > 0 is the
// least mongogate/floor that DESIGN §7 asks for. The residual of a rate
// is the difference of the inverse rates: the extra wall time per
// operation at that concurrency.
func (tb *table) rateRow(figure, unit string, c cols, minRatio float64) {
	g, f, d := c.gate.perSecond(), c.floor.perSecond(), c.direct.perSecond()
	r := row{figure: figure, gate: fmtRate(g, unit), floor: fmtRate(f, unit), direct: fmtRate(d, unit), ratio: fmtRatio(g, f)}
	if g > 0 && f > 0 {
		r.residual = fmt.Sprintf("%+.0f µs/op", 1e6/g-1e6/f)
	}
	if minRatio > 0 && g > 0 && f > 0 {
		r.target = fmt.Sprintf("≥ %.2f", minRatio)
		r.verdict = verdict(g/f >= minRatio)
	}
	tb.add(r)
	tb.cpuRow(c)
}

// cpuRow adds the CPU time per operation of the figure above.
func (tb *table) cpuRow(c cols) {
	g, f, d := c.gate.cpuPerOp(), c.floor.cpuPerOp(), c.direct.cpuPerOp()
	tb.add(row{figure: cpuFigure, gate: fmtDur(g), floor: fmtDur(f), direct: fmtDur(d),
		ratio: fmtRatio(float64(g), float64(f)), residual: fmtResidual(g, f)})
}

// cpuFigure names the rows that cpuRow adds; they may be empty where the
// CPU time cannot be read.
const cpuFigure = "  CPU per op (whole process)"

func (tb *table) print(w io.Writer) {
	head := row{"figure", "mongogate", "floor", "direct", "mg/floor", "mg−floor", "target", ""}
	all := append([]row{head}, tb.rows...)
	widths := make([]int, len(head.cells()))
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

// complete reports whether every figure has a mongogate value and, where
// it has a floor, a ratio.
func (tb *table) complete() error {
	if len(tb.rows) == 0 {
		return fmt.Errorf("no rows")
	}
	for _, r := range tb.rows {
		if r.figure == cpuFigure {
			continue
		}
		if r.gate == "" || r.gate == "-" || (r.floor != "" && r.floor != "-" && (r.ratio == "" || r.ratio == "n/a")) {
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

// fmtResidual is gate − floor in µs, or "-" when either is missing.
func fmtResidual(gate, floor time.Duration) string {
	if gate <= 0 || floor <= 0 {
		return "-"
	}
	return fmt.Sprintf("%+.0f µs", float64(gate-floor)/float64(time.Microsecond))
}

func fmtRate(v float64, unit string) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

func fmtRatio(gate, floor float64) string {
	if gate <= 0 || floor <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", gate/floor)
}

func fmtBytes(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	default:
		return fmt.Sprintf("%.0f B", b)
	}
}

// fullRun reports whether the full benchmark was asked for.
func fullRun() bool {
	return *flagFull || os.Getenv("MONGOGATE_BENCH_FULL") == "1"
}
