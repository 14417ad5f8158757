package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mongogate/mongogate/internal/testbackend"
)

var flagPython = flag.Bool("bench-python", false, "run TestBenchPython in full (also MONGOGATE_BENCH_PYTHON=1; -bench-full does too)")

// python is Debian's interpreter: a pyenv or venv python3 earlier on PATH
// does not see Debian's python3-grpcio and python3-pymongo.
const python = "/usr/bin/python3"

// TestBenchPython runs python/compare.py: FindOne and InsertOne from
// Python through mongogate (grpcio) and with PyMongo, against one
// in-process emulator, with a gate wired as for the Go figures. Without
// -bench-python or -bench-full it does a few hundred operations per side,
// to prove the script works; it asserts nothing about time.
func TestBenchPython(t *testing.T) {
	needPython(t)
	uri := backendURI(t)
	g := startGate(t, uri, gateOptions{})
	args := []string{filepath.Join("python", "compare.py"), "--gate", g.addr, "--mongo", uri, "--db", testbackend.DBName(t)}
	timeout := 2 * time.Minute
	if *flagPython || fullRun() || os.Getenv("MONGOGATE_BENCH_PYTHON") == "1" {
		// Each of 2 figures runs each of 2 sides for -bench-dur in all,
		// as the Go figures do.
		args = append(args, "--rounds", "5", "--dur", strconv.FormatFloat((*flagDur/5).Seconds(), 'f', -1, 64), "--warm", "500")
		timeout += 4 * *flagDur
	} else {
		args = append(args, "--rounds", "2", "--ops", "100", "--warm", "20")
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	fmt.Print(string(out))
	if ctx.Err() != nil {
		t.Fatalf("compare.py did not finish within %v", timeout)
	}
	if err != nil {
		t.Fatalf("compare.py: %v", err)
	}
}

// needPython checks for what compare.py needs. Missing tools skip the
// test on a developer's machine and fail it under CI, which is expected
// to have run scripts/install-otherlang.sh.
func needPython(t *testing.T) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + "; run scripts/install-otherlang.sh (as root) to install it"
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set, so this must not be missing: %s", msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(python); err != nil {
		missing("%s not found", python)
	}
	if out, err := exec.Command(python, "-c", "import grpc, google.protobuf, pymongo, bson").CombinedOutput(); err != nil {
		missing("%s cannot import grpc, google.protobuf, pymongo and bson (Debian's python3-grpcio, python3-protobuf, python3-pymongo): %v\n%s", python, err, out)
	}
	for _, tool := range []string{"protoc", "grpc_python_plugin"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing("%s not found (Debian's protobuf-compiler, protobuf-compiler-grpc)", tool)
		}
	}
}
