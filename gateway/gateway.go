// Package gateway is mongogate's composition root: it builds one instance
// (backends, session registry, transaction manager, instance directory,
// forwarding, the gRPC services with their interceptors, health,
// reflection and metrics) from a Config, serves it on a listener, and owns
// the order in which it shuts down. cmd/server and every test that needs
// a server in-process use it, so there is one wiring to get right:
//
//	inst, err := gateway.New(ctx, gateway.Config{...})
//	go inst.Serve(ln)
//	defer inst.Shutdown(ctx)
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mongogate/mongogate/backend"
	"github.com/mongogate/mongogate/directory"
	"github.com/mongogate/mongogate/emulator"
	"github.com/mongogate/mongogate/gen/openapi"
	"github.com/mongogate/mongogate/httpapi"
	"github.com/mongogate/mongogate/internal/mongotrace"
	"github.com/mongogate/mongogate/server"
	"github.com/mongogate/mongogate/sessions"
	"github.com/mongogate/mongogate/txn"
	"github.com/mongogate/mongogate/watch"
)

// Instance is one mongogate instance. New builds it; Serve serves it;
// Shutdown (graceful) or Close (at once) stops it.
type Instance struct {
	cfg     Config
	log     *slog.Logger
	id      string
	emu     *emulator.Server // nil with a real default backend
	metrics *server.Metrics
	backend *backend.Set
	reg     *sessions.Registry
	txn     *txn.Manager
	health  *health.Server
	// outcomes keeps the backends' outcome records.
	outcomes *txn.Outcomes
	// dir is the instance directory, set once by Serve; atomic, since the
	// commit path reads its lease without taking mu (gateway/fence.go).
	dir    atomic.Pointer[directory.Directory]
	cancel context.CancelFunc       // stops the health probe
	tracer *sdktrace.TracerProvider // started from Files.OTLPEndpoint

	// Set by Serve; mu orders it against Shutdown and Close.
	mu          sync.Mutex
	serving     bool
	stopped     bool
	advert      string
	forward     *server.Forwarder
	watch       *watch.Hub // WatchService's fan-out (gateway/watch.go)
	grpc        *grpc.Server
	http        *http.Server
	tls         *tls.Config   // the listener's, nil for plaintext
	ready       chan struct{} // closed once Serve serves
	metricsS    *http.Server
	metricsAddr string
	stopOnce    sync.Once
}

// New connects the backends (starting the embedded emulator when the
// default one has no URI) and builds the registry, the transaction
// manager and the metrics. Nothing is served until Serve.
func New(ctx context.Context, cfg Config) (_ *Instance, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	in := &Instance{cfg: cfg, log: cfg.Logger, id: cfg.InstanceID, metrics: server.NewMetrics(), health: health.NewServer(), ready: make(chan struct{})}
	if in.id == "" {
		in.id = RandomInstanceID()
	}
	defer func() {
		if err != nil {
			in.Close()
		}
	}()
	if in.tracer, err = in.cfg.load(ctx, in.id); err != nil {
		return nil, err
	}
	cfg = in.cfg
	if err := in.connect(ctx); err != nil {
		return nil, err
	}
	// The transaction layer is the only writer of transaction state: the
	// registry asks it to abort on expiry, EndSession and shutdown, and it
	// reports every outcome, whoever caused it.
	if in.outcomes, err = in.newOutcomes(ctx); err != nil {
		return nil, err
	}
	in.txn, err = txn.New(txn.Config{
		CommitRetryLimit: cfg.CommitRetryLimit,
		RunTimeout:       cfg.RunTimeout,
		Logger:           in.log.With("component", "txn"),
		OnCommitAttempt:  in.metrics.CommitAttempt,
		OnOutcome:        in.metrics.TransactionFinished,
		Lease:            in.commitLease,
		Outcomes:         in.outcomes,
		RecordByDefault: func(name string) bool {
			b := in.backend.Get(name)
			return b != nil && b.RecordOutcome
		},
	})
	if err != nil {
		return nil, err
	}
	in.reg, err = sessions.New(sessions.Config{
		InstanceID:      in.id,
		IdleTimeout:     cfg.IdleTimeout,
		MaxIdleTimeout:  cfg.MaxIdleTimeout,
		AbsoluteTimeout: cfg.AbsoluteTimeout,
		TxnLifetime:     cfg.TransactionLifetime,
		TombstoneTTL:    cfg.TombstoneTTL,
		MaxSessions:     cfg.MaxSessions,
		MaxPerPrincipal: cfg.MaxSessionsPerPrincipal,
		Now:             cfg.Now,
		Logger:          in.log.With("component", "sessions"),
		OnExpire:        in.metrics.SessionExpired,
		AbortTxn:        in.txn.AbortFor,
	})
	if err != nil {
		return nil, err
	}
	in.metrics.SetActiveSessions(func() int { return int(in.reg.Stats().Active) })
	return in, nil
}

