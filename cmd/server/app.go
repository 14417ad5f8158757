package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	v1reflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1"
	v1alphareflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/mongogate/mongogate/authz"
	"github.com/mongogate/mongogate/directory"
	"github.com/mongogate/mongogate/emulator"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/mongotrace"
	"github.com/mongogate/mongogate/server"
	"github.com/mongogate/mongogate/sessions"
	"github.com/mongogate/mongogate/txn"
)

// app is a running mongogate: its listeners, backends and registry.
type app struct {
	log      *slog.Logger
	emu      *emulator.Server // nil with a real MongoDB
	backends []*server.Backend
	registry *sessions.Registry
	manager  *txn.Manager
	dir      *directory.Directory
	forward  *server.Forwarder
	ln       net.Listener
	grpc     *grpc.Server
	health   *health.Server
	healthMu sync.Mutex  // orders the probe's and the driver's health updates
	ready    atomic.Bool // backends and health are set up
	metrics  *http.Server
	tracer   *sdktrace.TracerProvider // nil without --otlp-endpoint
	authz    *authz.Authorizer        // nil without --authz
	serveErr chan error
	stopOnce sync.Once
	cancel   context.CancelFunc // stops the health probes
}

func start(ctx context.Context, cfg *config, log *slog.Logger, stdout io.Writer) (_ *app, err error) {
	a := &app{log: log, serveErr: make(chan error, 2)}
	defer func() {
		if err != nil {
			a.stopNow()
		}
	}()

	// A bad rules file fails before anything starts.
	if a.authz, err = newAuthorizer(cfg, log); err != nil {
		return nil, err
	}
	uris := map[string]string{}
	for _, b := range cfg.backends {
		uris[b.name] = b.uri
	}
	switch {
	case cfg.mongoURI != "":
		uris[server.DefaultBackend] = cfg.mongoURI
	case uris[server.DefaultBackend] == "":
		a.emu, err = emulator.New(emulator.Config{Addr: cfg.emulatorAddr, TransactionLifetimeLimit: cfg.txnLifetime, Logger: log.With("component", "emulator")})
		if err != nil {
			return nil, err
		}
		if err := a.emu.Start(ctx); err != nil {
			return nil, err
		}
		uris[server.DefaultBackend] = a.emu.URI()
		log.Warn("mongogate: no MongoDB URI given; serving the in-memory emulator. DATA IS NOT PERSISTED.",
			"emulator", a.emu.URI())
	}

	instance := cfg.instanceID
	if instance == "" {
		instance = randomInstanceID()
	}
	if cfg.otlpEndpoint != "" {
		if a.tracer, err = newTracerProvider(ctx, cfg.otlpEndpoint, instance); err != nil {
			return nil, err
		}
		log.Info("mongogate: tracing", "otlp_endpoint", cfg.otlpEndpoint)
	}

	probeCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	for _, name := range sortedNames(uris) {
		b, err := connect(ctx, name, uris[name], cfg, a.tracerProvider(), a.backendChanged, log)
		if err != nil {
			return nil, err
		}
		a.backends = append(a.backends, b)
	}

	metrics := server.NewMetrics()
	// The transaction layer is the only writer of transaction state: the
	// registry asks it to abort on expiry, EndSession and shutdown, and it
	// reports every outcome, whoever caused it.
	outcomes := a.outcomeCollections(ctx, cfg, log)
	manager, err := txn.New(txn.Config{
		CommitRetryLimit: cfg.commitRetry,
		RunTimeout:       cfg.runTimeout,
		Logger:           log.With("component", "txn"),
		OnCommitAttempt:  metrics.CommitAttempt,
		OnOutcome:        metrics.TransactionFinished,
		Outcomes:         func(b string) *mongo.Collection { return outcomes[b] },
		RecordByDefault:  func(b string) bool { return cfg.backendBool(b, "record_outcome", cfg.recordOutcome) },
		OutcomeRetention: cfg.retention,
	})
	if err != nil {
		return nil, err
	}
	a.registry, err = sessions.New(sessions.Config{
		InstanceID:      instance,
		IdleTimeout:     cfg.idleTimeout,
		MaxIdleTimeout:  cfg.maxIdle,
		AbsoluteTimeout: cfg.absolute,
		TxnLifetime:     cfg.txnLifetime,
		TombstoneTTL:    cfg.tombstoneTTL,
		MaxSessions:     cfg.maxSessions,
		MaxPerPrincipal: cfg.maxPerPrin,
		Logger:          log.With("component", "sessions"),
		OnExpire:        metrics.SessionExpired,
		AbortTxn:        manager.AbortFor,
	})
	if err != nil {
		return nil, err
	}
	metrics.SetActiveSessions(func() int { return int(a.registry.Stats().Active) })

	a.ln, err = net.Listen("tcp", cfg.listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	advertise := advertiseAddress(cfg.advertise, a.ln.Addr())
	if advertise == "" {
		log.Warn("mongogate: listening on a wildcard address without --advertise-address: other instances cannot forward to this one, and clients cannot route to it")
	}
	peerSecret, err := readPeerSecret(cfg.peerSecretFile)
	if err != nil {
		return nil, err
	}
	var tlsCfg *tls.Config
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	a.manager = manager
	if err := a.startDirectory(ctx, cfg, instance, advertise, metrics, log); err != nil {
		return nil, err
	}
	metrics.SetDirectory(a.directoryCounts)
	peerDial, err := peerDialOptions(cfg, tlsCfg, a.tracerProvider())
	if err != nil {
		return nil, err
	}
	a.forward, err = server.NewForwarder(server.ForwardConfig{
		Self: instance, Peers: a.dir, Secret: peerSecret, DialOptions: peerDial,
		Metrics: metrics, Logger: log.With("component", "forward"),
	})
	if err != nil {
		return nil, err
	}
	if peerSecret == nil {
		log.Info("mongogate: no --peer-secret-file: calls forwarded to other instances carry the caller's own credentials (callers authenticated by client certificate cannot be forwarded)")
	}

	srv, err := server.New(server.Config{
		Backends: a.backends, Sessions: a.registry, Txn: manager, Metrics: metrics, Logger: log,
		Address: advertise, Peers: a.dir, Outcomes: func(b string) *mongo.Collection { return outcomes[b] },
		Authz: a.authz, Internal: []string{cfg.directoryColl, cfg.outcomeColl},
	})
	if err != nil {
		return nil, err
	}

	auth, err := server.NewAuthenticator(server.AuthConfig{
		APIKeysFile:    cfg.apiKeys,
		ClientCAFile:   cfg.tlsClientCA,
		AllowAnonymous: cfg.apiKeys == "" && cfg.tlsClientCA == "",
		PeerSecret:     peerSecret,
	})
	if err != nil {
		return nil, err
	}
	if auth.Anonymous() {
		log.Warn("mongogate: AUTHENTICATION IS OFF; every caller is principal \"anonymous\". Use --api-keys or --tls-client-ca outside development.")
	}
	opts, err := server.ServerOptions(server.TransportConfig{
		Logger: log, Auth: auth, Metrics: metrics, TLS: tlsCfg,
		TracerProvider: a.tracerProvider(), Forward: a.forward,
	})
	if err != nil {
		return nil, err
	}
	a.grpc = grpc.NewServer(opts...)
	srv.Register(a.grpc)
	metrics.InitializeRPCs(a.grpc)
	a.health = health.NewServer()
	healthpb.RegisterHealthServer(a.grpc, a.health)
	if err := registerReflection(a.grpc); err != nil {
		return nil, err
	}
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	a.ready.Store(true)
	go a.probe(probeCtx)

	ln := a.ln
	go func() {
		if err := a.grpc.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			a.serveErr <- err
		}
	}()
	if cfg.metricsListen != "" {
		mln, err := net.Listen("tcp", cfg.metricsListen)
		if err != nil {
			return nil, fmt.Errorf("metrics listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics)
		if cfg.pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		a.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := a.metrics.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.serveErr <- err
			}
		}()
		log.Info("mongogate: metrics", "addr", mln.Addr().String())
		fmt.Fprintf(stdout, "mongogate metrics on http://%s/metrics\n", mln.Addr())
	}
	log.Info("mongogate: serving", "addr", ln.Addr().String(), "advertise", advertise, "instance", instance, "backends", len(a.backends))
	fmt.Fprintf(stdout, "mongogate listening on %s\n", ln.Addr())
	return a, nil
}

