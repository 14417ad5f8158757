package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// watchLagBuckets span an event read at once to one read minutes late, in
// seconds (cluster times have a resolution of one second; wall times of a
// millisecond).
var watchLagBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// WatchMetrics are the Watch fan-out's metrics, in the registry of the
// Metrics they were made from. It is the watch.Observer of the instance's
// hub; its methods do nothing on a nil *WatchMetrics.
type WatchMetrics struct {
	streams   prometheus.Gauge
	subs      prometheus.Gauge
	delivered prometheus.Counter
	cut       prometheus.Counter
	lag       prometheus.Histogram
}

// NewWatchMetrics registers the Watch metrics in m's registry; call it
// once per Metrics. Nil m gives nil.
func NewWatchMetrics(m *Metrics) *WatchMetrics {
	if m == nil {
		return nil
	}
	w := &WatchMetrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mongogate_watch_streams_open",
			Help: "MongoDB change streams open for Watch: one shared per distinct (backend, scope, pipeline, options), plus the catch-up streams of callers resuming from behind.",
		}),
		subs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mongogate_watch_subscribers", Help: "Watch calls in progress.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongogate_watch_events_delivered_total", Help: "Change events given to Watch callers (heartbeats not counted).",
		}),
		cut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongogate_watch_slow_cut_total", Help: "Watch callers cut (WATCH_TOO_SLOW) because their queue was full.",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mongogate_watch_lag_seconds",
			Help:    "Age of change events when their shared stream reads them: now minus the event's wall time (cluster time without one).",
			Buckets: watchLagBuckets,
		}),
	}
	m.registry.MustRegister(w.streams, w.subs, w.delivered, w.cut, w.lag)
	return w
}

// StreamsOpen moves mongogate_watch_streams_open.
func (w *WatchMetrics) StreamsOpen(delta int) {
	if w != nil {
		w.streams.Add(float64(delta))
	}
}

// Subscribers moves mongogate_watch_subscribers.
func (w *WatchMetrics) Subscribers(delta int) {
	if w != nil {
		w.subs.Add(float64(delta))
	}
}

// Delivered counts an event given to a caller.
func (w *WatchMetrics) Delivered() {
	if w != nil {
		w.delivered.Inc()
	}
}

// CutSlow counts a caller cut for falling behind.
func (w *WatchMetrics) CutSlow() {
	if w != nil {
		w.cut.Inc()
	}
}

// Lag records an event's age when read.
func (w *WatchMetrics) Lag(d time.Duration) {
	if w != nil {
		w.lag.Observe(d.Seconds())
	}
}
