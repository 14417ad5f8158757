package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
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
	grpc     *grpc.Server
	health   *health.Server
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
		b, err := connect(ctx, name, uris[name], cfg, a.tracerProvider(), log)
		if err != nil {
			return nil, err
		}
		a.backends = append(a.backends, b)
	}

	metrics := server.NewMetrics()
	// The transaction layer is the only writer of transaction state: the
	// registry asks it to abort on expiry, EndSession and shutdown, and it
	// reports every outcome, whoever caused it.
	manager, err := txn.New(txn.Config{
		CommitRetryLimit: cfg.commitRetry,
		RunTimeout:       cfg.runTimeout,
		Logger:           log.With("component", "txn"),
		OnCommitAttempt:  metrics.CommitAttempt,
		OnOutcome:        metrics.TransactionFinished,
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
	srv, err := server.New(server.Config{Backends: a.backends, Sessions: a.registry, Txn: manager, Metrics: metrics, Logger: log, Authz: a.authz})
	if err != nil {
		return nil, err
	}

	auth, err := server.NewAuthenticator(server.AuthConfig{
		APIKeysFile:    cfg.apiKeys,
		ClientCAFile:   cfg.tlsClientCA,
		AllowAnonymous: cfg.apiKeys == "" && cfg.tlsClientCA == "",
	})
	if err != nil {
		return nil, err
	}
	if auth.Anonymous() {
		log.Warn("mongogate: AUTHENTICATION IS OFF; every caller is principal \"anonymous\". Use --api-keys or --tls-client-ca outside development.")
	}
	var tlsCfg *tls.Config
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	opts, err := server.ServerOptions(server.TransportConfig{Logger: log, Auth: auth, Metrics: metrics, TLS: tlsCfg, TracerProvider: a.tracerProvider()})
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
	go a.probe(probeCtx)

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
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
		a.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := a.metrics.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.serveErr <- err
			}
		}()
		log.Info("mongogate: metrics", "addr", mln.Addr().String())
		fmt.Fprintf(stdout, "mongogate metrics on http://%s/metrics\n", mln.Addr())
	}
	log.Info("mongogate: serving", "addr", ln.Addr().String(), "instance", instance, "backends", len(a.backends))
	fmt.Fprintf(stdout, "mongogate listening on %s\n", ln.Addr())
	return a, nil
}

// connect opens a backend and learns whether it can run transactions. An
// unreachable backend is not fatal: health stays NOT_SERVING until it
// answers, and transactions are assumed possible meanwhile.
func connect(ctx context.Context, name, uri string, cfg *config, tp trace.TracerProvider, log *slog.Logger) (*server.Backend, error) {
	opts := options.Client().ApplyURI(uri).SetRetryWrites(cfg.backendBool(name, "retry_writes", cfg.retryWrites))
	if tp != nil {
		opts.SetMonitor(mongotrace.Monitor(tp))
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", name, err)
	}
	b := &server.Backend{
		Name:              name,
		Client:            client,
		Transactions:      true,
		CausalConsistency: cfg.backendBool(name, "causal_consistency", cfg.causal),
	}
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
		status := healthpb.HealthCheckResponse_SERVING
		for _, b := range a.backends {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := b.Client.Ping(pctx, readpref.Primary())
			cancel()
			if err != nil {
				status = healthpb.HealthCheckResponse_NOT_SERVING
			}
		}
		if ctx.Err() != nil {
			return
		}
		a.health.SetServingStatus("", status)
		for _, svc := range []string{pb.SessionService_ServiceDesc.ServiceName, pb.TransactionService_ServiceDesc.ServiceName, pb.DocumentService_ServiceDesc.ServiceName} {
			a.health.SetServingStatus(svc, status)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
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
	if err := a.registry.Close(cctx); err != nil {
		errs = append(errs, fmt.Errorf("sessions: %w", err))
	}
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