// connect starts the emulator if needed and connects every backend.
func (in *Instance) connect(ctx context.Context) error {
	var monitor *event.CommandMonitor
	if in.cfg.TracerProvider != nil {
		monitor = mongotrace.Monitor(in.cfg.TracerProvider)
	}
	var bs []*backend.Backend
	for _, bc := range in.cfg.Backends {
		if bc.URI == "" {
			var err error
			in.emu, err = emulator.New(emulator.Config{Addr: in.cfg.EmulatorAddr, TransactionLifetimeLimit: in.cfg.TransactionLifetime, Logger: in.log.With("component", "emulator")})
			if err != nil {
				return err
			}
			if err := in.emu.Start(ctx); err != nil {
				return err
			}
			bc.URI = in.emu.URI()
			in.log.Warn("mongogate: no MongoDB URI given; serving the in-memory emulator. DATA IS NOT PERSISTED.", "emulator", bc.URI)
		}
		b, err := backend.Connect(ctx, backend.Config{
			Name: bc.Name, URI: bc.URI, RetryWrites: bc.RetryWrites,
			CausalConsistency: bc.CausalConsistency, RecordOutcome: bc.RecordOutcome,
			Monitor: monitor, OnChange: in.backendChanged, Logger: in.log,
		})
		if err != nil {
			return err
		}
		bs = append(bs, b)
	}
	var err error
	in.backend, err = backend.NewSet(bs...)
	return err
}

// ID is the instance's id, the prefix of its new session tokens: the
// configured one, until its peers declare it dead and it renames itself
// (see fenced).
func (in *Instance) ID() string {
	if in.reg != nil {
		return in.reg.InstanceID()
	}
	return in.id
}

// Metrics serves the instance's Prometheus metrics.
func (in *Instance) Metrics() http.Handler { return in.metrics }

// Backends are the instance's backends.
func (in *Instance) Backends() *backend.Set { return in.backend }

// ReloadAuthz reads the authorization rules file again. Sessions and
// calls in flight are untouched; calls authorized from then on see the new
// rules. A file that does not load leaves the previous rules in force.
// Without rules it does nothing.
func (in *Instance) ReloadAuthz() {
	a := in.cfg.Authz
	if a == nil {
		return
	}
	r, err := a.Reload()
	if err != nil {
		in.log.Error("mongogate: authorization rules not reloaded; the previous rules stay in force", "file", a.File(), "err", err)
		return
	}
	in.log.Info("mongogate: authorization rules reloaded", "file", a.File(), "principals", r.Principals())
}

// EmulatorURI is the embedded emulator's connection string, "" without one.
func (in *Instance) EmulatorURI() string {
	if in.emu == nil {
		return ""
	}
	return in.emu.URI()
}

// Serve registers the instance in the directory under the listener's
// address, and serves native gRPC and the HTTP protocols (httpapi) on ln
// until Shutdown or Close; it then returns nil. It may be called once.
func (in *Instance) Serve(ln net.Listener) error {
	g, hs, err := in.start(ln)
	if err != nil {
		_ = ln.Close()
		return err
	}
	return in.serveBoth(ln, g, hs, in.tls)
}

// start builds what depends on the served address and returns the gRPC
// and HTTP servers to serve.
func (in *Instance) start(ln net.Listener) (*grpc.Server, *http.Server, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		return nil, nil, grpc.ErrServerStopped
	}
	if in.serving {
		return nil, nil, errors.New("gateway: Serve called twice")
	}
	in.serving = true
	in.advert = advertiseAddress(in.cfg.AdvertiseAddress, ln.Addr())
	if in.advert == "" {
		in.log.Warn("mongogate: listening on a wildcard address without --advertise-address: other instances cannot forward to this one, and clients cannot route to it")
	}
	ctx := context.Background()
	if err := in.startDirectory(ctx); err != nil {
		return nil, nil, err
	}
	if err := in.startForwarder(); err != nil {
		return nil, nil, err
	}
	g, services, transport, err := in.grpcServer()
	if err != nil {
		return nil, nil, err
	}
	in.grpc = g
	h, err := httpapi.New(httpapi.Config{Services: services, Transport: transport, AllowedOrigins: in.cfg.AllowedOrigins, OpenAPI: openapi.Document, Logger: in.log})
	if err != nil {
		return nil, nil, err
	}
	in.http = newHTTPServer(h, in.log)
	if err := in.serveMetrics(); err != nil {
		return nil, nil, err
	}
	// NOT_SERVING until the probe's first round has heard every backend.
	in.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	probeCtx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go in.backend.Probe(probeCtx, in.cfg.HealthProbeInterval, in.setHealth)
	close(in.ready)
	in.log.Info("mongogate: serving", "addr", ln.Addr().String(), "advertise", in.advert, "instance", in.id, "backends", len(in.backend.All()))
	return g, in.http, nil
}

