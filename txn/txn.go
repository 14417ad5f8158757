package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mongogate/mongogate/internal/drivererr"
	"github.com/mongogate/mongogate/sessions"
)

// Config configures a Manager. Zero fields take the defaults noted.
type Config struct {
	// CommitRetryLimit bounds one Commit, including its retries of
	// UnknownTransactionCommitResult; default 30s.
	CommitRetryLimit time.Duration
	// InitialBackoff and MaxBackoff shape the jittered exponential backoff
	// between commit retries; defaults 10ms and 1s.
	InitialBackoff, MaxBackoff time.Duration
	// RunTimeout is how long Run keeps starting new attempts, like the
	// driver's withTransaction limit; default 120s.
	RunTimeout time.Duration
	// AbortTimeout bounds sending abortTransaction. Aborts are sent even when
	// the caller's context is done, so that MongoDB releases the
	// transaction's locks now rather than at its lifetime limit; default 10s.
	AbortTimeout time.Duration
	// Logger receives commit retries and unknown outcomes; nil discards.
	Logger *slog.Logger
	// OnCommitAttempt, if set, is called for every commitTransaction sent
	// (for metrics).
	OnCommitAttempt func()
	// OnOutcome, if set, is called each time a transaction's state becomes
	// Committed, Aborted or Unknown, whoever caused it (a client,
	// RunTransaction, the registry's expiry, EndSession or shutdown), for
	// metrics. A transaction whose commit outcome was unknown is reported
	// again when the outcome is learnt.
	OnOutcome func(Status)
	// Outcomes keeps the outcome records (see Options.RecordOutcome and
	// OutcomeID); nil, or a backend it does not have, means transactions
	// there record none.
	Outcomes *Outcomes
	// RecordByDefault says whether transactions on a backend record their
	// outcome when neither the transaction nor its session chose; nil
	// means they do not.
	RecordByDefault func(backend string) bool
	// Lease, if set, is asked before every commitTransaction is sent; an
	// error (the instance directory cannot confirm that this instance is
	// still alive in its peers' eyes, see directory.Directory.Lease)
	// holds the commit back, and Commit fails with ErrUnknownCommitResult
	// (commit again): peers may be answering that the transaction's
	// session is gone, and it must not commit after they did. Nil always
	// allows.
	Lease func() error
}

// Manager runs transactions on sessions the caller has acquired from the
// registry: it holds no per-session state of its own (that lives in each
// entry's State), so one Manager serves every session concurrently.
// It is the only writer of that state: the registry asks it to abort
// (AbortFor) rather than changing the state itself, and times come from
// the entry's clock (sessions.Entry.Now), the registry's.
//
// The session's State, not the driver session's, decides every answer: the
// driver forgets a commit as soon as another operation runs on the session,
// and records a failed commit as committed. Per call and state (n is the
// current transaction number):
//
//	state        Start            Start(join)       Commit depth 1 / >1      Abort
//	None         new n+1, d1      new n+1, d1       ErrNoTransaction         ErrNoTransaction
//	InProgress   ErrInProgress    d+1 (same n)      send: → Committed,       send abort → Aborted
//	                                                Aborted or Unknown / d-1
//	Committed    new n+1, d1      new n+1, d1       success, nothing sent    ErrAbortAfterCommit
//	Aborted      new n+1, d1      new n+1, d1       ErrAborted               success, Aborted=false
//	Unknown      ErrCommitPending ErrCommitPending  send again (as above)    ErrAbortAfterCommit
//
// Commit and Abort naming a number other than n fail with ErrNoTransaction.
// Depth is 0 in every state but InProgress.
type Manager struct {
	cfg Config
	log *slog.Logger
	// open holds the transactions in progress or with an unknown commit
	// outcome, by entry (see OpenTransactions).
	open sync.Map
}

