package mongogate

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/mongogate/mongogate/clients/go/options"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// maxMessageSize matches the server's default limit: a 16 MiB document
// fits in a response with room to spare. gRPC's own default (4 MiB) would
// refuse large documents and batches.
const maxMessageSize = 32 << 20

// streamWindow and connWindow are the HTTP/2 flow-control windows the
// client grants the server per stream and per connection, fixed as the
// server's own are (server.streamWindow says why): a 4 MiB Find batch
// arrives in one round trip.
const (
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

// cleanupTimeout bounds the calls the client makes on its own behalf when
// the caller's context cannot be used: ending sessions in Close and
// UseSession, aborting in WithTransaction after fn failed.
const cleanupTimeout = 10 * time.Second

// Client is a connection to a mongogate server. It is safe for concurrent
// use; create one per server and share it. Disconnect it when done.
type Client struct {
	conn      *grpc.ClientConn
	sessions  pb.SessionServiceClient
	txns      pb.TransactionServiceClient
	docs      pb.DocumentServiceClient
	health    healthpb.HealthClient
	timeout   time.Duration
	keepAlive time.Duration

	closed atomic.Bool
	mu     sync.Mutex
	live   map[*Session]struct{} // sessions not yet ended, for Close

	// Routing: a session's calls go straight to the instance that holds
	// it, over a connection per instance address dialed with dial.
	routing bool
	dial    []grpc.DialOption
	peersMu sync.Mutex
	peers   map[string]*peerConn

	keeper *keeper // the sessions' keep-alive
}

// peerConn is a connection to one server instance and its stubs.
type peerConn struct {
	conn     *grpc.ClientConn
	sessions pb.SessionServiceClient
	txns     pb.TransactionServiceClient
	docs     pb.DocumentServiceClient
}

// Option configures New.
type Option func(*config)

type config struct {
	tls       *tls.Config
	insecure  bool
	apiKey    string
	dialOpts  []grpc.DialOption
	timeout   time.Duration
	keepAlive time.Duration
	tracer    trace.TracerProvider
	prop      propagation.TextMapPropagator
	noRouting bool
}

// WithoutRouting sends every call to the target given to New. By default
// a session's calls go straight to the server instance that holds it (the
// address it advertises in StartSession's answer), saving the hop through
// another instance behind a load balancer; use this when clients cannot
// reach the instances' addresses.
func WithoutRouting() Option { return func(c *config) { c.noRouting = true } }

// WithTracerProvider traces every call as an OpenTelemetry client span
// (otelgrpc) created with tp, and sends the span's context to the server,
// which continues the trace down to each MongoDB command. Without it the
// client records no spans, but still sends along the trace context of the
// caller's own spans if WithPropagator is given.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tracer = tp } }

// WithPropagator sets how trace context travels in request metadata; the
// default, with WithTracerProvider, is W3C Trace Context with W3C Baggage,
// what the server reads.
func WithPropagator(p propagation.TextMapPropagator) Option { return func(c *config) { c.prop = p } }

// WithTLS connects over TLS with cfg (its RootCAs, and Certificates for
// servers that authenticate clients by certificate).
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }

// WithInsecure connects in plaintext whatever the target. Without it (and
// without WithTLS) the client uses plaintext only for loopback targets
// (localhost, 127.0.0.0/8, ::1, unix sockets) and TLS with the system's
// roots for every other target.
func WithInsecure() Option { return func(c *config) { c.insecure = true } }

// WithAPIKey authenticates every call with the API key, sent as
// "authorization: Bearer <key>". Over plaintext the key is readable on the
// network, so outside loopback use it with TLS.
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithDialOptions adds gRPC dial options, applied after the client's own
// (transport credentials, message size limits), so they win.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.dialOpts = append(c.dialOpts, opts...) }
}

