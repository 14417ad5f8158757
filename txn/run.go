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

// Run is RunWithin with Config.RunTimeout.
func (m *Manager) Run(ctx context.Context, client *mongo.Client, e *sessions.Entry, opts sessions.TransactionOptions, fn func(ctx context.Context) error) (attempts int, err error) {
	return m.RunWithin(ctx, client, e, opts, 0, fn)
}

// RunWithin runs fn in one transaction with the retry rules of the driver's
// convenient transaction API, and returns how many transactions it started.
//
// fn gets a context carrying e's driver session; it must run its operations
// with it and return their errors. A fn error labelled
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
// Every attempt is a new transaction of e: e.Txn.Number grows by one per
// attempt, and e.Txn ends describing the last one (committed, aborted, or
// outcome unknown), as GetSession reports it. With e nil, or an e without
// a driver session (which then only names the backend and principal),
// Run runs in a session of its own started on client and ended before it
// returns (the transaction number then equals attempts); with a session in
// e, client is unused.
// e must have no open transaction (ErrInProgress, or ErrCommitPending).
// Run does not check that the deployment supports transactions; the caller
// does, as for Start.
func (m *Manager) RunWithin(ctx context.Context, client *mongo.Client, e *sessions.Entry, opts sessions.TransactionOptions, timeout time.Duration, fn func(ctx context.Context) error) (attempts int, err error) {
	if timeout <= 0 {
		timeout = m.cfg.RunTimeout
	}
	if e == nil || e.Session == nil {
		if client == nil {
			return 0, errors.New("txn: run: neither a session nor a client")
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
		own := &sessions.Entry{Session: s}
		if e != nil {
			// Who runs it and where, for the open-transaction list.
			own.Backend, own.Principal = e.Backend, e.Principal
		}
		e = own
		defer m.untrack(e)
	}
	if e.Txn.State == sessions.TxnInProgress {
		return 0, fmt.Errorf("txn: run: transaction %d is open: %w", e.Txn.Number, ErrInProgress)
	}
	if err := CheckOperation(e); err != nil {
		return 0, fmt.Errorf("txn: run: %w", err)
	}
	eff := merge(opts, e.Options.DefaultTransaction)
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
		if err := m.begin(e, eff); err != nil {
			return attempts, fmt.Errorf("txn: run: %w", err)
		}
		attempts++
		if err := fn(mongo.NewSessionContext(ctx, e.Session)); err != nil {
			m.abort(ctx, e)
			last = err
			if drivererr.HasLabel(err, drivererr.LabelTransientTransaction) && ctx.Err() == nil && time.Now().Before(deadline) {
				continue
			}
			return attempts, fmt.Errorf("txn: run: transaction %d: %w", e.Txn.Number, err)
		}
		if err := ctx.Err(); err != nil {
			m.abort(ctx, e)
			return attempts, fmt.Errorf("txn: run: transaction %d: %w", e.Txn.Number, err)
		}
		err := m.recordBeforeCommit(ctx, e)
		if err == nil {
			err = m.runCommit(ctx, e, deadline)
		}
		if err == nil {
			return attempts, nil
		}
		last = err
		if e.Txn.State == sessions.TxnAborted && drivererr.HasLabel(err, drivererr.LabelTransientTransaction) {
			continue
		}
		return attempts, fmt.Errorf("txn: run: %w", err)
	}
}

// runCommit commits Run's attempt: retries stop at the run's deadline, or
// at the transaction's MaxCommitTime, which also bounds every attempt.
func (m *Manager) runCommit(ctx context.Context, e *sessions.Entry, deadline time.Time) error {
	if mct := e.Txn.Options.MaxCommitTime; mct > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, mct)
		defer cancel()
	}
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return m.commitLoop(ctx, e, deadline)
}
