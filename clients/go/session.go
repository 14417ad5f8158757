package mongogate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mongogate/mongogate/clients/go/options"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// serverDefaultIdleTimeout is the server's default idle timeout, assumed
// when a StartSession response does not report one.
const serverDefaultIdleTimeout = 5 * time.Minute

// withTransactionLimit is how long WithTransaction keeps retrying, as in
// the MongoDB drivers' convenient transaction API.
const withTransactionLimit = 120 * time.Second

// Backoff between WithTransaction's retries: jittered, 5 ms growing by half
// each time up to 500 ms, as in the MongoDB drivers.
const (
	backoffInitial = 5 * time.Millisecond
	backoffMax     = 500 * time.Millisecond
)

// Session is a MongoDB session held by the server, named by a secret token
// that only the Session knows. Operations run in it when their context
// carries it (see NewSessionContext); a session runs one operation at a
// time, queueing the others on the server.
//
// While the program holds a Session, a goroutine keeps it alive with
// RefreshSession at an interval below its idle timeout (see
// WithKeepAliveInterval), so a session that waits for user input, say,
// does not expire. End stops it, as does Client.Close. Always End a
// session, or use Client.WithSession: a forgotten one stays alive until
// Close or its absolute lifetime.
//
// A Session is safe for concurrent use, but its transaction is one: all
// operations that carry the session while a transaction is open run in it.
type Session struct {
	client      *Client
	owner       *peerConn // the instance holding the session; nil: the main connection
	token       string
	backend     string
	idleTimeout time.Duration

	mu        sync.Mutex
	ended     bool
	txnNumber int64
	depth     int32

	kept *keptSession // its keep-alive, nil without
}

// StartSession starts a session on the server. The options, merged in
// order, choose its backend, consistency, idle timeout and default
// transaction options.
func (c *Client) StartSession(ctx context.Context, opts ...*options.SessionOptions) (*Session, error) {
	if c.closed.Load() {
		return nil, ErrClientClosed
	}
	o := merge(opts)
	req := &pb.StartSessionRequest{Options: &pb.SessionOptions{
		CausalConsistency: o.CausalConsistency,
		Snapshot:          deref(o.Snapshot),
		IdleTimeout:       durationOf(o.IdleTimeout),
	}}
	if o.Backend != nil {
		req.Client = *o.Backend
	}
	if o.DefaultTransactionOptions != nil {
		to, err := transactionOptionsOf(o.DefaultTransactionOptions)
		if err != nil {
			return nil, err
		}
		req.Options.DefaultTransactionOptions = to
	}
	cctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.sessions.StartSession(cctx, req)
	if err != nil {
		return nil, fromStatus(err)
	}
	ps := resp.GetSession()
	s := &Session{
		client:      c,
		owner:       c.peer(ps.GetInstanceAddress()),
		token:       ps.GetToken(),
		backend:     ps.GetClient(),
		idleTimeout: ps.GetIdleTimeout().AsDuration(),
	}
	if s.idleTimeout <= 0 {
		s.idleTimeout = serverDefaultIdleTimeout
	}
	interval := c.keepAlive
	if o.KeepAliveInterval != nil {
		interval = *o.KeepAliveInterval
	}
	if interval == 0 {
		interval = s.idleTimeout / 3
	}
	if interval > 0 {
		s.kept = c.keeper.add(s, interval)
	}
	// Only now may Close see the session and End it.
	if !c.track(s) {
		ectx, ecancel := cleanupContext(ctx)
		defer ecancel()
		_ = s.End(ectx)
		return nil, ErrClientClosed
	}
	return s, nil
}

// UseSession starts a session with default options, calls fn with a
// context that carries it (SessionFromContext returns it), and ends it
// however fn returns, as the driver's Client.UseSession does: ending it
// aborts a transaction fn left open. See UseSessionWithOptions.
func (c *Client) UseSession(ctx context.Context, fn func(ctx context.Context) error) error {
	return c.UseSessionWithOptions(ctx, nil, fn)
}

