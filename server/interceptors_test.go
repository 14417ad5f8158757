package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/internal/testkit"
	"github.com/mongogate/mongogate/sessions"
)

// fakeSessions is a SessionService whose GetSession is a func field.
type fakeSessions struct {
	pb.UnimplementedSessionServiceServer
	getSession func(ctx context.Context, req *pb.GetSessionRequest) (*pb.GetSessionResponse, error)
}

func (f *fakeSessions) GetSession(ctx context.Context, req *pb.GetSessionRequest) (*pb.GetSessionResponse, error) {
	return f.getSession(ctx, req)
}

// fakeDocuments is a DocumentService whose Find is a func field.
type fakeDocuments struct {
	pb.UnimplementedDocumentServiceServer
	find func(req *pb.FindRequest, stream pb.DocumentService_FindServer) error
}

func (f *fakeDocuments) Find(req *pb.FindRequest, stream pb.DocumentService_FindServer) error {
	return f.find(req, stream)
}

// principalRecorder is a pair of fakes that succeed and remember the
// principal each call ran as.
type principalRecorder struct {
	mu   sync.Mutex
	last string
}

func (r *principalRecorder) record(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = PrincipalFrom(ctx)
}

func (r *principalRecorder) principal() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (r *principalRecorder) services() (*fakeSessions, *fakeDocuments) {
	return &fakeSessions{getSession: func(ctx context.Context, _ *pb.GetSessionRequest) (*pb.GetSessionResponse, error) {
			r.record(ctx)
			return &pb.GetSessionResponse{}, nil
		}}, &fakeDocuments{find: func(_ *pb.FindRequest, stream pb.DocumentService_FindServer) error {
			r.record(stream.Context())
			return stream.Send(&pb.FindResponse{})
		}}
}

