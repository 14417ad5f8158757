package tsclient

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
)

const (
	installHint = "run scripts/install-ts.sh to install it"
	nodeTimeout = 5 * time.Minute
)

var (
	// root is the repository root, tsDir its clients/ts, bins the
	// binaries TestMain built.
	root, tsDir string
	bins        proctest.Binaries
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	if root, err = testbackend.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "tsclient:", err)
		return 1
	}
	tsDir = filepath.Join(root, "clients", "ts")
	dir, err := os.MkdirTemp("", "mongogate-tsclient-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tsclient:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if bins, err = proctest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "tsclient:", err)
		return 1
	}
	return m.Run()
}

// needTools skips the test on a developer's machine without node or the
// client's npm packages, and fails it in CI (CI=true), whose .ci/run runs
// scripts/install-ts.sh. It returns node's path.
func needTools(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		proctest.Missing(t, "node not found")
	}
	modules := filepath.Join(tsDir, "node_modules")
	for _, pkg := range []string{"typescript", "esbuild", "mongodb", "bson", "@connectrpc/connect-node", "@connectrpc/connect-web", "@bufbuild/protobuf"} {
		if _, err := os.Stat(filepath.Join(modules, pkg, "package.json")); err != nil {
			proctest.Missing(t, "npm package %s is not installed in %s; %s", pkg, modules, installHint)
		}
	}
	return node
}

var (
	buildOnce sync.Once
	buildErr  error
)

