package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mongogate/mongogate/backend"
	"github.com/mongogate/mongogate/directory"
	"github.com/mongogate/mongogate/gateway"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/server"
	"github.com/mongogate/mongogate/sessions"
)

// API keys of the forwarding tests' principals.
const (
	aliceKey = "mg_alice_forward_test_key"
	bobKey   = "mg_bob_forward_test_key"
)

var testPeerSecret = []byte("0123456789abcdef0123456789abcdef-peer")

// instance is one in-process mongogate (gateway.New), with the instance
// directory and forwarding, on a loopback TCP port.
type instance struct {
	id      string
	addr    string
	conn    *grpc.ClientConn
	sess    pb.SessionServiceClient
	txns    pb.TransactionServiceClient
	docs    pb.DocumentServiceClient
	metrics http.Handler
	dir     *directory.Directory
	reg     *sessions.Registry
	inst    *gateway.Instance
}

type instanceConfig struct {
	secret  []byte
	apiKeys string // file; empty: anonymous
	tracer  trace.TracerProvider
}

// mustInstance starts instance id on the deployment at uri, its
// directory and outcome records in db; everything stops at cleanup (the
// directory with a tombstone, unless kill ran).
func mustInstance(t *testing.T, uri, db, id string, cfg instanceConfig) *instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inst := mustServe(t, gateway.Config{
		Backends:            []gateway.BackendConfig{gateway.DefaultBackend(backend.Default, uri)},
		InstanceID:          id,
		APIKeysFile:         cfg.apiKeys,
		PeerSecret:          cfg.secret,
		TracerProvider:      cfg.tracer,
		DirectoryCollection: db + ".instances",
		OutcomeCollection:   db + ".outcomes",
		HeartbeatInterval:   200 * time.Millisecond,
	}, ln)
	addr := inst.Address()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &instance{
		id: id, addr: addr, conn: conn,
		sess: pb.NewSessionServiceClient(conn), txns: pb.NewTransactionServiceClient(conn), docs: pb.NewDocumentServiceClient(conn),
		metrics: inst.Metrics(), dir: inst.Directory(), reg: inst.Sessions(), inst: inst,
	}
}

// kill stops the instance as a crash would: no more answers, no more
// heartbeats, no tombstone, its transactions left open.
func (in *instance) kill() {
	in.inst.Close()
}

func (in *instance) forwarded(t *testing.T) float64 {
	t.Helper()
	v, _ := promtest.Serve(t, in.metrics).Value("mongogate_forwarded_calls_total")
	return v
}

// mustKeys writes an API keys file for alice and bob.
func mustKeys(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "keys")
	body := "alice " + server.HashAPIKey(aliceKey) + "\nbob " + server.HashAPIKey(bobKey) + "\n"
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func as(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

func wantReason(t *testing.T, what string, err error, code codes.Code, reason pb.ErrorReason) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want %v %s", what, code, reason.Wire())
	}
	d := mustDetails(t, err)
	if d.code != code || d.info.GetReason() != reason.Wire() {
		t.Fatalf("%s: %v %s (%v), want %v %s", what, d.code, d.info.GetReason(), err, code, reason.Wire())
	}
}

