package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/mongogate/mongogate/directory"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/sessions"
	"github.com/mongogate/mongogate/txn"
)

// Metadata of a forwarded call, one key so that every call pays one
// lookup for it. Its value names the forwarding instance, which marks the
// call as forwarded, so it is never forwarded again. With a peer secret
// the forwarder also asserts the caller's principal (base64url), with the
// time (Unix milliseconds) and a signature of all three:
// "<from> <principal> <time> <signature>", and an instance with the secret
// accepts no other form. Without one it sends "<from>" and passes the
// caller's own credentials on, and the owner authenticates the caller
// itself; then a client can send the marker too, so the marker decides
// nothing but the hop limit: an instance serves only the calls on its own
// sessions (and those without one), and refuses a marked call on another
// instance's session (see ownerOf) rather than serve or forward it.
const (
	mdForwarded     = "mongogate-forwarded"
	mdAuthorization = "authorization"
)

// forwardSkew is how far the clocks of two instances may disagree for a
// signed forward to verify; it is also how long a captured signature
// could be replayed for the same method and principal.
const forwardSkew = time.Minute

// Peers is what forwarding needs from the instance directory.
type Peers interface {
	Lookup(ctx context.Context, id string) (directory.Instance, directory.Status, error)
}

// ForwardConfig configures a Forwarder.
type ForwardConfig struct {
	// Self is this instance's id; tokens with another prefix belong to
	// another instance. Required.
	Self string
	// Peers finds the owner of a token; required.
	Peers Peers
	// Secret, shared by every instance, signs the principal of forwarded
	// calls (HMAC-SHA256). Without it a forwarded call carries the
	// caller's authorization metadata instead, so callers that
	// authenticate with a client certificate cannot be forwarded.
	Secret []byte
	// DialOptions connect to peers: transport credentials first, then
	// anything else (a stats handler for tracing). Message size limits are
	// added.
	DialOptions []grpc.DialOption
	// MaxMessageSize bounds forwarded messages; 0 means
	// DefaultMaxMessageSize.
	MaxMessageSize int
	Metrics        *Metrics
	Logger         *slog.Logger
}

// Forwarder sends calls on another instance's sessions to that instance
// and relays its answer unchanged. Its interceptors go after
// authentication: the caller is authenticated here, and the owner learns
// who it is from the forward.
type Forwarder struct {
	cfg     ForwardConfig
	log     *slog.Logger
	methods map[string]methodTypes
	// self is this instance's id: ForwardConfig.Self until SetSelf.
	self atomic.Pointer[string]

	mu     sync.Mutex
	peers  map[string]*peerConn // by instance id
	closed bool
}

type peerConn struct {
	addr string
	conn *grpc.ClientConn
}

// methodTypes are a method's request and response message types.
type methodTypes struct {
	in, out protoreflect.MessageType
}

// NewForwarder checks cfg.
func NewForwarder(cfg ForwardConfig) (*Forwarder, error) {
	if cfg.Self == "" || cfg.Peers == nil {
		return nil, errors.New("server: forwarding needs Self and Peers")
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	methods, err := serviceMethods()
	if err != nil {
		return nil, err
	}
	f := &Forwarder{cfg: cfg, log: log, methods: methods, peers: map[string]*peerConn{}}
	f.self.Store(&cfg.Self)
	return f, nil
}

// SetSelf renames this instance: tokens of its old id are then another
// instance's, routed through the directory like any other, which says
// the old id is gone.
func (f *Forwarder) SetSelf(id string) { f.self.Store(&id) }

func (f *Forwarder) selfID() string { return *f.self.Load() }

// serviceMethods maps each full method name of mongogate's services to
// its message types.
func serviceMethods() (map[string]methodTypes, error) {
	m := map[string]methodTypes{}
	for _, fd := range []protoreflect.FileDescriptor{pb.File_mongogate_v1_session_proto, pb.File_mongogate_v1_transaction_proto, pb.File_mongogate_v1_document_proto} {
		svcs := fd.Services()
		for i := range svcs.Len() {
			svc := svcs.Get(i)
			ms := svc.Methods()
			for j := range ms.Len() {
				md := ms.Get(j)
				in, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
				if err != nil {
					return nil, fmt.Errorf("server: %s: %w", md.FullName(), err)
				}
				out, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
				if err != nil {
					return nil, fmt.Errorf("server: %s: %w", md.FullName(), err)
				}
				m["/"+string(svc.FullName())+"/"+string(md.Name())] = methodTypes{in: in, out: out}
			}
		}
	}
	return m, nil
}

// Close closes the connections to peers.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	var errs []error
	for id, p := range f.peers {
		errs = append(errs, p.conn.Close())
		delete(f.peers, id)
	}
	return errors.Join(errs...)
}

type tokenRequest interface{ GetSessionToken() string }

