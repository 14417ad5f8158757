// Package pyclient runs the Python client's tests (clients/python/tests,
// Python's unittest) against real processes: one cmd/emulator and two
// cmd/server instances on it, and the FindOne benchmark of the client
// against the raw generated stub.
//
//	go test ./test/pyclient/
//	go test ./test/pyclient/ -run '^$' -bench PythonFindOne -benchtime 1x
//
// They need Debian's python3-grpcio, python3-protobuf and python3-pymongo
// (scripts/install-otherlang.sh). Without them the tests skip, except
// under CI (CI set), where they fail.
package pyclient

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongogate/mongogate/internal/proctest"
)

// python is Debian's interpreter: a pyenv or venv python3 earlier on PATH
// does not see Debian's python3-grpcio, python3-protobuf and
// python3-pymongo.
const python = "/usr/bin/python3"

const suiteTimeout = 5 * time.Minute

var bins proctest.Binaries

func TestMain(m *testing.M) { proctest.Main(m, &bins) }

// needPython skips (fails under CI) without Debian's Python packages.
func needPython(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		proctest.Missing(t, "%s not found; scripts/install-otherlang.sh installs it", python)
	}
	out, err := exec.Command(python, "-c", "import grpc, google.protobuf, bson, pymongo").CombinedOutput()
	if err != nil {
		proctest.Missing(t, "%s cannot import grpc, google.protobuf, bson and pymongo (Debian's python3-grpcio, python3-protobuf, python3-pymongo; scripts/install-otherlang.sh): %v\n%s", python, err, out)
	}
}

// deployment is one emulator and n servers on it.
type deployment struct {
	uri     string
	servers []*proctest.Server
}

func start(t testing.TB, n int) deployment {
	t.Helper()
	_, uri := proctest.Emulator(t, bins)
	d := deployment{uri: uri}
	for i := range n {
		// A short commit retry limit lets the tests see
		// UNKNOWN_COMMIT_RESULT reach the client, which recommits.
		d.servers = append(d.servers, proctest.StartServer(t, bins, uri,
			"--instance-id", fmt.Sprintf("mg-py-%d", i), "--commit-retry-limit", "300ms"))
	}
	return d
}

func (d deployment) env() []string {
	var addrs, metrics []string
	for _, s := range d.servers {
		addrs = append(addrs, s.Addr)
		metrics = append(metrics, s.MetricsURL)
	}
	return append(proctest.CleanEnv(),
		"MONGOGATE_ADDR="+d.servers[0].Addr,
		"MONGOGATE_BACKEND_URI="+d.uri,
		"MONGOGATE_INSTANCES="+strings.Join(addrs, ","),
		"MONGOGATE_METRICS="+strings.Join(metrics, ","),
		"MONGOGATE_REQUIRE_ALL=1",
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONPATH=",
	)
}

// TestPythonClient runs clients/python's unittest suite; it fails if
// python3 -m unittest exits non-zero.
func TestPythonClient(t *testing.T) {
	needPython(t)
	d := start(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), suiteTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-m", "unittest", "discover", "-v", "-s", "tests", "-t", ".")
	cmd.Dir = filepath.Join(bins.Root, "clients", "python")
	cmd.Env = d.env()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s (in %s, %v):\n%s", strings.Join(cmd.Args, " "), cmd.Dir, time.Since(start).Round(time.Millisecond), out)
	if ctx.Err() != nil {
		t.Fatalf("the suite did not finish within %v", suiteTimeout)
	}
	if err != nil {
		t.Fatalf("python3 -m unittest failed: %v", err)
	}
	if strings.Contains(string(out), "skipped") {
		t.Errorf("tests were skipped; every one must run here")
	}
}

// BenchmarkPythonFindOne compares FindOne's median latency through the
// client (collection.find_one: encode the filter, call, decode the
// document) with the raw generated stub on the same channel (a prebuilt
// request, the response left undecoded). The target is a ratio of at most
// 1.10. Run it on a quiet machine:
//
//	go test ./test/pyclient/ -run '^$' -bench PythonFindOne -benchtime 1x
func BenchmarkPythonFindOne(b *testing.B) {
	needPython(b)
	d := start(b, 1)
	for range b.N {
		cmd := exec.Command(python, filepath.Join(bins.Root, "clients", "python", "bench", "findone.py"), d.servers[0].Addr)
		cmd.Env = d.env()
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("findone.py: %v\n%s", err, out)
		}
		var r struct {
			ClientP50, RawP50, Ratio float64
			Iterations               int
		}
		if err := json.Unmarshal(out, &r); err != nil {
			b.Fatalf("findone.py printed %q: %v", out, err)
		}
		b.Logf("%d calls each: client p50 %.1f µs, raw stub p50 %.1f µs, ratio %.3f (target ≤ 1.10)", r.Iterations, r.ClientP50, r.RawP50, r.Ratio)
		b.ReportMetric(r.ClientP50, "client-p50-µs")
		b.ReportMetric(r.RawP50, "raw-p50-µs")
		b.ReportMetric(r.Ratio, "ratio")
	}
}