// New checks cfg, fills in its defaults and returns a Manager.
func New(cfg Config) (*Manager, error) {
	durations := []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"CommitRetryLimit", &cfg.CommitRetryLimit, 30 * time.Second},
		{"InitialBackoff", &cfg.InitialBackoff, 10 * time.Millisecond},
		{"MaxBackoff", &cfg.MaxBackoff, time.Second},
		{"RunTimeout", &cfg.RunTimeout, 120 * time.Second},
		{"AbortTimeout", &cfg.AbortTimeout, 10 * time.Second},
	}
	for _, f := range durations {
		if *f.d < 0 {
			return nil, fmt.Errorf("txn: negative %s %v", f.name, *f.d)
		}
		if *f.d == 0 {
			*f.d = f.def
		}
	}
	if cfg.MaxBackoff < cfg.InitialBackoff {
		return nil, fmt.Errorf("txn: MaxBackoff %v below InitialBackoff %v", cfg.MaxBackoff, cfg.InitialBackoff)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, log: log}, nil
}

// CommitResult is the outcome of one Commit call.
type CommitResult struct {
	Number int64
	// Committed is true once the transaction is committed (by this call or
	// an earlier one); false when the call only closed a joined level.
	Committed bool
	// Depth is the number of levels still open.
	Depth int
}

// AbortResult is the outcome of one Abort call.
type AbortResult struct {
	Number int64
	// Aborted is true if this call aborted the transaction, false if it had
	// been aborted already.
	Aborted bool
}

// Start begins a transaction on e, or joins the open one.
//
// Without a transaction open it starts transaction n+1 at depth 1.
// With one open, join adds a level to it (same number, depth+1); each field
// set in opts must then equal the open transaction's, else
// ErrOptionsMismatch. Without join it fails with ErrInProgress, and with
// ErrCommitPending while the last commit's outcome is unknown. supported is
// whether e's deployment can run transactions (ErrNotSupported if not).
//
// Each unset field of opts falls back to the session's default transaction
// options (NewState), then to the driver client's defaults.
func (m *Manager) Start(ctx context.Context, e *sessions.Entry, opts Options, join, supported bool) (number int64, depth int, err error) {
	if !supported {
		return 0, 0, fmt.Errorf("txn: start: %w", ErrNotSupported)
	}
	if err := CheckOperation(e); err != nil {
		return 0, 0, fmt.Errorf("txn: start: %w", err)
	}
	sub := subjectOf(e)
	t := sub.st
	if t.status == InProgress {
		if !join {
			return 0, 0, fmt.Errorf("txn: start: transaction %d is open: %w", t.number, ErrInProgress)
		}
		if field := mismatch(opts, t.options, t.outcome != ""); field != "" {
			return 0, 0, fmt.Errorf("txn: join transaction %d: %s: %w", t.number, field, ErrOptionsMismatch)
		}
		t.depth++
		return t.number, t.depth, nil
	}
	if e.Options.Snapshot {
		return 0, 0, fmt.Errorf("txn: start: %w", ErrSnapshotSession)
	}
	if err := m.begin(ctx, sub, merge(opts, t.defaults), true); err != nil {
		return 0, 0, err
	}
	return t.number, t.depth, nil
}

// takenNumbers bounds how many fenced transaction numbers begin skips.
const takenNumbers = 16