// mustBuild compiles clients/ts (the client, its tests and benchmark)
// into clients/ts/dist with tsc, once per test binary.
func mustBuild(t testing.TB, node string) {
	t.Helper()
	buildOnce.Do(func() {
		cmd := exec.Command(node, filepath.Join("node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json")
		cmd.Dir = tsDir
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("tsc -p clients/ts/tsconfig.json: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// servers are two mongogate instances on one backend, as the node tests
// expect them (see clients/ts/test/helpers.ts).
type servers struct {
	uri     string
	a, b, c *proctest.Server
}

// The API key of the third server's one principal, which may use only
// the databases the node tests make (ts_*).
const (
	apiKey       = "ts-client-test-key"
	apiPrincipal = "tsclient"
)

func (s *servers) env() []string {
	return []string{
		"MONGOGATE_TS_ADDR=" + s.a.Addr,
		"MONGOGATE_TS_ADDR2=" + s.b.Addr,
		"MONGOGATE_TS_METRICS=" + s.a.MetricsURL,
		"MONGOGATE_TS_METRICS2=" + s.b.MetricsURL,
		"MONGOGATE_TS_MONGO_URI=" + s.uri,
		"MONGOGATE_TS_ADDR3=" + s.c.Addr,
		"MONGOGATE_TS_API_KEY=" + apiKey,
		// These servers serve the Connect protocol: its tests must run.
		"MONGOGATE_TS_REQUIRE_CONNECT=1",
	}
}

// startServers runs cmd/emulator (unless MONGOGATE_TEST_URI names a
// deployment) and two cmd/server instances on it: the first with a second
// backend "other" on the same deployment (SESSION_CLIENT_MISMATCH), the
// second allowing 20 sessions per principal (SESSION_LIMIT). Both give
// up an unknown commit result after 300 ms, so that the client's own
// commit retries show. A third authenticates API keys and authorizes
// namespaces (UNAUTHENTICATED, NAMESPACE_FORBIDDEN).
func startServers(t testing.TB) *servers {
	t.Helper()
	s := &servers{uri: os.Getenv(testbackend.EnvURI)}
	if s.uri == "" {
		_, s.uri = proctest.Emulator(t, bins)
	}
	s.a = proctest.StartServer(t, bins, s.uri, "--instance-id", "mg-ts-a", "--backend", "other="+s.uri, "--commit-retry-limit", "300ms")
	s.b = proctest.StartServer(t, bins, s.uri, "--instance-id", "mg-ts-b", "--commit-retry-limit", "300ms", "--max-sessions-per-principal", "20")
	dir := t.TempDir()
	keys, authz := filepath.Join(dir, "keys"), filepath.Join(dir, "authz.yaml")
	sum := sha256.Sum256([]byte(apiKey))
	if err := os.WriteFile(keys, []byte(apiPrincipal+" "+hex.EncodeToString(sum[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules := "principals:\n  " + apiPrincipal + ":\n    readWrite: [\"ts_*.*\"]\n"
	if err := os.WriteFile(authz, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	s.c = proctest.StartServer(t, bins, s.uri, "--instance-id", "mg-ts-c", "--api-keys", keys, "--authz", authz)
	return s
}

// runNode runs node with args in clients/ts, with env added, logs what it
// printed, and fails the test unless it exits 0.
func runNode(t testing.TB, node string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = tsDir
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("node %s (%v):\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), out)
	if ctx.Err() != nil {
		t.Fatalf("node did not finish within %v", nodeTimeout)
	}
	if err != nil {
		t.Fatalf("node %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// TestClient runs the client's node tests (clients/ts/test/*.test.ts),
// one node --test process per file, against real servers, over gRPC and
// over the Connect protocol (MONGOGATE_TS_REQUIRE_CONNECT=1: a server that
// did not answer Connect would fail them, not skip them).
func TestClient(t *testing.T) {
	node := needTools(t)
	mustBuild(t, node)
	s := startServers(t)
	files, err := filepath.Glob(filepath.Join(tsDir, "dist", "test", "*.test.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no compiled tests in clients/ts/dist/test (%v)", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".test.js")
		t.Run(name, func(t *testing.T) {
			out := runNode(t, node, s.env(), "--test", "--test-reporter=tap", f)
			if m := regexp.MustCompile(`(?m)^# skipped (\d+)$`).FindStringSubmatch(out); m != nil && m[1] != "0" {
				t.Logf("%s node tests skipped (see the SKIP lines above)", m[1])
			}
		})
	}
}

// typeScriptBlock returns the first ```ts code block of README.md's
// section heading.
func typeScriptBlock(t *testing.T, heading string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(readme)))
	var in, code bool
	var b strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == heading
		case in && !code && line == "```ts":
			code = true
		case in && code && line == "```":
			return b.String()
		case in && code:
			b.WriteString(line + "\n")
		}
	}
	t.Fatalf("README.md has no ```ts block under %q", heading)
	return ""
}

// runScript type-checks a TypeScript program that imports the client by
// its package name, strips its types with esbuild and runs it with node,
// from a directory inside clients/ts (where "@mongogate/client" resolves
// to the package itself).
func runScript(t *testing.T, node, name, source string, env []string) string {
	t.Helper()
	dir := filepath.Join(tsDir, "dist", "scripts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, name+".ts")
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	runNode(t, node, nil, filepath.Join("node_modules", "typescript", "bin", "tsc"), "--noEmit", "--strict",
		"--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext",
		"--lib", "es2022,esnext.disposable,dom", "--types", "node", "--skipLibCheck", src)
	out := filepath.Join(dir, name+".mjs")
	runNode(t, node, nil, filepath.Join("node_modules", "esbuild", "bin", "esbuild"), src, "--format=esm", "--platform=node", "--target=node20", "--outfile="+out, "--log-level=warning")
	return runNode(t, node, env, out)
}

// TestReadmeFromTypeScript runs README.md's "From TypeScript" example
// verbatim against a server.
func TestReadmeFromTypeScript(t *testing.T) {
	node := needTools(t)
	mustBuild(t, node)
	code := typeScriptBlock(t, "## From TypeScript")
	uri := os.Getenv(testbackend.EnvURI)
	if uri == "" {
		_, uri = proctest.Emulator(t, bins)
	}
	srv := proctest.StartServer(t, bins, uri)
	out := runScript(t, node, "readme", code, []string{"MONGOGATE_ADDR=" + srv.Addr})
	for _, want := range []string{"alice 70", "bob 30"} {
		if !strings.Contains(out, want) {
			t.Errorf("the example printed no %q", want)
		}
	}
}

// TestExample runs examples/typescript/bank.ts against a server.
func TestExample(t *testing.T) {
	node := needTools(t)
	mustBuild(t, node)
	src, err := os.ReadFile(filepath.Join(root, "examples", "typescript", "bank.ts"))
	if err != nil {
		t.Fatal(err)
	}
	uri := os.Getenv(testbackend.EnvURI)
	if uri == "" {
		_, uri = proctest.Emulator(t, bins)
	}
	srv := proctest.StartServer(t, bins, uri)
	out := runScript(t, node, "bank", string(src), []string{"MONGOGATE_ADDR=" + srv.Addr})
	if !strings.Contains(out, "total 100") {
		t.Errorf("the example did not end with the money conserved (want \"total 100\")")
	}
}

// BenchmarkFindOne measures FindOne's p50 through the client and through
// the raw generated stub on the same transport, in one node process
// (clients/ts/bench/findone.ts), and reports both and their ratio: over
// gRPC, and over the Connect protocol when the server serves it. One run
// is the measurement: use -benchtime=1x.
//
//	go test ./test/tsclient -run '^$' -bench FindOne -benchtime 1x
func BenchmarkFindOne(b *testing.B) {
	node := needTools(b)
	mustBuild(b, node)
	uri := os.Getenv(testbackend.EnvURI)
	if uri == "" {
		_, uri = proctest.Emulator(b, bins)
	}
	srv := proctest.StartServer(b, bins, uri)
	for _, transport := range []string{"grpc", "connect"} {
		b.Run(transport, func(b *testing.B) {
			if transport == "connect" && !servesConnect(srv.Addr) {
				b.Skip("the server does not serve the Connect protocol")
			}
			var res struct {
				Iterations                          int
				ClientP50Us, RawP50Us, RawBareP50Us float64
				ClientP99Us, RawP99Us               float64
				Ratio, RatioBare                    float64
			}
			for b.Loop() {
				out := runNode(b, node, []string{"MONGOGATE_TS_ADDR=" + srv.Addr, "MONGOGATE_TS_BENCH_TRANSPORT=" + transport}, filepath.Join("dist", "bench", "findone.js"))
				line := out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]
				if err := json.Unmarshal([]byte(line), &res); err != nil {
					b.Fatalf("bench output's last line %q: %v", line, err)
				}
			}
			b.ReportMetric(res.ClientP50Us, "client-p50-µs")
			b.ReportMetric(res.RawP50Us, "raw-p50-µs")
			b.ReportMetric(res.RawBareP50Us, "rawbare-p50-µs")
			b.ReportMetric(res.Ratio, "client/raw")
			b.ReportMetric(res.RatioBare, "client/rawbare")
		})
	}
}

// servesConnect reports whether addr answers the Connect protocol: a
// unary call over HTTP/1.1 with a JSON body gets a Connect error body.
func servesConnect(addr string) bool {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Post("http://"+addr+"/mongogate.v1.SessionService/GetSession", "application/json", strings.NewReader("{}"))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct{ Code string }
	return json.NewDecoder(resp.Body).Decode(&body) == nil && body.Code != ""
}
