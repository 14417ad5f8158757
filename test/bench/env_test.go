package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	backends "github.com/mongogate/mongogate/backend"
	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/gateway"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/sessions"
)

// maxSessions is the registry's session limit of a gate unless its
// gateOptions ask for more (the production default is 100,000 in total
// and 10,000 per principal; every session here is "anonymous", so both
// limits are set alike).
const maxSessions = 200_000

// closeTimeout bounds each shutdown step at cleanup.
const closeTimeout = 30 * time.Second

// gate is an in-process mongogate server, assembled by gateway.New as
// cmd/server's is, on a loopback TCP port.
type gate struct {
	addr string
	reg  *sessions.Registry
}

// connectDriver opens a driver client with the options cmd/server gives
// its backends (retryable writes on), used by both sides.
func connectDriver(t testing.TB, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetRetryWrites(true))
	if err != nil {
		t.Fatalf("connect %s: %v", uri, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = c.Disconnect(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		t.Fatalf("ping %s: %v", uri, err)
	}
	return c
}

// gateOptions change a gate's registry for the idle-state figures; the
// zero value is the registry's defaults with maxSessions.
type gateOptions struct {
	// maxSessions raises the limits above maxSessions.
	maxSessions int
	// idleTimeout is the default idle timeout; 0 is the registry's.
	idleTimeout time.Duration
	// now is the registry's clock; nil is time.Now.
	now func() time.Time
	// instance is the instance id; "" is "bench".
	instance string
	// noHTTP serves native gRPC alone (gateway.Config.NoHTTP).
	noHTTP bool
	// peers registers the gate in the instance directory (collection
	// directoryColl of the backend) and forwards other instances' calls,
	// as several cmd/server processes do.
	peers bool
}

// The collections cmd/server keeps in every deployment by default.
const (
	directoryDB   = "mongogate"
	directoryColl = "instances"
	outcomesColl  = "outcomes"
)

// startGate starts a mongogate server on uri and stops it at cleanup
// (graceful stop, then the registry ends its sessions, then the backend
// disconnects).
func startGate(t testing.TB, uri string, o gateOptions) *gate {
	t.Helper()
	limit := max(maxSessions, o.maxSessions)
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	instance := o.instance
	if instance == "" {
		instance = "bench"
	}
	directoryNS := directoryDB + "." + directoryColl
	own := ""
	if !o.peers {
		// A directory of its own, as one cmd/server process alone has:
		// several gates named "bench" may run at once.
		own = testbackend.DBName(t)
		directoryNS = own + "." + directoryColl
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	inst, err := gateway.New(ctx, gateway.Config{
		Backends:                []gateway.BackendConfig{gateway.DefaultBackend(backends.Default, uri)},
		InstanceID:              instance,
		MaxSessions:             limit,
		MaxSessionsPerPrincipal: limit,
		IdleTimeout:             o.idleTimeout,
		Now:                     o.now,
		DirectoryCollection:     directoryNS,
		OutcomeCollection:       directoryDB + "." + outcomesColl,
		Logger:                  log,
		NoHTTP:                  o.noHTTP,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		inst.Close()
		t.Fatal(err)
	}
	var serveErr error
	served := make(chan struct{})
	go func() {
		serveErr = inst.Serve(ln)
		close(served)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := inst.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
		if serveErr != nil {
			t.Errorf("serve: %v", serveErr)
		}
		if own != "" {
			_ = connectDriver(t, uri).Database(own).Drop(ctx)
		}
	})
	select {
	case <-inst.Ready():
	case <-served:
		t.Fatalf("serve: %v", serveErr)
	}
	return &gate{addr: ln.Addr().String(), reg: inst.Sessions()}
}

// client is a Go client of g, closed at cleanup.
func (g *gate) client(t testing.TB, opts ...mongogate.Option) *mongogate.Client {
	t.Helper()
	c, err := mongogate.New(g.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// stubs are the generated gRPC clients on a connection of their own, for
// the heap figure, where the Go client's per-session state and keep-alive
// goroutines would share the measured heap.
type stubs struct {
	sessions pb.SessionServiceClient
	docs     pb.DocumentServiceClient
}

func (g *gate) stubs(t testing.TB) stubs {
	t.Helper()
	conn := dial(t, g.addr)
	return stubs{
		sessions: pb.NewSessionServiceClient(conn),
		docs:     pb.NewDocumentServiceClient(conn),
	}
}

// health is a health client of g on a connection of its own.
func (g *gate) health(t testing.TB) healthpb.HealthClient {
	t.Helper()
	return healthpb.NewHealthClient(dial(t, g.addr))
}

// startBare starts a grpc.Server with nothing but the health service and
// no options, and returns a client of it.
func startBare(t testing.TB) healthpb.HealthClient {
	t.Helper()
	g := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	return healthpb.NewHealthClient(dial(t, ln.Addr().String()))
}

// dial connects to addr in plaintext, closed at cleanup.
func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// env is what the figures share: one backend, the driver on it, and one
// mongogate server on it with its Go client; a second Go client of that
// server, probe, whose calls rec notes, to learn the sizes of mongogate's
// messages for the floors; and a Go client of a bare proxy on the same
// backend (see bareProxy).
type env struct {
	uri    string
	db     string
	direct *mongo.Client
	gate   *gate
	mg     *mongogate.Client
	probe  *mongogate.Client
	rec    *recorder
	bare   *mongogate.Client
}

// backendURI is the deployment every side uses: MONGOGATE_TEST_URI's, an
// in-process emulator (the default: everything shares this process's two
// cores and scheduler, the least noisy set-up, and the CPU rows count the
// backend too), or with -bench-backend process a cmd/emulator process of
// its own (as a real MongoDB is another process: the CPU rows then count
// clients, mongogate and the floor only, but two processes' schedulers
// contend for the cores, which adds latency to both sides).
func backendURI(t testing.TB) string {
	t.Helper()
	if uri := os.Getenv(testbackend.EnvURI); uri != "" {
		return uri
	}
	if *flagBackend != "process" {
		return testbackend.URI(t)
	}
	bins, err := proctest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, uri := proctest.Emulator(t, bins)
	return uri
}

func newEnv(t testing.TB) *env {
	t.Helper()
	uri := backendURI(t)
	e := &env{uri: uri, db: testbackend.DBName(t), rec: &recorder{}}
	e.direct = connectDriver(t, uri)
	e.gate = startGate(t, uri, gateOptions{})
	e.mg = e.gate.client(t)
	e.probe = e.gate.client(t, mongogate.WithDialOptions(grpc.WithChainUnaryInterceptor(e.rec.intercept)))
	e.bare = startBareProxy(t, uri)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = e.direct.Database(e.db).Drop(ctx)
	})
	return e
}
