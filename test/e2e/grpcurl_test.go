package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// grpcurl lists the services through reflection and reaches health.
func TestGrpcurl(t *testing.T) {
	t.Parallel()
	grpcurl := grpcurlPath(t)
	b := mustBackend(t)
	s := mustStartServer(t, b)

	services := strings.Fields(runGrpcurl(t, grpcurl, "-plaintext", s.Addr, "list"))
	for _, want := range []string{
		"mongogate.v1.SessionService",
		"mongogate.v1.TransactionService",
		"mongogate.v1.DocumentService",
		"grpc.health.v1.Health",
		"grpc.reflection.v1.ServerReflection",
	} {
		if !slices.Contains(services, want) {
			t.Errorf("grpcurl list = %q, want %s among them", services, want)
		}
	}

	// Reflection serves the contract's documentation comments.
	if out := runGrpcurl(t, grpcurl, "-plaintext", s.Addr, "describe", "mongogate.v1.SessionService"); !strings.Contains(out, "// ") {
		t.Errorf("grpcurl describe shows no comments:\n%s", out)
	}
	// Every error reason is there too, each value under its comment.
	reasons := strings.Split(runGrpcurl(t, grpcurl, "-plaintext", s.Addr, "describe", "mongogate.v1.ErrorReason"), "\n")
	values := pb.ErrorReason(0).Descriptor().Values()
	for i := range values.Len() {
		v := values.Get(i)
		at := slices.IndexFunc(reasons, func(l string) bool {
			return strings.HasPrefix(strings.TrimSpace(l), fmt.Sprintf("%s = %d;", v.Name(), v.Number()))
		})
		if at < 1 || !strings.HasPrefix(strings.TrimSpace(reasons[at-1]), "// ") {
			t.Errorf("grpcurl describe mongogate.v1.ErrorReason shows no commented %s:\n%s", v.Name(), strings.Join(reasons, "\n"))
		}
	}

	var health struct{ Status string }
	out := runGrpcurl(t, grpcurl, "-plaintext", s.Addr, "grpc.health.v1.Health/Check")
	if err := json.Unmarshal([]byte(out), &health); err != nil || health.Status != "SERVING" {
		t.Errorf("grpcurl health check = %q (%v), want status SERVING", out, err)
	}
}

// grpcurlPath finds grpcurl on PATH or where go install puts it (.ci/run
// installs it there); without it the test is skipped.
func grpcurlPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("grpcurl"); err == nil {
		return p
	}
	var dirs []string
	if out, err := exec.Command("go", "env", "GOBIN").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(dir, "bin"))
		}
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, "grpcurl")
		if info, err := os.Stat(p); err == nil && !info.IsDir() {
			return p
		}
	}
	t.Skip("grpcurl is neither on PATH nor in $(go env GOPATH)/bin; install it with: go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3")
	return ""
}

// runGrpcurl runs grpcurl with args and returns its stdout; any failure
// fails the test.
func runGrpcurl(t *testing.T, grpcurl string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(testCtx(t), grpcurl, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("grpcurl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
