package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/stats"
)

// DefaultMaxMessageSize bounds each request and response message. A
// document may hold 16 MiB of BSON (MongoDB's limit); as Extended JSON its
// binary fields grow by a third, and the request wraps it.
const DefaultMaxMessageSize = 32 << 20

// Keepalive: clients may ping every 10 s (the default enforcement, 5 min,
// would cut off clients that keep idle connections warm), and the server
// pings idle connections each minute so that a vanished client's streams,
// which hold its session busy, end within a minute and a half.
const (
	keepaliveMinClientPing = 10 * time.Second
	keepalivePing          = time.Minute
	keepalivePingTimeout   = 20 * time.Second
)

// Flow control: fixed HTTP/2 windows instead of grpc-go's default
// bandwidth-delay estimation. The estimator answers data that arrives
// while none of its PINGs is out with a WINDOW_UPDATE and a PING, which
// the peer must read and acknowledge; mongogate's messages are small, so
// it never grows the window and keeps probing, and at low concurrency
// nearly every call costs each side a few more frames to write and to
// read. Without it (here and in the Go client) a call makes 12 fewer
// allocations (BenchmarkFindOne 402 → 390), and by test/bench, three alternating
// pairs of runs, FindOne's one-client residual over the floor went from
// +43/+59/+42 µs to +30/+35/+39 µs; InsertOne's and the 64-client
// figures moved within the noise. A stream may have 4 MiB in flight, a
// connection 16 MiB: a large request or Find still moves 4 MiB per round
// trip (4 GB/s at 1 ms, 80 MB/s at 50 ms), and a stream whose handler
// reads slowly holds at most 4 MiB of this server's memory, where the
// estimator could grow its window to 16 MiB.
const (
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

// Tuning are the grpc.NewServer options that decide how a mongogate
// server's transport performs: message size limits (maxMessageSize
// bytes each way), worker goroutines and fixed flow-control windows.
// NewTransport includes them; test/bench gives them to its bare proxy,
// so that the proxy differs from mongogate by mongogate's own code only.
func Tuning(maxMessageSize int) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessageSize),
		grpc.MaxSendMsgSize(maxMessageSize),
		// Calls run on pooled worker goroutines, whose stacks have grown
		// to what a handler and the driver under it need and serve call
		// after call, instead of a new goroutine per call that grows its
		// stack by copying deep in the driver (12 % of a FindOne's CPU at
		// 64 clients, by profile). Calls beyond the pool get a goroutine
		// of their own, as without workers, so the pool is sized to the
		// calls in flight of a busy instance: by test/bench (FindOne and
		// InsertOne, three alternating runs each), 64 per CPU reaches
		// 0.86-0.89 of the floor's throughput at 64 clients against 0.82
		// with 16 per CPU, while the one-client p50 moves within the
		// run-to-run noise (7-17 µs over the floor either way). Idle
		// workers cost only their stacks.
		grpc.NumStreamWorkers(uint32(64 * runtime.GOMAXPROCS(0))),
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(connWindow),
	}
}

// TransportConfig is what NewTransport and ServerOptions need.
type TransportConfig struct {
	// Logger gets one line per finished RPC, the panics, and the detail
	// of errors that become INTERNAL or BACKEND_UNAVAILABLE; nil means
	// slog.Default().
	Logger *slog.Logger
	// Auth authenticates calls. Nil rejects every call except health
	// checking and reflection.
	Auth *Authenticator
	// Metrics records RPC counts and latencies; nil records nothing.
	Metrics *Metrics
	// TLS is the server's TLS configuration, with its certificate; nil
	// serves plaintext. ServerOptions adds the client CAs of Auth to a
	// copy of it.
	TLS *tls.Config
	// MaxMessageSize bounds each received and sent message in bytes;
	// 0 means DefaultMaxMessageSize.
	MaxMessageSize int
	// TracerProvider, when set, traces every RPC but health checks with
	// otelgrpc's stats handler: a server span per call, a child of the
	// caller's span when the request carries trace context. Nil traces
	// nothing.
	TracerProvider trace.TracerProvider
	// Propagator reads the caller's trace context from the request
	// metadata; nil means DefaultPropagator.
	Propagator propagation.TextMapPropagator
	// Forward, when set, sends calls on other instances' sessions to
	// them; nil answers them here (SESSION_NOT_FOUND).
	Forward *Forwarder
}

