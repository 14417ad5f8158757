package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/grpc"

	"github.com/mongogate/mongogate/authz"
	"github.com/mongogate/mongogate/backend"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/sessions"
	"github.com/mongogate/mongogate/txn"
)

// available fails while b is down, so that calls fail at once with
// BACKEND_UNAVAILABLE and RetryInfo instead of waiting for the driver's
// server selection timeout.
func available(b *backend.Backend) error {
	if b.Down() {
		return errBackendDown(b.Name)
	}
	return nil
}

// Config wires the services to the domain.
type Config struct {
	// Backends are the deployments requests name (their client field).
	Backends *backend.Set
	Sessions *sessions.Registry
	Txn      *txn.Manager
	Metrics  *Metrics // nil: no metrics
	Logger   *slog.Logger
	// Address is this instance's advertised address, given to clients in
	// Session.instance_address so that they can route a session's calls
	// to its owner; empty gives none.
	Address string
	// Peers is the instance directory, for the outcome of a gone
	// instance's transactions; nil knows of no other instance.
	Peers Peers
	// Outcomes answers GetTransactionOutcome; nil means there are no
	// records (only a live owner's state answers).
	Outcomes *txn.Outcomes
	// Authz decides which namespaces each principal may read and write;
	// nil allows every principal everything (see authorize).
	Authz *authz.Authorizer
	// Internal are mongogate's own collections ("db.collection"), which
	// no request may touch.
	Internal []string
	// MaxIdleTimeout is the largest idle timeout StartSession accepts
	// (INVALID_ARGUMENT above it, as session.proto promises): the
	// registry's sessions.Config.MaxIdleTimeout, which only caps. Zero
	// means sessions.DefaultMaxIdleTimeout.
	MaxIdleTimeout time.Duration
}

// Server implements mongogate's three gRPC services.
type Server struct {
	backends *backend.Set
	reg      *sessions.Registry
	txn      *txn.Manager
	metrics  *Metrics
	log      *slog.Logger
	address  string
	peers    Peers
	outcomes *txn.Outcomes
	authz    *authz.Authorizer
	internal map[authz.Namespace]bool
	maxIdle  time.Duration
}

// New checks cfg and returns the services, ready to Register.
func New(cfg Config) (*Server, error) {
	if cfg.Sessions == nil || cfg.Txn == nil || cfg.Backends == nil {
		return nil, errors.New("server: Backends, Sessions and Txn are required")
	}
	s := &Server{backends: cfg.Backends, reg: cfg.Sessions, txn: cfg.Txn, metrics: cfg.Metrics, log: cfg.Logger,
		address: cfg.Address, peers: cfg.Peers, outcomes: cfg.Outcomes, maxIdle: cfg.MaxIdleTimeout}
	s.authz = cfg.Authz
	if s.maxIdle == 0 {
		s.maxIdle = sessions.DefaultMaxIdleTimeout
	}
	for _, ns := range cfg.Internal {
		db, coll, ok := strings.Cut(ns, ".")
		if !ok {
			return nil, fmt.Errorf("server: internal namespace %q: want db.collection", ns)
		}
		if s.internal == nil {
			s.internal = map[authz.Namespace]bool{}
		}
		s.internal[authz.Namespace{Database: db, Collection: coll}] = true
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Register adds the three services to g.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	pb.RegisterSessionServiceServer(g, &sessionService{s: s})
	pb.RegisterTransactionServiceServer(g, &transactionService{s: s})
	pb.RegisterDocumentServiceServer(g, &documentService{s: s})
}

// backend resolves a request's client field.
func (s *Server) backend(name string) (*backend.Backend, error) {
	if name == "" {
		name = backend.Default
	}
	b := s.backends.Get(name)
	if b == nil {
		return nil, errInvalidArgument("client", fmt.Sprintf("no backend named %q", name))
	}
	return b, nil
}

// principal is the authenticated caller. An RPC that reached a handler
// without one was not authenticated: refuse rather than guess.
func principal(ctx context.Context) (string, error) {
	p := PrincipalFrom(ctx)
	if p == "" {
		return "", errUnauthenticated("no authenticated principal")
	}
	return p, nil
}

// acquire takes the caller's session for one operation; it waits behind
// operations already queued on the same session, bounded by ctx. The
// context it returns carries the entry (sessions.NewContext) for the
// operation's observers.
func (s *Server) acquire(ctx context.Context, token string) (context.Context, *sessions.Entry, func(), error) {
	if token == "" {
		return ctx, nil, nil, errInvalidArgument("session_token", "a session token is required")
	}
	p, err := principal(ctx)
	if err != nil {
		return ctx, nil, nil, err
	}
	e, release, err := s.reg.Acquire(ctx, token, p)
	if err != nil {
		return ctx, nil, nil, err
	}
	return sessions.NewContext(ctx, e), e, release, nil
}

// call is the context of one data operation: the backend it runs on and,
// when the request carried a token, the session it holds.
type call struct {
	backend *backend.Backend
	entry   *sessions.Entry // nil without a session
	release func()
}

func (c *call) session() *mongo.Session {
	if c.entry == nil {
		return nil
	}
	return c.entry.Session
}

func (c *call) done() {
	if c.release != nil {
		c.release()
	}
}

// begin resolves the backend and session of a data request, and returns
// the context to run it under (see acquire). A session is bound to the
// backend it was started on: naming another one fails rather than
// silently running outside the session.
func (s *Server) begin(ctx context.Context, token, client string) (context.Context, *call, error) {
	if token == "" {
		if _, err := principal(ctx); err != nil {
			return ctx, nil, err
		}
		b, err := s.backend(client)
		if err != nil {
			return ctx, nil, err
		}
		if err := available(b); err != nil {
			return ctx, nil, err
		}
		return ctx, &call{backend: b}, nil
	}
	ctx, e, release, err := s.acquire(ctx, token)
	if err != nil {
		return ctx, nil, err
	}
	if client != "" && client != e.Backend {
		release()
		return ctx, nil, errClientMismatch(client, e.Backend)
	}
	if err := txn.CheckOperation(e); err != nil {
		release()
		return ctx, nil, err
	}
	b := s.backends.Get(e.Backend)
	if b == nil {
		release()
		// toStatus makes it INTERNAL and logs it.
		return ctx, nil, fmt.Errorf("server: session bound to backend %q, which this server does not have", e.Backend)
	}
	if err := available(b); err != nil {
		release()
		return ctx, nil, err
	}
	return ctx, &call{backend: b, entry: e, release: release}, nil
}
