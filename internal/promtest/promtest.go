// Package promtest scrapes a Prometheus /metrics endpoint in tests and
// parses it with the Prometheus libraries, so a test reads a metric the
// way Prometheus would, or fails if Prometheus could not.
package promtest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are the metric families of one scrape, by name.
type Families map[string]*dto.MetricFamily

// Parse parses a text exposition.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// Serve scrapes h in-process, as GET /metrics.
func Serve(t testing.TB, h http.Handler) Families {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", rec.Code)
	}
	return mustParse(t, rec.Body, rec.Header().Get("Content-Type"))
}

// Scrape fetches url (http://host:port/metrics) and parses it.
func Scrape(t testing.TB, url string) Families {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain")
	// Uncompressed: a gzip writer the server pools would show in the heap
	// a test measures.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %s", url, resp.Status)
	}
	return mustParse(t, resp.Body, resp.Header.Get("Content-Type"))
}

func mustParse(t testing.TB, r io.Reader, contentType string) Families {
	t.Helper()
	if !strings.HasPrefix(contentType, "text/plain") {
		t.Fatalf("metrics served as %q, want the text format", contentType)
	}
	f, err := Parse(r)
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	return f
}

// Value is the value of the counter, gauge or untyped sample name whose
// labels include every pair in labels ("k1", "v1", "k2", "v2", ...), or
// the sample count of such a histogram or summary, summed over every
// matching series. ok is false if no series matches.
func (f Families) Value(name string, labels ...string) (v float64, ok bool) {
	if len(labels)%2 != 0 {
		panic(fmt.Sprintf("promtest: odd label list %v", labels))
	}
	mf := f[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if !matches(m, labels) {
			continue
		}
		ok = true
		switch {
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		case m.Untyped != nil:
			v += m.GetUntyped().GetValue()
		case m.Histogram != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		case m.Summary != nil:
			v += float64(m.GetSummary().GetSampleCount())
		}
	}
	return v, ok
}

func matches(m *dto.Metric, labels []string) bool {
	for i := 0; i < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