// WithDefaultTimeout bounds every call whose context has no deadline. For
// Find and Aggregate it bounds the whole stream, until the Cursor is
// exhausted or closed. 0 (the default) leaves such calls unbounded.
func WithDefaultTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithKeepAliveInterval sets how often a Session's keep-alive refreshes it
// (see Session). The default is a third of the session's idle timeout as
// the server reports it; a negative interval disables keep-alive, so
// sessions expire after their idle timeout without calls.
func WithKeepAliveInterval(d time.Duration) Option { return func(c *config) { c.keepAlive = d } }

// New returns a Client for the server at target, a gRPC target such as
// "localhost:50051" or "dns:///mongogate.internal:443". It does not wait
// for the connection: the first call connects, and a server that cannot be
// reached fails that call with codes.Unavailable. Use Ping to check.
func New(target string, opts ...Option) (*Client, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.tls != nil && cfg.insecure {
		return nil, errors.New("mongogate: WithTLS and WithInsecure exclude each other")
	}
	if cfg.timeout < 0 {
		return nil, errors.New("mongogate: negative default timeout")
	}
	var creds credentials.TransportCredentials
	switch {
	case cfg.tls != nil:
		creds = credentials.NewTLS(cfg.tls)
	case cfg.insecure || isLoopback(target):
		creds = insecure.NewCredentials()
	default:
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)),
		// Fixed windows, as the server's: grpc-go's bandwidth-delay
		// estimator would answer nearly every small response with a
		// WINDOW_UPDATE and a PING for the server to read and
		// acknowledge.
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(connWindow),
	}
	if cfg.apiKey != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearer(cfg.apiKey)))
	}
	if cfg.tracer != nil || cfg.prop != nil {
		tp, prop := cfg.tracer, cfg.prop
		if tp == nil {
			tp = nooptrace.NewTracerProvider()
		}
		if prop == nil {
			prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
		}
		dial = append(dial, grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(tp),
			otelgrpc.WithPropagators(prop),
			otelgrpc.WithMeterProvider(noopmetric.NewMeterProvider()),
		)))
	}
	dial = append(dial, cfg.dialOpts...)
	conn, err := grpc.NewClient(target, dial...)
	if err != nil {
		return nil, err
	}
	return &Client{
		routing:   !cfg.noRouting,
		keeper:    newKeeper(),
		dial:      dial,
		peers:     map[string]*peerConn{},
		conn:      conn,
		sessions:  pb.NewSessionServiceClient(conn),
		txns:      pb.NewTransactionServiceClient(conn),
		docs:      pb.NewDocumentServiceClient(conn),
		health:    healthpb.NewHealthClient(conn),
		timeout:   cfg.timeout,
		keepAlive: cfg.keepAlive,
		live:      map[*Session]struct{}{},
	}, nil
}

// Disconnect ends the sessions the program still holds (aborting their
// open transactions, never committing them), stops their keep-alives and
// closes the connection, as the driver's Client.Disconnect does. Ending
// sessions is best effort, bounded by ctx: sessions it cannot end in time
// expire on the server, and the connection is closed all the same. Calls
// after Disconnect fail with ErrClientClosed. Unlike the driver's, a
// second Disconnect returns nil.
func (c *Client) Disconnect(ctx context.Context) error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	c.mu.Lock()
	live := make([]*Session, 0, len(c.live))
	for s := range c.live {
		live = append(live, s)
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range live {
		wg.Go(func() { _ = s.End(ctx) })
	}
	wg.Wait()
	c.keeper.close()
	c.peersMu.Lock()
	errs := []error{c.conn.Close()}
	for addr, p := range c.peers {
		errs = append(errs, p.conn.Close())
		delete(c.peers, addr)
	}
	c.peersMu.Unlock()
	return errors.Join(errs...)
}

// Close is Disconnect with ending the sessions bounded by a few seconds,
// for a deferred Close where no context is at hand. It is kept for the
// programs written before Disconnect.
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	return c.Disconnect(ctx)
}