// ownerOf returns the instance a request must go to, or "" when this
// instance answers it: no token, its own token, or a malformed one (the
// registry refuses it). A call that was forwarded already is not forwarded
// again (at most one hop), nor served here when it is on another
// instance's session: the instance that forwarded it found this address
// for the owner in a stale directory (the owner is gone and its address
// taken), or, when peers do not sign, a client sent the marker itself.
func (f *Forwarder) ownerOf(ctx context.Context, req any) (string, error) {
	tr, ok := req.(tokenRequest)
	if !ok {
		return "", nil
	}
	owner := sessions.InstanceOf(tr.GetSessionToken())
	self := f.selfID()
	if owner == "" || owner == self {
		return "", nil
	}
	if from := forwardedFrom(ctx); from != "" {
		return "", fmt.Errorf("server: a call marked as forwarded by %q for a session of instance %s reached instance %s: %w",
			from, owner, self, sessions.ErrOwnerGone)
	}
	return owner, nil
}

// answersWhenGone: the methods this instance answers itself when the
// session's owner is gone or cannot be reached: GetTransactionOutcome,
// whose answers from the outcome records hold whether the owner lives or
// not (txn.Outcomes).
func answersWhenGone(method string) bool {
	return method == pb.TransactionService_GetTransactionOutcome_FullMethodName
}

// outcomeForwardTimeout bounds asking a session's owner for a
// transaction's outcome: an owner that does not answer by then (paused,
// partitioned) is answered for from the records.
const outcomeForwardTimeout = 2 * time.Second

// UnaryServerInterceptor forwards unary calls on other instances'
// sessions.
func (f *Forwarder) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		owner, err := f.ownerOf(ctx, req)
		if err != nil {
			return nil, err
		}
		if owner == "" {
			return handler(ctx, req)
		}
		mt, ok := f.methods[info.FullMethod]
		if !ok {
			return handler(ctx, req)
		}
		conn, err := f.route(ctx, owner)
		if err == nil {
			wctx, lost := f.watch(ctx, owner)
			fctx, cancel := wctx, context.CancelFunc(func() {})
			if answersWhenGone(info.FullMethod) {
				fctx, cancel = context.WithTimeout(wctx, outcomeForwardTimeout)
			}
			out := mt.out.New().Interface()
			err = conn.Invoke(f.outgoing(fctx, info.FullMethod), info.FullMethod, req, out)
			if err != nil && fctx.Err() != nil && ctx.Err() == nil {
				err = status.Error(codes.Unavailable, "owner did not answer in time")
			}
			cancel()
			if lerr := lost(); lerr != nil && err != nil {
				f.cfg.Metrics.Forwarded(info.FullMethod, "OwnerLost")
				err = lerr
			} else {
				err = f.relayed(ctx, owner, info.FullMethod, err)
			}
			if err == nil {
				return out, nil
			}
		}
		if (errors.Is(err, sessions.ErrOwnerGone) || errors.Is(err, sessions.ErrOwnerUnreachable)) && answersWhenGone(info.FullMethod) {
			return handler(ctx, req)
		}
		if errors.Is(err, sessions.ErrOwnerUnreachable) && info.FullMethod == pb.TransactionService_CommitTransaction_FullMethodName {
			// The commit may have reached the owner earlier (this call, or
			// a lost one): its outcome is unknown, commit again.
			return nil, fmt.Errorf("%w: %v", txn.ErrUnknownCommitResult, err)
		}
		// The owner's statuses pass the status guard unchanged; our own
		// errors get their ErrorInfo there.
		return nil, err
	}
}

// StreamServerInterceptor forwards server-streaming calls (Find,
// Aggregate) on other instances' sessions: it reads the request to learn
// its token, then either replays it to the handler or relays the owner's
// stream message by message.
func (f *Forwarder) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		mt, ok := f.methods[info.FullMethod]
		if !ok || info.IsClientStream || !info.IsServerStream {
			return handler(srv, ss)
		}
		req := mt.in.New().Interface()
		if err := ss.RecvMsg(req); err != nil {
			return err
		}
		ctx := ss.Context()
		owner, err := f.ownerOf(ctx, req)
		if err != nil {
			return err
		}
		if owner == "" {
			return handler(srv, &replayStream{ServerStream: ss, first: req})
		}
		conn, err := f.route(ctx, owner)
		if err != nil {
			return err
		}
		wctx, lost := f.watch(ctx, owner)
		err = f.relayStream(wctx, ss, conn, info.FullMethod, mt, req)
		if lerr := lost(); lerr != nil && err != nil {
			f.cfg.Metrics.Forwarded(info.FullMethod, "OwnerLost")
			return lerr
		}
		return f.relayed(ctx, owner, info.FullMethod, err)
	}
}