func TestForwarding(t *testing.T) {
	for _, mode := range []struct {
		name   string
		secret []byte
	}{{"signed principal", testPeerSecret}, {"caller's credentials", nil}} {
		t.Run(mode.name, func(t *testing.T) {
			uri := testbackend.URI(t)
			db := testbackend.DBName(t)
			keys := mustKeys(t)
			a := mustInstance(t, uri, db, "inst-a", instanceConfig{secret: mode.secret, apiKeys: keys})
			b := mustInstance(t, uri, db, "inst-b", instanceConfig{secret: mode.secret, apiKeys: keys})
			ctx := as(testCtx(t), aliceKey)
			ns := &pb.Namespace{Database: db, Collection: "items"}

			start, err := a.sess.StartSession(ctx, &pb.StartSessionRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got := start.GetSession().GetInstanceAddress(); got != a.addr {
				t.Errorf("instance_address = %q, want %q", got, a.addr)
			}
			token := start.GetSession().GetToken()
			// Everything below goes through b, which forwards to a.
			st, err := b.txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token})
			if err != nil {
				t.Fatalf("StartTransaction through b: %v", err)
			}
			for i := range 3 {
				doc := &pb.Document{Value: &pb.Document_Json{Json: `{"_id": ` + strconv.Itoa(i) + `}`}}
				if _, err := b.docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns, Document: doc}); err != nil {
					t.Fatalf("InsertOne through b: %v", err)
				}
			}
			// The stream is relayed whole, and runs in the transaction.
			stream, err := b.docs.Find(ctx, &pb.FindRequest{SessionToken: token, Namespace: ns, Options: &pb.FindOptions{BatchSize: 1}})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("Find through b: %v", err)
				}
				n += len(resp.GetDocuments())
			}
			if n != 3 {
				t.Errorf("Find through b returned %d documents, want the transaction's 3", n)
			}
			// The owner's errors arrive unchanged.
			_, err = b.txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token})
			wantReason(t, "second StartTransaction through b", err, codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_TRANSACTION_IN_PROGRESS)
			// Another principal's token is unknown, through a forwarder as
			// on the owner.
			_, err = b.sess.GetSession(as(testCtx(t), bobKey), &pb.GetSessionRequest{SessionToken: token})
			wantReason(t, "bob's GetSession of alice's token through b", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND)

			if _, err := b.txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: st.GetTransactionNumber()}); err != nil {
				t.Fatalf("CommitTransaction through b: %v", err)
			}
			got, err := b.sess.GetSession(ctx, &pb.GetSessionRequest{SessionToken: token})
			if err != nil || got.GetSession().GetLastTransaction().GetOutcome() != pb.TransactionOutcome_TRANSACTION_OUTCOME_COMMITTED {
				t.Fatalf("GetSession through b = %v, %v; want committed", got, err)
			}
			if _, err := b.sess.EndSession(ctx, &pb.EndSessionRequest{SessionToken: token}); err != nil {
				t.Fatal(err)
			}
			if n, _ := a.reg.Stats(), 0; n.Active != 0 {
				t.Errorf("a still has %d sessions after EndSession through b", n.Active)
			}
			if f := b.forwarded(t); f < 9 {
				t.Errorf("b forwarded %v calls, want at least 9", f)
			}
			if f := a.forwarded(t); f != 0 {
				t.Errorf("a forwarded %v calls, want none", f)
			}
		})
	}
}

// A client cannot claim to be a forwarding instance: metadata asserting
// a principal is refused unless a peer signed it, whatever the instance's
// own configuration, and where peers sign, every form of the metadata
// is.
func TestForwardingMetadataFromClient(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	keys := mustKeys(t)
	for _, secret := range [][]byte{testPeerSecret, nil} {
		a := mustInstance(t, uri, db, "inst-s"+strconv.Itoa(len(secret)), instanceConfig{secret: secret, apiKeys: keys})
		now := strconv.FormatInt(time.Now().UnixMilli(), 10)
		method := pb.SessionService_StartSession_FullMethodName
		sig := func(secret []byte, ts string) string {
			return server.ForwardSignature(secret, method, "x", "alice", ts)
		}
		tests := []struct {
			name string
			md   []string
		}{
			{"unsigned", []string{server.MDForwarded, "x YWxpY2U " + now + " "}},
			{"bad signature", []string{server.MDForwarded, server.ForwardedValue("x", "alice", now, "AAAA")}},
			{"signed with another secret", []string{server.MDForwarded, server.ForwardedValue("x", "alice", now, sig([]byte("not the peers' secret, not at all!"), now))}},
			{"principal only", []string{server.MDForwarded, "x YWxpY2U"}},
			{"twice", []string{server.MDForwarded, "x", server.MDForwarded, "y"}},
		}
		if secret != nil {
			old := strconv.FormatInt(time.Now().Add(-2*server.ForwardSkew).UnixMilli(), 10)
			tests = append(tests, []struct {
				name string
				md   []string
			}{
				{"replayed too late", []string{server.MDForwarded, server.ForwardedValue("x", "alice", old, sig(secret, old))}},
				{"one-field form", []string{server.MDForwarded, "x"}},
			}...)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// With bob's own valid key too: the assertion alone decides.
				ctx := metadata.AppendToOutgoingContext(as(testCtx(t), bobKey), tt.md...)
				_, err := a.sess.StartSession(ctx, &pb.StartSessionRequest{})
				wantReason(t, "StartSession with forged forwarding metadata", err, codes.Unauthenticated, pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED)
			})
		}
		if secret != nil {
			t.Run("signed by a peer", func(t *testing.T) {
				ctx := metadata.AppendToOutgoingContext(testCtx(t), server.MDForwarded, server.ForwardedValue("x", "alice", now, sig(secret, now)))
				if _, err := a.sess.StartSession(ctx, &pb.StartSessionRequest{}); err != nil {
					t.Fatalf("StartSession with a valid forward: %v", err)
				}
			})
		}
	}
}