// begin starts the next transaction on sub with the effective options
// eff. held says whether the client holds the transaction's number before
// the transaction can commit (StartTransaction), not only once it has
// ended (RunTransaction's attempts). A transaction that records its
// outcome and is held inserts its record inside itself before its commit;
// the session's recording marker says so before it starts, when it does
// not already (see Outcomes.mark). One that is not held writes its record
// open first, so that from then on another instance can fence it and no
// record means it never started; a number whose record exists already (an
// earlier start wrote it, then failed) is skipped.
func (m *Manager) begin(ctx context.Context, sub *subject, eff Options, held bool) error {
	if eff.WriteConcern != nil && !eff.WriteConcern.Acknowledged() {
		return fmt.Errorf("txn: start: %w", ErrUnacknowledged)
	}
	t := sub.st
	number, recording := t.number+1, m.recording(sub, eff)
	inserts := recording && held
	if inserts || t.marked != markNone {
		if err := m.cfg.Outcomes.mark(ctx, sub, number, inserts); err != nil {
			return fmt.Errorf("txn: start: %w", err)
		}
	}
	opened := recording && !held
	for skipped := 0; opened; skipped++ {
		err := m.cfg.Outcomes.open(ctx, sub, number)
		if err == nil {
			break
		}
		if !errors.Is(err, errNumberTaken) || skipped == takenNumbers {
			return fmt.Errorf("txn: start: %w", err)
		}
		number++
	}
	if err := sub.sess.StartTransaction(driverOptions(eff)); err != nil {
		return fmt.Errorf("txn: start: %w", err)
	}
	t.number = number
	t.status, t.depth, t.dangling = InProgress, 1, 0
	t.options, t.started, t.outcome, t.opened, t.recorded = eff, sub.now(), "", opened, false
	if recording {
		t.outcome = OutcomeID(sub.token, t.number)
	}
	m.track(sub)
	return nil
}

// end moves sub's transaction to the final (or unknown) state s, closing
// every level, and reports the outcome.
func (m *Manager) end(sub *subject, s Status) {
	t := sub.st
	changed := t.status != s
	t.status, t.depth = s, 0
	if s != Unknown {
		// A commit whose outcome is unknown may still hold the
		// transaction open in MongoDB: it stays listed.
		m.untrack(sub)
	}
	if changed && m.cfg.OnOutcome != nil {
		m.cfg.OnOutcome(s)
	}
}

// Commit closes one level of e's transaction; the outermost level commits
// it. number 0 means the current (or most recent) transaction; another
// number than that one, or no transaction at all, is ErrNoTransaction.
//
// Committing a committed transaction succeeds again without contacting
// MongoDB (the earlier response was lost, not the commit). Committing an
// aborted one is ErrAborted. The outermost commit retries
// UnknownTransactionCommitResult with jittered exponential backoff until it
// succeeds, fails definitely, or CommitRetryLimit, the transaction's
// MaxCommitTime or ctx ends it: the transaction is then left Unknown
// and the error wraps ErrUnknownCommitResult and MongoDB's last error;
// calling Commit again resumes the retries. A commit MongoDB reports as a
// TransientTransactionError or NoSuchTransaction aborted the transaction:
// Aborted, and the error wraps ErrAborted and MongoDB's error.
func (m *Manager) Commit(ctx context.Context, e *sessions.Entry, number int64) (CommitResult, error) {
	if t := peek(e); t.status == None || (number != 0 && number != t.number) {
		return CommitResult{}, fmt.Errorf("txn: commit transaction %d: %w", number, ErrNoTransaction)
	}
	sub := subjectOf(e)
	t := sub.st
	res := CommitResult{Number: t.number}
	switch t.status {
	case Committed:
		res.Committed = true
		return res, nil
	case Aborted:
		if t.dangling > 0 {
			t.dangling--
		}
		return res, fmt.Errorf("txn: commit transaction %d: %w", t.number, ErrAborted)
	case InProgress:
		if t.depth > 1 {
			t.depth--
			res.Depth = t.depth
			return res, nil
		}
	}
	// Nothing is sent yet, so a done ctx leaves the state as it is.
	if err := ctx.Err(); err != nil {
		res.Depth = t.depth
		return res, fmt.Errorf("txn: commit transaction %d: %w", t.number, err)
	}
	limit := m.cfg.CommitRetryLimit
	if mct := t.options.MaxCommitTime; mct > 0 && mct < limit {
		limit = mct
	}
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := m.recordBeforeCommit(cctx, sub); err != nil {
		return res, err
	}
	deadline, _ := cctx.Deadline()
	err := m.commitLoop(cctx, sub, deadline)
	res.Committed = err == nil
	return res, err
}