func (f *Forwarder) relayStream(ctx context.Context, ss grpc.ServerStream, conn *grpc.ClientConn, method string, mt methodTypes, req proto.Message) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := conn.NewStream(f.outgoing(ctx, method), &grpc.StreamDesc{ServerStreams: true}, method)
	if err != nil {
		return err
	}
	if err := cs.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	for {
		m := mt.out.New().Interface()
		if err := cs.RecvMsg(m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := ss.SendMsg(m); err != nil {
			// Our caller went away; cancel stops the owner's stream.
			return err
		}
	}
}

// replayStream hands the request the interceptor already read to the
// handler.
type replayStream struct {
	grpc.ServerStream
	first proto.Message
}

func (s *replayStream) RecvMsg(m any) error {
	if s.first == nil {
		return s.ServerStream.RecvMsg(m)
	}
	dst, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("server: replaying the request: unexpected message type %T", m)
	}
	proto.Reset(dst)
	proto.Merge(dst, s.first)
	s.first = nil
	return nil
}

// A forwarded call that has not been answered after watchAfter watches
// the directory every watchEvery: an owner that is paused or partitioned
// does not answer, and nothing else would end the call before the
// caller's deadline (a connection to a stopped process even waits for
// gRPC's 20 s connect timeout).
const (
	watchAfter = 250 * time.Millisecond
	watchEvery = 100 * time.Millisecond
)

// watch returns a context for a call forwarded to owner that is
// cancelled once the directory no longer calls owner live, and the func
// to call when the call has returned: it stops the watch and reports why
// the call was cancelled (nil if it was not). The call, if the owner had
// received it, may still run when the owner resumes; fencing sees to it
// that it commits nothing a peer answered for (see txn.Outcomes and the
// commit lease).
func (f *Forwarder) watch(ctx context.Context, owner string) (context.Context, func() error) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	timer := time.AfterFunc(watchAfter, func() {
		tick := time.NewTicker(watchEvery)
		defer tick.Stop()
		for {
			if _, st, err := f.cfg.Peers.Lookup(ctx, owner); err == nil && st != directory.Live {
				sentinel := sessions.ErrOwnerUnreachable
				if st == directory.Gone {
					sentinel = sessions.ErrOwnerGone
				}
				cancel(fmt.Errorf("server: instance %s is %v, no answer: %w", owner, st, sentinel))
				return
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return ctx, func() error {
		timer.Stop()
		close(stop)
		cause := context.Cause(ctx)
		cancel(nil)
		if errors.Is(cause, sessions.ErrOwnerGone) || errors.Is(cause, sessions.ErrOwnerUnreachable) {
			return cause
		}
		return nil
	}
}

// route returns the connection to owner, or why there is none: the
// directory has no such instance (the token is unknown), it is gone, or
// it is dead but not reclaimed yet. Only a gone instance's sessions are
// gone: it shut down, or a survivor claimed its entry and killed its open
// transactions, and it stops serving its sessions once it learns so (see
// directory.Config.Fenced). A dead one may still be running (paused,
// partitioned) and come back before anyone claims it.
func (f *Forwarder) route(ctx context.Context, owner string) (*grpc.ClientConn, error) {
	inst, st, err := f.cfg.Peers.Lookup(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("server: looking up instance %s: %w", owner, err)
	}
	switch {
	case st == directory.Unknown:
		return nil, fmt.Errorf("server: no instance %s: %w", owner, sessions.ErrNotFound)
	case st == directory.Dead:
		return nil, fmt.Errorf("server: instance %s is dead, not yet reclaimed: %w", owner, sessions.ErrOwnerUnreachable)
	case st != directory.Live:
		return nil, fmt.Errorf("server: instance %s is %v: %w", owner, st, sessions.ErrOwnerGone)
	case inst.Addr == "":
		return nil, fmt.Errorf("server: instance %s advertises no address: %w", owner, sessions.ErrOwnerGone)
	}
	return f.conn(owner, inst.Addr)
}

// conn returns the pooled connection to instance id at addr, dialing a
// new one if there is none or the instance moved.
func (f *Forwarder) conn(id, addr string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, sessions.ErrClosed
	}
	if p := f.peers[id]; p != nil {
		if p.addr == addr {
			return p.conn, nil
		}
		_ = p.conn.Close()
		delete(f.peers, id)
	}
	opts := append([]grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(f.cfg.MaxMessageSize), grpc.MaxCallSendMsgSize(f.cfg.MaxMessageSize))},
		f.cfg.DialOptions...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("server: peer %s at %s: %w", id, addr, err)
	}
	f.peers[id] = &peerConn{addr: addr, conn: conn}
	return conn, nil
}

