package mongogate_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	driveroptions "go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mongogate/mongogate/backend"
	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/clients/go/options"
	"github.com/mongogate/mongogate/internal/mongotrace"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/server"
	"github.com/mongogate/mongogate/sessions"
	"github.com/mongogate/mongogate/txn"
)

// Backends of every test server besides "default": "other" can run
// transactions, "standalone" claims it cannot, "down" points at a port
// where nothing listens.
const (
	backendOther      = "other"
	backendStandalone = "standalone"
	backendDown       = "down"
)

// gateConfig is what tests vary in the server; zero values are the
// server's defaults.
type gateConfig struct {
	idleTimeout      time.Duration // sessions.Config.IdleTimeout
	commitRetryLimit time.Duration // txn.Config.CommitRetryLimit
	maxSessions      int           // sessions.Config.MaxSessions
	apiKeysFile      string        // API keys instead of anonymous access
	// tracer traces RPCs and MongoDB commands, as --otlp-endpoint does.
	tracer trace.TracerProvider
	// advertise is the instance address sessions report (server.Config.Address).
	advertise string
}

// gate is an in-process mongogate wired as cmd/server wires it, serving
// gRPC on a loopback port.
type gate struct {
	addr string
	uri  string
	reg  *sessions.Registry
	stop func()
}

// startGate starts a server in front of the MongoDB deployment at uri. It
// takes no *testing.T so that TestMain can run one for the examples.
func startGate(uri string, cfg gateConfig) (_ *gate, err error) {
	var closers []func()
	stop := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	quiet := slog.New(slog.DiscardHandler)

	mopts := driveroptions.Client().ApplyURI(uri)
	if cfg.tracer != nil {
		mopts.SetMonitor(mongotrace.Monitor(cfg.tracer))
	}
	mc, err := mongo.Connect(mopts)
	if err != nil {
		return nil, err
	}
	down, err := mongo.Connect(driveroptions.Client().ApplyURI("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200"))
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = mc.Disconnect(ctx)
		_ = down.Disconnect(ctx)
	})
	tm, err := txn.New(txn.Config{CommitRetryLimit: cfg.commitRetryLimit, Logger: quiet})
	if err != nil {
		return nil, err
	}
	reg, err := sessions.New(sessions.Config{
		InstanceID:  "test",
		IdleTimeout: cfg.idleTimeout,
		MaxSessions: cfg.maxSessions,
		Logger:      quiet,
		AbortTxn:    tm.AbortFor,
	})
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = reg.Close(ctx)
	})
	bs, err := backend.NewSet(
		&backend.Backend{Name: backend.Default, Client: mc, Transactions: true, CausalConsistency: true},
		&backend.Backend{Name: backendOther, Client: mc, Transactions: true, CausalConsistency: true},
		&backend.Backend{Name: backendStandalone, Client: mc, Transactions: false},
		&backend.Backend{Name: backendDown, Client: down, Transactions: true},
	)
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Config{
		Backends: bs,
		Sessions: reg,
		Txn:      tm,
		Logger:   quiet,
		Address:  cfg.advertise,
	})
	if err != nil {
		return nil, err
	}
	auth, err := server.NewAuthenticator(server.AuthConfig{APIKeysFile: cfg.apiKeysFile, AllowAnonymous: cfg.apiKeysFile == ""})
	if err != nil {
		return nil, err
	}
	opts, err := server.ServerOptions(server.TransportConfig{Logger: quiet, Auth: auth, TracerProvider: cfg.tracer})
	if err != nil {
		return nil, err
	}
	g := grpc.NewServer(opts...)
	srv.Register(g)
	healthpb.RegisterHealthServer(g, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = g.Serve(ln)
	}()
	closers = append(closers, func() {
		g.Stop()
		<-served
	})
	return &gate{addr: ln.Addr().String(), uri: uri, reg: reg, stop: stop}, nil
}

// mustGate starts a server for the test, in front of the test backend,
// and stops it at cleanup.
func mustGate(t *testing.T, cfg gateConfig) *gate {
	t.Helper()
	g, err := startGate(testbackend.URI(t), cfg)
	if err != nil {
		t.Fatalf("start mongogate: %v", err)
	}
	t.Cleanup(g.stop)
	return g
}

// mustClient connects to g and closes the client at cleanup.
func mustClient(t *testing.T, g *gate, opts ...mongogate.Option) *mongogate.Client {
	t.Helper()
	c, err := mongogate.New(g.addr, opts...)
	if err != nil {
		t.Fatalf("mongogate.New: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// mustSession starts a session and ends it at cleanup.
func mustSession(t *testing.T, c *mongogate.Client, opts ...*options.SessionOptions) *mongogate.Session {
	t.Helper()
	s, err := c.StartSession(testCtx(t), opts...)
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	t.Cleanup(func() { _ = s.End(context.Background()) })
	return s
}

// testCtx bounds one test's calls.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// direct is a driver client straight to g's backend, to check what the
// service wrote and to set fail points.
func (g *gate) direct(t *testing.T) *mongo.Client {
	t.Helper()
	return testbackend.Client(t, g.uri)
}

// failPoint configures MongoDB's failCommand fail point and turns it off
// at cleanup.
func (g *gate) failPoint(t *testing.T, mode any, data bson.D) {
	t.Helper()
	admin := g.direct(t).Database("admin")
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode}, {Key: "data", Value: data}}
	if err := admin.RunCommand(testCtx(t), cmd).Err(); err != nil {
		t.Fatalf("configure fail point: %v", err)
	}
	t.Cleanup(func() { _ = failPointOff(admin) })
}

func failPointOff(admin *mongo.Database) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return admin.RunCommand(ctx, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}).Err()
}

// count counts the documents of db.coll that match filter, read directly
// from the backend.
func (g *gate) count(t *testing.T, db, coll string, filter any) int64 {
	t.Helper()
	n, err := g.direct(t).Database(db).Collection(coll).CountDocuments(testCtx(t), filter)
	if err != nil {
		t.Fatalf("count %s.%s: %v", db, coll, err)
	}
	return n
}

// stacks returns every goroutine's stack.
func stacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// waitGone waits until no goroutine's stack contains any of frames,
// failing the test after a few seconds: the goroutine-leak check.
func waitGone(t *testing.T, frames ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := stacks()
		leaked := ""
		for _, f := range frames {
			if bytes.Contains(s, []byte(f)) {
				leaked = f
			}
		}
		if leaked == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines with %s still running:\n%s", leaked, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keepAliveFrame is the keep-alive goroutine's function in stack traces:
// one per client, from its first session until Close.
const keepAliveFrame = "mongogate/clients/go.(*keeper).run"

// waitUnkept waits until c's keep-alive schedules no session: each was
// ended.
func waitUnkept(t *testing.T, c *mongogate.Client) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for mongogate.KeptSessions(c) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("keep-alive still schedules %d sessions", mongogate.KeptSessions(c))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requireIs fails unless errors.Is(err, want).
func requireIs(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want one matching %v", err, want)
	}
}

func dbName(t *testing.T) string { return testbackend.DBName(t) }
