package gateway

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mongogate/mongogate/authz"
	"github.com/mongogate/mongogate/backend"
)

// Config is everything an instance is told. Zero fields take the defaults
// noted, which are cmd/server's flag defaults.
type Config struct {
	// Backends are the MongoDB deployments, by name. The one named
	// backend.Default may be absent or have no URI: the instance then
	// starts the in-memory emulator for it (data is not persisted).
	Backends []BackendConfig
	// EmulatorAddr is the embedded emulator's listen address; default
	// "127.0.0.1:0".
	EmulatorAddr string

	// InstanceID prefixes this instance's session tokens; default random.
	InstanceID string
	// AdvertiseAddress is what peers and routing clients dial to reach
	// this instance; default the served listener's address, unless it is
	// a wildcard (then none: nobody can forward or route here).
	AdvertiseAddress string

	// Session and transaction limits (see sessions.Config and
	// txn.Config); zero means their defaults.
	IdleTimeout, MaxIdleTimeout, AbsoluteTimeout time.Duration
	TransactionLifetime, TombstoneTTL            time.Duration
	MaxSessions, MaxSessionsPerPrincipal         int
	CommitRetryLimit, RunTimeout                 time.Duration
	// Now is the session registry's clock (sessions.Config.Now); nil is
	// time.Now. Benchmarks move it on to expire sessions without waiting.
	Now func() time.Time

	// APIKeysFile and ClientCAFile enable API-key and mTLS
	// authentication (server.AuthConfig); with neither every caller is
	// "anonymous".
	APIKeysFile, ClientCAFile string
	// TLS, with its certificate, serves TLS; nil serves plaintext.
	TLS *tls.Config
	// NoHTTP serves native gRPC only on the listener: no Connect, gRPC-Web
	// or REST.
	NoHTTP bool
	// AllowedOrigins are the origins browsers may call the HTTP protocols
	// from (CORS); "*" allows any. None: browsers may not call from other
	// origins.
	AllowedOrigins []string
	// Authz decides which namespaces each principal may use; nil allows
	// everything.
	Authz *authz.Authorizer

	// DirectoryCollection ("db.collection" on the default backend) holds
	// the instance directory; default "mongogate.instances".
	DirectoryCollection string
	// HeartbeatInterval is how often the directory entry is renewed;
	// default 2s.
	HeartbeatInterval time.Duration
	// PeerSecret (32+ bytes), shared by every instance, signs forwarded
	// principals; nil relays callers' own credentials.
	PeerSecret []byte
	// PeerTLS verifies peers when serving TLS (its RootCAs; nil: the
	// system's roots).
	PeerTLS *tls.Config

	// OutcomeCollection ("db.collection" on each backend) holds outcome
	// records; default "mongogate.outcomes". OutcomeRetention is how long
	// they, and gone instances' directory entries, are kept; default 24h.
	OutcomeCollection string
	OutcomeRetention  time.Duration

	// MetricsAddr, if set, serves Prometheus metrics at /metrics there;
	// Pprof adds Go's profiles at /debug/pprof/.
	MetricsAddr string
	Pprof       bool
	// TracerProvider, if set, traces RPCs and MongoDB commands.
	TracerProvider trace.TracerProvider

	// Files names what the instance loads itself.
	Files Files

	// WatchQueue is how many messages may wait for a Watch caller before
	// it is cut with WATCH_TOO_SLOW; default watch.DefaultQueue.
	WatchQueue int

	// HealthProbeInterval is how often backends are pinged; default 2s.
	HealthProbeInterval time.Duration
	// Logger receives everything the instance logs; nil discards.
	Logger *slog.Logger
}

// BackendConfig is one named MongoDB deployment.
type BackendConfig struct {
	Name string
	// URI is the connection string; empty only for backend.Default,
	// which then is the embedded emulator.
	URI string
	// RetryWrites, CausalConsistency and RecordOutcome are the
	// deployment's defaults.
	RetryWrites, CausalConsistency, RecordOutcome bool
}

// DefaultBackend is the configuration cmd/server gives a backend whose
// options are not set: retryable writes and causal consistency on,
// outcome records off.
func DefaultBackend(name, uri string) BackendConfig {
	return BackendConfig{Name: name, URI: uri, RetryWrites: true, CausalConsistency: true}
}

func (c *Config) setDefaults() error {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.EmulatorAddr, "127.0.0.1:0")
	def(&c.DirectoryCollection, "mongogate.instances")
	def(&c.OutcomeCollection, "mongogate.outcomes")
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.HeartbeatInterval, 2 * time.Second},
		{&c.OutcomeRetention, 24 * time.Hour},
		{&c.HealthProbeInterval, 2 * time.Second},
	} {
		if *d.v < 0 {
			return fmt.Errorf("gateway: negative interval or retention %v", *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	for _, ns := range []string{c.DirectoryCollection, c.OutcomeCollection} {
		if _, _, err := splitNamespace(ns); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	hasDefault := false
	for _, b := range c.Backends {
		if b.Name == "" || seen[b.Name] {
			return fmt.Errorf("gateway: backend names must be distinct and not empty (%q)", b.Name)
		}
		seen[b.Name] = true
		if b.Name == backend.Default {
			hasDefault = true
		} else if b.URI == "" {
			return fmt.Errorf("gateway: backend %q has no URI", b.Name)
		}
	}
	if !hasDefault {
		c.Backends = append(c.Backends, DefaultBackend(backend.Default, ""))
	}
	return nil
}

// splitNamespace splits "db.collection".
func splitNamespace(ns string) (db, coll string, err error) {
	db, coll, ok := strings.Cut(ns, ".")
	if !ok || db == "" || coll == "" {
		return "", "", fmt.Errorf("gateway: namespace %q: want db.collection", ns)
	}
	return db, coll, nil
}