// connect opens a backend and learns whether it can run transactions. An
// unreachable backend is not fatal: health stays NOT_SERVING until it
// answers, and transactions are assumed possible meanwhile.
func connect(ctx context.Context, name, uri string, cfg *config, tp trace.TracerProvider, onDown func(bool), log *slog.Logger) (*server.Backend, error) {
	b := &server.Backend{
		Name:              name,
		Transactions:      true,
		CausalConsistency: cfg.backendBool(name, "causal_consistency", cfg.causal),
		OnDown:            onDown,
	}
	opts := options.Client().ApplyURI(uri).SetRetryWrites(cfg.backendBool(name, "retry_writes", cfg.retryWrites)).
		SetServerMonitor(&event.ServerMonitor{TopologyDescriptionChanged: b.TopologyChanged})
	if tp != nil {
		opts.SetMonitor(mongotrace.Monitor(tp))
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", name, err)
	}
	b.Client = client
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var hello bson.M
	if err := client.Database("admin").RunCommand(hctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		log.Error("mongogate: backend not reachable yet", "backend", name, "err", err)
		return b, nil
	}
	_, rs := hello["setName"]
	b.Transactions = rs || hello["msg"] == "isdbgrid"
	if !b.Transactions {
		log.Warn("mongogate: backend is a standalone server; transactions will be refused", "backend", name)
	}
	return b, nil
}

