package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	v1reflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1"
	v1alphareflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/mongogate/mongogate/backend"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/httpapi"
	"github.com/mongogate/mongogate/server"
)

// grpcServer builds the gRPC server: the three services behind the
// interceptor chain, health and reflection. Services are registered
// through httpapi's registrar, which keeps their unary methods for the
// HTTP surface to serve in process through the same transport.
func (in *Instance) grpcServer() (*grpc.Server, *httpapi.Services, server.Transport, error) {
	srv, err := server.New(server.Config{
		Backends: in.backend, Sessions: in.reg, Txn: in.txn, Metrics: in.metrics, Logger: in.log,
		Address: in.advert, Peers: in.dir.Load(), Outcomes: in.outcomes,
		Authz: in.cfg.Authz, Internal: []string{in.cfg.DirectoryCollection, in.cfg.OutcomeCollection, watchKeyCollection},
		MaxIdleTimeout: in.cfg.MaxIdleTimeout,
	})
	if err != nil {
		return nil, nil, server.Transport{}, err
	}
	auth, err := server.NewAuthenticator(server.AuthConfig{
		APIKeysFile:    in.cfg.APIKeysFile,
		ClientCAFile:   in.cfg.ClientCAFile,
		AllowAnonymous: in.cfg.APIKeysFile == "" && in.cfg.ClientCAFile == "",
		PeerSecret:     in.cfg.PeerSecret,
	})
	if err != nil {
		return nil, nil, server.Transport{}, err
	}
	in.tls = auth.ServerTLS(in.cfg.TLS)
	if auth.Anonymous() {
		in.log.Warn("mongogate: AUTHENTICATION IS OFF; every caller is principal \"anonymous\". Use --api-keys or --tls-client-ca outside development.")
	}
	t, err := server.NewTransport(server.TransportConfig{
		Logger: in.log, Auth: auth, Metrics: in.metrics, TLS: in.cfg.TLS,
		TracerProvider: in.cfg.TracerProvider, Forward: in.forward,
	})
	if err != nil {
		return nil, nil, server.Transport{}, err
	}
	g := grpc.NewServer(t.Options...)
	services := httpapi.NewServices(g)
	srv.Register(services)
	if err := in.registerWatch(services, srv); err != nil {
		return nil, nil, server.Transport{}, err
	}
	in.metrics.InitializeRPCs(g)
	healthpb.RegisterHealthServer(services, in.health)
	if err := registerReflection(g, services); err != nil {
		return nil, nil, server.Transport{}, err
	}
	return g, services, t, nil
}

// backendChanged is the backends' OnChange: health follows at once rather
// than at the next probe.
func (in *Instance) backendChanged(*backend.Backend) {
	in.mu.Lock()
	serving := in.serving
	in.mu.Unlock()
	if serving {
		in.setHealth()
	}
}

// setHealth serves SERVING while no backend is down. The health server
// orders concurrent updates itself.
func (in *Instance) setHealth() {
	status := healthpb.HealthCheckResponse_SERVING
	if in.backend.AnyDown() {
		status = healthpb.HealthCheckResponse_NOT_SERVING
	}
	in.health.SetServingStatus("", status)
	for _, svc := range []string{pb.SessionService_ServiceDesc.ServiceName, pb.TransactionService_ServiceDesc.ServiceName, pb.DocumentService_ServiceDesc.ServiceName, pb.WatchService_ServiceDesc.ServiceName} {
		in.health.SetServingStatus(svc, status)
	}
}

// serveMetrics serves /metrics (and the profiles) on MetricsAddr.
func (in *Instance) serveMetrics() error {
	if in.cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", in.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", in.metrics)
	if in.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	in.metricsS = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	in.metricsAddr = ln.Addr().String()
	go func() {
		if err := in.metricsS.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			in.log.Error("mongogate: metrics server", "err", err)
		}
	}()
	in.log.Info("mongogate: metrics", "addr", in.metricsAddr)
	return nil
}

// MetricsAddr is the address /metrics is served on, "" without one.
func (in *Instance) MetricsAddr() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.metricsAddr
}

// registerReflection serves reflection from the descriptor set that keeps
// the proto comments, so grpcurl describe shows the documentation.
func registerReflection(g *grpc.Server, r grpc.ServiceRegistrar) error {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(pb.DescriptorSet, &set); err != nil {
		return fmt.Errorf("reflection: %w", err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return fmt.Errorf("reflection: %w", err)
	}
	opts := reflection.ServerOptions{Services: g, DescriptorResolver: resolvers{files, protoregistry.GlobalFiles}}
	v1reflectiongrpc.RegisterServerReflectionServer(r, reflection.NewServerV1(opts))
	v1alphareflectiongrpc.RegisterServerReflectionServer(r, reflection.NewServer(opts))
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
