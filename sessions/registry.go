package sessions

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Defaults for Config's zero fields.
const (
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultMaxIdleTimeout  = 29 * time.Minute
	DefaultAbsoluteTimeout = time.Hour
	DefaultTxnLifetime     = 60 * time.Second
	DefaultTombstoneTTL    = time.Hour
	DefaultMaxSessions     = 100_000
	DefaultMaxPerPrincipal = 10_000
)

// serverSessionTimeout is MongoDB's logicalSessionTimeoutMinutes default:
// a session idle longer than this is gone on the server, so our idle
// timeout must stay below it.
const serverSessionTimeout = 30 * time.Minute

// driverTimeout bounds each abortTransaction or endSession the registry
// sends on its own (expiry, End, Close).
const driverTimeout = 10 * time.Second

const numShards = 64

// Config configures a Registry. Zero fields take the defaults above.
type Config struct {
	// InstanceID prefixes every token, naming this instance for routing;
	// [a-z0-9-]{1,32}; required.
	InstanceID string
	// IdleTimeout is the default idle timeout. A session's own
	// Options.IdleTimeout may ask for less or more, up to MaxIdleTimeout.
	IdleTimeout time.Duration
	// MaxIdleTimeout caps idle timeouts; it must stay below MongoDB's
	// 30-minute server-session timeout.
	MaxIdleTimeout time.Duration
	// AbsoluteTimeout is the most a session lives, however busy.
	AbsoluteTimeout time.Duration
	// TxnLifetime is how long a transaction may stay open before the
	// registry aborts it (the session stays).
	TxnLifetime time.Duration
	// TombstoneTTL is how long an expired token answers ErrExpired rather
	// than ErrNotFound.
	TombstoneTTL time.Duration
	// MaxSessions limits live sessions in total; negative is invalid.
	MaxSessions int
	// MaxPerPrincipal limits live sessions per principal; negative is
	// invalid.
	MaxPerPrincipal int
	// Logger receives expiry and driver-failure events; nil discards.
	Logger *slog.Logger
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
	// OnExpire, if set, is called when a session expires (for metrics). It
	// runs under registry locks: keep it cheap.
	OnExpire func()
	// AbortTxn aborts e's open transaction, never committing it, and
	// reports whether one was open. It is the transaction layer's
	// (txn.Manager.AbortFor), which alone changes e.Txn. The registry calls
	// it holding e, with the cause: when the session ends, expires or is
	// closed, and when the transaction outlives TxnLifetime. Nil means
	// there is no transaction layer, so there is nothing to abort.
	AbortTxn func(ctx context.Context, e *Entry, cause Cause) bool
}

