package server

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mongogate/mongogate/sessions"
)

// expSample is one parsed sample line.
type expSample struct {
	name   string
	labels map[string]string
	value  float64
}

// exposition is a parsed text exposition.
type exposition struct {
	help    map[string]string
	typ     map[string]string
	samples []expSample
}

// parseExposition reads the text format 0.0.4 strictly enough to catch
// what Prometheus would reject: every sample belongs to a family with
// HELP and TYPE written before it, labels are quoted and escaped, values
// parse as floats.
func parseExposition(text string) (*exposition, error) {
	e := &exposition{help: map[string]string{}, typ: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, help, ok := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			if !ok {
				return nil, fmt.Errorf("line %d: HELP without text", n)
			}
			h, err := unescape(help, false)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
			e.help[name] = h
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			if _, ok := e.help[name]; !ok {
				return nil, fmt.Errorf("line %d: TYPE before HELP", n)
			}
			switch typ {
			case "counter", "gauge", "histogram":
			default:
				return nil, fmt.Errorf("line %d: type %q", n, typ)
			}
			e.typ[name] = typ
		case line == "" || strings.HasPrefix(line, "#"):
			return nil, fmt.Errorf("line %d: unexpected %q", n, line)
		default:
			s, err := parseSample(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
			family := s.name
			if e.typ[family] == "" {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(s.name, suffix); ok && e.typ[base] == "histogram" {
						family = base
					}
				}
			}
			if e.typ[family] == "" {
				return nil, fmt.Errorf("line %d: sample %s without TYPE", n, s.name)
			}
			e.samples = append(e.samples, s)
		}
	}
	return e, sc.Err()
}

