// Package mongosh runs the MongoDB shell (the npm package mongosh, locked
// in package-lock.json and installed by scripts/install-mongosh.sh) against
// cmd/emulator started as a process, with a script of everyday commands
// (everyday.js): CRUD, indexes, a transaction, db.coll.stats(), rs.status(),
// explain(), a collation query, a view and a validator that refuses a
// document.
package mongosh

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mongogate/mongogate/internal/proctest"
)

var bins proctest.Binaries

func TestMain(m *testing.M) { proctest.Main(m, &bins) }

// checks are the names everyday.js prints as "ok <name>".
var checks = []string{
	"insert", "find", "update", "delete", "indexes",
	"transaction isolation", "transaction commit",
	"coll stats", "db stats", "rs status", "explain find", "explain aggregate",
	"collation", "view read", "view write refused", "view listed",
	"validator refused", "validator errInfo", "current op", "server status",
}

func TestEverydayShell(t *testing.T) {
	shell := filepath.Join(bins.Root, "test", "mongosh", "node_modules", ".bin", "mongosh")
	if _, err := os.Stat(shell); err != nil {
		proctest.Missing(t, "mongosh is not installed (%v); run scripts/install-mongosh.sh", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		proctest.Missing(t, "node is not installed: %v", err)
	}
	_, uri := proctest.Emulator(t, bins)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, shell, uri, "--quiet", "--norc", "--file", filepath.Join(bins.Root, "test", "mongosh", "everyday.js"))
	// A home of its own keeps the shell's history, logs and telemetry
	// settings out of the developer's.
	home := t.TempDir()
	cmd.Env = append(proctest.CleanEnv(), "HOME="+home, "MONGOSH_NO_UPDATE_CHECK=1", "DO_NOT_TRACK=1")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mongosh: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "ok "); ok {
			got[name] = true
		}
	}
	for _, c := range checks {
		if !got[c] {
			t.Errorf("check %q did not report ok", c)
		}
	}
	if !regexp.MustCompile(`(?m)^everyday done$`).Match(out) {
		t.Errorf("the script did not finish:\n%s", out)
	}
}