func (c *Config) setDefaults() error {
	if !validInstanceID(c.InstanceID) {
		return fmt.Errorf("sessions: config: instance id %q does not match [a-z0-9-]{1,32}", c.InstanceID)
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"idle timeout", &c.IdleTimeout, DefaultIdleTimeout},
		{"max idle timeout", &c.MaxIdleTimeout, DefaultMaxIdleTimeout},
		{"absolute timeout", &c.AbsoluteTimeout, DefaultAbsoluteTimeout},
		{"transaction lifetime", &c.TxnLifetime, DefaultTxnLifetime},
		{"tombstone ttl", &c.TombstoneTTL, DefaultTombstoneTTL},
	}
	for _, d := range durations {
		switch {
		case *d.v < 0:
			return fmt.Errorf("sessions: config: negative %s %v", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if c.AbsoluteTimeout > maxAbsoluteTimeout {
		// An entry's absolute deadline must not saturate: its creation
		// time is read back from it (Registry.Created).
		return fmt.Errorf("sessions: config: absolute timeout %v exceeds %v", c.AbsoluteTimeout, maxAbsoluteTimeout)
	}
	if c.MaxIdleTimeout >= serverSessionTimeout {
		return fmt.Errorf("sessions: config: max idle timeout %v is not below MongoDB's %v session timeout", c.MaxIdleTimeout, serverSessionTimeout)
	}
	if c.IdleTimeout > c.MaxIdleTimeout {
		return fmt.Errorf("sessions: config: idle timeout %v exceeds max idle timeout %v", c.IdleTimeout, c.MaxIdleTimeout)
	}
	limits := []struct {
		name string
		v    *int
		def  int
	}{
		{"max sessions", &c.MaxSessions, DefaultMaxSessions},
		{"max sessions per principal", &c.MaxPerPrincipal, DefaultMaxPerPrincipal},
	}
	for _, l := range limits {
		switch {
		case *l.v < 0:
			return fmt.Errorf("sessions: config: negative %s %d", l.name, *l.v)
		case *l.v == 0:
			*l.v = l.def
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Stats are the registry's counters, for metrics.
type Stats struct {
	// Active is the number of live sessions.
	Active int64
	// Started counts sessions created.
	Started uint64
	// Ended counts sessions ended by End.
	Ended uint64
	// Expired counts sessions ended by the idle or absolute timeout.
	Expired uint64
	// TxnExpired counts transactions aborted for outliving TxnLifetime.
	TxnExpired uint64
}

// Registry holds the server-side sessions. Its methods are safe for
// concurrent use; the request path (Create, Acquire, release, Refresh)
// locks one of 64 shards and updates atomic counters, never a global lock.
type Registry struct {
	cfg   Config
	log   *slog.Logger
	epoch time.Time
	seed  maphash.Seed

	shards     [numShards]shard
	principals [numShards]pshard

	active     atomic.Int64
	started    atomic.Uint64
	ended      atomic.Uint64
	expired    atomic.Uint64
	txnExpired atomic.Uint64

	// id is the instance id new tokens carry: Config.InstanceID until
	// Renew. Entries whose token carries another are revoked.
	id atomic.Pointer[string]

	closed atomic.Bool
	// gaveUp is set when Close stopped waiting for operations still
	// running; their release then ends the session.
	gaveUp atomic.Bool

	// nextWake is the deadline the reaper sleeps until; a Create with an
	// earlier one pokes wake.
	nextWake atomic.Int64
	wake     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	// reapMu serializes reap passes; reapPops counts heap pops, so tests
	// can check that the reaper's work follows expirations.
	reapMu   sync.Mutex
	reapPops int64
	// workers bounds the reaper's concurrent driver calls; bg tracks them.
	workers chan struct{}
	bg      sync.WaitGroup
}

// New returns a registry and starts its reaper; Close stops it.
func New(cfg Config) (*Registry, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	r := &Registry{
		cfg:     cfg,
		log:     cfg.Logger,
		epoch:   cfg.Now(),
		seed:    maphash.MakeSeed(),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		workers: make(chan struct{}, reapWorkers),
	}
	for i := range r.shards {
		r.shards[i].live = make(map[uint64]*Entry)
		r.shards[i].tombs = make(map[string]tomb)
		r.principals[i].n = make(map[string]int)
	}
	r.id.Store(&cfg.InstanceID)
	r.nextWake.Store(never)
	go r.run()
	return r, nil
}

// InstanceID is the prefix of this registry's new tokens.
func (r *Registry) InstanceID() string { return *r.id.Load() }

// owns reports whether token carries the current instance id; a live
// entry whose token does not was revoked by Renew.
func (r *Registry) owns(token string) bool {
	id := *r.id.Load()
	return len(token) > len(id) && token[len(id)] == '.' && token[:len(id)] == id
}

// Now reads the registry's clock, the one Entry.Now reads.
func (r *Registry) Now() time.Time { return r.cfg.Now() }

// Stats returns the current counters.
func (r *Registry) Stats() Stats {
	return Stats{
		Active:     r.active.Load(),
		Started:    r.started.Load(),
		Ended:      r.ended.Load(),
		Expired:    r.expired.Load(),
		TxnExpired: r.txnExpired.Load(),
	}
}

// mono converts t to nanoseconds since the epoch; with time.Now this uses
// the monotonic clock, so wall-clock jumps cannot expire sessions.
func (r *Registry) mono(t time.Time) int64 { return int64(t.Sub(r.epoch)) }

func (r *Registry) monoNow() int64 { return r.mono(r.cfg.Now()) }

// at converts a deadline back to a time.
func (r *Registry) at(n int64) time.Time { return r.epoch.Add(time.Duration(n)) }

// maxAbsoluteTimeout bounds Config.AbsoluteTimeout: a hundred years.
const maxAbsoluteTimeout = 100 * 365 * 24 * time.Hour

// after is n+d, saturating at never.
func after(n int64, d time.Duration) int64 {
	if s := n + int64(d); s >= n {
		return s
	}
	return never
}

// keyOf is token's key in its shard's live map: its hash under the
// registry's random seed, so no caller can aim at another token's key.
// Create never makes two live tokens of one key, and a lookup that finds
// an entry by key still compares the whole token.
func (r *Registry) keyOf(token string) uint64 { return maphash.String(r.seed, token) }

func (r *Registry) shardOf(token string) (*shard, uint8) {
	i := uint8(r.keyOf(token) % numShards)
	return &r.shards[i], i
}

// liveLocked is the live entry of token in sh, or nil.
func (r *Registry) liveLocked(sh *shard, token string) *Entry {
	if e := sh.live[r.keyOf(token)]; e != nil && e.Token == token {
		return e
	}
	return nil
}

func (r *Registry) idleTimeout(asked time.Duration) time.Duration {
	if asked <= 0 {
		return r.cfg.IdleTimeout
	}
	return min(asked, r.cfg.MaxIdleTimeout)
}

// Create registers a started driver session (sess may be nil in tests) for
// principal on backend, with the transaction state txn starts it with (nil
// for none), and returns its entry with a fresh token. On error
// the session is not registered and the caller still owns sess.
func (r *Registry) Create(principal, backend string, sess *mongo.Session, opts Options, txn TxnSlot) (*Entry, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if r.active.Add(1) > int64(r.cfg.MaxSessions) {
		r.active.Add(-1)
		return nil, fmt.Errorf("%w: %d sessions in total", ErrLimit, r.cfg.MaxSessions)
	}
	if !r.principalAdd(principal) {
		r.active.Add(-1)
		return nil, fmt.Errorf("%w: %d sessions for principal %q", ErrLimit, r.cfg.MaxPerPrincipal, principal)
	}
	now := r.cfg.Now()
	n := r.mono(now)
	idle := r.idleTimeout(opts.IdleTimeout)
	var token string
	var sh *shard
	var si uint8
	for {
		token = newToken(r.InstanceID())
		sh, si = r.shardOf(token)
		sh.mu.Lock()
		if sh.live[r.keyOf(token)] == nil {
			break
		}
		// A live token has the same key (odds 2^-64 per pair): draw again.
		sh.mu.Unlock()
	}
	e := &Entry{
		Token:     token,
		Principal: principal,
		Backend:   backend,
		Session:   sess,
		Options:   opts,
		Txn:       txn,
		now:       r.cfg.Now,
		state: entryState{
			idleAt: after(n, idle),
			absAt:  after(n, r.cfg.AbsoluteTimeout),
			txnAt:  never,
			idx:    -1,
			shard:  si,
		},
	}
	at := e.state.deadline()
	// Checked again under the lock so that Close, which sets closed before
	// collecting the shards' entries, cannot miss this one.
	if r.closed.Load() {
		sh.mu.Unlock()
		r.active.Add(-1)
		r.principalDone(principal)
		return nil, ErrClosed
	}
	if !r.owns(token) {
		// Renew ran since the token was made, and may have swept this
		// shard already: a session of the old id would outlive it.
		sh.mu.Unlock()
		r.active.Add(-1)
		r.principalDone(principal)
		return nil, fmt.Errorf("%w: the instance was renamed meanwhile", ErrClosed)
	}
	sh.live[r.keyOf(token)] = e
	sh.push(e, at)
	sh.mu.Unlock()
	r.started.Add(1)
	r.poke(at)
	return e, nil
}

func (r *Registry) principalShard(p string) *pshard {
	return &r.principals[maphash.String(r.seed, p)%numShards]
}

func (r *Registry) principalAdd(p string) bool {
	ps := r.principalShard(p)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.n[p] >= r.cfg.MaxPerPrincipal {
		return false
	}
	ps.n[p]++
	return true
}

func (r *Registry) principalDone(p string) {
	ps := r.principalShard(p)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.n[p] <= 1 {
		delete(ps.n, p)
	} else {
		ps.n[p]--
	}
}

// lookupLocked finds the live entry for token owned by principal. A
// tombstone answers ErrExpired to its owner only: to anyone else every
// token they do not own is simply unknown.
func (r *Registry) lookupLocked(sh *shard, token, principal string, n int64) (*Entry, error) {
	if e := r.liveLocked(sh, token); e != nil {
		if e.Principal != principal {
			return nil, ErrNotFound
		}
		return e, nil
	}
	if t, ok := sh.tombs[token]; ok && t.principal == principal && n < t.until {
		if t.gone {
			return nil, ErrOwnerGone
		}
		return nil, ErrExpired
	}
	return nil, ErrNotFound
}

// hold waits for the caller's turn on the session (FIFO, bounded by ctx).
// On success the caller holds the entry and sh.mu is locked; on error it
// is unlocked.
func (r *Registry) hold(ctx context.Context, sh *shard, token, principal string) (*Entry, error) {
	n := r.monoNow()
	sh.mu.Lock()
	e, err := r.lookupLocked(sh, token, principal, n)
	if err != nil {
		sh.mu.Unlock()
		return nil, err
	}
	if !e.state.held {
		e.state.held = true
		return e, nil
	}
	w := &waiter{ready: make(chan struct{})}
	e.state.enqueue(w)
	sh.mu.Unlock()

	select {
	case <-w.ready:
		sh.mu.Lock()
		if err := e.state.status.err(); err != nil {
			sh.mu.Unlock()
			return nil, err
		}
		return e, nil
	case <-ctx.Done():
	}
	sh.mu.Lock()
	switch {
	case w.granted:
		// Our turn came as ctx ended: pass it on as if we had run.
		r.handOnLocked(sh, e)
	case e.state.status != alive:
		// The entry died and already emptied its queue.
	default:
		e.state.unlink(w)
	}
	sh.mu.Unlock()
	return nil, ctx.Err()
}

// handOnLocked ends the current turn: the next waiter gets the entry, or
// it becomes idle and goes back on the reaper's heap.
func (r *Registry) handOnLocked(sh *shard, e *Entry) {
	if w := e.state.head; w != nil {
		e.state.unlink(w)
		w.granted = true
		close(w.ready)
		return
	}
	e.state.held = false
	at := e.state.deadline()
	if e.state.idx < 0 {
		sh.push(e, at)
	} else {
		sh.lower(e, at)
	}
	r.poke(at)
}

// killLocked makes e final (ended, expired or closed): it forgets the
// token (leaving a tombstone if it expired), frees its place in the
// limits, and wakes every waiter with the entry's error. The caller must
// hold e and then run finish.
func (r *Registry) killLocked(sh *shard, e *Entry, why status, n int64) {
	e.state.status = why
	delete(sh.live, r.keyOf(e.Token))
	if e.state.idx >= 0 {
		sh.removeAt(int(e.state.idx))
	}
	if why == expired || why == revoked {
		until := after(n, r.cfg.TombstoneTTL)
		sh.tombs[e.Token] = tomb{principal: e.Principal, until: until, gone: why == revoked}
		sh.tq = append(sh.tq, tombRef{token: e.Token, until: until})
		r.poke(until)
	}
	if why == expired {
		r.expired.Add(1)
		if r.cfg.OnExpire != nil {
			r.cfg.OnExpire()
		}
	}
	e.state.wakeAll()
	r.active.Add(-1)
	r.principalDone(e.Principal)
}

// dueLocked reports why a held entry should expire now, or "" if it
// should not. idleCounts is false when the idle clock does not run (the
// entry was held until now).
func dueLocked(e *Entry, n int64, idleCounts bool) string {
	switch {
	case n >= e.state.absAt:
		return "absolute"
	case idleCounts && n >= e.state.idleAt:
		return "idle"
	}
	return ""
}

// Acquire waits for the caller's turn on the session named by token
// (FIFO per session, bounded by ctx) and returns its entry and the func
// that releases it; the caller must call release exactly once when done
// (later calls do nothing). A token owned by another principal is
// ErrNotFound; an expired one ErrExpired. While held the session does not
// idle; release restarts the idle clock and records e.Txn, so a
// transaction's lifetime is enforced from then on. If the transaction has
// already outlived TxnLifetime, Acquire aborts it before returning (the
// transaction is then aborted).
func (r *Registry) Acquire(ctx context.Context, token, principal string) (*Entry, func(), error) {
	return r.acquire(ctx, token, principal, true)
}

// Inspect is Acquire for a caller that only looks at the entry: it queues
// the same way, so it sees the result of operations ahead of it, but it is
// not activity and leaves the idle clock where it was.
func (r *Registry) Inspect(ctx context.Context, token, principal string) (*Entry, func(), error) {
	return r.acquire(ctx, token, principal, false)
}

func (r *Registry) acquire(ctx context.Context, token, principal string, touch bool) (*Entry, func(), error) {
	if r.closed.Load() {
		return nil, nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	sh, _ := r.shardOf(token)
	e, err := r.hold(ctx, sh, token, principal)
	if err != nil {
		return nil, nil, err
	}
	n := r.monoNow()
	if !r.owns(e.Token) {
		r.killLocked(sh, e, revoked, n)
		sh.mu.Unlock()
		r.finish(ctx, e, CauseRevoked, "")
		return nil, nil, ErrOwnerGone
	}
	// A session that was idle may have passed a deadline the reaper has
	// not reached yet; its owner must not get to use it.
	if why := dueLocked(e, n, true); why != "" {
		r.killLocked(sh, e, expired, n)
		sh.mu.Unlock()
		r.finish(ctx, e, CauseExpired, why)
		return nil, nil, ErrExpired
	}
	txnDue := n >= e.state.txnAt
	e.state.gen++
	gen := e.state.gen
	sh.mu.Unlock()
	if txnDue {
		r.expireTxn(ctx, e)
	}
	return e, func() { r.release(e, gen, touch) }, nil
}

// release ends a turn. touch restarts the idle clock (an operation ran);
// the reaper's own turns leave it alone.
func (r *Registry) release(e *Entry, gen uint32, touch bool) {
	sh := &r.shards[e.state.shard]
	n := r.monoNow()
	sh.mu.Lock()
	if e.state.gen != gen || !e.state.held || e.state.status != alive {
		sh.mu.Unlock()
		return
	}
	e.state.gen++
	if touch {
		e.state.idleAt = after(n, r.IdleTimeout(e))
	}
	if !r.owns(e.Token) {
		// Renew revoked the session while this operation ran.
		r.killLocked(sh, e, revoked, n)
		sh.mu.Unlock()
		r.finish(context.Background(), e, CauseRevoked, "")
		return
	}
	// Only now is the caller known to be the holder, who may read e.Txn.
	e.state.txnAt = r.txnDeadline(e, n)
	why := dueLocked(e, n, false)
	if why == "" && r.gaveUp.Load() {
		// Close gave up waiting for this operation: end the session now.
		r.killLocked(sh, e, closed, n)
		sh.mu.Unlock()
		r.finish(context.Background(), e, CauseClosed, "")
		return
	}
	if why != "" {
		r.killLocked(sh, e, expired, n)
		sh.mu.Unlock()
		r.finish(context.Background(), e, CauseExpired, why)
		return
	}
	r.handOnLocked(sh, e)
	sh.mu.Unlock()
}

// txnDeadline is when e's open transaction outlives TxnLifetime, or never.
func (r *Registry) txnDeadline(e *Entry, n int64) int64 {
	if e.Txn == nil {
		return never
	}
	startedAt, open := e.Txn.OpenSince()
	if !open {
		return never
	}
	started := n
	if !startedAt.IsZero() {
		started = r.mono(startedAt)
	}
	return after(started, r.cfg.TxnLifetime)
}

// Refresh extends the session's idle deadline without queueing behind
// running operations (keep-alive) and returns the new idle deadline. While
// an operation runs the session cannot idle out anyway; the deadline
// returned is then the earliest it could.
func (r *Registry) Refresh(token, principal string) (time.Time, error) {
	if r.closed.Load() {
		return time.Time{}, ErrClosed
	}
	sh, _ := r.shardOf(token)
	n := r.monoNow()
	sh.mu.Lock()
	e, err := r.lookupLocked(sh, token, principal, n)
	if err != nil {
		sh.mu.Unlock()
		return time.Time{}, err
	}
	if !r.owns(token) {
		sh.mu.Unlock()
		return time.Time{}, ErrOwnerGone
	}
	why := dueLocked(e, n, !e.state.held)
	switch {
	case why != "" && e.state.held:
		// The running operation's release ends it.
		sh.mu.Unlock()
		return time.Time{}, ErrExpired
	case why != "":
		e.state.held = true
		r.killLocked(sh, e, expired, n)
		sh.mu.Unlock()
		r.finish(context.Background(), e, CauseExpired, why)
		return time.Time{}, ErrExpired
	}
	at := after(n, r.IdleTimeout(e))
	if !e.state.held {
		// The heap slot may now be early; the reaper re-queues it when it
		// surfaces.
		e.state.idleAt = max(e.state.idleAt, at)
	}
	sh.mu.Unlock()
	return r.at(at), nil
}

// Deadlines reports when e idles out (while held: the earliest it could,
// if released now) and when its absolute lifetime ends. The session ends
// at the earlier of the two.
func (r *Registry) Deadlines(e *Entry) (idle, absolute time.Time) {
	sh := &r.shards[e.state.shard]
	n := r.monoNow()
	sh.mu.Lock()
	idleAt, absAt := e.state.idleAt, e.state.absAt
	if e.state.held {
		idleAt = after(n, r.IdleTimeout(e))
	}
	sh.mu.Unlock()
	return r.at(idleAt), r.at(absAt)
}

// End waits for the caller's turn (after the operations queued before it,
// bounded by ctx), aborts an open transaction, ends the driver session and
// forgets the token: later use is ErrNotFound, and so is End on a session
// another principal owns. It reports whether a transaction was aborted. A
// session found past its deadline expires instead (ErrExpired). The caller
// must not hold the session itself.
func (r *Registry) End(ctx context.Context, token, principal string) (abortedTxn bool, err error) {
	if r.closed.Load() {
		return false, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	sh, _ := r.shardOf(token)
	e, err := r.hold(ctx, sh, token, principal)
	if err != nil {
		return false, err
	}
	n := r.monoNow()
	if !r.owns(e.Token) {
		r.killLocked(sh, e, revoked, n)
		sh.mu.Unlock()
		r.finish(ctx, e, CauseRevoked, "")
		return false, ErrOwnerGone
	}
	// Like Acquire, answer as the reaper would have had it run already.
	if why := dueLocked(e, n, true); why != "" {
		r.killLocked(sh, e, expired, n)
		sh.mu.Unlock()
		r.finish(ctx, e, CauseExpired, why)
		return false, ErrExpired
	}
	r.killLocked(sh, e, ended, n)
	sh.mu.Unlock()
	r.ended.Add(1)
	return r.finish(ctx, e, CauseEnded, ""), nil
}

// finish aborts e's open transaction (never commits it) and ends its
// driver session. e must be held and already killed, so nobody else can
// reach it. It reports whether a transaction was open.
func (r *Registry) finish(ctx context.Context, e *Entry, cause Cause, why string) (abortedTxn bool) {
	abortedTxn = r.abortTxn(ctx, e, cause)
	if e.Session != nil {
		dctx := context.WithoutCancel(ctx)
		if e.Txn != nil && e.Txn.CommitPending() {
			// The driver may still consider the commit running and send
			// an abort: bound it. Otherwise ending is local (the server
			// session goes back to the driver's pool).
			var cancel context.CancelFunc
			dctx, cancel = context.WithTimeout(dctx, driverTimeout)
			defer cancel()
		}
		e.Session.EndSession(dctx)
	}
	if r.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []any{"session", e.Redacted(), "principal", e.Principal, "aborted_txn", abortedTxn}
		if why != "" {
			attrs = append(attrs, "cause", why)
		}
		r.log.Debug("sessions: session ended", append(attrs, "by", cause.String())...)
	}
	return abortedTxn
}

// expireTxn has e's transaction aborted if it outlived TxnLifetime; the
// session stays. e must be held.
func (r *Registry) expireTxn(ctx context.Context, e *Entry) {
	if !r.abortTxn(ctx, e, CauseLifetime) {
		return
	}
	r.txnExpired.Add(1)
	r.log.Info("sessions: transaction aborted: lifetime exceeded",
		"session", e.Redacted(), "principal", e.Principal, "txn_number", e.Txn.Number(), "lifetime", r.cfg.TxnLifetime)
}

func (r *Registry) abortTxn(ctx context.Context, e *Entry, cause Cause) bool {
	if r.cfg.AbortTxn == nil {
		return false
	}
	return r.cfg.AbortTxn(ctx, e, cause)
}

// closeWorkers is how many sessions Close ends at once.
const closeWorkers = 16

// Close stops the reaper, then aborts every open transaction and ends
// every session, waiting for running and queued operations up to ctx.
// Sessions still in use when ctx ends are ended by their release, and
// Close reports them with ctx's error. Later calls of any method but
// Stats, InstanceID and Deadlines return ErrClosed.
func (r *Registry) Close(ctx context.Context) error {
	if r.closed.Swap(true) {
		return ErrClosed
	}
	close(r.stop)
	var errs []error
	select {
	case <-r.done:
		bgDone := make(chan struct{})
		go func() { r.bg.Wait(); close(bgDone) }()
		select {
		case <-bgDone:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("sessions: close: waiting for expiries: %w", ctx.Err()))
		}
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("sessions: close: waiting for the reaper: %w", ctx.Err()))
	}

	var all []*Entry
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for _, e := range sh.live {
			all = append(all, e)
		}
		sh.mu.Unlock()
	}
	busy := r.endAll(ctx, all, closed, CauseClosed)
	if len(busy) > 0 {
		// From now on a release ends its session. An operation that
		// finished before the flag was set left its session to a waiter
		// or idle; a second pass ends the idle ones, and the waiters'
		// releases will see the flag.
		r.gaveUp.Store(true)
		busy = r.endAll(ctx, busy, closed, CauseClosed)
	}
	if len(busy) > 0 {
		errs = append(errs, fmt.Errorf("sessions: close: %d sessions still in use: %w", len(busy), ctx.Err()))
	}
	return errors.Join(errs...)
}

// endAll ends the entries (as why, for cause), closeWorkers at a time,
// and returns those it could not get a turn on before ctx ended.
func (r *Registry) endAll(ctx context.Context, all []*Entry, why status, cause Cause) (busy []*Entry) {
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	for range min(closeWorkers, len(all)) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(all)) {
					return
				}
				if err := r.endOne(ctx, all[i], why, cause); err != nil && err == ctx.Err() {
					mu.Lock()
					busy = append(busy, all[i])
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return busy
}

// endOne waits for its turn on e and ends it.
func (r *Registry) endOne(ctx context.Context, e *Entry, why status, cause Cause) error {
	sh := &r.shards[e.state.shard]
	e, err := r.hold(ctx, sh, e.Token, e.Principal)
	if err != nil {
		return err
	}
	r.killLocked(sh, e, why, r.monoNow())
	sh.mu.Unlock()
	r.finish(ctx, e, cause, "")
	return nil
}

// Renew makes id the prefix of new tokens and revokes every session of
// the old one: their open transactions are aborted (never committed),
// their driver sessions end, and their tokens answer ErrOwnerGone, here
// as from the instance's peers. It is for an instance that finds its
// peers declared it dead: they answer that its sessions are gone, so it
// must not serve them either. Operations running on a session finish
// first (bounded by ctx); a session still in use when ctx ends is revoked
// when its operation releases it. It returns how many sessions it
// revoked.
func (r *Registry) Renew(ctx context.Context, id string) (int, error) {
	if !validInstanceID(id) {
		return 0, fmt.Errorf("sessions: renew: instance id %q does not match [a-z0-9-]{1,32}", id)
	}
	r.id.Store(&id)
	var old []*Entry
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for _, e := range sh.live {
			if !r.owns(e.Token) {
				old = append(old, e)
			}
		}
		sh.mu.Unlock()
	}
	busy := r.endAll(ctx, old, revoked, CauseRevoked)
	if len(busy) > 0 {
		return len(old) - len(busy), fmt.Errorf("sessions: renew: %d sessions still in use are revoked when released: %w", len(busy), ctx.Err())
	}
	return len(old), nil
}
