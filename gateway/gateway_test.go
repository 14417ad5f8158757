package gateway_test

import (
	"context"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	"github.com/mongogate/mongogate/backend"
	"github.com/mongogate/mongogate/emulator"
	"github.com/mongogate/mongogate/gateway"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
)

// served is an instance serving on bufconn, with a client connection.
type served struct {
	inst *gateway.Instance
	ln   *bufconn.Listener
	conn *grpc.ClientConn
	done chan struct{} // closed when Serve returns err
	err  error
}

// wait waits until Serve returns and returns its result.
func (s *served) wait() error {
	<-s.done
	return s.err
}

// mustServe builds an instance from cfg and serves it on bufconn until it
// is ready; at cleanup it shuts down (a no-op if the test stopped it).
func mustServe(t *testing.T, cfg gateway.Config) *served {
	t.Helper()
	inst, err := gateway.New(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s := &served{inst: inst, ln: bufconn.Listen(1 << 20), done: make(chan struct{})}
	go func() {
		s.err = inst.Serve(s.ln)
		close(s.done)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = inst.Shutdown(ctx)
		if err := s.wait(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	select {
	case <-inst.Ready():
	case <-s.done:
		t.Fatalf("Serve: %v", s.wait())
	}
	s.conn, err = grpc.NewClient("passthrough:///bufnet",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return s.ln.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.conn.Close() })
	return s
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitHealth waits until the health of service ("" for the whole
// instance) is want.
func (s *served) waitHealth(t *testing.T, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	hc := healthpb.NewHealthClient(s.conn)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Check(testCtx(t), &healthpb.HealthCheckRequest{Service: service})
		if err == nil && resp.GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health %v (%v), want %v", resp.GetStatus(), err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With no backend configured the instance serves the embedded emulator,
// health turns SERVING once it answers, and Shutdown stops everything.
func TestEmbeddedEmulator(t *testing.T) {
	s := mustServe(t, gateway.Config{InstanceID: "gw-embedded", HealthProbeInterval: 50 * time.Millisecond})
	uri := s.inst.EmulatorURI()
	if uri == "" {
		t.Fatal("EmulatorURI is empty without a configured backend")
	}
	s.waitHealth(t, "", healthpb.HealthCheckResponse_SERVING)
	if got := s.inst.Address(); got != "" {
		t.Errorf("Address on bufconn = %q, want none", got)
	}
	db := testbackend.DBName(t)
	docs := pb.NewDocumentServiceClient(s.conn)
	if _, err := docs.InsertOne(testCtx(t), &pb.InsertOneRequest{
		Namespace: &pb.Namespace{Database: db, Collection: "c"}, Document: &pb.Document{Value: &pb.Document_Json{Json: `{"_id": 1}`}},
	}); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	if n, err := testbackend.Client(t, uri).Database(db).Collection("c").CountDocuments(testCtx(t), bson.D{}); err != nil || n != 1 {
		t.Fatalf("documents in the emulator: %d, %v; want 1", n, err)
	}
	if err := s.inst.Shutdown(testCtx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := s.wait(); err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

// Shutdown aborts what is open, never commits it, and leaves a directory
// tombstone listing it.
func TestShutdownAbortsOpenTransactions(t *testing.T) {
	uri := testbackend.Start(t, emulator.Config{}).URI()
	db := testbackend.DBName(t)
	s := mustServe(t, gateway.Config{
		Backends:            []gateway.BackendConfig{gateway.DefaultBackend(backend.Default, uri)},
		InstanceID:          "gw-shutdown",
		DirectoryCollection: db + ".instances",
		OutcomeCollection:   db + ".outcomes",
	})
	ctx := testCtx(t)
	start, err := pb.NewSessionServiceClient(s.conn).StartSession(ctx, &pb.StartSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	token := start.GetSession().GetToken()
	if _, err := pb.NewTransactionServiceClient(s.conn).StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token}); err != nil {
		t.Fatal(err)
	}
	if _, err := pb.NewDocumentServiceClient(s.conn).InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token,
		Namespace: &pb.Namespace{Database: db, Collection: "c"}, Document: &pb.Document{Value: &pb.Document_Json{Json: `{"_id": 1}`}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.inst.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	direct := testbackend.Client(t, uri).Database(db)
	if n, err := direct.Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Errorf("documents after Shutdown: %d, %v; want none (the transaction was open)", n, err)
	}
	var entry struct {
		State string `bson:"state"`
		Open  []bson.M
	}
	if err := direct.Collection("instances").FindOne(ctx, bson.D{{Key: "_id", Value: "gw-shutdown"}}).Decode(&entry); err != nil {
		t.Fatal(err)
	}
	if entry.State != "gone" || len(entry.Open) != 1 {
		t.Errorf("directory entry: state %q, %d open; want a tombstone listing the open transaction", entry.State, len(entry.Open))
	}
}

// Close stops as a crash would: the directory entry is left live, for a
// survivor to find dead.
func TestCloseLeavesNoTombstone(t *testing.T) {
	uri := testbackend.Start(t, emulator.Config{}).URI()
	db := testbackend.DBName(t)
	s := mustServe(t, gateway.Config{
		Backends:            []gateway.BackendConfig{gateway.DefaultBackend(backend.Default, uri)},
		InstanceID:          "gw-close",
		DirectoryCollection: db + ".instances",
		OutcomeCollection:   db + ".outcomes",
	})
	s.inst.Close()
	var entry struct {
		State string `bson:"state"`
	}
	if err := testbackend.Client(t, uri).Database(db).Collection("instances").FindOne(testCtx(t), bson.D{{Key: "_id", Value: "gw-close"}}).Decode(&entry); err != nil {
		t.Fatal(err)
	}
	if entry.State != "live" {
		t.Errorf("directory entry after Close: state %q, want live (no tombstone)", entry.State)
	}
}

// Serve may be called once.
func TestServeTwice(t *testing.T) {
	uri := testbackend.Start(t, emulator.Config{}).URI()
	db := testbackend.DBName(t)
	s := mustServe(t, gateway.Config{
		Backends:            []gateway.BackendConfig{gateway.DefaultBackend(backend.Default, uri)},
		DirectoryCollection: db + ".instances",
		OutcomeCollection:   db + ".outcomes",
	})
	if err := s.inst.Serve(bufconn.Listen(1 << 10)); err == nil {
		t.Fatal("a second Serve succeeded")
	}
}

// A backend that cannot be reached is no error at New: the probe finds it
// down and health says NOT_SERVING.
func TestBackendDown(t *testing.T) {
	uri := testbackend.Start(t, emulator.Config{}).URI()
	db := testbackend.DBName(t)
	s := mustServe(t, gateway.Config{
		Backends: []gateway.BackendConfig{
			gateway.DefaultBackend(backend.Default, uri),
			gateway.DefaultBackend("down", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200"),
		},
		DirectoryCollection: db + ".instances",
		OutcomeCollection:   db + ".outcomes",
		HealthProbeInterval: 50 * time.Millisecond,
	})
	deadline := time.Now().Add(10 * time.Second)
	for !s.inst.Backends().Get("down").Down() {
		if time.Now().After(deadline) {
			t.Fatal("the unreachable backend is not down")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The services' status is set only once a probe has heard the
	// backends; until then it is unknown.
	s.waitHealth(t, pb.DocumentService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	s.waitHealth(t, "", healthpb.HealthCheckResponse_NOT_SERVING)
	if s.inst.Backends().Get(backend.Default).Down() {
		t.Error("the default backend is down too")
	}
}
