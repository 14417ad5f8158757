// Package proctest runs the real processes of end-to-end tests: the
// mongogate server and emulator binaries built from this repository, and
// nginx as a load balancer in front of several servers. Every process a
// test starts is stopped by it (SIGTERM, then SIGKILL), listens on
// loopback only, and has its stderr logged when the test fails.
package proctest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mongogate/mongogate/internal/testbackend"
)

// StopTimeout is how long a process gets to exit after SIGTERM before it
// is killed (and the test fails).
const StopTimeout = 15 * time.Second

// startTimeout bounds the wait for a process's readiness line.
const startTimeout = 30 * time.Second

// Binaries are the programs built from this repository.
type Binaries struct {
	Server   string // cmd/server
	Emulator string // cmd/emulator
	Root     string // the repository they were built from
}

// Main is the TestMain of a test package that runs mongogate's programs:
// it builds them into a temporary directory, sets *bins, runs the tests,
// removes the directory and exits with the tests' status.
func Main(m *testing.M, bins *Binaries) {
	os.Exit(buildAndRun(m, bins))
}

func buildAndRun(m *testing.M, bins *Binaries) int {
	dir, err := os.MkdirTemp("", "mongogate-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "proctest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bins, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "proctest:", err)
		return 1
	}
	return m.Run()
}

// Build builds cmd/server and cmd/emulator into dir, for a TestMain;
// with MONGOGATE_TEST_RACE=1 in the environment, with the race detector.
func Build(dir string) (Binaries, error) {
	root, err := testbackend.RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{Server: filepath.Join(dir, "mongogate"), Emulator: filepath.Join(dir, "mongogate-emulator"), Root: root}
	for bin, pkg := range map[string]string{b.Server: "./cmd/server", b.Emulator: "./cmd/emulator"} {
		args := []string{"build", "-o", bin}
		if os.Getenv("MONGOGATE_TEST_RACE") == "1" {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	return b, nil
}

// Proc is one running process.
type Proc struct {
	Name string
	cmd  *exec.Cmd

	mu     sync.Mutex
	lines  []string      // stdout so far
	grew   chan struct{} // closed and replaced when lines grows
	stderr bytes.Buffer

	exited  chan struct{} // closed once the process has exited
	waitErr error         // cmd.Wait's result, set before exited closes
	stop    sync.Once
	killed  bool // by Kill: no clean exit is expected
}

// Start runs name with args (env added to the test's environment without
// MONGOGATE_* variables, so a developer's settings change nothing). At
// cleanup the process gets SIGTERM, then SIGKILL after StopTimeout (which
// fails the test); it must then exit with status 0, unless the test
// killed it.
func Start(t testing.TB, name string, args []string, env ...string) *Proc {
	t.Helper()
	p := &Proc{Name: filepath.Base(name), grew: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = append(CleanEnv(), env...)
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.grew)
			p.grew = make(chan struct{})
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if code := p.Stop(t); code != 0 && !p.killed {
			t.Errorf("%s exited with status %d after SIGTERM, want 0", p.Name, code)
		}
		if strings.Contains(p.Stderr(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race (MONGOGATE_TEST_RACE=1)", p.Name)
		}
		if t.Failed() {
			t.Logf("%s (pid %d) stderr:\n%s", p.Name, p.cmd.Process.Pid, p.Stderr())
		}
	})
	return p
}

// CleanEnv is the test's environment without MONGOGATE_* variables, so a
// developer's settings change nothing in a process a test runs.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MONGOGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// WaitLine waits for a line of stdout that re matches and returns its
// submatches; it fails the test if the process exits first or the line
// does not come within 30 s.
func (p *Proc) WaitLine(t testing.TB, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(startTimeout)
	for i := 0; ; {
		p.mu.Lock()
		for ; i < len(p.lines); i++ {
			if m := re.FindStringSubmatch(p.lines[i]); m != nil {
				p.mu.Unlock()
				return m
			}
		}
		grew := p.grew
		p.mu.Unlock()
		select {
		case <-grew:
		case <-p.exited:
			// The last lines may have arrived with the exit.
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if i < n {
				continue
			}
			t.Fatalf("%s exited (%v) before printing a line matching %q", p.Name, p.waitErr, re)
		case <-timeout:
			t.Fatalf("%s did not print a line matching %q within %v", p.Name, re, startTimeout)
		}
	}
}

// Stderr is what the process wrote to stderr so far.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill stops the process with SIGKILL, as a crash would, and waits for it.
func (p *Proc) Kill() {
	p.stop.Do(func() {
		p.killed = true
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	})
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Terminate sends SIGTERM and waits up to within for the process to exit;
// it returns the exit code, or kills the process and fails the test if it
// is still running.
func (p *Proc) Terminate(t testing.TB, within time.Duration) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(within):
		p.Kill()
		t.Fatalf("%s still running %v after SIGTERM; killed", p.Name, within)
	}
	return p.Stop(t)
}

// Stop sends SIGTERM, waits up to StopTimeout, then kills the process and
// fails the test. It returns the exit code (-1 if it was killed by a
// signal); later calls return at once.
func (p *Proc) Stop(t testing.TB) int {
	t.Helper()
	p.stop.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(StopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.exited
			t.Errorf("%s still running %v after SIGTERM; killed", p.Name, StopTimeout)
		}
	})
	<-p.exited
	var ee *exec.ExitError
	switch {
	case p.waitErr == nil:
		return 0
	case errors.As(p.waitErr, &ee):
		return ee.ExitCode()
	}
	return -1
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// Proxy is a TCP proxy on a loopback address to a backend: a test cuts
// it to simulate the backend going away (every connection drops, new ones
// are refused) and restores it on the same address.
type Proxy struct {
	Addr    string
	backend string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartProxy proxies a free loopback port to backend until the test ends.
func StartProxy(t testing.TB, backend string) *Proxy {
	t.Helper()
	p := &Proxy{backend: backend, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.Addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Cut)
	return p
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.backend)
			if err != nil {
				c.Close()
				continue
			}
			if !p.track(c, up) {
				return
			}
			p.wg.Add(2)
			go p.pipe(c, up)
			go p.pipe(up, c)
		}
	}()
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// Cut closes the listener and every connection, and waits for the
// proxy's goroutines.
func (p *Proxy) Cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Restore listens on the same address again.
func (p *Proxy) Restore(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment
		if ln, err = net.Listen("tcp", p.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("proxy: listen on %s again: %v", p.Addr, err)
	}
	p.serve(ln)
}