// probe keeps the health status in step with the backends: SERVING while
// every backend answers ping.
func (a *app) probe(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		for _, b := range a.backends {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := b.Client.Ping(pctx, readpref.Primary())
			cancel()
			if ctx.Err() != nil {
				return
			}
			b.SetDown(err != nil)
		}
		a.setHealth()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// backendChanged is the backends' OnDown: the driver saw a backend go or
// come back, so health follows at once rather than at the next probe.
func (a *app) backendChanged(bool) {
	if a.ready.Load() {
		a.setHealth()
	}
}

// setHealth serves SERVING while no backend is down.
func (a *app) setHealth() {
	a.healthMu.Lock()
	defer a.healthMu.Unlock()
	status := healthpb.HealthCheckResponse_SERVING
	for _, b := range a.backends {
		if b.Down() {
			status = healthpb.HealthCheckResponse_NOT_SERVING
		}
	}
	a.health.SetServingStatus("", status)
	for _, svc := range []string{pb.SessionService_ServiceDesc.ServiceName, pb.TransactionService_ServiceDesc.ServiceName, pb.DocumentService_ServiceDesc.ServiceName} {
		a.health.SetServingStatus(svc, status)
	}
}

// shutdown drains in order: NOT_SERVING, graceful stop bounded by timeout,
// abort open transactions and end sessions, disconnect, stop the emulator.
func (a *app) shutdown(ctx context.Context, timeout time.Duration) error {
	a.cancel()
	a.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		a.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(timeout):
		a.log.Warn("mongogate: in-flight RPCs did not finish in time; cancelling them")
		a.grpc.Stop()
		<-stopped
	}
	var errs []error
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// What was open before the registry aborts it stays listed in the
	// directory's tombstone, so that its outcome (aborted) stays known.
	open := a.openTransactions()
	if err := a.registry.Close(cctx); err != nil {
		errs = append(errs, fmt.Errorf("sessions: %w", err))
	}
	// Every session has ended: the directory entry can say gone at once.
	if err := a.dir.Leave(cctx, open); err != nil {
		errs = append(errs, err)
	}
	_ = a.forward.Close()
	if a.metrics != nil {
		_ = a.metrics.Shutdown(cctx)
	}
	for _, b := range a.backends {
		if err := b.Client.Disconnect(cctx); err != nil {
			errs = append(errs, fmt.Errorf("backend %q: %w", b.Name, err))
		}
	}
	if a.emu != nil {
		if err := a.emu.Close(cctx); err != nil {
			errs = append(errs, fmt.Errorf("emulator: %w", err))
		}
	}
	if a.tracer != nil {
		if err := a.tracer.Shutdown(cctx); err != nil {
			errs = append(errs, fmt.Errorf("tracing: %w", err))
		}
	}
	return errors.Join(errs...)
}

