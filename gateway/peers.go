package gateway

import (
	"context"
	"crypto/tls"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mongogate/mongogate/backend"
	"github.com/mongogate/mongogate/directory"
	"github.com/mongogate/mongogate/server"
)

// startDirectory registers this instance in the default backend's
// directory collection. Its heartbeats list the open transactions, and it
// kills a dead instance's (txn.Outcomes.KillOrphans).
func (in *Instance) startDirectory(ctx context.Context) error {
	db, coll, _ := splitNamespace(in.cfg.DirectoryCollection)
	dir, err := directory.New(directory.Config{
		Collection:   in.backend.Get(backend.Default).Client.Database(db).Collection(coll),
		InstanceID:   in.id,
		Address:      in.advert,
		Interval:     in.cfg.HeartbeatInterval,
		TombstoneTTL: in.cfg.OutcomeRetention,
		Open:         in.openTransactions,
		Fenced:       in.fenced,
		Reclaim: func(ctx context.Context, dead directory.Instance) error {
			if err := in.outcomes.KillOrphans(ctx, dead); err != nil {
				return err
			}
			in.metrics.InstanceReclaimed()
			return nil
		},
		Logger: in.log.With("component", "directory"),
	})
	if err != nil {
		return err
	}
	if err := dir.Start(ctx); err != nil {
		return err
	}
	in.dir.Store(dir)
	in.metrics.SetDirectory(func() map[string]int {
		out := map[string]int{}
		for st, n := range dir.Counts() {
			out[st.String()] = n
		}
		return out
	})
	return nil
}

// startForwarder connects to peers for the calls on their sessions.
func (in *Instance) startForwarder() error {
	var err error
	in.forward, err = server.NewForwarder(server.ForwardConfig{
		Self: in.id, Peers: in.dir.Load(), Secret: in.cfg.PeerSecret, DialOptions: in.peerDialOptions(),
		Metrics: in.metrics, Logger: in.log.With("component", "forward"),
	})
	if err != nil {
		return err
	}
	if in.cfg.PeerSecret == nil {
		in.log.Info("mongogate: no peer secret: calls forwarded to other instances carry the caller's own credentials (callers authenticated by client certificate cannot be forwarded)")
	}
	return nil
}

// openTransactions is what this instance's heartbeats list.
func (in *Instance) openTransactions() []directory.OpenTxn {
	var out []directory.OpenTxn
	for _, o := range in.txn.OpenTransactions() {
		out = append(out, directory.OpenTxn{Backend: o.Backend, LSID: o.LSID, Outcome: o.Outcome, Principal: o.Principal})
	}
	return out
}

// peerDialOptions connect to other instances: plaintext, or TLS when this
// instance serves TLS (peers then serve it too), verifying them with
// PeerTLS's roots and presenting this instance's certificate, for peers
// that ask for client certificates.
func (in *Instance) peerDialOptions() []grpc.DialOption {
	creds := insecure.NewCredentials()
	if in.cfg.TLS != nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: in.cfg.TLS.Certificates}
		if in.cfg.PeerTLS != nil {
			tc.RootCAs = in.cfg.PeerTLS.RootCAs
		}
		creds = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if tp := in.cfg.TracerProvider; tp != nil {
		opts = append(opts, grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(tp),
			otelgrpc.WithPropagators(server.DefaultPropagator()),
			otelgrpc.WithMeterProvider(noopmetric.NewMeterProvider()),
		)))
	}
	return opts
}