// recordBeforeCommit writes the outcome record of sub's transaction, if it
// records one and its first commit is about to be sent; a failed write
// aborts the transaction (MongoDB's error, TransientTransactionError
// included, is wrapped).
func (m *Manager) recordBeforeCommit(ctx context.Context, sub *subject) error {
	if sub.st.outcome == "" || sub.st.status != InProgress || sub.st.recorded {
		return nil
	}
	if err := m.cfg.Outcomes.write(ctx, sub); err != nil {
		n := sub.st.number
		m.abort(ctx, sub)
		if errors.Is(err, ErrFenced) {
			return fmt.Errorf("txn: commit transaction %d: %w", n, err)
		}
		return fmt.Errorf("txn: commit transaction %d: %w: %w", n, ErrAborted, err)
	}
	sub.st.recorded = true
	return nil
}

// commitLoop commits sub's open (or unknown) transaction, retrying
// UnknownTransactionCommitResult until retryUntil, and sets its state to
// the outcome. Every attempt runs under ctx; the first is always sent.
func (m *Manager) commitLoop(ctx context.Context, sub *subject, retryUntil time.Time) error {
	n := sub.st.number
	backoff := m.cfg.InitialBackoff
	for attempt := 1; ; attempt++ {
		if err := m.lease(); err != nil {
			// Committing again once the lease is back is the way on, as
			// for an unknown outcome; for the first attempt nothing was
			// sent, so the transaction stays as it was.
			if attempt > 1 {
				m.end(sub, Unknown)
			}
			return fmt.Errorf("txn: commit transaction %d held back: %w: %w", n, ErrUnknownCommitResult, err)
		}
		m.commitAttempt()
		err := sub.sess.CommitTransaction(ctx)
		switch classifyCommit(err) {
		case commitDone:
			m.end(sub, Committed)
			if attempt > 1 {
				m.log.Info("txn: commit succeeded after retries", sessionAttr(sub), "txn", n, "attempts", attempt)
			}
			return nil
		case commitAborted:
			m.end(sub, Aborted)
			return fmt.Errorf("txn: commit transaction %d: %w: %w", n, ErrAborted, err)
		case commitRetry:
			wait := backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, m.cfg.MaxBackoff)
			if time.Now().Add(wait).Before(retryUntil) {
				m.log.Debug("txn: commit outcome unknown, retrying", sessionAttr(sub), "txn", n, "attempt", attempt, "backoff", wait, "err", err)
				if sleep(ctx, wait) == nil {
					continue
				}
			}
		}
		m.end(sub, Unknown)
		m.log.Warn("txn: commit outcome unknown", sessionAttr(sub), "txn", n, "attempts", attempt, "err", err)
		return fmt.Errorf("txn: commit transaction %d: %w: %w", n, ErrUnknownCommitResult, err)
	}
}

// lease is Config.Lease's verdict.
func (m *Manager) lease() error {
	if m.cfg.Lease == nil {
		return nil
	}
	return m.cfg.Lease()
}

func (m *Manager) commitAttempt() {
	if m.cfg.OnCommitAttempt != nil {
		m.cfg.OnCommitAttempt()
	}
}

type commitClass int

const (
	commitDone commitClass = iota
	commitAborted
	commitRetry
	commitUnknown
)

// classifyCommit sorts a CommitTransaction error. Anything that is neither
// success nor a definite abort leaves the outcome unknown, including the
// driver's client-side refusals and timeouts; only
// UnknownTransactionCommitResult without MaxTimeMSExpired is worth retrying
// at once (a MaxTimeMSExpired commit ran out of the very time a retry would
// need).
func classifyCommit(err error) commitClass {
	if err == nil {
		return commitDone
	}
	if drivererr.HasLabel(err, drivererr.LabelTransientTransaction) {
		return commitAborted
	}
	if drivererr.HasLabel(err, drivererr.LabelUnknownCommitResult) {
		if drivererr.HasCode(err, drivererr.CodeMaxTimeMSExpired) {
			return commitUnknown
		}
		return commitRetry
	}
	if drivererr.HasCode(err, drivererr.CodeNoSuchTransaction) {
		return commitAborted
	}
	return commitUnknown
}

