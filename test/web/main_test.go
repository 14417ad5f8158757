// Package web tests mongogate's HTTP protocols as programs without a
// MongoDB driver or a gRPC stack use them: a Python program on the
// standard library alone, a page in headless Chromium, and HTTP/1.1
// through nginx in front of several instances. Each starts real processes
// on 127.0.0.1 (internal/proctest) and stops them.
package web

import (
	"fmt"
	"os"
	"testing"

	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
)

var (
	// root is the repository root, bins the binaries TestMain built
	// from it.
	root string
	bins proctest.Binaries
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	if root, err = testbackend.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "web:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "mongogate-web-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "web:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if bins, err = proctest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "web:", err)
		return 1
	}
	return m.Run()
}