// UseSessionWithOptions is UseSession with the session's options (nil for
// the defaults). The session ends when fn returns with an error, normally,
// or by panicking, in which case the panic continues once the session has
// ended; ending it is not cut short by ctx's end but gets a few seconds
// of its own. It returns fn's error unchanged, or else End's, which the
// driver's version drops.
func (c *Client) UseSessionWithOptions(ctx context.Context, opts *options.SessionOptions, fn func(ctx context.Context) error) (err error) {
	s, err := c.StartSession(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		ectx, cancel := cleanupContext(ctx)
		defer cancel()
		if endErr := s.End(ectx); err == nil {
			err = endErr
		}
	}()
	return fn(NewSessionContext(ctx, s))
}

// WithSession is UseSessionWithOptions with the session also passed to
// fn. It is kept for the programs written before UseSession.
func (c *Client) WithSession(ctx context.Context, opts *options.SessionOptions, fn func(ctx context.Context, s *Session) error) error {
	return c.UseSessionWithOptions(ctx, opts, func(ctx context.Context) error {
		return fn(ctx, SessionFromContext(ctx))
	})
}

// rpc is where the session's calls go: the instance holding it, when
// routing, else the client's main connection.
func (s *Session) rpc() (pb.SessionServiceClient, pb.TransactionServiceClient, pb.DocumentServiceClient) {
	if s.owner != nil {
		return s.owner.sessions, s.owner.txns, s.owner.docs
	}
	return s.client.sessions, s.client.txns, s.client.docs
}

func (s *Session) sessionsRPC() pb.SessionServiceClient   { c, _, _ := s.rpc(); return c }
func (s *Session) txnsRPC() pb.TransactionServiceClient   { _, c, _ := s.rpc(); return c }
func (s *Session) documentsRPC() pb.DocumentServiceClient { _, _, c := s.rpc(); return c }

// End ends the session on the server, aborting its open transaction (never
// committing it), and stops its keep-alive. Later uses of the session fail
// with ErrSessionEnded. End is idempotent, and a session the server has
// already forgotten (expired, say) ends without error.
func (s *Session) End(ctx context.Context) error {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil
	}
	s.ended = true
	s.mu.Unlock()
	if s.kept != nil {
		s.client.keeper.remove(s.kept)
	}
	s.client.forget(s)
	ctx, cancel := s.client.withTimeout(ctx)
	defer cancel()
	_, err := s.sessionsRPC().EndSession(ctx, &pb.EndSessionRequest{SessionToken: s.token})
	err = fromStatus(err)
	if errors.Is(err, ErrSessionNotFound) || errors.Is(err, ErrSessionExpired) {
		return nil
	}
	return err
}

// ID identifies the session in logs without revealing its token: the
// owning server instance and the first characters of the secret, as the
// server's own logs show it.
func (s *Session) ID() string {
	instance, secret, ok := cutToken(s.token)
	if !ok {
		return "(malformed)"
	}
	if len(secret) > 4 {
		secret = secret[:4]
	}
	return instance + "." + secret + "…"
}

// String describes the session without its token.
func (s *Session) String() string {
	return fmt.Sprintf("mongogate.Session(%s, backend %q)", s.ID(), s.backend)
}

// GoString keeps the token out of %#v.
func (s *Session) GoString() string { return s.String() }

// Backend returns the name of the backend the session is bound to.
func (s *Session) Backend() string { return s.backend }

// IdleTimeout returns the idle timeout the server applies to the session.
func (s *Session) IdleTimeout() time.Duration { return s.idleTimeout }

// Client returns the Client that started the session.
func (s *Session) Client() *Client { return s.client }

// InTransaction reports whether the session has a transaction open, as far
// as this Session has seen: started and not yet committed or aborted
// through it.
func (s *Session) InTransaction() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.depth > 0
}

func (s *Session) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

func cutToken(token string) (instance, secret string, ok bool) {
	for i := 0; i < len(token); i++ {
		if token[i] == '.' {
			return token[:i], token[i+1:], i > 0 && i < len(token)-1
		}
	}
	return "", "", false
}

