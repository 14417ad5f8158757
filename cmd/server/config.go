package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mongogate/mongogate/gateway"
)

// config is everything the server is told on its command line or in its
// environment. Every flag --some-flag has an environment variable
// MONGOGATE_SOME_FLAG; a flag given on the command line wins. Most flags
// fill the library's Config (gw) directly.
type config struct {
	gw                                       gateway.Config
	listen                                   string
	mongoURI                                 string
	backends                                 backendList
	backendOpts                              backendOptionList
	retryWrites, causal, recordOutcome, http bool
	gogc                                     int
	shutdown                                 time.Duration
	logLevel                                 string
	logFormat                                string
}

// backendFlag is one --backend name=uri.
type backendFlag struct{ name, uri string }

type backendList []backendFlag

func (b *backendList) String() string {
	var parts []string
	for _, x := range *b {
		parts = append(parts, x.name+"=<uri>")
	}
	return strings.Join(parts, " ")
}

// Set accepts "name=uri"; from the environment several may be given
// separated by whitespace (URIs contain no spaces).
func (b *backendList) Set(s string) error {
	for _, item := range strings.Fields(s) {
		name, uri, ok := strings.Cut(item, "=")
		if !ok || name == "" || uri == "" {
			return fmt.Errorf("backend %q: want name=mongodb://…", item)
		}
		for _, x := range *b {
			if x.name == name {
				return fmt.Errorf("backend %q given twice", name)
			}
		}
		*b = append(*b, backendFlag{name: name, uri: uri})
	}
	return nil
}

// backendOption is one --backend-option name:key=value.
type backendOption struct{ backend, key, value string }

type backendOptionList []backendOption

func (l *backendOptionList) String() string { return "" }

func (l *backendOptionList) Set(s string) error {
	for _, item := range strings.Fields(s) {
		name, kv, ok := strings.Cut(item, ":")
		key, val, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 || name == "" {
			return fmt.Errorf("backend option %q: want name:key=value", item)
		}
		switch key {
		case "retry_writes", "causal_consistency", "record_outcome":
			if _, err := strconv.ParseBool(val); err != nil {
				return fmt.Errorf("backend option %q: %s needs true or false", item, key)
			}
		default:
			return fmt.Errorf("backend option %q: unknown key %q (retry_writes, causal_consistency, record_outcome)", item, key)
		}
		*l = append(*l, backendOption{backend: name, key: key, value: val})
	}
	return nil
}

