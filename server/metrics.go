package server

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/mongogate/mongogate/txn"
)

// rpcDurationBuckets spans a FindOne on loopback to RunTransaction's
// 120 s retry limit, in seconds.
var rpcDurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// Metrics are mongogate's Prometheus metrics: the RPC metrics named as
// go-grpc-middleware's Prometheus provider names them (grpc_server_*,
// rpcMetrics), mongogate's
// own (mongogate_*), and the Go runtime's and the process's. The recording
// methods and the interceptors do nothing on a nil *Metrics, so handlers
// call them unconditionally.
type Metrics struct {
	registry        *prometheus.Registry
	handler         http.Handler
	rpc             *rpcMetrics
	sessionsStarted prometheus.Counter
	sessionsExpired prometheus.Counter
	transactions    *prometheus.CounterVec
	commitAttempts  prometheus.Counter
	forwarded       *prometheus.CounterVec
	peerDialFails   prometheus.Counter
	reclaimed       prometheus.Counter
	activeSessions  atomic.Pointer[func() int]
	directory       atomic.Pointer[func() map[string]int]
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
	r := prometheus.NewRegistry()
	m := &Metrics{
		registry: r,
		rpc:      newRPCMetrics(rpcDurationBuckets),
		sessionsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongogate_sessions_started_total", Help: "Sessions started.",
		}),
		sessionsExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongogate_sessions_expired_total", Help: "Sessions ended by their idle or absolute timeout.",
		}),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mongogate_transactions_total",
			Help: "Transactions finished, by outcome: committed, aborted, or unknown (commit outcome not learnt).",
		}, []string{"outcome"}),
		commitAttempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongogate_commit_attempts_total", Help: "commitTransaction commands sent to MongoDB, retries included.",
		}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mongogate_forwarded_calls_total",
			Help: "Calls on another instance's sessions forwarded to it, by full method and outcome (the owner's gRPC code, or OwnerUnreachable).",
		}, []string{"method", "outcome"}),
		peerDialFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongogate_peer_dial_failures_total",
			Help: "Forwarded calls that could not reach the owning instance.",
		}),
		reclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongogate_instances_reclaimed_total",
			Help: "Dead instances whose open transactions this instance killed (killSessions) and whose directory entry it closed.",
		}),
	}
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mongogate_sessions_active", Help: "Sessions currently registered.",
	}, func() float64 {
		if f := m.activeSessions.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	r.MustRegister(m.rpc, m.sessionsStarted, m.sessionsExpired, m.transactions, m.commitAttempts, active,
		m.forwarded, m.peerDialFails, m.reclaimed, directoryCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{outcomeCommitted, outcomeAborted, outcomeUnknown} {
		m.transactions.WithLabelValues(o)
	}
	m.handler = promhttp.HandlerFor(r, promhttp.HandlerOpts{})
	return m
}

// Registry is where the metrics live, for registering more.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// ServeHTTP serves the metrics in the Prometheus exposition formats.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.handler.ServeHTTP(w, r)
}

// InitializeRPCs creates the RPC metrics of every method g serves at zero,
// so that rates exist before the first call.
func (m *Metrics) InitializeRPCs(g *grpc.Server) {
	if m != nil {
		m.rpc.initialize(g)
	}
}

// SetActiveSessions sets the function that mongogate_sessions_active
// reads at each scrape (the sessions registry's count).
func (m *Metrics) SetActiveSessions(f func() int) {
	if m != nil {
		m.activeSessions.Store(&f)
	}
}

// SetDirectory sets the function that mongogate_directory_instances reads
// at each scrape: instances by status (live, dead, gone).
func (m *Metrics) SetDirectory(f func() map[string]int) {
	if m != nil {
		m.directory.Store(&f)
	}
}

var directoryDesc = prometheus.NewDesc("mongogate_directory_instances",
	"Instances in the instance directory, by status: live, dead (heartbeat stopped, transactions not yet killed) or gone.",
	[]string{"status"}, nil)

// directoryCollector reports mongogate_directory_instances.
type directoryCollector struct{ m *Metrics }

func (c directoryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- directoryDesc }

func (c directoryCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.directory.Load()
	if f == nil {
		return
	}
	for status, n := range (*f)() {
		ch <- prometheus.MustNewConstMetric(directoryDesc, prometheus.GaugeValue, float64(n), status)
	}
}

// Forwarded counts a call forwarded to its session's owner.
func (m *Metrics) Forwarded(fullMethod, outcome string) {
	if m != nil {
		m.forwarded.WithLabelValues(strings.TrimPrefix(fullMethod, "/"), outcome).Inc()
	}
}

// PeerDialFailure counts a forwarded call that could not reach its owner.
func (m *Metrics) PeerDialFailure() {
	if m != nil {
		m.peerDialFails.Inc()
	}
}

// InstanceReclaimed counts a dead instance this instance cleaned up.
func (m *Metrics) InstanceReclaimed() {
	if m != nil {
		m.reclaimed.Inc()
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
// txn.Committed, txn.Aborted or txn.Unknown; other states are not outcomes
// and are ignored. It is txn.Config.OnOutcome.
func (m *Metrics) TransactionFinished(s txn.Status) {
	if m == nil {
		return
	}
	switch s {
	case txn.Committed:
		m.transactions.WithLabelValues(outcomeCommitted).Inc()
	case txn.Aborted:
		m.transactions.WithLabelValues(outcomeAborted).Inc()
	case txn.Unknown:
		m.transactions.WithLabelValues(outcomeUnknown).Inc()
	}
}

// CommitAttempt counts one commitTransaction sent to MongoDB.
func (m *Metrics) CommitAttempt() {
	if m != nil {
		m.commitAttempts.Inc()
	}
}

// UnaryServerInterceptor records grpc_server_started_total,
// grpc_server_handled_total and grpc_server_handling_seconds for unary
// calls.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	if m == nil {
		return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			return handler(ctx, req)
		}
	}
	return m.rpc.unary
}

// StreamServerInterceptor records the same for streaming calls, and
// grpc_server_msg_received_total and grpc_server_msg_sent_total.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	if m == nil {
		return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			return handler(srv, ss)
		}
	}
	return m.rpc.stream
}