// SessionInfo describes a session as the server sees it.
type SessionInfo struct {
	Backend            string
	InstanceID         string
	Created            time.Time
	ExpireTime         time.Time // idle expiry, unless used or refreshed before
	AbsoluteExpireTime time.Time
	IdleTimeout        time.Duration
	InTransaction      bool
	// LastTransaction is the current or most recent transaction; nil if
	// none was started.
	LastTransaction *TransactionInfo
}

// TransactionInfo describes a session's current or most recent
// transaction.
type TransactionInfo struct {
	Number  int64
	Outcome TransactionOutcome
	// Depth is the nesting depth while in progress (1 for a plain
	// transaction); 0 once it has ended.
	Depth   int32
	Started time.Time
}

// TransactionOutcome is where a transaction stands.
type TransactionOutcome int

// Transaction outcomes.
const (
	OutcomeNone       TransactionOutcome = iota // no transaction started
	OutcomeInProgress                           // open
	OutcomeCommitted                            // committed
	OutcomeAborted                              // aborted: none of its writes took effect
	OutcomeUnknown                              // commit sent, result unknown: CommitTransaction again
)

func (o TransactionOutcome) String() string {
	switch o {
	case OutcomeInProgress:
		return "in progress"
	case OutcomeCommitted:
		return "committed"
	case OutcomeAborted:
		return "aborted"
	case OutcomeUnknown:
		return "unknown"
	}
	return "none"
}

// Describe asks the server for the session's state, including the outcome
// of its last transaction: how a program whose commit failed with a lost
// answer learns what happened. It waits behind the session's running
// operations and does not count as activity.
func (s *Session) Describe(ctx context.Context) (*SessionInfo, error) {
	if s.isEnded() {
		return nil, ErrSessionEnded
	}
	ctx, cancel := s.client.withTimeout(ctx)
	defer cancel()
	resp, err := s.sessionsRPC().GetSession(ctx, &pb.GetSessionRequest{SessionToken: s.token})
	if err != nil {
		return nil, fromStatus(err)
	}
	ps := resp.GetSession()
	info := &SessionInfo{
		Backend:            ps.GetClient(),
		InstanceID:         ps.GetInstanceId(),
		Created:            ps.GetCreatedTime().AsTime(),
		ExpireTime:         ps.GetExpireTime().AsTime(),
		AbsoluteExpireTime: ps.GetAbsoluteExpireTime().AsTime(),
		IdleTimeout:        ps.GetIdleTimeout().AsDuration(),
		InTransaction:      ps.GetState() == pb.SessionState_SESSION_STATE_IN_TRANSACTION,
	}
	if lt := ps.GetLastTransaction(); lt != nil {
		info.LastTransaction = &TransactionInfo{
			Number:  lt.GetTransactionNumber(),
			Outcome: TransactionOutcome(lt.GetOutcome()),
			Depth:   lt.GetDepth(),
			Started: lt.GetStartTime().AsTime(),
		}
	}
	return info, nil
}

// TransactionOutcome asks how the session's transaction number (0: the
// current or last one) stands. Unlike Describe it works after the server
// instance holding the session is gone (ErrSessionOwnerGone), from any
// instance: a transaction that recorded its outcome (RecordOutcome)
// answers OutcomeCommitted or OutcomeAborted for as long as the server
// keeps records (24 h by default); OutcomeUnknown means not known yet
// (ask again in a few seconds) or never (it recorded nothing).
func (s *Session) TransactionOutcome(ctx context.Context, number int64) (TransactionOutcome, error) {
	if number == 0 {
		number, _ = s.position()
	}
	ctx, cancel := s.client.withTimeout(ctx)
	defer cancel()
	// The client's own target, not the session's instance, which may be
	// the one that is gone.
	resp, err := s.client.txns.GetTransactionOutcome(ctx, &pb.GetTransactionOutcomeRequest{SessionToken: s.token, TransactionNumber: number})
	if err != nil {
		return OutcomeNone, fromStatus(err)
	}
	return TransactionOutcome(resp.GetOutcome()), nil
}

