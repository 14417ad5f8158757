package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/server"
)

const (
	aliceKey     = "alice-web-key"
	bobKey       = "bob-web-key"
	sessionLimit = 5
)

// httpServer is a mongogate process for the HTTP tests: API keys for
// alice and bob, both allowed to write db only (authz), a second backend
// "other" on the same deployment and a standalone one, "standalone", and
// sessionLimit sessions per principal.
func httpServer(t *testing.T, db string, args ...string) *proctest.Server {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(keys, []byte(fmt.Sprintf("alice %s\nbob %s\n",
		server.HashAPIKey(aliceKey), server.HashAPIKey(bobKey))), 0o600); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "authz.yaml")
	if err := os.WriteFile(rules, []byte(fmt.Sprintf("principals:\n  \"*\":\n    readWrite: [\"%s.*\"]\n", db)), 0o600); err != nil {
		t.Fatal(err)
	}
	uri := os.Getenv(testbackend.EnvURI)
	if uri == "" {
		_, uri = proctest.Emulator(t, bins)
	}
	_, standalone := proctest.Emulator(t, bins, "--standalone")
	all := append([]string{
		"--api-keys", keys, "--authz", rules,
		"--backend", "other=" + uri, "--backend", "standalone=" + standalone,
		"--max-sessions-per-principal", strconv.Itoa(sessionLimit),
	}, args...)
	return proctest.StartServer(t, bins, uri, all...)
}

// TestPythonStdlib runs test/web/python/stdlib_client.py: a transaction
// over Connect JSON and over REST, a 500-document Find both ways, and the
// error reasons a client can provoke, each with its code, from a Python
// program that has only the standard library.
func TestPythonStdlib(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		proctest.Missing(t, "python3 not found")
	}
	db := testbackend.DBName(t)
	s := httpServer(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-I", filepath.Join(bins.Root, "test", "web", "python", "stdlib_client.py"))
	cmd.Env = append(proctest.CleanEnv(),
		"MONGOGATE_HTTP=http://"+s.Addr, "MONGOGATE_DB="+db,
		"ALICE_KEY="+aliceKey, "BOB_KEY="+bobKey, "SESSION_LIMIT="+strconv.Itoa(sessionLimit))
	out, err := cmd.CombinedOutput()
	t.Logf("stdlib_client.py:\n%s", out)
	if err != nil {
		t.Fatalf("stdlib_client.py: %v", err)
	}
}