// peer returns the connection to the instance at addr, dialing it on
// first use. It returns nil when routing is off, addr is empty, or the
// client is closed; the caller then uses the main connection.
func (c *Client) peer(addr string) *peerConn {
	if !c.routing || addr == "" {
		return nil
	}
	c.peersMu.Lock()
	defer c.peersMu.Unlock()
	if c.closed.Load() {
		return nil
	}
	if p := c.peers[addr]; p != nil {
		return p
	}
	opts := append(append([]grpc.DialOption(nil), c.dial...),
		grpc.WithChainUnaryInterceptor(c.fallbackUnary), grpc.WithChainStreamInterceptor(c.fallbackStream))
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil
	}
	p := &peerConn{conn: conn, sessions: pb.NewSessionServiceClient(conn), txns: pb.NewTransactionServiceClient(conn), docs: pb.NewDocumentServiceClient(conn)}
	c.peers[addr] = p
	return p
}

// unreachable reports whether a call on cc failed because no connection to
// the instance could be made, so that it never left the client: then the
// main connection, where any instance forwards it, may take it instead.
func unreachable(err error, cc *grpc.ClientConn) bool {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable || newError(st).Reason != "" {
		return false
	}
	return cc.GetState() == connectivity.TransientFailure
}

func (c *Client) fallbackUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if unreachable(err, cc) {
		return c.conn.Invoke(ctx, method, req, reply, opts...)
	}
	return err
}

func (c *Client) fallbackStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if unreachable(err, cc) {
		return c.conn.NewStream(ctx, desc, method, opts...)
	}
	return cs, err
}

// Ping checks that the server answers and is serving (its gRPC health
// check): it fails with codes.Unavailable while the server cannot reach
// its MongoDB backends.
func (c *Client) Ping(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClientClosed
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fromStatus(err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return &Error{Code: codes.Unavailable, Message: "server is " + resp.GetStatus().String()}
	}
	return nil
}

// Database returns a handle for the database name; it does not call the
// server.
func (c *Client) Database(name string, opts ...*options.DatabaseOptions) *Database {
	o := merge(opts)
	d := &Database{client: c, name: name, wc: o.WriteConcern}
	if o.Backend != nil {
		d.backend = *o.Backend
	}
	return d
}

// withTimeout applies the default timeout to a context without deadline.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			return context.WithTimeout(ctx, c.timeout)
		}
	}
	return ctx, func() {}
}

// cleanupContext is for calls that must run even though ctx is done; it
// keeps ctx's values.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

func (c *Client) track(s *Session) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return false
	}
	c.live[s] = struct{}{}
	return true
}

func (c *Client) forget(s *Session) {
	c.mu.Lock()
	delete(c.live, s)
	c.mu.Unlock()
}

// Database is a handle for a database on the server's backend.
type Database struct {
	client  *Client
	name    string
	backend string
	wc      *options.WriteConcern
}

// Name returns the database's name.
func (d *Database) Name() string { return d.name }

// Client returns the Client the handle belongs to.
func (d *Database) Client() *Client { return d.client }

// Collection returns a handle for the collection name; it does not call
// the server.
func (d *Database) Collection(name string, opts ...*options.CollectionOptions) *Collection {
	o := merge(opts)
	wc := o.WriteConcern
	if wc == nil {
		wc = d.wc
	}
	return &Collection{db: d, name: name, wc: wc}
}

// bearer sends an API key on every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: New chooses the transport, and only
// chooses plaintext for loopback targets or when told to.
func (bearer) RequireTransportSecurity() bool { return false }

// isLoopback reports whether target names this machine: a unix socket,
// localhost, or a loopback address.
func isLoopback(target string) bool {
	if strings.HasPrefix(target, "unix:") || strings.HasPrefix(target, "unix-abstract:") {
		return true
	}
	for _, scheme := range []string{"dns:///", "passthrough:///", "dns:", "passthrough:"} {
		if rest, ok := strings.CutPrefix(target, scheme); ok {
			target = rest
			break
		}
	}
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
