package breaking

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mongogate/mongogate/internal/testbackend"
)

// edit is one change to a proto file of the copy: old must occur exactly
// once, so that a change to the real contract that removes it fails the
// test instead of quietly testing nothing.
type edit struct {
	file, old, new string
}

const session = "proto/mongogate/v1/session.proto"

// getSessionRPC is GetSession's declaration in session.proto.
const getSessionRPC = `  rpc GetSession(GetSessionRequest) returns (GetSessionResponse) {
    option (google.api.http) = {
      post: "/v1/sessions:get"
      body: "*"
    };
  }`

// probeField is a compatible addition: a new field with a new number.
var probeField = edit{session,
	"  string instance_address = 11;\n",
	"  string instance_address = 11;\n  // A field added by the test.\n  optional string probe = 12;\n"}

func TestBreakingChangesFail(t *testing.T) {
	tests := []struct {
		name string
		edit edit
		rule string // the buf rule the script must report
	}{
		{"renumber a field", edit{session, "  string instance_id = 3;", "  string instance_id = 12;"}, "FIELD_NO_DELETE"},
		{"delete a field", edit{session, "  string instance_address = 11;", ""}, "FIELD_NO_DELETE"},
		{"change a field's type", edit{session, "  bool transaction_aborted = 1;", "  string transaction_aborted = 1;"}, "FIELD_SAME_TYPE"},
		{"rename a field (its JSON name)", edit{session, "  google.protobuf.Timestamp created_time = 4;", "  google.protobuf.Timestamp create_time = 4;"}, "FIELD_SAME_NAME"},
		{"set a field's json_name", edit{session, "  google.protobuf.Timestamp created_time = 4;", `  google.protobuf.Timestamp created_time = 4 [json_name = "created"];`}, "FIELD_SAME_JSON_NAME"},
		{"rename an enum value (a wire reason)", edit{"proto/mongogate/v1/common.proto", "  ERROR_REASON_SESSION_OWNER_GONE = 21;", "  ERROR_REASON_SESSION_OWNER_LOST = 21;"}, "ENUM_VALUE_SAME_NAME"},
		{"delete an rpc", edit{session, getSessionRPC, ""}, "RPC_NO_DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := mustCopy(t)
			mustEdit(t, dir, tt.edit)
			out := mustFail(t, dir)
			if !strings.Contains(out, "error "+tt.rule+" ") {
				t.Errorf("the script did not report %s:\n%s", tt.rule, out)
			}
		})
	}
}

func TestCompatibleChangesPass(t *testing.T) {
	tests := []struct {
		name  string
		edits []edit
	}{
		{"no change", nil},
		{"a new optional field", []edit{probeField}},
		{"a new rpc and messages", []edit{{session,
			getSessionRPC + "\n",
			getSessionRPC + "\n  // An rpc added by the test.\n  rpc Probe(ProbeRequest) returns (ProbeResponse);\n"},
			{session, "\nmessage Session {", "\n// A request added by the test.\nmessage ProbeRequest {}\n\n// A response added by the test.\nmessage ProbeResponse {}\n\nmessage Session {"}}},
		{"a comment", []edit{{session, "// Session describes a session.\n", "// Session describes a session, and more.\n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := mustCopy(t)
			for _, e := range tt.edits {
				mustEdit(t, dir, e)
			}
			mustPass(t, dir)
		})
	}
}

// An addition taken into the baseline is guarded from then on, even with no
// git history to compare with.
func TestUpdateBaselineGuardsAdditions(t *testing.T) {
	dir := mustCopy(t)
	mustEdit(t, dir, probeField)
	mustPass(t, dir, "--update-baseline")
	mustEdit(t, dir, edit{session, "  optional string probe = 12;\n", ""})
	if out := mustFail(t, dir); !strings.Contains(out, "error FIELD_NO_DELETE ") {
		t.Errorf("deleting a field taken into the baseline was not reported as FIELD_NO_DELETE:\n%s", out)
	}
}

func TestUpdateBaselineRefusesBreakingChange(t *testing.T) {
	dir := mustCopy(t)
	before := mustRead(t, filepath.Join(dir, baseline))
	mustEdit(t, dir, edit{session, "  string instance_address = 11;", ""})
	mustFail(t, dir, "--update-baseline")
	if !bytes.Equal(mustRead(t, filepath.Join(dir, baseline)), before) {
		t.Error("--update-baseline rewrote the baseline for a breaking change")
	}
}

// A commit that breaks proto/ and rebuilds the baseline to match by hand
// passes the baseline check; the previous commit catches it.
func TestPreviousCommitCatchesRewrittenBaseline(t *testing.T) {
	dir := mustCopy(t)
	mustGit(t, dir, "init", "-q")
	mustGit(t, dir, "add", ".")
	mustGit(t, dir, "commit", "-q", "-m", "contract")
	mustEdit(t, dir, edit{session, "  bool transaction_aborted = 1;", "  string transaction_aborted = 1;"})
	build := exec.Command(mustBuf(t), "build", "--exclude-source-info", "--output", baseline)
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("buf build: %v\n%s", err, out)
	}
	mustGit(t, dir, "commit", "-q", "-a", "-m", "break the contract and hide it")
	if out := mustFail(t, dir); !strings.Contains(out, "error FIELD_SAME_TYPE ") {
		t.Errorf("the previous-commit check did not report FIELD_SAME_TYPE:\n%s", out)
	}
}