// A call marked as forwarded is never forwarded again, and is not
// served by an instance that does not own its session either: whoever
// sent the marker, a peer misled by a stale directory or a client, the
// call cannot end up answered by the wrong instance. Where peers sign, a
// client's marker is refused outright.
func TestForwardingOneHop(t *testing.T) {
	for _, mode := range []struct {
		name   string
		secret []byte
	}{{"signed principal", testPeerSecret}, {"caller's credentials", nil}} {
		t.Run(mode.name, func(t *testing.T) {
			uri := testbackend.URI(t)
			db := testbackend.DBName(t)
			a := mustInstance(t, uri, db, "inst-a", instanceConfig{secret: mode.secret})
			b := mustInstance(t, uri, db, "inst-b", instanceConfig{secret: mode.secret})
			start, err := a.sess.StartSession(testCtx(t), &pb.StartSessionRequest{})
			if err != nil {
				t.Fatal(err)
			}
			token := start.GetSession().GetToken()
			get := func(ctx context.Context) error {
				_, err := b.sess.GetSession(ctx, &pb.GetSessionRequest{SessionToken: token})
				return err
			}
			find := func(ctx context.Context) error {
				stream, err := b.docs.Find(ctx, &pb.FindRequest{SessionToken: token, Namespace: &pb.Namespace{Database: db, Collection: "items"}})
				if err != nil {
					return err
				}
				for {
					if _, err := stream.Recv(); err != nil {
						if errors.Is(err, io.EOF) {
							return nil
						}
						return err
					}
				}
			}

			// A client's marker, in the form unsigned forwards use.
			clientMarked := func() context.Context {
				return metadata.AppendToOutgoingContext(testCtx(t), server.MDForwarded, "inst-c")
			}
			want := pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE
			wantCode := codes.NotFound
			if mode.secret != nil {
				want, wantCode = pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED, codes.Unauthenticated
			}
			wantReason(t, "GetSession with a client's marker, at a non-owner", get(clientMarked()), wantCode, want)
			wantReason(t, "Find with a client's marker, at a non-owner", find(clientMarked()), wantCode, want)

			if mode.secret != nil {
				// A peer's genuine forward that reached the wrong instance.
				method := pb.SessionService_GetSession_FullMethodName
				now := strconv.FormatInt(time.Now().UnixMilli(), 10)
				ctx := metadata.AppendToOutgoingContext(testCtx(t), server.MDForwarded,
					server.ForwardedValue("inst-c", server.AnonymousPrincipal, now, server.ForwardSignature(mode.secret, method, "inst-c", server.AnonymousPrincipal, now)))
				wantReason(t, "GetSession forwarded by a peer to a non-owner", get(ctx), codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE)
			}
			if f := b.forwarded(t); f != 0 {
				t.Errorf("b forwarded %v calls, want none", f)
			}
			// Unmarked, the same calls are forwarded to the owner.
			if err := get(testCtx(t)); err != nil {
				t.Fatalf("GetSession through b: %v", err)
			}
			if err := find(testCtx(t)); err != nil {
				t.Fatalf("Find through b: %v", err)
			}
		})
	}
}

// The caller's deadline travels with the forwarded call.
func TestForwardingKeepsDeadline(t *testing.T) {
	if testbackend.External() {
		t.Skip("blocks the deployment's inserts with a fail point")
	}
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	a := mustInstance(t, uri, db, "inst-a", instanceConfig{})
	b := mustInstance(t, uri, db, "inst-b", instanceConfig{})
	start, err := a.sess.StartSession(testCtx(t), &pb.StartSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	fp := testbackend.Client(t, uri).Database("admin")
	if err := fp.RunCommand(testCtx(t), bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "alwaysOn"},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 3000}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = fp.RunCommand(context.Background(), bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}).Err()
	})
	ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = b.docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: start.GetSession().GetToken(),
		Namespace: &pb.Namespace{Database: db, Collection: "items"}, Document: &pb.Document{Value: &pb.Document_Json{Json: `{}`}}})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("InsertOne through b past its deadline: %v, want DEADLINE_EXCEEDED", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("the call took %v", took)
	}
	// The owner got the deadline too: its insert gave up and released the
	// session, instead of holding it for the 3 s the fail point blocks.
	gctx, gcancel := context.WithTimeout(testCtx(t), time.Second)
	defer gcancel()
	if _, err := a.sess.GetSession(gctx, &pb.GetSessionRequest{SessionToken: start.GetSession().GetToken()}); err != nil {
		t.Fatalf("GetSession on the owner right after: %v (the forwarded insert still held the session)", err)
	}
}