// StartTransaction opens a transaction on the session; operations that
// carry the session run in it until CommitTransaction or
// AbortTransaction. With options.Transaction().SetJoinExisting(true) it
// joins an open transaction one level deeper instead of failing with
// ErrTransactionInProgress.
func (s *Session) StartTransaction(ctx context.Context, opts ...*options.TransactionOptions) error {
	_, err := s.startTransaction(ctx, opts)
	return err
}

func (s *Session) startTransaction(ctx context.Context, opts []*options.TransactionOptions) (*pb.StartTransactionResponse, error) {
	if s.isEnded() {
		return nil, ErrSessionEnded
	}
	o := merge(opts)
	to, err := transactionOptionsOf(o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.client.withTimeout(ctx)
	defer cancel()
	resp, err := s.txnsRPC().StartTransaction(ctx, &pb.StartTransactionRequest{
		SessionToken: s.token,
		Options:      to,
		JoinExisting: deref(o.JoinExisting),
	})
	if err != nil {
		return nil, fromStatus(err)
	}
	s.mu.Lock()
	s.txnNumber, s.depth = resp.GetTransactionNumber(), resp.GetDepth()
	s.mu.Unlock()
	return resp, nil
}

// CommitTransaction commits the session's transaction, or closes one
// joined level of it. On ErrUnknownCommitResult (or a lost answer) calling
// it again is safe: it names the same transaction, and committing a
// committed transaction succeeds again.
func (s *Session) CommitTransaction(ctx context.Context) error {
	if s.isEnded() {
		return ErrSessionEnded
	}
	s.mu.Lock()
	n := s.txnNumber
	s.mu.Unlock()
	ctx, cancel := s.client.withTimeout(ctx)
	defer cancel()
	resp, err := s.txnsRPC().CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: s.token, TransactionNumber: n})
	if err != nil {
		err = fromStatus(err)
		if errors.Is(err, ErrTransactionAborted) || errors.Is(err, ErrNoTransaction) {
			s.transactionEnded(n)
		}
		return err
	}
	s.mu.Lock()
	if s.txnNumber == n {
		s.depth = resp.GetDepth()
	}
	s.mu.Unlock()
	return nil
}

// AbortTransaction aborts the session's transaction, at any depth: joined
// levels' commits then fail with ErrTransactionAborted. Aborting an aborted
// transaction succeeds.
func (s *Session) AbortTransaction(ctx context.Context) error {
	if s.isEnded() {
		return ErrSessionEnded
	}
	s.mu.Lock()
	n := s.txnNumber
	s.mu.Unlock()
	ctx, cancel := s.client.withTimeout(ctx)
	defer cancel()
	_, err := s.txnsRPC().AbortTransaction(ctx, &pb.AbortTransactionRequest{SessionToken: s.token, TransactionNumber: n})
	err = fromStatus(err)
	if err == nil || errors.Is(err, ErrNoTransaction) {
		s.transactionEnded(n)
	}
	return err
}

func (s *Session) transactionEnded(n int64) {
	s.mu.Lock()
	if s.txnNumber == n {
		s.depth = 0
	}
	s.mu.Unlock()
}

// position is the session's transaction number and depth.
func (s *Session) position() (int64, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.txnNumber, s.depth
}