// DefaultPropagator is W3C Trace Context with W3C Baggage, what
// OpenTelemetry SDKs send by default.
func DefaultPropagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// ServerOptions are the grpc.NewServer options of a mongogate server:
// transport credentials, message size limits, keepalive, and the
// interceptor chain, outermost first:
//
//  1. logging: one slog line per finished call with method, code, ErrorInfo
//     reason, MongoDB code, duration and principal, never message text,
//     tokens or documents;
//  2. metrics: grpc_server_handled_total, grpc_server_handling_seconds and
//     the other RPC metrics of go-grpc-middleware's Prometheus provider;
//  3. the status guard: the one place where an error becomes the status
//     the client receives (toStatus), so every error on the wire has its
//     ErrorInfo, and where an error's detail is logged, once; handlers,
//     authentication and the forwarder below it return plain errors, and
//     forwarded answers pass unchanged. It refuses a request that does
//     not decode with INVALID_ARGUMENT (see requestCodec);
//  4. recovery: a panic becomes INTERNAL and is logged with its stack;
//  5. authentication, skipped for grpc.health.v1.Health and reflection;
//  6. forwarding of calls on other instances' sessions (with Forward).
func ServerOptions(cfg TransportConfig) ([]grpc.ServerOption, error) {
	t, err := NewTransport(cfg)
	return t.Options, err
}

// Transport is how calls reach the services: the options of the
// grpc.Server, and the same unary interceptor chain and stats handler for
// a caller that serves unary calls in process (httpapi's Connect unary
// calls), so that every call passes the same checks whatever carried it.
type Transport struct {
	// Options are ServerOptions' grpc.NewServer options.
	Options []grpc.ServerOption
	// Unary is the whole unary interceptor chain as one interceptor: the
	// one Options install.
	Unary grpc.UnaryServerInterceptor
	// Stats is the stats handler Options install (tracing); nil without
	// TracerProvider.
	Stats stats.Handler
}

// NewTransport builds the Transport of cfg (see ServerOptions).
func NewTransport(cfg TransportConfig) (Transport, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	size := cfg.MaxMessageSize
	switch {
	case size < 0:
		return Transport{}, fmt.Errorf("server: negative MaxMessageSize %d", size)
	case size == 0:
		size = DefaultMaxMessageSize
	}
	if cfg.TLS == nil && cfg.Auth != nil && cfg.Auth.clientCAs != nil {
		return Transport{}, errors.New("server: client certificate authentication needs TLS")
	}

	recoverOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in RPC handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return errInternal()
	})
	opts := []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             keepaliveMinClientPing,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    keepalivePing,
			Timeout: keepalivePingTimeout,
		}),
		serverCodec(),
	}
	opts = append(opts, Tuning(size)...)
	guard := statusGuard{log: log}
	unary := []grpc.UnaryServerInterceptor{
		logUnary(log),
		cfg.Metrics.UnaryServerInterceptor(),
		guard.unary,
		recovery.UnaryServerInterceptor(recoverOpt),
		cfg.Auth.UnaryServerInterceptor(),
	}
	stream := []grpc.StreamServerInterceptor{
		logStream(log),
		cfg.Metrics.StreamServerInterceptor(),
		guard.stream,
		recovery.StreamServerInterceptor(recoverOpt),
		cfg.Auth.StreamServerInterceptor(),
	}
	if cfg.Forward != nil {
		unary = append(unary, cfg.Forward.UnaryServerInterceptor())
		stream = append(stream, cfg.Forward.StreamServerInterceptor())
	}
	t := Transport{Unary: chainUnary(unary)}
	opts = append(opts,
		grpc.UnaryInterceptor(t.Unary),
		grpc.ChainStreamInterceptor(stream...),
	)
	if cfg.TracerProvider != nil {
		prop := cfg.Propagator
		if prop == nil {
			prop = DefaultPropagator()
		}
		t.Stats = otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(cfg.TracerProvider),
			otelgrpc.WithPropagators(prop),
			// RPC metrics are Prometheus's (Metrics); otelgrpc's own are off.
			otelgrpc.WithMeterProvider(noopmetric.NewMeterProvider()),
			otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
		)
		opts = append(opts, grpc.StatsHandler(t.Stats))
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.Auth.ServerTLS(cfg.TLS))))
	}
	t.Options = opts
	return t, nil
}

// chainUnary makes one interceptor of ics, the first outermost, as
// grpc.ChainUnaryInterceptor does.
func chainUnary(ics []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return ics[0](ctx, req, info, chainedHandler(ics, 0, info, handler))
	}
}

// chainedHandler is the handler ics[i] calls: ics[i+1], or the method.
func chainedHandler(ics []grpc.UnaryServerInterceptor, i int, info *grpc.UnaryServerInfo, method grpc.UnaryHandler) grpc.UnaryHandler {
	if i == len(ics)-1 {
		return method
	}
	return func(ctx context.Context, req any) (any, error) {
		return ics[i+1](ctx, req, info, chainedHandler(ics, i+1, info, method))
	}
}

// statusGuard maps the error every call ends with (see toStatus) and logs
// its detail through the server's logger. It also refuses the requests
// that the server's codec could not decode (see requestCodec).
type statusGuard struct{ log *slog.Logger }

func (g statusGuard) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := undecodable(req); err != nil {
		return nil, g.finish(ctx, err)
	}
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, g.finish(ctx, err)
	}
	return resp, nil
}

func (g statusGuard) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return g.finish(ss.Context(), handler(srv, decodeCheckedStream{ss}))
}

func (g statusGuard) finish(ctx context.Context, err error) error {
	return toStatus(ctx, g.log, err)
}
