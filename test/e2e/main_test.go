package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
)

// serverBin is the mongogate binary that TestMain builds once for all tests.
var serverBin string

// stopWait is how long a server gets to exit after SIGTERM before it is
// killed (and the test fails).
const stopWait = 15 * time.Second

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mongogate-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if serverBin, err = testbackend.BuildServer(dir); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	return m.Run()
}

// serverProc is one running mongogate process and the clients of its
// services.
type serverProc struct {
	addr string
	// metricsURL is the /metrics URL when the server was started with
	// --metrics-listen.
	metricsURL string
	cmd        *exec.Cmd
	stderr     *lockedBuffer
	exited     chan struct{} // closed once the process has exited
	waitErr    error         // cmd.Wait's result, set before exited closes
	stopOnce   sync.Once

	conn     *grpc.ClientConn
	sessions pb.SessionServiceClient
	txns     pb.TransactionServiceClient
	docs     pb.DocumentServiceClient
	health   healthpb.HealthClient
}

// mustStartServer starts the server binary on a free loopback port with
// backend b as its default backend (so the test reaches the same data with
// the driver), plus args; later flags win over earlier ones. It returns once
// health reports SERVING. At cleanup the server gets SIGTERM and is killed
// if it has not exited after stopWait; its stderr goes to the test log if
// the test failed.
func mustStartServer(t *testing.T, b *backend, args ...string) *serverProc {
	t.Helper()
	all := append([]string{"--listen", "127.0.0.1:0", "--mongo-uri", b.serverURI()}, args...)
	s := &serverProc{stderr: &lockedBuffer{}, exited: make(chan struct{})}
	out := &listenWatcher{addr: make(chan string, 1)}
	s.cmd = exec.Command(serverBin, all...)
	s.cmd.Env = serverEnv()
	s.cmd.Stdout = out
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.stderr)
		}
	})

	select {
	case s.addr = <-out.addr:
		s.metricsURL = out.metricsURL()
	case <-s.exited:
		t.Fatalf("server exited before listening: %v", s.waitErr)
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not print its listen address within 30s")
	}

	conn, err := grpc.NewClient(s.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatalf("grpc client: %v", err)
	}
	s.conn = conn
	s.sessions = pb.NewSessionServiceClient(conn)
	s.txns = pb.NewTransactionServiceClient(conn)
	s.docs = pb.NewDocumentServiceClient(conn)
	s.health = healthpb.NewHealthClient(conn)
	s.waitServing(t)
	return s
}

// waitServing polls the health service until it reports SERVING.
func (s *serverProc) waitServing(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		last = fmt.Sprintf("%v %v", resp.GetStatus(), err)
		select {
		case <-s.exited:
			t.Fatalf("server exited while starting: %v", s.waitErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("server not SERVING within 20s; last health answer: %s", last)
}

// terminate sends SIGTERM and waits up to within for the process to exit.
// It reports the exit code, or fails the test if the process is still
// running (and kills it).
func (s *serverProc) terminate(t *testing.T, within time.Duration) int {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		select {
		case <-s.exited:
		default:
			t.Fatalf("SIGTERM: %v", err)
		}
	}
	select {
	case <-s.exited:
	case <-time.After(within):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Fatalf("server still running %v after SIGTERM; killed", within)
	}
	var ee *exec.ExitError
	switch {
	case s.waitErr == nil:
		return 0
	case errors.As(s.waitErr, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("waiting for the server: %v", s.waitErr)
	return -1
}

// stop ends the server at cleanup: SIGTERM, then kill after stopWait.
func (s *serverProc) stop(t *testing.T) {
	s.stopOnce.Do(func() {
		if s.conn != nil {
			_ = s.conn.Close()
		}
		select {
		case <-s.exited:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
			if s.waitErr != nil {
				t.Logf("server exited with %v after SIGTERM", s.waitErr)
			}
		case <-time.After(stopWait):
			_ = s.cmd.Process.Kill()
			<-s.exited
			t.Errorf("server still running %v after SIGTERM; killed", stopWait)
		}
	})
}

// serverEnv is the test's environment without MONGOGATE_* variables, so a
// developer's settings cannot change the flags a test gives the server.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MONGOGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// listenWatcher is the server's stdout: it finds the line
// "mongogate listening on ADDR" and sends ADDR once. The server prints
// "mongogate metrics on URL" before it, with --metrics-listen.
type listenWatcher struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	sent bool
	addr chan string
}

func (w *listenWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		for line := range strings.Lines(w.buf.String()) {
			if !strings.HasSuffix(line, "\n") {
				break
			}
			if addr, ok := strings.CutPrefix(strings.TrimSpace(line), "mongogate listening on "); ok {
				w.addr <- addr
				w.sent = true
				break
			}
		}
	}
	return len(p), nil
}

// metricsURL is the URL of the "mongogate metrics on" line, or "".
func (w *listenWatcher) metricsURL() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for line := range strings.Lines(w.buf.String()) {
		if url, ok := strings.CutPrefix(strings.TrimSpace(line), "mongogate metrics on "); ok {
			return url
		}
	}
	return ""
}

// lockedBuffer collects a process's output safely for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