// stopNow stops without waiting for anything. Open transactions are left
// to MongoDB, which aborts them at its transaction lifetime limit; nothing
// is committed.
func (a *app) stopNow() {
	a.stopOnce.Do(func() {
		if a.cancel != nil {
			a.cancel()
		}
		if a.grpc != nil {
			a.grpc.Stop()
		}
		if a.ln != nil {
			_ = a.ln.Close()
		}
		if a.forward != nil {
			_ = a.forward.Close()
		}
		if a.metrics != nil {
			_ = a.metrics.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for _, b := range a.backends {
			_ = b.Client.Disconnect(ctx)
		}
		if a.emu != nil {
			_ = a.emu.Close(ctx)
		}
		if a.tracer != nil {
			_ = a.tracer.Shutdown(ctx)
		}
	})
}

// tracerProvider is the provider RPCs and MongoDB commands are traced
// with, or nil when tracing is off.
func (a *app) tracerProvider() trace.TracerProvider {
	if a.tracer == nil {
		return nil
	}
	return a.tracer
}

// newTracerProvider exports spans over OTLP/gRPC to endpoint, a URL
// (http:// for plaintext, https:// for TLS) or host:port (TLS). Sampling
// follows the OTEL_TRACES_SAMPLER variables, by default every trace the
// caller samples and every new one.
func newTracerProvider(ctx context.Context, endpoint, instance string) (*sdktrace.TracerProvider, error) {
	opt := otlptracegrpc.WithEndpoint(endpoint)
	if strings.Contains(endpoint, "://") {
		opt = otlptracegrpc.WithEndpointURL(endpoint)
	}
	exp, err := otlptracegrpc.New(ctx, opt)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "mongogate"),
		attribute.String("service.instance.id", instance),
	)
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// registerReflection serves reflection from the descriptor set that keeps
// the proto comments, so grpcurl describe shows the documentation.
func registerReflection(g *grpc.Server) error {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(pb.DescriptorSet, &set); err != nil {
		return fmt.Errorf("reflection: %w", err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return fmt.Errorf("reflection: %w", err)
	}
	opts := reflection.ServerOptions{Services: g, DescriptorResolver: resolvers{files, protoregistry.GlobalFiles}}
	v1reflectiongrpc.RegisterServerReflectionServer(g, reflection.NewServerV1(opts))
	v1alphareflectiongrpc.RegisterServerReflectionServer(g, reflection.NewServer(opts))
	return nil
}

// resolvers looks descriptors up in each resolver in turn: mongogate's
// commented descriptors first, then everything linked in (health).
type resolvers []protodesc.Resolver

func (rs resolvers) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	for _, r := range rs {
		if fd, err := r.FindFileByPath(path); err == nil {
			return fd, nil
		}
	}
	return nil, protoregistry.NotFound
}

func (rs resolvers) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	for _, r := range rs {
		if d, err := r.FindDescriptorByName(name); err == nil {
			return d, nil
		}
	}
	return nil, protoregistry.NotFound
}

func randomInstanceID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "mg-" + hex.EncodeToString(b)
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// advertiseAddress is what peers and routing clients dial: the flag, else
// the bound listen address unless it is a wildcard ("" then).
func advertiseAddress(flag string, bound net.Addr) string {
	if flag != "" {
		return flag
	}
	tcp, ok := bound.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		return ""
	}
	return tcp.String()
}

// readPeerSecret reads --peer-secret-file: at least 32 bytes, surrounding
// white space ignored. No file means no secret.
func readPeerSecret(file string) ([]byte, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("peer secret: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < 32 {
		return nil, fmt.Errorf("peer secret %s: %d bytes, want at least 32 (e.g. head -c 32 /dev/urandom | base64)", file, len(b))
	}
	return b, nil
}

// startDirectory registers this instance in the default backend's
// directory collection. Its heartbeats list the open transactions, and
// it kills a dead instance's (see reclaim).
func (a *app) startDirectory(ctx context.Context, cfg *config, instance, advertise string, metrics *server.Metrics, log *slog.Logger) error {
	db, coll, _ := strings.Cut(cfg.directoryColl, ".")
	var err error
	a.dir, err = directory.New(directory.Config{
		Collection:   a.backend(server.DefaultBackend).Client.Database(db).Collection(coll),
		InstanceID:   instance,
		Address:      advertise,
		Interval:     cfg.heartbeat,
		TombstoneTTL: cfg.retention,
		Open:         a.openTransactions,
		Reclaim: func(ctx context.Context, dead directory.Instance) error {
			if err := a.reclaim(ctx, dead); err != nil {
				return err
			}
			metrics.InstanceReclaimed()
			return nil
		},
		Logger: log.With("component", "directory"),
	})
	if err != nil {
		return err
	}
	return a.dir.Start(ctx)
}

