package mongogate_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	driveroptions "go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mongogate/mongogate/backend"
	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/clients/go/options"
	"github.com/mongogate/mongogate/emulator"
	"github.com/mongogate/mongogate/gateway"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/sessions"
)

// Backends of every test server besides "default": "other" can run
// transactions, "standalone" is a standalone emulator, which cannot, and
// "down" (in servers that ask for it) points at a port where nothing
// listens.
const (
	backendOther      = "other"
	backendStandalone = "standalone"
	backendDown       = "down"
)

// gateConfig is what tests vary in the server; zero values are the
// server's defaults.
type gateConfig struct {
	idleTimeout      time.Duration // gateway.Config.IdleTimeout
	commitRetryLimit time.Duration // gateway.Config.CommitRetryLimit
	maxSessions      int           // gateway.Config.MaxSessions
	apiKeysFile      string        // API keys instead of anonymous access
	// tracer traces RPCs and MongoDB commands, as --otlp-endpoint does.
	tracer trace.TracerProvider
	// advertise is the instance address sessions report
	// (gateway.Config.AdvertiseAddress); default the server's own.
	advertise string
	// down adds the backend that cannot be reached; the server's health
	// then stays NOT_SERVING.
	down bool
}

// gate is an in-process mongogate (gateway.New), serving gRPC on a
// loopback port.
type gate struct {
	addr string
	uri  string
	reg  *sessions.Registry
	stop func()
}

// startGate starts a server in front of the MongoDB deployment at uri and
// waits until it is healthy (unless a backend is down). It takes no
// *testing.T so that TestMain can run one for the examples.
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	standalone, err := emulator.New(emulator.Config{Standalone: true})
	if err != nil {
		return nil, err
	}
	if err := standalone.Start(ctx); err != nil {
		return nil, err
	}
	closers = append(closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = standalone.Close(ctx)
	})
	backends := []gateway.BackendConfig{
		gateway.DefaultBackend(backend.Default, uri),
		gateway.DefaultBackend(backendOther, uri),
		{Name: backendStandalone, URI: standalone.URI(), RetryWrites: true},
	}
	if cfg.down {
		backends = append(backends, gateway.BackendConfig{Name: backendDown, URI: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200", RetryWrites: true})
	}
	// The instance's own collections, apart from every other server's:
	// they all are instance "test".
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	own := "mg_gate_" + hex.EncodeToString(b)
	inst, err := gateway.New(ctx, gateway.Config{
		Backends:            backends,
		InstanceID:          "test",
		AdvertiseAddress:    cfg.advertise,
		IdleTimeout:         cfg.idleTimeout,
		CommitRetryLimit:    cfg.commitRetryLimit,
		MaxSessions:         cfg.maxSessions,
		APIKeysFile:         cfg.apiKeysFile,
		TracerProvider:      cfg.tracer,
		DirectoryCollection: own + ".instances",
		OutcomeCollection:   own + ".outcomes",
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		inst.Close()
		return nil, err
	}
	var serveErr error
	served := make(chan struct{})
	go func() {
		serveErr = inst.Serve(ln)
		close(served)
	}()
	closers = append(closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = inst.Shutdown(ctx)
		<-served
		if mc, err := mongo.Connect(driveroptions.Client().ApplyURI(uri)); err == nil {
			_ = mc.Database(own).Drop(ctx)
			_ = mc.Disconnect(ctx)
		}
	})
	select {
	case <-inst.Ready():
	case <-served:
		return nil, serveErr
	}
	g := &gate{addr: ln.Addr().String(), uri: uri, reg: inst.Sessions(), stop: stop}
	if !cfg.down {
		if err := waitServing(ctx, g.addr); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// waitServing waits until the server at addr reports SERVING: its first
// round of backend pings has heard every backend.
func waitServing(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	for {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mongogate not serving: %v, %w", err, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
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