// WithTransaction runs fn in a transaction and commits it, with the retries
// of the MongoDB drivers' convenient transaction API:
//
//   - if fn (or the commit) fails with ErrTransactionAborted, or an error
//     labelled TransientTransactionError, the transaction is aborted and fn
//     runs again in a new one;
//   - if the commit fails with ErrUnknownCommitResult (or its answer is
//     lost: codes.Unavailable without a reason), the commit is sent again,
//     fn is not rerun;
//   - if the server instance holding the session dies during the commit
//     (ErrSessionOwnerGone), the transaction's recorded outcome (see
//     options.TransactionOptions.RecordOutcome) decides: nil when it
//     committed; an error matching ErrSessionOwnerGone and
//     ErrTransactionAborted when it did not, or ErrUnknownCommitResult
//     when it recorded none;
//   - retries stop after 120 s or when ctx ends, returning the last error;
//     between retries it waits a jittered 5 ms growing by half up to 500 ms.
//
// fn receives a context carrying the session: pass it to every operation
// that belongs in the transaction. fn may run more than once, so it must
// have no effects outside the transaction that a rerun would repeat. Any
// other error from fn aborts the transaction and is returned with fn's
// result. If fn panics the transaction is aborted and the panic continues.
// If fn commits or aborts the transaction itself, WithTransaction returns
// its result without committing.
//
// Joining an open transaction (options.Transaction().SetJoinExisting(true))
// commits only the joined level and never reruns fn: an abort at any level
// aborts the outer transaction too, which only its owner can rerun.
func (s *Session) WithTransaction(ctx context.Context, fn func(ctx context.Context) (any, error), opts ...*options.TransactionOptions) (any, error) {
	start := time.Now()
	sctx := NewSessionContext(ctx, s)
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := sleepBackoff(ctx, attempt, start); err != nil {
				return nil, retryError(err, lastErr)
			}
		}
		started, err := s.startTransaction(ctx, opts)
		if err != nil {
			return nil, err
		}
		number, depth := started.GetTransactionNumber(), started.GetDepth()
		joined := depth > 1

		res, err := s.runInTransaction(sctx, fn, number, depth)
		if err != nil {
			if s.stillOpen(number, depth) {
				actx, cancel := cleanupContext(ctx)
				_ = s.AbortTransaction(actx)
				cancel()
			}
			if !joined && transientTxnError(err) && retryTime(ctx, start) {
				lastErr = err
				continue
			}
			return res, err
		}
		if !s.stillOpen(number, depth) {
			return res, nil
		}
		if ctx.Err() != nil {
			// The commit cannot be sent; do not leave the transaction
			// holding its locks until it expires.
			actx, cancel := cleanupContext(ctx)
			_ = s.AbortTransaction(actx)
			cancel()
			return nil, contextError(ctx)
		}
		err = s.commitLoop(ctx, start)
		if err == nil {
			return res, nil
		}
		if !joined && transientTxnError(err) && retryTime(ctx, start) {
			lastErr = err
			continue
		}
		return res, err
	}
}

// runInTransaction calls fn, aborting the transaction if fn panics.
func (s *Session) runInTransaction(ctx context.Context, fn func(ctx context.Context) (any, error), number int64, depth int32) (res any, err error) {
	returned := false
	defer func() {
		if !returned && s.stillOpen(number, depth) {
			actx, cancel := cleanupContext(ctx)
			defer cancel()
			_ = s.AbortTransaction(actx)
		}
	}()
	res, err = fn(ctx)
	returned = true
	return res, err
}

// commitLoop commits, and commits again while the outcome is unknown.
// When the instance holding the session dies meanwhile, the
// transaction's recorded outcome decides.
func (s *Session) commitLoop(ctx context.Context, start time.Time) error {
	var err error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if serr := sleepBackoff(ctx, attempt, start); serr != nil {
				return retryError(serr, err)
			}
		}
		err = s.CommitTransaction(ctx)
		if errors.Is(err, ErrSessionOwnerGone) {
			// A commit sent through another instance may have reached the
			// owner before it died.
			return s.lostOwnerOutcome(ctx, start, err)
		}
		if err == nil || !unknownCommitResult(err) || !retryTime(ctx, start) {
			return err
		}
	}
}