// When the owner is gone its tokens answer SESSION_OWNER_GONE from any
// instance; while it is merely unreachable (it may be paused, and serve
// them again) they answer a retryable UNAVAILABLE, never that they are
// gone; a token of an instance the directory never had stays
// SESSION_NOT_FOUND.
func TestOwnerGone(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	a := mustInstance(t, uri, db, "inst-a", instanceConfig{})
	b := mustInstance(t, uri, db, "inst-b", instanceConfig{})
	start, err := a.sess.StartSession(testCtx(t), &pb.StartSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	token := start.GetSession().GetToken()
	if _, err := b.sess.GetSession(testCtx(t), &pb.GetSessionRequest{SessionToken: token}); err != nil {
		t.Fatalf("GetSession through b while a lives: %v", err)
	}
	a.kill()
	// Unreachable at once, long before the directory calls it dead.
	_, err = b.sess.GetSession(testCtx(t), &pb.GetSessionRequest{SessionToken: token})
	wantReason(t, "GetSession of an unreachable owner's token", err, codes.Unavailable, pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE)
	// Gone once the directory knows.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, st, _ := b.dir.Lookup(testCtx(t), "inst-a")
		if st == directory.Gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a is %v in b's directory 5 s after it died, want gone", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = b.sess.GetSession(testCtx(t), &pb.GetSessionRequest{SessionToken: token})
	wantReason(t, "GetSession of a reclaimed owner's token", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE)
	_, err = b.txns.CommitTransaction(testCtx(t), &pb.CommitTransactionRequest{SessionToken: token})
	wantReason(t, "CommitTransaction of a reclaimed owner's token", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE)
	_, err = b.sess.GetSession(testCtx(t), &pb.GetSessionRequest{SessionToken: "inst-never.AAAAAAAAAAAAAAAAAAAAAAAA"})
	wantReason(t, "GetSession of an unknown instance's token", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND)
}

// A forwarded call stays in its caller's trace: the owner's server span
// is a child of the forwarder's client span, itself a child of the
// forwarder's server span.
func TestForwardingCarriesTraceContext(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	a := mustInstance(t, uri, db, "inst-a", instanceConfig{secret: testPeerSecret, tracer: tp})
	b := mustInstance(t, uri, db, "inst-b", instanceConfig{secret: testPeerSecret, tracer: tp})
	start, err := a.sess.StartSession(testCtx(t), &pb.StartSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.sess.GetSession(testCtx(t), &pb.GetSessionRequest{SessionToken: start.GetSession().GetToken()}); err != nil {
		t.Fatal(err)
	}
	var servers, clients []sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if sp.Name() != "mongogate.v1.SessionService/GetSession" {
			continue
		}
		switch sp.SpanKind() {
		case trace.SpanKindServer:
			servers = append(servers, sp)
		case trace.SpanKindClient:
			clients = append(clients, sp)
		}
	}
	if len(servers) != 2 || len(clients) != 1 {
		t.Fatalf("GetSession spans: %d server, %d client; want 2 (forwarder, owner) and 1 (the forward)", len(servers), len(clients))
	}
	fwd := clients[0]
	var forwarder, owner sdktrace.ReadOnlySpan
	for _, sp := range servers {
		if sp.Parent().SpanID() == fwd.SpanContext().SpanID() {
			owner = sp
		} else {
			forwarder = sp
		}
	}
	if owner == nil || forwarder == nil {
		t.Fatal("no server span is a child of the forwarding call's span")
	}
	if fwd.Parent().SpanID() != forwarder.SpanContext().SpanID() || owner.SpanContext().TraceID() != forwarder.SpanContext().TraceID() {
		t.Errorf("the forward is not in the forwarder's trace")
	}
}