func parseSample(line string) (expSample, error) {
	s := expSample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no name in %q", line)
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for line[0] != '}' {
			eq := strings.Index(line, `="`)
			if eq <= 0 {
				return s, fmt.Errorf("bad label in %q", line)
			}
			key := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			for {
				if line == "" {
					return s, fmt.Errorf("unterminated label value")
				}
				c := line[0]
				line = line[1:]
				if c == '"' {
					break
				}
				if c == '\\' {
					switch line[0] {
					case '\\', '"':
						val.WriteByte(line[0])
					case 'n':
						val.WriteByte('\n')
					default:
						return s, fmt.Errorf("bad escape \\%c", line[0])
					}
					line = line[1:]
					continue
				}
				if c == '\n' {
					return s, fmt.Errorf("raw newline in label value")
				}
				val.WriteByte(c)
			}
			s.labels[key] = val.String()
			line = strings.TrimPrefix(line, ",")
		}
		line = line[1:]
	}
	if !strings.HasPrefix(line, " ") {
		return s, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(line[1:], 64)
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

func unescape(s string, quotes bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("trailing backslash")
		}
		switch {
		case s[i] == '\\':
			b.WriteByte('\\')
		case s[i] == 'n':
			b.WriteByte('\n')
		case s[i] == '"' && quotes:
			b.WriteByte('"')
		default:
			return "", fmt.Errorf("bad escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

// get is the value of the sample with this name and exactly these labels
// (name, value pairs), and whether there is one.
func (e *exposition) get(name string, labels ...string) (float64, bool) {
	for _, s := range e.samples {
		if s.name != name || len(s.labels) != len(labels)/2 {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				match = false
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

func mustParse(t *testing.T, r *Registry) *exposition {
	t.Helper()
	var b bytes.Buffer
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	e, err := parseExposition(b.String())
	if err != nil {
		t.Fatalf("%v in:\n%s", err, b.String())
	}
	return e
}

// mustParseExposition indexes the samples as name{k="v",...} in written
// label order, for tests that read a few known series.
func mustParseExposition(t *testing.T, r *Registry) map[string]float64 {
	t.Helper()
	mustParse(t, r)
	var b bytes.Buffer
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(b.String(), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestRegistryExposition(t *testing.T) {
	r := NewRegistry()
	cv := r.NewCounterVec("test_requests_total", "Requests.\nSecond line with a \\ backslash.", "path", "code")
	cv.With(`/a"b\c`+"\nd", "OK").Add(2)
	cv.With("/plain", "NotFound").Inc()
	gv := r.NewGaugeVec("test_temperature", "Temperature.", "room")
	gv.With("kitchen").Set(-3.5)
	gv.With("hall").Add(1)
	gv.With("hall").Add(-0.25)
	r.NewGaugeFunc("test_answer", "The answer.", func() float64 { return 42 })
	hv := r.NewHistogramVec("test_latency_seconds", "Latency.", []float64{1, 2.5}, "op")
	for _, v := range []float64{0.5, 1, 2, 3, 100} {
		hv.With("find").Observe(v)
	}
	r.NewCounter("test_plain_total", "No labels.")

	e := mustParse(t, r)
	if got := e.help["test_requests_total"]; got != "Requests.\nSecond line with a \\ backslash." {
		t.Errorf("HELP round trip = %q", got)
	}
	for name, typ := range map[string]string{
		"test_requests_total": "counter", "test_temperature": "gauge", "test_answer": "gauge",
		"test_latency_seconds": "histogram", "test_plain_total": "counter",
	} {
		if e.typ[name] != typ {
			t.Errorf("TYPE %s = %q, want %q", name, e.typ[name], typ)
		}
	}
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"test_requests_total", []string{"path", `/a"b\c` + "\nd", "code", "OK"}, 2},
		{"test_requests_total", []string{"path", "/plain", "code", "NotFound"}, 1},
		{"test_temperature", []string{"room", "kitchen"}, -3.5},
		{"test_temperature", []string{"room", "hall"}, 0.75},
		{"test_answer", nil, 42},
		{"test_latency_seconds_bucket", []string{"op", "find", "le", "1"}, 2},
		{"test_latency_seconds_bucket", []string{"op", "find", "le", "2.5"}, 3},
		{"test_latency_seconds_bucket", []string{"op", "find", "le", "+Inf"}, 5},
		{"test_latency_seconds_sum", []string{"op", "find"}, 106.5},
		{"test_latency_seconds_count", []string{"op", "find"}, 5},
		{"test_plain_total", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name+fmt.Sprint(tt.labels), func(t *testing.T) {
			got, ok := e.get(tt.name, tt.labels...)
			if !ok || got != tt.want {
				t.Errorf("= %v (found %v), want %v", got, ok, tt.want)
			}
		})
	}
}

func TestRegistryServeHTTP(t *testing.T) {
	r := NewRegistry()
	r.NewCounter("x_total", "X.").Inc()
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if _, err := parseExposition(rec.Body.String()); err != nil {
		t.Errorf("body: %v", err)
	}
}

func TestRegistryMisuse(t *testing.T) {
	tests := []struct {
		name string
		f    func(r *Registry)
	}{
		{"duplicate", func(r *Registry) { r.NewCounter("a_total", ""); r.NewGaugeVec("a_total", "") }},
		{"bad metric name", func(r *Registry) { r.NewCounter("a-b", "") }},
		{"bad label name", func(r *Registry) { r.NewCounterVec("a_total", "", "a-b") }},
		{"reserved label", func(r *Registry) { r.NewHistogramVec("a", "", []float64{1}, "le") }},
		{"label count", func(r *Registry) { r.NewCounterVec("a_total", "", "x").With("1", "2") }},
		{"unsorted buckets", func(r *Registry) { r.NewHistogramVec("a", "", []float64{2, 1}) }},
		{"negative counter", func(r *Registry) { r.NewCounter("a_total", "").Add(-1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.f(NewRegistry())
		})
	}
}

// Recording and scraping at once: run with -race. Every scrape must be
// self-consistent (+Inf bucket = _count), and nothing may be lost.
func TestRegistryConcurrent(t *testing.T) {
	r := NewRegistry()
	cv := r.NewCounterVec("c_total", "C.", "k")
	hv := r.NewHistogramVec("h_seconds", "H.", []float64{0.5}, "k")
	const workers, each = 8, 500
	var wg sync.WaitGroup
	stop := make(chan struct{})
	scraped := make(chan error, 1)
	go func() {
		defer close(scraped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var b bytes.Buffer
			_, _ = r.WriteTo(&b)
			e, err := parseExposition(b.String())
			if err != nil {
				scraped <- err
				return
			}
			for _, k := range []string{"a", "b"} {
				inf, _ := e.get("h_seconds_bucket", "k", k, "le", "+Inf")
				count, _ := e.get("h_seconds_count", "k", k)
				if inf != count {
					scraped <- fmt.Errorf("k=%s: +Inf bucket %v != count %v", k, inf, count)
					return
				}
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := []string{"a", "b"}[w%2]
			for i := range each {
				cv.With(k).Inc()
				hv.With(k).Observe(float64(i%2) * 0.75)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-scraped; err != nil {
		t.Fatal(err)
	}
	e := mustParse(t, r)
	for _, k := range []string{"a", "b"} {
		if v, _ := e.get("c_total", "k", k); v != workers/2*each {
			t.Errorf("c_total{k=%s} = %v, want %d", k, v, workers/2*each)
		}
		if v, _ := e.get("h_seconds_bucket", "k", k, "le", "0.5"); v != workers/2*each/2 {
			t.Errorf("h_seconds_bucket{k=%s,le=0.5} = %v, want %d", k, v, workers/2*each/2)
		}
		if v, _ := e.get("h_seconds_sum", "k", k); math.Abs(v-workers/2*each/2*0.75) > 1e-9 {
			t.Errorf("h_seconds_sum{k=%s} = %v", k, v)
		}
	}
}

func TestMetrics(t *testing.T) {
	m := NewMetrics()
	m.SetActiveSessions(func() int { return 7 })
	m.SessionStarted()
	m.SessionStarted()
	m.SessionExpired()
	m.CommitAttempt()
	m.TransactionFinished(sessions.TxnCommitted)
	m.TransactionFinished(sessions.TxnUnknown)
	m.TransactionFinished(sessions.TxnInProgress) // not an outcome

	e := mustParse(t, m.Registry())
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mongogate_sessions_active", nil, 7},
		{"mongogate_sessions_started_total", nil, 2},
		{"mongogate_sessions_expired_total", nil, 1},
		{"mongogate_commit_attempts_total", nil, 1},
		{"mongogate_transactions_total", []string{"outcome", "committed"}, 1},
		{"mongogate_transactions_total", []string{"outcome", "aborted"}, 0},
		{"mongogate_transactions_total", []string{"outcome", "unknown"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name+fmt.Sprint(tt.labels), func(t *testing.T) {
			got, ok := e.get(tt.name, tt.labels...)
			if !ok || got != tt.want {
				t.Errorf("= %v (found %v), want %v", got, ok, tt.want)
			}
		})
	}
	for _, name := range []string{"mongogate_rpcs_total", "mongogate_rpc_duration_seconds"} {
		if e.typ[name] == "" {
			t.Errorf("%s not exposed", name)
		}
	}

	var nilMetrics *Metrics
	nilMetrics.SessionStarted()
	nilMetrics.SessionExpired()
	nilMetrics.CommitAttempt()
	nilMetrics.TransactionFinished(sessions.TxnAborted)
	nilMetrics.SetActiveSessions(func() int { return 1 })
}