// Ready is closed once Serve serves (its listener accepted calls from the
// start; they wait until then).
func (in *Instance) Ready() <-chan struct{} { return in.ready }

// Address is the address peers and routing clients reach this instance
// at, "" until Serve or when none is known.
func (in *Instance) Address() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.advert
}

// Shutdown drains in order: health NOT_SERVING, graceful stop of the RPCs
// in flight (cancelled when ctx ends first), open transactions aborted
// (never committed) and sessions ended, the directory entry turned into a
// tombstone listing what was open, peers and backends disconnected, the
// emulator stopped.
func (in *Instance) Shutdown(ctx context.Context) error {
	in.mu.Lock()
	if in.stopped {
		in.mu.Unlock()
		return nil
	}
	in.stopped = true
	g, hs := in.grpc, in.http
	in.mu.Unlock()
	if in.cancel != nil {
		in.cancel()
	}
	in.health.Shutdown()
	in.closeWatch(ctx)
	if g != nil {
		stopped := make(chan struct{})
		go func() {
			// HTTP calls end in the gRPC server's handler: both drain.
			_ = hs.Shutdown(ctx)
			g.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			in.log.Warn("mongogate: in-flight RPCs did not finish in time; cancelling them")
			g.Stop()
			_ = hs.Close()
			<-stopped
		}
	}
	// What was open before the registry aborts it stays listed in the
	// directory's tombstone, so that its outcome (aborted) stays known.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	open := in.openTransactions()
	var errs []error
	if err := in.reg.Close(cctx); err != nil {
		errs = append(errs, fmt.Errorf("sessions: %w", err))
	}
	if dir := in.dir.Load(); dir != nil {
		// Every session has ended: the entry can say gone at once.
		if err := dir.Leave(cctx, open); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, in.release(cctx))
	return errors.Join(errs...)
}

// closeTimeout bounds the steps of shutdown after the RPCs have stopped.
const closeTimeout = 10 * time.Second

// Close stops at once, as a crash would for everything but this process:
// no more answers and no more heartbeats; open transactions are left to
// MongoDB, which aborts them at its transaction lifetime limit (or a
// surviving peer kills them sooner). Nothing is committed.
func (in *Instance) Close() {
	in.mu.Lock()
	in.stopped = true
	g, hs := in.grpc, in.http
	in.mu.Unlock()
	in.stopOnce.Do(func() {
		if in.cancel != nil {
			in.cancel()
		}
		if g != nil {
			g.Stop()
			_ = hs.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if dir := in.dir.Load(); dir != nil {
			dir.Stop()
		}
		_ = in.release(ctx)
		// The backends are gone, so closing the registry sends MongoDB
		// nothing: it only stops the reaper and forgets the sessions.
		if in.reg != nil {
			_ = in.reg.Close(ctx)
		}
	})
}

// release closes what outlives the RPCs: forwarder connections, the
// metrics server, backends, the emulator.
func (in *Instance) release(ctx context.Context) error {
	var errs []error
	in.closeWatch(ctx)
	if in.forward != nil {
		_ = in.forward.Close()
	}
	if in.metricsS != nil {
		_ = in.metricsS.Shutdown(ctx)
	}
	if in.backend != nil {
		errs = append(errs, in.backend.Disconnect(ctx))
	}
	if in.emu != nil {
		if err := in.emu.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("emulator: %w", err))
		}
	}
	if in.tracer != nil {
		if err := in.tracer.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("tracing: %w", err))
		}
	}
	return errors.Join(errs...)
}

// RandomInstanceID is an instance id for an instance not given one.
func RandomInstanceID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "mg-" + hex.EncodeToString(b)
}

// advertiseAddress is what peers and routing clients dial: the configured
// one, else the bound listen address unless it is a wildcard ("" then).
func advertiseAddress(configured string, bound net.Addr) string {
	if configured != "" {
		return configured
	}
	tcp, ok := bound.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		return ""
	}
	return tcp.String()
}