func (a *app) backend(name string) *server.Backend {
	for _, b := range a.backends {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// openTransactions is what this instance's heartbeats list.
func (a *app) openTransactions() []directory.OpenTxn {
	var out []directory.OpenTxn
	for _, o := range a.manager.OpenTransactions() {
		out = append(out, directory.OpenTxn{Backend: o.Backend, LSID: o.LSID, Outcome: o.Outcome, Principal: o.Principal})
	}
	return out
}

// reclaim kills a dead instance's open transactions: killSessions on
// each backend for the logical sessions its last heartbeat listed, which
// aborts their transactions and releases their locks at once, rather
// than at MongoDB's transaction lifetime limit. MongoDB documents
// killSessions as killing "all operations associated with the specified
// sessions" and aborting their in-progress transactions
// (https://www.mongodb.com/docs/manual/reference/command/killSessions/).
// An empty list would kill every session, so none is sent for a backend
// without listed sessions.
func (a *app) reclaim(ctx context.Context, dead directory.Instance) error {
	byBackend := map[string]bson.A{}
	for _, o := range dead.Open {
		byBackend[o.Backend] = append(byBackend[o.Backend], bson.D{{Key: "id", Value: o.LSID}})
	}
	var errs []error
	for name, lsids := range byBackend {
		b := a.backend(name)
		if b == nil {
			errs = append(errs, fmt.Errorf("instance %s had transactions on backend %q, which this instance does not have", dead.ID, name))
			continue
		}
		if err := b.Client.Database("admin").RunCommand(ctx, bson.D{{Key: "killSessions", Value: lsids}}).Err(); err != nil {
			errs = append(errs, fmt.Errorf("killSessions on backend %q: %w", name, err))
		}
	}
	a.log.Info("mongogate: killed a dead instance's open transactions", "instance", dead.ID, "transactions", len(dead.Open), "failed", len(errs))
	return errors.Join(errs...)
}

// outcomeCollections are the backends' outcome record collections. Each
// gets its TTL index in the background: records are written and read
// without it, only their expiry needs it, so a backend that cannot be
// reached at start delays nothing (the failure is logged).
func (a *app) outcomeCollections(ctx context.Context, cfg *config, log *slog.Logger) map[string]*mongo.Collection {
	db, coll, _ := strings.Cut(cfg.outcomeColl, ".")
	out := map[string]*mongo.Collection{}
	for _, b := range a.backends {
		c := b.Client.Database(db).Collection(coll)
		out[b.Name] = c
		go func() {
			ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := txn.EnsureOutcomeIndex(ictx, c); err != nil {
				log.Warn("mongogate: outcome records' TTL index not created; records will not expire", "backend", b.Name, "err", err)
			}
		}()
	}
	return out
}

func (a *app) directoryCounts() map[string]int {
	out := map[string]int{}
	for st, n := range a.dir.Counts() {
		out[st.String()] = n
	}
	return out
}

// peerDialOptions connect to other instances: plaintext, or TLS when this
// instance serves TLS (peers then serve it too), verifying them with
// --peer-tls-ca (default: the system's roots) and presenting this
// instance's certificate, for peers that ask for client certificates.
func peerDialOptions(cfg *config, serverTLS *tls.Config, tp trace.TracerProvider) ([]grpc.DialOption, error) {
	creds := insecure.NewCredentials()
	if serverTLS != nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: serverTLS.Certificates}
		if cfg.peerTLSCA != "" {
			pemBytes, err := os.ReadFile(cfg.peerTLSCA)
			if err != nil {
				return nil, fmt.Errorf("peer TLS CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemBytes) {
				return nil, fmt.Errorf("peer TLS CA %s: no certificates", cfg.peerTLSCA)
			}
			tc.RootCAs = pool
		}
		creds = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if tp != nil {
		opts = append(opts, grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(tp),
			otelgrpc.WithPropagators(server.DefaultPropagator()),
			otelgrpc.WithMeterProvider(noopmetric.NewMeterProvider()),
		)))
	}
	return opts, nil
}