// CI may clone with --depth 1: no HEAD~1, so the baseline check runs alone.
func TestShallowCloneFallsBackToBaseline(t *testing.T) {
	src := mustCopy(t)
	mustGit(t, src, "init", "-q")
	mustGit(t, src, "add", ".")
	mustGit(t, src, "commit", "-q", "-m", "contract")
	mustEdit(t, src, probeField)
	mustGit(t, src, "commit", "-q", "-a", "-m", "a new field")

	dir := filepath.Join(t.TempDir(), "clone")
	mustGit(t, src, "clone", "-q", "--depth", "1", "file://"+src, dir)
	mustLinkCache(t, dir)
	mustPass(t, dir)

	mustEdit(t, dir, edit{session, "  bool transaction_aborted = 1;", "  string transaction_aborted = 1;"})
	if out := mustFail(t, dir); !strings.Contains(out, "error FIELD_SAME_TYPE ") {
		t.Errorf("the baseline check did not report FIELD_SAME_TYPE in a shallow clone:\n%s", out)
	}
}

const baseline = "contract/baseline.binpb"

var (
	bufOnce sync.Once
	bufPath string
	bufErr  error
)

// mustBuf installs buf through scripts/buf.sh, once, and returns its path.
func mustBuf(t *testing.T) string {
	t.Helper()
	bufOnce.Do(func() {
		root, err := testbackend.RepoRoot()
		if err != nil {
			bufErr = err
			return
		}
		cmd := exec.Command("bash", "scripts/buf.sh")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			bufErr = errors.Join(err, errors.New(string(out)))
			return
		}
		bufPath = filepath.Join(root, ".cache", "bin", "buf")
	})
	if bufErr != nil {
		msg := "buf cannot be installed by scripts/buf.sh (it needs the Go module proxy): " + bufErr.Error()
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set, so buf must be installable: %s", msg)
		}
		t.Skip(msg)
	}
	return bufPath
}

// mustCopy copies what scripts/breaking-check.sh reads into a temporary
// directory, without git history, and returns it.
func mustCopy(t *testing.T) string {
	t.Helper()
	mustBuf(t)
	root, err := testbackend.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{"proto", "third_party", "scripts", "contract"} {
		if err := os.CopyFS(filepath.Join(dir, d), os.DirFS(filepath.Join(root, d))); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"buf.yaml", "buf.gen.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, f), mustRead(t, filepath.Join(root, f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Without the trailing slash of the repository's "/.cache/": here .cache
	// is a symlink, which a directory pattern does not match.
	if err := os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("/.cache\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustLinkCache(t, dir)
	return dir
}

// mustLinkCache points dir/.cache at the repository's, where buf is.
func mustLinkCache(t *testing.T, dir string) {
	t.Helper()
	root, err := testbackend.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, ".cache"), filepath.Join(dir, ".cache")); err != nil {
		t.Fatal(err)
	}
}

func mustEdit(t *testing.T, dir string, e edit) {
	t.Helper()
	path := filepath.Join(dir, e.file)
	src := string(mustRead(t, path))
	if n := strings.Count(src, e.old); n != 1 {
		t.Fatalf("%s holds %q %d times, not once: update this test to the current contract", e.file, e.old, n)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(src, e.old, e.new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	args = append([]string{"-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// check runs scripts/breaking-check.sh in dir and returns its exit status
// and combined output.
func check(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"scripts/breaking-check.sh"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	default:
		t.Fatalf("run scripts/breaking-check.sh: %v", err)
		return 0, ""
	}
}

func mustPass(t *testing.T, dir string, args ...string) {
	t.Helper()
	if code, out := check(t, dir, args...); code != 0 {
		t.Fatalf("breaking-check.sh %s exited %d, want 0:\n%s", strings.Join(args, " "), code, out)
	}
}

// mustFail expects the exit status of a found break, 1, and returns the
// output.
func mustFail(t *testing.T, dir string, args ...string) string {
	t.Helper()
	code, out := check(t, dir, args...)
	if code != 1 {
		t.Fatalf("breaking-check.sh %s exited %d, want 1 (a breaking change):\n%s", strings.Join(args, " "), code, out)
	}
	return out
}