// outgoing is the context of the forwarded call: ctx's deadline and
// cancellation, and the forwarding metadata instead of the caller's.
func (f *Forwarder) outgoing(ctx context.Context, method string) context.Context {
	self := f.selfID()
	md := metadata.MD{mdForwarded: {self}}
	if len(f.cfg.Secret) > 0 {
		p := PrincipalFrom(ctx)
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		md[mdForwarded] = []string{forwardedValue(self, p, ts, forwardSignature(f.cfg.Secret, method, self, p, ts))}
	} else if auth := metadata.ValueFromIncomingContext(ctx, mdAuthorization); len(auth) > 0 {
		md[mdAuthorization] = auth
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// relayed sorts the forwarded call's outcome: the owner's own answers
// (any status with mongogate's ErrorInfo) pass unchanged, as do the
// caller's cancellation and deadline. A peer that cannot be reached may
// be alive (paused, partitioned, its answer lost): its sessions are not
// gone until the directory says so, so the answer is to retry.
func (f *Forwarder) relayed(ctx context.Context, owner, method string, err error) error {
	outcome := "OK"
	defer func() { f.cfg.Metrics.Forwarded(method, outcome) }()
	if err == nil {
		return nil
	}
	st, _ := status.FromError(err)
	outcome = st.Code().String()
	switch {
	case hasErrorInfo(st):
		return err
	case ctx.Err() != nil:
		// The caller's deadline or cancellation, as if served here.
		return ctx.Err()
	case st.Code() != codes.Unavailable:
		return err
	}
	outcome = "OwnerUnreachable"
	f.cfg.Metrics.PeerDialFailure()
	f.log.Warn("forward: instance unreachable", "instance", owner, "err", st.Message())
	return fmt.Errorf("server: instance %s unreachable: %w", owner, sessions.ErrOwnerUnreachable)
}

func hasErrorInfo(st *status.Status) bool {
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetDomain() == errorDomain {
			return true
		}
	}
	return false
}

// forwardSignature signs what a forward asserts: the method, the
// forwarding instance, the caller's principal and the time.
func forwardSignature(secret []byte, method, from, principal, ts string) string {
	mac := hmac.New(sha256.New, secret)
	for _, part := range []string{"mongogate-forward-v1", method, from, principal, ts} {
		mac.Write([]byte(part))
		mac.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

type forwardedKey struct{}

// forwardedFrom is the instance that forwarded the call of ctx, or "".
func forwardedFrom(ctx context.Context) string {
	s, _ := ctx.Value(forwardedKey{}).(string)
	return s
}

// forwardedValue is the metadata value that asserts principal.
func forwardedValue(from, principal, ts, sig string) string {
	return from + " " + base64.RawURLEncoding.EncodeToString([]byte(principal)) + " " + ts + " " + sig
}

// forwarded reads the forwarding metadata of an incoming call. from is
// the forwarding instance ("" for a call from a client). With a secret,
// the metadata must assert a principal with a valid signature by secret,
// else the call is refused: a client cannot claim to be forwarded. Without
// one, only the unsigned form "<from>" is accepted, and it asserts
// nothing (see mdForwarded).
func forwarded(ctx context.Context, secret []byte) (from, principal string, asserted bool, err error) {
	vals := metadata.ValueFromIncomingContext(ctx, mdForwarded)
	switch len(vals) {
	case 0:
		return "", "", false, nil
	case 1:
	default:
		return "", "", true, errUnauthenticated("malformed forwarding metadata")
	}
	parts := strings.Split(vals[0], " ")
	switch len(parts) {
	case 1:
		if parts[0] == "" {
			return "", "", false, errUnauthenticated("malformed forwarding metadata")
		}
		if len(secret) > 0 {
			return "", "", false, errUnauthenticated("unsigned forwarding metadata refused: peers sign the calls they forward, and clients send none")
		}
		return parts[0], "", false, nil
	case 4:
	default:
		return "", "", true, errUnauthenticated("malformed forwarding metadata")
	}
	if len(secret) == 0 {
		return "", "", true, errUnauthenticated("forwarded principal refused: this instance has no peer secret to verify it")
	}
	from, ts, sig := parts[0], parts[2], parts[3]
	p, derr := base64.RawURLEncoding.DecodeString(parts[1])
	ms, perr := strconv.ParseInt(ts, 10, 64)
	if from == "" || len(p) == 0 || derr != nil || perr != nil {
		return "", "", true, errUnauthenticated("malformed forwarding metadata")
	}
	principal = string(p)
	method, _ := grpc.Method(ctx)
	want := forwardSignature(secret, method, from, principal, ts)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return "", "", true, errUnauthenticated("forwarded principal refused: bad signature")
	}
	if d := time.Since(time.UnixMilli(ms)); d > forwardSkew || d < -forwardSkew {
		return "", "", true, errUnauthenticated("forwarded principal refused: signature too old or from the future (are the instances' clocks in step?)")
	}
	return from, principal, true, nil
}
