package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/mongogate/mongogate/sessions"
)

// Registry is a small Prometheus registry: counters, gauges and
// histograms with labels, served in the text exposition format 0.0.4.
// Recording is lock-free once a label combination exists; all methods are
// safe for concurrent use. Registering an invalid or duplicate name panics,
// as it is a programming error.
type Registry struct {
	mu      sync.Mutex
	metrics []metric
	names   map[string]bool
}

type metric interface {
	write(w *bufio.Writer)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{names: make(map[string]bool)} }

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

func (r *Registry) register(name string, labels []string, m metric) {
	if !metricNameRE.MatchString(name) {
		panic(fmt.Sprintf("server: invalid metric name %q", name))
	}
	for _, l := range labels {
		if !labelNameRE.MatchString(l) || strings.HasPrefix(l, "__") || l == "le" {
			panic(fmt.Sprintf("server: metric %s: invalid label name %q", name, l))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		panic(fmt.Sprintf("server: metric %s registered twice", name))
	}
	r.names[name] = true
	r.metrics = append(r.metrics, m)
}

// ServeHTTP writes every metric in the text exposition format.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = r.WriteTo(w)
}

// WriteTo writes every metric in the text exposition format, in the order
// they were registered, label combinations sorted.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	ms := slices.Clone(r.metrics)
	r.mu.Unlock()
	cw := &countingWriter{w: w}
	bw := bufio.NewWriter(cw)
	for _, m := range ms {
		m.write(bw)
	}
	err := bw.Flush()
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// family is what every metric type shares: name, help, label names, and
// one child per combination of label values.
type family[T any] struct {
	name     string
	help     string
	labels   []string
	children sync.Map // joined label values -> *child[T]
	newT     func() *T
}

type child[T any] struct {
	values []string
	v      *T
}

func (f *family[T]) with(values []string) *T {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("server: metric %s: %d label values for labels %v", f.name, len(values), f.labels))
	}
	key := strings.Join(values, "\xff")
	if c, ok := f.children.Load(key); ok {
		return c.(*child[T]).v
	}
	c, _ := f.children.LoadOrStore(key, &child[T]{values: slices.Clone(values), v: f.newT()})
	return c.(*child[T]).v
}

func (f *family[T]) sorted() []*child[T] {
	var cs []*child[T]
	f.children.Range(func(_, c any) bool {
		cs = append(cs, c.(*child[T]))
		return true
	})
	sort.Slice(cs, func(i, j int) bool { return slices.Compare(cs[i].values, cs[j].values) < 0 })
	return cs
}

func (f *family[T]) header(w *bufio.Writer, typ string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, typ)
}

