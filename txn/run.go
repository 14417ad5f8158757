package txn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/internal/drivererr"
	"github.com/mongogate/mongogate/sessions"
)

// Backoff between Run attempts, as in the driver's WithTransaction:
// 5ms × 1.5ⁿ capped at 500ms, with full jitter.
const (
	runBackoffInitial = 5 * time.Millisecond
	runBackoffMax     = 500 * time.Millisecond
)

// RunWithin runs fn in one transaction on the held session e with the
// retry rules of the driver's convenient transaction API, and returns how
// many transactions it started.
//
// fn gets a context carrying the driver session; it must run its
// operations with it and return their errors. A fn error labelled
// TransientTransactionError aborts the attempt and reruns fn in a new
// transaction; any other fn error aborts and is returned. A commit labelled
// UnknownTransactionCommitResult (not MaxTimeMSExpired) is sent again; a
// commit labelled TransientTransactionError reruns fn. No new attempt and
// no commit retry starts once timeout (0: Config.RunTimeout) has passed
// since the call began: the call fails with the last attempt's error, or
// with ErrUnknownCommitResult if the commit's outcome is not known. ctx
// bounds everything, and the transaction's MaxCommitTime bounds each commit
// with its retries.
//
// The driver's own Session.WithTransaction is not used: its time limit is
// fixed at 120s (or the client's Timeout), it commits under a context that
// ignores the caller's deadline, and it hides which transaction ended how.
//
// Every attempt is a new transaction of e: its number grows by one per
// attempt, and e's state ends describing the last one (committed, aborted,
// or outcome unknown), as GetSession reports it. e must have no open
// transaction (ErrInProgress, or ErrCommitPending). RunWithin does not
// check that the deployment supports transactions; the caller does, as for
// Start.
func (m *Manager) RunWithin(ctx context.Context, e *sessions.Entry, opts Options, timeout time.Duration, fn func(ctx context.Context) error) (attempts int, err error) {
	if t := peek(e); t.status == InProgress {
		return 0, fmt.Errorf("txn: run: transaction %d is open: %w", t.number, ErrInProgress)
	}
	if err := CheckOperation(e); err != nil {
		return 0, fmt.Errorf("txn: run: %w", err)
	}
	if e.Options.Snapshot {
		return 0, fmt.Errorf("txn: run: %w", ErrSnapshotSession)
	}
	sub := subjectOf(e)
	return m.run(ctx, sub, merge(opts, sub.st.defaults), timeout, fn)
}

// RunOwn is RunWithin in a session of its own, started on client and
// ended before it returns, for principal on backend (as the open
// transaction list names them). Its transaction number equals attempts.
func (m *Manager) RunOwn(ctx context.Context, client *mongo.Client, backend, principal string, opts Options, timeout time.Duration, fn func(ctx context.Context) error) (attempts int, err error) {
	if client == nil {
		return 0, errors.New("txn: run: no client")
	}
	s, err := client.StartSession()
	if err != nil {
		return 0, fmt.Errorf("txn: run: start session: %w", err)
	}
	defer func() {
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.AbortTimeout)
		defer cancel()
		s.EndSession(ectx)
	}()
	sub := &subject{sess: s, st: &State{}, backend: backend, principal: principal, now: time.Now}
	defer m.untrack(sub)
	return m.run(ctx, sub, opts, timeout, fn)
}

// run is RunWithin's loop on sub, with the effective options eff.
func (m *Manager) run(ctx context.Context, sub *subject, eff Options, timeout time.Duration, fn func(ctx context.Context) error) (attempts int, err error) {
	if timeout <= 0 {
		timeout = m.cfg.RunTimeout
	}
	start := time.Now()
	deadline := start.Add(timeout)
	var backoff time.Duration
	var last error // the last attempt's error
	for {
		if attempts > 0 {
			if backoff == 0 {
				backoff = runBackoffInitial
			} else {
				backoff = min(backoff+backoff/2, runBackoffMax)
			}
			wait := time.Duration(rand.Int64N(int64(backoff)))
			if time.Now().Add(wait).After(deadline) {
				return attempts, fmt.Errorf("txn: run: no time left after %d attempts: %w", attempts, last)
			}
			if err := sleep(ctx, wait); err != nil {
				return attempts, fmt.Errorf("txn: run: %w (last attempt: %w)", err, last)
			}
		}
		if err := m.begin(ctx, sub, eff, false); err != nil {
			return attempts, fmt.Errorf("txn: run: %w", err)
		}
		attempts++
		if err := fn(mongo.NewSessionContext(ctx, sub.sess)); err != nil {
			m.abort(ctx, sub)
			last = err
			if drivererr.HasLabel(err, drivererr.LabelTransientTransaction) && ctx.Err() == nil && time.Now().Before(deadline) {
				continue
			}
			return attempts, fmt.Errorf("txn: run: transaction %d: %w", sub.st.number, err)
		}
		if err := ctx.Err(); err != nil {
			m.abort(ctx, sub)
			return attempts, fmt.Errorf("txn: run: transaction %d: %w", sub.st.number, err)
		}
		err := m.recordBeforeCommit(ctx, sub)
		if err == nil {
			err = m.runCommit(ctx, sub, deadline)
		}
		if err == nil {
			return attempts, nil
		}
		last = err
		if sub.st.status == Aborted && drivererr.HasLabel(err, drivererr.LabelTransientTransaction) {
			continue
		}
		if sub.st.status == InProgress {
			// The lease held the commit back: nothing was sent.
			m.abort(ctx, sub)
		}
		return attempts, fmt.Errorf("txn: run: %w", err)
	}
}

// runCommit commits Run's attempt: retries stop at the run's deadline, or
// at the transaction's MaxCommitTime, which also bounds every attempt.
func (m *Manager) runCommit(ctx context.Context, sub *subject, deadline time.Time) error {
	if mct := sub.st.options.MaxCommitTime; mct > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, mct)
		defer cancel()
	}
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return m.commitLoop(ctx, sub, deadline)
}