func newFlagSet(cfg *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mongogate", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:50051", "listen address of gRPC and of the HTTP protocols (Connect, gRPC-Web, REST)")
	fs.BoolVar(&cfg.http, "http", true, "serve the HTTP protocols (Connect, gRPC-Web, REST) beside gRPC on --listen")
	fs.Func("allow-origin", "`origin` (https://app.example.com, or *) whose pages may call the HTTP protocols from a browser (CORS; repeatable; the variable takes several separated by spaces)", func(s string) error {
		cfg.gw.AllowedOrigins = append(cfg.gw.AllowedOrigins, strings.Fields(s)...)
		return nil
	})
	fs.StringVar(&cfg.mongoURI, "mongo-uri", "", "MongoDB connection string of the backend \"default\"; empty starts the in-memory emulator (data is not persisted)")
	fs.Var(&cfg.backends, "backend", "additional named backend `name=uri` (repeatable)")
	fs.Var(&cfg.backendOpts, "backend-option", "per-backend default `name:key=value`, key retry_writes, causal_consistency or record_outcome (repeatable)")
	fs.BoolVar(&cfg.retryWrites, "retry-writes", true, "default for retryable writes on every backend")
	fs.BoolVar(&cfg.causal, "causal-consistency", true, "default causal consistency of new sessions on every backend")
	fs.StringVar(&cfg.gw.InstanceID, "instance-id", "", "this instance's id, the prefix of its session tokens (default: random)")
	fs.DurationVar(&cfg.gw.IdleTimeout, "idle-timeout", 5*time.Minute, "default session idle timeout")
	fs.DurationVar(&cfg.gw.MaxIdleTimeout, "max-idle-timeout", 29*time.Minute, "largest idle timeout a client may ask for (below MongoDB's 30 min)")
	fs.DurationVar(&cfg.gw.AbsoluteTimeout, "absolute-timeout", time.Hour, "session lifetime however active")
	fs.DurationVar(&cfg.gw.TransactionLifetime, "transaction-lifetime", 60*time.Second, "abort transactions open longer than this")
	fs.DurationVar(&cfg.gw.TombstoneTTL, "tombstone-ttl", time.Hour, "how long an expired token answers SESSION_EXPIRED")
	fs.IntVar(&cfg.gw.MaxSessions, "max-sessions", 100_000, "maximum open sessions in total")
	fs.IntVar(&cfg.gw.MaxSessionsPerPrincipal, "max-sessions-per-principal", 10_000, "maximum open sessions per principal")
	fs.DurationVar(&cfg.gw.CommitRetryLimit, "commit-retry-limit", 30*time.Second, "how long CommitTransaction retries an unknown commit result")
	fs.DurationVar(&cfg.gw.RunTimeout, "run-transaction-timeout", 120*time.Second, "RunTransaction's time limit, as in the drivers' convenient API")
	fs.StringVar(&cfg.gw.APIKeysFile, "api-keys", "", "`file` with one \"principal sha256-hex-of-key\" line per key; enables API-key auth (authorization: Bearer <key>)")
	fs.StringVar(&cfg.gw.Files.Authz, "authz", "", "`file` of authorization rules (YAML): the namespaces each principal may read and write; reloaded on SIGHUP. Empty: every principal may use every namespace")
	fs.StringVar(&cfg.gw.Files.TLSCert, "tls-cert", "", "server certificate (PEM); enables TLS")
	fs.StringVar(&cfg.gw.Files.TLSKey, "tls-key", "", "server private key (PEM)")
	fs.StringVar(&cfg.gw.ClientCAFile, "tls-client-ca", "", "CA bundle (PEM) for client certificates; enables mTLS auth")
	fs.StringVar(&cfg.gw.MetricsAddr, "metrics-listen", "", "address for Prometheus metrics at /metrics (empty: off)")
	fs.StringVar(&cfg.gw.AdvertiseAddress, "advertise-address", "", "`host:port` other instances and routing clients dial to reach this one (default: the listen address, unless it is a wildcard)")
	fs.StringVar(&cfg.gw.DirectoryCollection, "directory-collection", "mongogate.instances", "`db.collection` of the default backend holding the instance directory")
	fs.DurationVar(&cfg.gw.HeartbeatInterval, "heartbeat-interval", 2*time.Second, "how often this instance heartbeats in the directory; an instance silent for 3 intervals is dead")
	fs.StringVar(&cfg.gw.Files.PeerSecret, "peer-secret-file", "", "`file` holding a secret (32+ bytes) shared by all instances, which signs the principal of forwarded calls")
	fs.StringVar(&cfg.gw.Files.PeerTLSCA, "peer-tls-ca", "", "CA bundle (PEM) to verify other instances' certificates when serving TLS (default: the system's roots)")
	fs.StringVar(&cfg.gw.OutcomeCollection, "outcome-collection", "mongogate.outcomes", "`db.collection` of each backend holding the outcome records of transactions that ask for one")
	fs.DurationVar(&cfg.gw.OutcomeRetention, "outcome-retention", 24*time.Hour, "how long outcome records (and gone instances' directory entries) are kept")
	fs.IntVar(&cfg.gw.WatchQueue, "watch-queue", 1024, "messages that may wait for a Watch caller before it is cut (WATCH_TOO_SLOW) so that it holds back no other")
	fs.BoolVar(&cfg.recordOutcome, "record-outcome", false, "default of record_outcome for transactions on every backend (per backend: --backend-option name:record_outcome=true)")
	fs.IntVar(&cfg.gogc, "gogc", 400, "garbage collection target percentage, as Go's GOGC (which wins when set); 0 keeps Go's default of 100")
	fs.BoolVar(&cfg.gw.Pprof, "pprof", false, "also serve Go's profiles (net/http/pprof) at /debug/pprof/ on --metrics-listen")
	fs.StringVar(&cfg.gw.Files.OTLPEndpoint, "otlp-endpoint", "", "OTLP/gRPC collector to export traces to, `host:port` (TLS) or http://host:port (plaintext); empty: tracing off")
	fs.DurationVar(&cfg.shutdown, "shutdown-timeout", 30*time.Second, "how long shutdown waits for in-flight RPCs")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&cfg.gw.EmulatorAddr, "emulator-listen", "127.0.0.1:0", "listen address of the embedded emulator (used when no MongoDB URI is given)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mongogate [flags]\n\nmongogate serves MongoDB sessions and transactions over gRPC.\nEvery flag --some-flag can also be set as MONGOGATE_SOME_FLAG; the flag wins.\n\n")
		fs.PrintDefaults()
	}
	return fs
}

// envName is the environment variable mirroring a flag.
func envName(flagName string) string {
	return "MONGOGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads flags, then fills every flag not given on the command
// line from its environment variable.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	cfg := &config{}
	fs := newFlagSet(cfg, out)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, name := range names {
		if given[name] {
			continue
		}
		if v := getenv(envName(name)); v != "" {
			if err := fs.Set(name, v); err != nil {
				return nil, fmt.Errorf("%s: %w", envName(name), err)
			}
		}
	}
	return cfg, cfg.validate()
}

func (c *config) validate() error {
	var errs []error
	names := map[string]bool{"default": true}
	for _, b := range c.backends {
		if b.name == "default" && c.mongoURI != "" {
			errs = append(errs, errors.New("--backend default=… conflicts with --mongo-uri; use one"))
		}
		names[b.name] = true
	}
	for _, o := range c.backendOpts {
		if !names[o.backend] {
			errs = append(errs, fmt.Errorf("--backend-option names unknown backend %q", o.backend))
		}
	}
	if (c.gw.Files.TLSCert == "") != (c.gw.Files.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.gogc < 0 {
		errs = append(errs, fmt.Errorf("--gogc %d: must not be negative", c.gogc))
	}
	if c.gw.Pprof && c.gw.MetricsAddr == "" {
		errs = append(errs, errors.New("--pprof needs --metrics-listen"))
	}
	if c.gw.ClientCAFile != "" && c.gw.Files.TLSCert == "" {
		errs = append(errs, errors.New("--tls-client-ca needs --tls-cert and --tls-key"))
	}
	switch c.logFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.logFormat))
	}
	return errors.Join(errs...)
}
