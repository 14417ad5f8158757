package otherlang

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/internal/testbackend"
)

const (
	// python is Debian's interpreter: a pyenv or venv python3 earlier on
	// PATH does not see Debian's python3-grpcio and python3-protobuf.
	python = "/usr/bin/python3"

	installHint     = "run scripts/install-otherlang.sh (as root) to install it"
	scenarioTimeout = 2 * time.Minute
)

var bins proctest.Binaries

func TestMain(m *testing.M) { proctest.Main(m, &bins) }

func TestPython(t *testing.T) {
	protoc := needPythonTools(t)
	stubs := mustPythonStubs(t, protoc)
	addr := mustStartServer(t)
	env := append(os.Environ(), "PYTHONPATH="+stubs, "PYTHONDONTWRITEBYTECODE=1")
	runScenario(t, "python", env, python, "scenario.py", addr)
}

// TestPythonThroughBalancer runs the same scenario against three
// instances behind nginx: each call may land on any instance, which
// forwards it to the session's owner.
func TestPythonThroughBalancer(t *testing.T) {
	protoc := needPythonTools(t)
	stubs := mustPythonStubs(t, protoc)
	c := proctest.StartCluster(t, bins, 3)
	env := append(os.Environ(), "PYTHONPATH="+stubs, "PYTHONDONTWRITEBYTECODE=1")
	runScenario(t, "python", env, python, "scenario.py", c.LB)
	var forwarded float64
	for _, s := range c.Servers {
		v, _ := promtest.Scrape(t, s.MetricsURL).Value("mongogate_forwarded_calls_total")
		forwarded += v
	}
	if forwarded == 0 {
		t.Error("no call was forwarded: the balancer did not spread the scenario's calls")
	}
}

func TestNode(t *testing.T) {
	node := needNodeTools(t)
	addr := mustStartServer(t)
	runScenario(t, "node", nil, node, "scenario.js", addr)
}

// missing skips the test on a developer's machine, but fails it in CI,
// which is expected to have run scripts/install-otherlang.sh.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...) + "; " + installHint
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so this must not be missing: %s", msg)
	}
	t.Skip(msg)
}

// needPythonTools checks for Debian's Python gRPC runtime, protoc with the
// well-known types, and grpc_python_plugin; it returns protoc's path.
func needPythonTools(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		missing(t, "%s not found", python)
	}
	if out, err := exec.Command(python, "-c", "import grpc, google.protobuf").CombinedOutput(); err != nil {
		missing(t, "%s cannot import grpc and google.protobuf (Debian's python3-grpcio, python3-protobuf): %v\n%s", python, err, out)
	}
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		missing(t, "protoc not found (Debian's protobuf-compiler)")
	}
	if _, err := exec.LookPath("grpc_python_plugin"); err != nil {
		missing(t, "grpc_python_plugin not found (Debian's protobuf-compiler-grpc)")
	}
	if !hasWellKnownTypes(protoc) {
		missing(t, "protoc finds no google/protobuf/duration.proto (Debian's libprotobuf-dev)")
	}
	return protoc
}

// hasWellKnownTypes reports whether protoc finds google/protobuf/*.proto
// without an -I for them: protoc looks beside itself, in include/ there,
// and in ../include (for /usr/bin/protoc, /usr/include).
func hasWellKnownTypes(protoc string) bool {
	if p, err := filepath.EvalSymlinks(protoc); err == nil {
		protoc = p
	}
	bin := filepath.Dir(protoc)
	for _, dir := range []string{bin, filepath.Join(bin, "include"), filepath.Join(bin, "..", "include")} {
		if _, err := os.Stat(filepath.Join(dir, "google", "protobuf", "duration.proto")); err == nil {
			return true
		}
	}
	return false
}

// mustPythonStubs generates the Python message and service modules from
// proto/ into a temporary directory and returns it.
func mustPythonStubs(t *testing.T, protoc string) string {
	t.Helper()
	out, err := exec.Command(protoc, "--version").Output()
	if err != nil {
		t.Fatalf("protoc --version: %v", err)
	}
	version := strings.TrimSpace(string(out))
	flags, err := optionalFlags(version)
	if err != nil {
		missing(t, "%v", err)
	}
	protos, err := filepath.Glob(filepath.Join(bins.Root, "proto", "mongogate", "v1", "*.proto"))
	if err != nil || len(protos) == 0 {
		t.Fatalf("no .proto files under proto/mongogate/v1 (%v)", err)
	}
	// The contract imports google.api.http's definition (REST paths),
	// vendored beside it; its modules are generated too.
	googleapis := filepath.Join(bins.Root, "third_party", "googleapis")
	protos = append(protos, filepath.Join(googleapis, "google", "api", "annotations.proto"), filepath.Join(googleapis, "google", "api", "http.proto"))
	dir := t.TempDir()
	args := append([]string{
		"-I", filepath.Join(bins.Root, "proto"), "-I", googleapis,
		"--python_out=" + dir,
		"--grpc_out=" + dir,
		"--plugin=protoc-gen-grpc=" + mustLookPath(t, "grpc_python_plugin"),
	}, flags...)
	cmd := exec.Command(protoc, append(args, protos...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	t.Logf("python stubs generated by %s into %s", version, dir)
	return dir
}

// optionalFlags returns the flags protoc needs to accept proto3 `optional`:
// none from 3.15 (and from the renumbered releases, 21.x and later), an
// experimental flag in 3.12 to 3.14; older versions cannot.
func optionalFlags(version string) ([]string, error) {
	m := regexp.MustCompile(`(\d+)\.(\d+)`).FindStringSubmatch(version)
	if m == nil {
		return nil, fmt.Errorf("cannot read protoc's version from %q", version)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	switch {
	case major > 3 || minor >= 15:
		return nil, nil
	case major == 3 && minor >= 12:
		return []string{"--experimental_allow_proto3_optional"}, nil
	default:
		return nil, fmt.Errorf("%s cannot compile proto3 optional (need protoc 3.12 or later)", version)
	}
}

// needNodeTools checks for node and the npm packages the scenario loads;
// it returns node's path.
func needNodeTools(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node not found")
	}
	modules := filepath.Join(bins.Root, "test", "otherlang", "node", "node_modules")
	for _, pkg := range []string{"@grpc/grpc-js", "@grpc/proto-loader"} {
		if _, err := os.Stat(filepath.Join(modules, pkg, "package.json")); err != nil {
			missing(t, "npm package %s is not installed in %s", pkg, modules)
		}
	}
	return node
}

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mustStartServer runs the server binary on a free loopback port against
// the test backend and returns its address once it serves; at cleanup it
// must exit 0 after SIGTERM.
func mustStartServer(t *testing.T) string {
	t.Helper()
	s := proctest.StartServer(t, bins, testbackend.URI(t))
	t.Logf("server %s listening on %s", bins.Server, s.Addr)
	return s.Addr
}

// runScenario runs a scenario script in test/otherlang/dir, logs what it
// printed and fails the test unless it exits 0. A nil env inherits the
// test's environment.
func runScenario(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), scenarioTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = filepath.Join(bins.Root, "test", "otherlang", dir)
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s (in %s, %v):\n%s", strings.Join(cmd.Args, " "), cmd.Dir, time.Since(start).Round(time.Millisecond), out)
	if ctx.Err() != nil {
		t.Fatalf("scenario did not finish within %v", scenarioTimeout)
	}
	if err != nil {
		t.Fatalf("scenario failed: %v", err)
	}
}