// lostOwnerOutcome asks any instance how the transaction whose commit
// was under way when its instance died ended, until it is known or the
// retry time runs out: nil if it committed, else gone (wrapping
// ErrTransactionAborted when it is known to have aborted, or
// ErrUnknownCommitResult).
func (s *Session) lostOwnerOutcome(ctx context.Context, start time.Time, gone error) error {
	number, _ := s.position()
	for attempt := 1; ; attempt++ {
		o, err := s.TransactionOutcome(ctx, number)
		switch {
		case err == nil && o == OutcomeCommitted:
			s.transactionEnded(number)
			return nil
		case err == nil && o == OutcomeAborted:
			s.transactionEnded(number)
			return fmt.Errorf("%w: %w", gone, ErrTransactionAborted)
		}
		if serr := sleepBackoff(ctx, attempt, start); serr != nil {
			return fmt.Errorf("%w: %w", gone, ErrUnknownCommitResult)
		}
	}
}

// stillOpen reports whether the transaction number is still open at depth
// (or deeper) as far as this Session knows: fn has not committed or
// aborted it.
func (s *Session) stillOpen(number int64, depth int32) bool {
	n, d := s.position()
	return n == number && d >= depth
}

func retryTime(ctx context.Context, start time.Time) bool {
	return ctx.Err() == nil && time.Since(start) < withTransactionLimit
}

// sleepBackoff waits before retry attempt (from 1); it fails without
// waiting if the wait would end past the retry limit, and stops early if
// ctx ends.
func sleepBackoff(ctx context.Context, attempt int, start time.Time) error {
	d := time.Duration(rand.Int64N(int64(backoffCeiling(attempt)) + 1))
	if time.Since(start)+d >= withTransactionLimit {
		return errRetryLimit
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return contextError(ctx)
	case <-t.C:
		return nil
	}
}

// backoffCeiling is the longest wait before retry attempt (from 1):
// 5 ms·1.5^(attempt-1), at most 500 ms.
func backoffCeiling(attempt int) time.Duration {
	d := backoffInitial
	for i := 1; i < attempt && d < backoffMax; i++ {
		d += d / 2
	}
	return min(d, backoffMax)
}

var errRetryLimit = errors.New("mongogate: retry time limit reached")

// retryError is what a retry loop returns when sleepBackoff stops it:
// the last attempt's error at the time limit, the context's otherwise.
func retryError(sleepErr, last error) error {
	if errors.Is(sleepErr, errRetryLimit) {
		return last
	}
	return sleepErr
}

// contextError is ctx's error as an *Error, like the one a call with ctx
// would have returned.
func contextError(ctx context.Context) error {
	return fromStatus(status.FromContextError(ctx.Err()).Err())
}

type sessionKey struct{}

// NewSessionContext returns a context that carries s: every Collection
// operation given that context runs in the session, and in its transaction
// if one is open. This is how operations join a session, as with the
// MongoDB driver's mongo.NewSessionContext. The session must come from the
// same Client as the Collection; operations refuse another Client's.
func NewSessionContext(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// SessionFromContext returns the session ctx carries, or nil.
func SessionFromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey{}).(*Session)
	return s
}

// transactionOptionsOf converts transaction options; nil stays nil.
func transactionOptionsOf(o *options.TransactionOptions) (*pb.TransactionOptions, error) {
	if o == nil {
		return nil, nil
	}
	out := &pb.TransactionOptions{}
	if o.ReadConcern != nil {
		out.ReadConcern = &pb.ReadConcern{Level: o.ReadConcern.Level}
	}
	wc, err := writeConcernOf(o.WriteConcern)
	if err != nil {
		return nil, err
	}
	out.WriteConcern = wc
	if rp := o.ReadPreference; rp != nil {
		prp := &pb.ReadPreference{Mode: pb.ReadPreferenceMode(rp.Mode)}
		for _, ts := range rp.TagSets {
			d, err := docOf("read preference tag set", ts)
			if err != nil {
				return nil, err
			}
			prp.TagSets = append(prp.TagSets, d)
		}
		if rp.MaxStaleness > 0 {
			prp.MaxStaleness = durationpb.New(rp.MaxStaleness)
		}
		out.ReadPreference = prp
	}
	out.MaxCommitTime = durationOf(o.MaxCommitTime)
	out.RecordOutcome = o.RecordOutcome
	return out, nil
}