// Abort aborts e's transaction at any depth: the whole transaction ends
// (Aborted, depth 0) and commits at outer levels then fail with
// ErrAborted. number 0 means the current (or most recent) transaction;
// another number, or no transaction, is ErrNoTransaction.
//
// Aborting an aborted transaction succeeds with Aborted false. Aborting one
// whose commit was sent (committed, or outcome unknown) is
// ErrAbortAfterCommit, which wraps ErrNoTransaction: as in MongoDB's drivers,
// an abort cannot take back a commit, and answering "aborted" could be a lie.
func (m *Manager) Abort(ctx context.Context, e *sessions.Entry, number int64) (AbortResult, error) {
	if t := peek(e); t.status == None || (number != 0 && number != t.number) {
		return AbortResult{}, fmt.Errorf("txn: abort transaction %d: %w", number, ErrNoTransaction)
	}
	sub := subjectOf(e)
	t := sub.st
	res := AbortResult{Number: t.number}
	switch t.status {
	case Aborted:
		if t.dangling > 0 {
			t.dangling--
		}
		return res, nil
	case Committed, Unknown:
		return res, fmt.Errorf("txn: abort transaction %d: %w", t.number, ErrAbortAfterCommit)
	}
	outer := t.depth - 1
	m.abort(ctx, sub)
	t.dangling = outer
	res.Aborted = true
	return res, nil
}

// AbortFor aborts e's transaction if one is open and reports whether it
// did: it is the registry's sessions.Config.AbortTxn, called with e held
// when the session ends, expires or is closed, and when the transaction
// outlives its lifetime (the levels the client opened then dangle, see
// State.dangling). It never commits, and it leaves a transaction
// whose commit outcome is unknown alone: an abort cannot undo a commit
// that happened, and one that did not is aborted by MongoDB at its
// lifetime limit.
func (m *Manager) AbortFor(ctx context.Context, e *sessions.Entry, cause sessions.Cause) bool {
	t, ok := e.Txn.(*State)
	if !ok || t == nil {
		return false
	}
	sub := subjectOf(e)
	if cause != sessions.CauseLifetime {
		// The session is going away; a commit of unknown outcome it
		// leaves is MongoDB's to expire.
		defer m.untrack(sub)
	}
	if t.status != InProgress {
		return false
	}
	depth := t.depth
	m.abort(ctx, sub)
	if cause == sessions.CauseLifetime {
		t.dangling = depth
	}
	return true
}

// abort sends abortTransaction for sub's open transaction and marks it
// aborted. The driver ignores the server's answer (MongoDB aborts the
// transaction at its lifetime limit anyway), and refuses only when its
// session has no running transaction; either way nothing is left to abort.
func (m *Manager) abort(ctx context.Context, sub *subject) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.AbortTimeout)
	defer cancel()
	if err := sub.sess.AbortTransaction(actx); err != nil {
		m.log.Warn("txn: driver refused abort", sessionAttr(sub), "txn", sub.st.number, "err", err)
	}
	m.end(sub, Aborted)
}

// CheckOperation reports whether a document operation may run on e's
// session now: not while its last commit's outcome is unknown
// (ErrCommitPending). The operation could otherwise join the uncommitted
// transaction, or move the driver session past it so that committing again
// can no longer learn the outcome.
func CheckOperation(e *sessions.Entry) error {
	t := peek(e)
	if t.status == Unknown {
		return fmt.Errorf("txn: transaction %d: %w", t.number, ErrCommitPending)
	}
	if t.dangling > 0 {
		return fmt.Errorf("txn: transaction %d: %d level(s) open: %w", t.number, t.dangling, ErrDangling)
	}
	return nil
}

// sessionAttr names sub's session in logs: its redacted token, or "(none)"
// for the session of its own that RunOwn starts without a registry entry.
func sessionAttr(sub *subject) slog.Attr {
	if sub.token == "" {
		return slog.String("session", "(none)")
	}
	return slog.String("session", sessions.Redact(sub.token))
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