// sample writes one line: name{labels,extra} value.
func sample(w *bufio.Writer, name string, labels, values []string, extraName, extraValue string, v float64) {
	w.WriteString(name)
	if len(labels) > 0 || extraName != "" {
		w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(l + `="` + escapeLabel(values[i]) + `"`)
		}
		if extraName != "" {
			if len(labels) > 0 {
				w.WriteByte(',')
			}
			w.WriteString(extraName + `="` + escapeLabel(extraValue) + `"`)
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatFloat(v))
	w.WriteByte('\n')
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// atomicFloat is a float64 updated with compare-and-swap.
type atomicFloat struct{ bits atomic.Uint64 }

func (a *atomicFloat) add(v float64) {
	for {
		old := a.bits.Load()
		if a.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (a *atomicFloat) load() float64 { return math.Float64frombits(a.bits.Load()) }

// Counter only goes up.
type Counter struct{ v atomicFloat }

// Inc adds 1.
func (c *Counter) Inc() { c.v.add(1) }

// Add adds v, which must not be negative.
func (c *Counter) Add(v float64) {
	if v < 0 {
		panic("server: counter decreased")
	}
	c.v.add(v)
}

// Value is the current count.
func (c *Counter) Value() float64 { return c.v.load() }

// CounterVec is a counter per combination of label values.
type CounterVec struct{ f *family[Counter] }

// NewCounterVec registers a counter with the given label names.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	cv := &CounterVec{f: &family[Counter]{name: name, help: help, labels: labels, newT: func() *Counter { return new(Counter) }}}
	r.register(name, labels, cv)
	return cv
}

// NewCounter registers a counter without labels.
func (r *Registry) NewCounter(name, help string) *Counter { return r.NewCounterVec(name, help).With() }

// With is the counter for the label values, in the order of the label names.
func (cv *CounterVec) With(values ...string) *Counter { return cv.f.with(values) }

func (cv *CounterVec) write(w *bufio.Writer) {
	cv.f.header(w, "counter")
	for _, c := range cv.f.sorted() {
		sample(w, cv.f.name, cv.f.labels, c.values, "", "", c.v.Value())
	}
}

// Gauge goes up and down.
type Gauge struct{ v atomicFloat }

// Set sets the gauge to v.
func (g *Gauge) Set(v float64) { g.v.bits.Store(math.Float64bits(v)) }

// Add adds v, which may be negative.
func (g *Gauge) Add(v float64) { g.v.add(v) }

// Value is the gauge's current value.
func (g *Gauge) Value() float64 { return g.v.load() }

// GaugeVec is a gauge per combination of label values.
type GaugeVec struct{ f *family[Gauge] }

// NewGaugeVec registers a gauge with the given label names.
func (r *Registry) NewGaugeVec(name, help string, labels ...string) *GaugeVec {
	gv := &GaugeVec{f: &family[Gauge]{name: name, help: help, labels: labels, newT: func() *Gauge { return new(Gauge) }}}
	r.register(name, labels, gv)
	return gv
}

// With is the gauge for the label values, in the order of the label names.
func (gv *GaugeVec) With(values ...string) *Gauge { return gv.f.with(values) }

func (gv *GaugeVec) write(w *bufio.Writer) {
	gv.f.header(w, "gauge")
	for _, c := range gv.f.sorted() {
		sample(w, gv.f.name, gv.f.labels, c.values, "", "", c.v.Value())
	}
}

// gaugeFunc is a gauge read from a function at scrape time.
type gaugeFunc struct {
	name, help string
	fn         func() float64
}

// NewGaugeFunc registers a gauge whose value fn returns at each scrape.
func (r *Registry) NewGaugeFunc(name, help string, fn func() float64) {
	r.register(name, nil, &gaugeFunc{name: name, help: help, fn: fn})
}

func (g *gaugeFunc) write(w *bufio.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", g.name, escapeHelp(g.help), g.name)
	sample(w, g.name, nil, nil, "", "", g.fn())
}

// Histogram counts observations into buckets.
type Histogram struct {
	bounds []float64       // upper bounds, increasing; +Inf is implicit
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomicFloat
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	h.counts[sort.SearchFloat64s(h.bounds, v)].Add(1)
	h.sum.add(v)
}

// HistogramVec is a histogram per combination of label values.
type HistogramVec struct {
	f      *family[Histogram]
	bounds []float64
}

// NewHistogramVec registers a histogram with the given bucket upper bounds
// (increasing, +Inf added) and label names.
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if !slices.IsSorted(buckets) || slices.Contains(buckets, math.Inf(1)) {
		panic(fmt.Sprintf("server: histogram %s: buckets must increase and exclude +Inf", name))
	}
	bounds := slices.Compact(slices.Clone(buckets))
	hv := &HistogramVec{bounds: bounds}
	hv.f = &family[Histogram]{name: name, help: help, labels: labels, newT: func() *Histogram {
		return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
	}}
	r.register(name, labels, hv)
	return hv
}

// With is the histogram for the label values, in the order of the label
// names.
func (hv *HistogramVec) With(values ...string) *Histogram { return hv.f.with(values) }

func (hv *HistogramVec) write(w *bufio.Writer) {
	hv.f.header(w, "histogram")
	for _, c := range hv.f.sorted() {
		h := c.v
		// _count is the cumulative total read in this pass, so it always
		// equals the +Inf bucket even while observations arrive.
		var cum uint64
		for i := range h.counts {
			cum += h.counts[i].Load()
			le := "+Inf"
			if i < len(h.bounds) {
				le = formatFloat(h.bounds[i])
			}
			sample(w, hv.f.name+"_bucket", hv.f.labels, c.values, "le", le, float64(cum))
		}
		sample(w, hv.f.name+"_sum", hv.f.labels, c.values, "", "", h.sum.load())
		sample(w, hv.f.name+"_count", hv.f.labels, c.values, "", "", float64(cum))
	}
}

// rpcDurationBuckets spans a FindOne on loopback to RunTransaction's
// 120 s retry limit, in seconds.
var rpcDurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// Metrics are mongogate's metrics. The recording methods and the
// interceptors do nothing on a nil *Metrics, so handlers call them
// unconditionally.
type Metrics struct {
	registry        *Registry
	rpcs            *CounterVec
	rpcDuration     *HistogramVec
	sessionsStarted *Counter
	sessionsExpired *Counter
	transactions    *CounterVec
	commitAttempts  *Counter
	activeSessions  atomic.Pointer[func() int]
}

// Transaction outcomes, the values of mongogate_transactions_total's
// outcome label.
const (
	outcomeCommitted = "committed"
	outcomeAborted   = "aborted"
	outcomeUnknown   = "unknown"
)

// NewMetrics registers mongogate's metrics in a new registry.
func NewMetrics() *Metrics {
	r := NewRegistry()
	m := &Metrics{
		registry: r,
		rpcs: r.NewCounterVec("mongogate_rpcs_total",
			"RPCs finished, by full method and gRPC status code.", "method", "code"),
		rpcDuration: r.NewHistogramVec("mongogate_rpc_duration_seconds",
			"Time from receiving an RPC to sending its status, by full method.", rpcDurationBuckets, "method"),
		sessionsStarted: r.NewCounter("mongogate_sessions_started_total", "Sessions started."),
		sessionsExpired: r.NewCounter("mongogate_sessions_expired_total", "Sessions ended by their idle or absolute timeout."),
		transactions: r.NewCounterVec("mongogate_transactions_total",
			"Transactions finished, by outcome: committed, aborted, or unknown (commit outcome not learnt).", "outcome"),
		commitAttempts: r.NewCounter("mongogate_commit_attempts_total",
			"commitTransaction commands sent to MongoDB, retries included."),
	}
	r.NewGaugeFunc("mongogate_sessions_active", "Sessions currently registered.", func() float64 {
		if f := m.activeSessions.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	for _, o := range []string{outcomeCommitted, outcomeAborted, outcomeUnknown} {
		m.transactions.With(o)
	}
	return m
}

// Registry is where the metrics live, for registering more.
func (m *Metrics) Registry() *Registry { return m.registry }

// ServeHTTP serves the metrics in the Prometheus text format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.registry.ServeHTTP(w, r) }

// SetActiveSessions sets the function that mongogate_sessions_active
// reads at each scrape (the sessions registry's count).
func (m *Metrics) SetActiveSessions(f func() int) {
	if m != nil {
		m.activeSessions.Store(&f)
	}
}

// SessionStarted counts a started session.
func (m *Metrics) SessionStarted() {
	if m != nil {
		m.sessionsStarted.Inc()
	}
}

// SessionExpired counts a session ended by a timeout.
func (m *Metrics) SessionExpired() {
	if m != nil {
		m.sessionsExpired.Inc()
	}
}

// TransactionFinished counts a transaction that reached state s:
// TxnCommitted, TxnAborted or TxnUnknown; other states are not outcomes
// and are ignored.
func (m *Metrics) TransactionFinished(s sessions.TxnState) {
	if m == nil {
		return
	}
	switch s {
	case sessions.TxnCommitted:
		m.transactions.With(outcomeCommitted).Inc()
	case sessions.TxnAborted:
		m.transactions.With(outcomeAborted).Inc()
	case sessions.TxnUnknown:
		m.transactions.With(outcomeUnknown).Inc()
	}
}

// CommitAttempt counts one commitTransaction sent to MongoDB.
func (m *Metrics) CommitAttempt() {
	if m != nil {
		m.commitAttempts.Inc()
	}
}

func (m *Metrics) observeRPC(fullMethod string, err error, d time.Duration) {
	method := strings.TrimPrefix(fullMethod, "/")
	m.rpcs.With(method, status.Code(err).String()).Inc()
	m.rpcDuration.With(method).Observe(d.Seconds())
}

// UnaryServerInterceptor records mongogate_rpcs_total and
// mongogate_rpc_duration_seconds for unary calls.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if m == nil {
			return handler(ctx, req)
		}
		start := time.Now()
		resp, err := handler(ctx, req)
		m.observeRPC(info.FullMethod, err, time.Since(start))
		return resp, err
	}
}

// StreamServerInterceptor records mongogate_rpcs_total and
// mongogate_rpc_duration_seconds for streaming calls.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if m == nil {
			return handler(srv, ss)
		}
		start := time.Now()
		err := handler(srv, ss)
		m.observeRPC(info.FullMethod, err, time.Since(start))
		return err
	}
}
