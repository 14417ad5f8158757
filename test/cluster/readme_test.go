package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
)

// README's nginx configuration is the one these tests run, for its
// addresses.
func TestREADMENginxConfig(t *testing.T) {
	root, err := testbackend.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- cluster-nginx:begin -->\n```nginx\n")
	block, _, ok2 := strings.Cut(rest, "```\n<!-- cluster-nginx:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no cluster-nginx block")
	}
	want := proctest.NginxConfig{
		Listen:    "127.0.0.1:8080",
		Instances: []string{"127.0.0.1:50051", "127.0.0.1:50052", "127.0.0.1:50053"},
		Prefix:    "/tmp/mongogate-nginx",
	}.Render()
	if block != want {
		t.Errorf("README's nginx.conf differs from the one the tests run; want:\n%s", want)
	}
}