// serveBufconn runs a gRPC server with opts, the health service and what
// register adds, over bufconn until the test ends, and returns its
// listener.
func serveBufconn(t *testing.T, opts []grpc.ServerOption, register func(*grpc.Server)) *bufconn.Listener {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	if register != nil {
		register(srv)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis
}

// mustServe runs a server with ServerOptions(cfg), the health service and
// the given fakes over bufconn, and returns a client connection to it.
// Without dial options the connection is plaintext.
func mustServe(t *testing.T, cfg TransportConfig, ss *fakeSessions, ds *fakeDocuments, dialOpts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts, err := ServerOptions(cfg)
	if err != nil {
		t.Fatalf("ServerOptions: %v", err)
	}
	lis := serveBufconn(t, opts, func(srv *grpc.Server) {
		pb.RegisterSessionServiceServer(srv, ss)
		pb.RegisterDocumentServiceServer(srv, ds)
	})
	if len(dialOpts) == 0 {
		dialOpts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	dialOpts = append(dialOpts, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return lis.DialContext(ctx)
	}))
	conn, err := grpc.NewClient("passthrough:///bufnet", dialOpts...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// logBuffer lets server goroutines log into a buffer that the test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// slogJSON logs everything, debug included, as JSON lines into w.
func slogJSON(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// mustAnonymous is an authenticator with authentication off.
func mustAnonymous(t *testing.T) *Authenticator {
	t.Helper()
	a, err := NewAuthenticator(AuthConfig{AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// callFind runs the Find stream to its end and returns its status.
func callFind(ctx context.Context, conn *grpc.ClientConn) error {
	stream, err := pb.NewDocumentServiceClient(conn).Find(ctx, &pb.FindRequest{})
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

func TestInterceptorsMapErrors(t *testing.T) {
	logs := new(logBuffer)
	m := NewMetrics()
	cfg := TransportConfig{
		Logger:  slogJSON(logs),
		Auth:    mustAnonymous(t),
		Metrics: m,
	}
	ss := &fakeSessions{getSession: func(ctx context.Context, req *pb.GetSessionRequest) (*pb.GetSessionResponse, error) {
		switch req.GetSessionToken() {
		case "panic":
			panic("handler bug")
		case "unmapped":
			// An error no mapping knows.
			return nil, errors.New("sessions: lookup: " + sessions.ErrNotFound.Error())
		case "domain":
			return nil, sessions.ErrExpired
		}
		return &pb.GetSessionResponse{}, nil
	}}
	ds := &fakeDocuments{find: func(req *pb.FindRequest, stream pb.DocumentService_FindServer) error {
		if req.GetSessionToken() == "panic" {
			panic("stream bug")
		}
		return sessions.ErrNotFound
	}}
	conn := mustServe(t, cfg, ss, ds)
	client := pb.NewSessionServiceClient(conn)
	ctx := context.Background()

	tests := []struct {
		name   string
		call   func() error
		code   codes.Code
		reason pb.ErrorReason
	}{
		{"unary panic", func() error {
			_, err := client.GetSession(ctx, &pb.GetSessionRequest{SessionToken: "panic"})
			return err
		}, codes.Internal, pb.ErrorReason_ERROR_REASON_INTERNAL},
		{"unary unmapped error", func() error {
			_, err := client.GetSession(ctx, &pb.GetSessionRequest{SessionToken: "unmapped"})
			return err
		}, codes.Internal, pb.ErrorReason_ERROR_REASON_INTERNAL},
		{"unary domain error", func() error {
			_, err := client.GetSession(ctx, &pb.GetSessionRequest{SessionToken: "domain"})
			return err
		}, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_EXPIRED},
		{"stream domain error", func() error {
			return callFind(ctx, conn)
		}, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND},
		{"stream panic", func() error {
			stream, err := pb.NewDocumentServiceClient(conn).Find(ctx, &pb.FindRequest{SessionToken: "panic"})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}, codes.Internal, pb.ErrorReason_ERROR_REASON_INTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDetails(t, tt.call())
			if d.code != tt.code || d.info.GetReason() != tt.reason.Wire() {
				t.Fatalf("got %v %s, want %v %s", d.code, d.info.GetReason(), tt.code, tt.reason.Wire())
			}
		})
	}

	if _, err := client.GetSession(ctx, &pb.GetSessionRequest{}); err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	fams := promtest.Serve(t, m)
	getSession := []string{"grpc_service", "mongogate.v1.SessionService", "grpc_method", "GetSession"}
	find := []string{"grpc_service", "mongogate.v1.DocumentService", "grpc_method", "Find", "grpc_type", "server_stream"}
	for _, want := range []struct {
		name   string
		labels []string
		value  float64
	}{
		{"grpc_server_handled_total", append(getSession, "grpc_code", "Internal"), 2},
		{"grpc_server_handled_total", append(getSession, "grpc_code", "NotFound"), 1},
		{"grpc_server_handled_total", append(getSession, "grpc_code", "OK"), 1},
		{"grpc_server_handled_total", append(find, "grpc_code", "Internal"), 1},
		{"grpc_server_handled_total", append(find, "grpc_code", "NotFound"), 1},
		{"grpc_server_handling_seconds", getSession, 4},
	} {
		if got, _ := fams.Value(want.name, want.labels...); got != want.value {
			t.Errorf("%s%v = %v, want %v", want.name, want.labels, got, want.value)
		}
	}

	t.Run("logs", func(t *testing.T) {
		var finished, panics int
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if _, ok := rec["grpc.error"]; ok {
				t.Errorf("log line carries the error message: %s", line)
			}
			switch rec["msg"] {
			case "finished call":
				finished++
				if rec["principal"] != AnonymousPrincipal || rec["grpc.code"] == nil || rec["grpc.method"] == nil {
					t.Errorf("finished call without principal, code or method: %s", line)
				}
				if rec["grpc.code"] != "OK" && rec["grpc.reason"] == nil {
					t.Errorf("failed call logged without reason: %s", line)
				}
			case "panic in RPC handler":
				panics++
				if s, _ := rec["stack"].(string); !strings.Contains(s, "server.TestInterceptorsMapErrors") {
					t.Errorf("panic logged without the handler's stack: %s", line)
				}
			}
		}
		if finished != 6 || panics != 2 {
			t.Errorf("logged %d finished calls and %d panics, want 6 and 2", finished, panics)
		}
	})
}

func TestServerOptionsErrors(t *testing.T) {
	pki := testkit.NewCA(t, "client CA")
	a, err := NewAuthenticator(AuthConfig{ClientCAFile: writeTemp(t, "ca.pem", pki.PEM)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  TransportConfig
	}{
		{"mTLS without TLS", TransportConfig{Auth: a}},
		{"negative message size", TransportConfig{MaxMessageSize: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ServerOptions(tt.cfg); err == nil {
				t.Fatal("ServerOptions succeeded")
			}
		})
	}
	if _, err := ServerOptions(TransportConfig{Auth: a, TLS: &tls.Config{}}); err != nil {
		t.Fatalf("mTLS with TLS: %v", err)
	}
}

// The status guard logs the detail of an error that becomes INTERNAL or
// BACKEND_UNAVAILABLE once, through the configured logger and not
// slog's default one, for unary and streaming calls alike; besides it
// the call has its one finished-call line, and nothing else.
func TestStatusGuardLogsOnce(t *testing.T) {
	var defaultLogs logBuffer
	prev := slog.Default()
	slog.SetDefault(slogJSON(&defaultLogs))
	t.Cleanup(func() { slog.SetDefault(prev) })

	backendDown := fmt.Errorf("crud: find db.c: %w", topology.ErrTopologyClosed)
	tests := []struct {
		name   string
		err    error
		stream bool
		reason pb.ErrorReason
		msg    string
	}{
		{"unary internal", errors.New("sessions: broken invariant"), false, pb.ErrorReason_ERROR_REASON_INTERNAL, "unmapped error became INTERNAL"},
		{"unary backend unavailable", backendDown, false, pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE, "MongoDB backend unavailable"},
		{"stream internal", errors.New("crud: broken invariant"), true, pb.ErrorReason_ERROR_REASON_INTERNAL, "unmapped error became INTERNAL"},
		{"stream backend unavailable", backendDown, true, pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE, "MongoDB backend unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := new(logBuffer)
			ss := &fakeSessions{getSession: func(context.Context, *pb.GetSessionRequest) (*pb.GetSessionResponse, error) {
				return nil, tt.err
			}}
			ds := &fakeDocuments{find: func(*pb.FindRequest, pb.DocumentService_FindServer) error { return tt.err }}
			conn := mustServe(t, TransportConfig{Logger: slogJSON(logs), Auth: mustAnonymous(t)}, ss, ds)
			var err error
			if tt.stream {
				err = callFind(t.Context(), conn)
			} else {
				_, err = pb.NewSessionServiceClient(conn).GetSession(t.Context(), &pb.GetSessionRequest{SessionToken: "t"})
			}
			if d := mustDetails(t, err); d.info.GetReason() != tt.reason.Wire() {
				t.Fatalf("reason = %s, want %s", d.info.GetReason(), tt.reason.Wire())
			}
			detail, finished := 0, 0
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				switch rec["msg"] {
				case tt.msg:
					detail++
					if rec["error"] != tt.err.Error() {
						t.Errorf("logged error = %v, want %q", rec["error"], tt.err.Error())
					}
				case "finished call":
					finished++
				default:
					t.Errorf("unexpected log line %s", line)
				}
			}
			if detail != 1 || finished != 1 {
				t.Errorf("logged %q %d times and the finished call %d times, want once each; logs:\n%s", tt.msg, detail, finished, logs.String())
			}
		})
	}
	if s := defaultLogs.String(); s != "" {
		t.Errorf("slog's default logger got:\n%s", s)
	}
}
