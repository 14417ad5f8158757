package spec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mongogate/mongogate/internal/testbackend"
)

// suites are the specification test directories the runner covers, in the
// order they run and are reported.
var suites = []struct{ name, dir string }{
	{"transactions", "transactions/tests/unified"},
	{"transactions-convenient-api", "transactions-convenient-api/tests/unified"},
	{"sessions", "sessions/tests"},
	{"crud", "crud/tests/unified"},
	{"retryable-writes", "retryable-writes/tests/unified"},
	{"change-streams", "change-streams/tests/unified"},
}

func suiteNames() []string {
	names := make([]string, len(suites))
	for i, s := range suites {
		names[i] = s.name
	}
	return names
}

// TestSpec runs every suite, one subtest per suite, file and test, and
// prints a SPEC summary line per suite on stdout rather than the test log,
// so that it is not tied to a subtest. (In package-list mode the go command
// still shows a passing package's output only with -v.)
func TestSpec(t *testing.T) {
	specDir := os.Getenv("MONGOGATE_SPEC_DIR")
	if specDir == "" {
		t.Skip("MONGOGATE_SPEC_DIR is unset; point it at the specifications checkout (CI uses ../shared/specifications)")
	}
	root := repoRoot(t)
	if !filepath.IsAbs(specDir) {
		// go test runs in the package directory, but the variable is
		// documented relative to the repository root.
		specDir = filepath.Join(root, specDir)
	}
	knownPath := filepath.Join(root, "test", "spec", "known_failures.txt")
	known, err := readKnownFailures(knownPath)
	if err != nil {
		t.Fatal(err)
	}
	v := verdicts{known: known, rewriting: os.Getenv("MONGOGATE_SPEC_WRITE_KNOWN") == "1"}

	uri, backend := backendURI(t)
	dep, err := openDeployment(t.Context(), uri)
	if err != nil {
		t.Fatalf("connect to %s: %v", backend, err)
	}
	t.Cleanup(func() { _ = dep.Close(context.Background()) })
	backend += " (" + dep.describe() + ")"
	t.Logf("backend: %s", backend)

	var outcomes []outcome
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			got := runSuite(t, dep, s.name, filepath.Join(specDir, s.dir), v)
			outcomes = append(outcomes, got...)
			var n [3]int
			for _, o := range got {
				n[o.status]++
			}
			fmt.Printf("SPEC %s passed=%d failed=%d skipped=%d\n", s.name, n[passed], n[failed], n[skipped])
		})
	}

	if v.rewriting {
		next := updateKnown(known, outcomes)
		if err := os.WriteFile(knownPath, formatKnownFailures(next, suiteNames()), 0o644); err != nil {
			t.Fatal(err)
		}
		report := filepath.Join(root, "emulator", "CONFORMANCE.md")
		if err := os.WriteFile(report, conformanceReport(outcomes, suiteNames(), backend), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d entries) and %s", knownPath, len(next), report)
	}
}

func runSuite(t *testing.T, dep *deployment, suite, dir string, v verdicts) []outcome {
	files, err := listTestFiles(dir)
	if err != nil {
		t.Fatalf("suite %s: %v", suite, err)
	}
	var out []outcome
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			tf, err := loadTestFile(filepath.Join(dir, name))
			if err != nil {
				// Its tests cannot be listed, so the file counts as one failure.
				id := testID{suite, name, "(whole file)"}
				out = append(out, outcome{id, result{failed, err.Error()}})
				v.report(t, id, result{failed, err.Error()})
				return
			}
			if tf.SchemaVersion == "" {
				t.Skip("not a unified test format file")
			}
			for i := range tf.Tests {
				tc := &tf.Tests[i]
				t.Run(tc.Description, func(t *testing.T) {
					id := testID{suite, name, tc.Description}
					res := runTest(t.Context(), dep, tf, tc)
					out = append(out, outcome{id, res})
					v.report(t, id, res)
				})
			}
		})
	}
	return out
}

// verdicts turns test results into subtest verdicts using the list of
// known failures.
type verdicts struct {
	known knownFailures
	// rewriting is set when the run regenerates the list: every failure is
	// about to be listed, so none fails the run.
	rewriting bool
}

// report gives a test its verdict: listed failures are logged, unlisted ones
// fail the run, and listed tests that now pass are announced so that the
// list can shrink.
func (v verdicts) report(t *testing.T, id testID, res result) {
	listed, isKnown := v.known[id]
	switch res.status {
	case skipped:
		t.Skip(res.reason)
	case failed:
		switch {
		case isKnown:
			t.Logf("known failure (listed: %s)\n%s", listed, res.reason)
		case v.rewriting:
			t.Logf("new failure, being added to the list:\n%s", res.reason)
		default:
			t.Error(res.reason)
		}
	case passed:
		if isKnown {
			fmt.Printf("SPEC-NOW-PASSING %s %s: %s\n", id.suite, id.file, id.test)
		}
	}
}

// repoRoot finds the repository root by walking up to go.mod.
func repoRoot(t *testing.T) string {
	root, err := testbackend.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
