// Package web tests mongogate's HTTP protocols as programs without a
// MongoDB driver or a gRPC stack use them: a Python program on the
// standard library alone, a page in headless Chromium, and HTTP/1.1
// through nginx in front of several instances. Each starts real processes
// on 127.0.0.1 (internal/proctest) and stops them.
package web

import (
	"testing"

	"github.com/mongogate/mongogate/internal/proctest"
)

var bins proctest.Binaries

func TestMain(m *testing.M) { proctest.Main(m, &bins) }
