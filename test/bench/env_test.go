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
	"github.com/mongogate/mongogate/directory"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/server"
	"github.com/mongogate/mongogate/sessions"
	"github.com/mongogate/mongogate/txn"
)

// maxSessions is the registry's session limit of a gate unless its
// gateOptions ask for more (the production default is 100,000 in total
// and 10,000 per principal; every session here is "anonymous", so both
// limits are set alike).
const maxSessions = 200_000

// closeTimeout bounds each shutdown step at cleanup.
const closeTimeout = 30 * time.Second

// gate is an in-process mongogate server, assembled as cmd/server's start
// does, on a loopback TCP port.
type gate struct {
	addr    string
	reg     *sessions.Registry
	backend *mongo.Client
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
	backend := connectDriver(t, uri)
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))

	metrics := server.NewMetrics()
	outcomes := backend.Database(directoryDB).Collection(outcomesColl)
	manager, err := txn.New(txn.Config{
		Logger: log.With("component", "txn"), OnCommitAttempt: metrics.CommitAttempt, OnOutcome: metrics.TransactionFinished,
		Outcomes: func(string) *mongo.Collection { return outcomes },
	})
	if err != nil {
		t.Fatal(err)
	}
	instance := o.instance
	if instance == "" {
		instance = "bench"
	}
	reg, err := sessions.New(sessions.Config{
		InstanceID:      instance,
		MaxSessions:     limit,
		MaxPerPrincipal: limit,
		IdleTimeout:     o.idleTimeout,
		Now:             o.now,
		Logger:          log.With("component", "sessions"),
		OnExpire:        metrics.SessionExpired,
		AbortTxn:        manager.AbortFor,
	})
	if err != nil {
		t.Fatal(err)
	}
	metrics.SetActiveSessions(func() int { return int(reg.Stats().Active) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		dir *directory.Directory
		fwd *server.Forwarder
	)
	if o.peers {
		dir, err = directory.New(directory.Config{
			Collection: backend.Database(directoryDB).Collection(directoryColl),
			InstanceID: instance, Address: ln.Addr().String(), Logger: log,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		fwd, err = server.NewForwarder(server.ForwardConfig{
			Self: instance, Peers: dir, Metrics: metrics, Logger: log,
			DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	bs, err := backends.NewSet(&backends.Backend{Name: backends.Default, Client: backend, Transactions: true, CausalConsistency: true})
	if err != nil {
		t.Fatal(err)
	}
	srvCfg := server.Config{
		Backends: bs,
		Sessions: reg,
		Txn:      manager,
		Metrics:  metrics,
		Logger:   log,
		Address:  ln.Addr().String(),
		Outcomes: func(string) *mongo.Collection { return outcomes },
		Internal: []string{directoryDB + "." + directoryColl, directoryDB + "." + outcomesColl},
	}
	if dir != nil {
		srvCfg.Peers = dir
	}
	srv, err := server.New(srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := server.NewAuthenticator(server.AuthConfig{AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := server.ServerOptions(server.TransportConfig{Logger: log, Auth: auth, Metrics: metrics, Forward: fwd})
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(opts...)
	srv.Register(g)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)

	served := make(chan error, 1)
	go func() { served <- g.Serve(ln) }()
	t.Cleanup(func() {
		hs.Shutdown()
		stopped := make(chan struct{})
		go func() {
			g.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(closeTimeout):
			g.Stop()
			<-stopped
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := reg.Close(ctx); err != nil {
			t.Errorf("close registry: %v", err)
		}
		if dir != nil {
			_ = dir.Close(ctx)
			_ = fwd.Close()
		}
	})
	return &gate{addr: ln.Addr().String(), reg: reg, backend: backend}
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
// mongogate server on it with its Go client; and a second Go client of
// that server, probe, whose calls rec notes, to learn the sizes of
// mongogate's messages for the floors.
type env struct {
	uri    string
	db     string
	direct *mongo.Client
	gate   *gate
	mg     *mongogate.Client
	probe  *mongogate.Client
	rec    *recorder
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
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = e.direct.Database(e.db).Drop(ctx)
	})
	return e
}
