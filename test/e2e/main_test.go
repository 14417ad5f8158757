package e2e

import (
	"testing"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testkit"
)

// bins are the binaries TestMain builds once for all tests.
var bins proctest.Binaries

// stopWait is how long a server gets to exit after SIGTERM before it is
// killed (and the test fails).
const stopWait = proctest.StopTimeout

func TestMain(m *testing.M) { proctest.Main(m, &bins) }

// serverProc is one running mongogate process and the clients of its
// services.
type serverProc struct {
	*proctest.Server
	testkit.Stubs

	health healthpb.HealthClient
}

// mustStartServer starts the server binary on a free loopback port with
// backend b as its default backend (so the test reaches the same data with
// the driver), plus args; later flags win over earlier ones. It returns once
// health reports SERVING. At cleanup the server gets SIGTERM and must exit 0
// within stopWait; its stderr goes to the test log if the test failed.
func mustStartServer(t *testing.T, b *backend, args ...string) *serverProc {
	t.Helper()
	srv := proctest.StartServer(t, bins, b.serverURI(), args...)
	conn := testkit.Dial(t, srv.Addr, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	return &serverProc{Server: srv, Stubs: testkit.NewStubs(conn), health: healthpb.NewHealthClient(conn)}
}
