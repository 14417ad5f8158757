// Package txn runs MongoDB transactions on server-held sessions: the state
// machine (none → in progress → committed / aborted / commit outcome
// unknown), commit with retry of UnknownTransactionCommitResult, idempotent
// commit and abort, join_existing nesting, and RunTransaction with the
// driver's convenient-API retry loop.
package txn

import (
	"errors"
	"fmt"

	"github.com/mongogate/mongogate/crud"
)

// Errors the transaction layer returns; server/ maps each to a gRPC code
// and reason. MongoDB's own errors pass through wrapped, so their codes and
// labels stay inspectable.
var (
	// ErrInProgress: StartTransaction without join_existing while one is open.
	ErrInProgress = errors.New("txn: transaction already in progress")
	// ErrNoTransaction: commit or abort with no transaction, or naming a
	// transaction number that is not the session's current one.
	ErrNoTransaction = errors.New("txn: no transaction")
	// ErrNotSupported: the deployment cannot run transactions (standalone).
	ErrNotSupported = errors.New("txn: transactions not supported by this deployment")
	// ErrAborted: the transaction was aborted (by an error, a nested abort,
	// expiry, or MongoDB) and cannot commit.
	ErrAborted = errors.New("txn: transaction aborted")
	// ErrUnknownCommitResult: commit retries ran out (deadline or the retry
	// limit) without learning the outcome; committing again is safe.
	ErrUnknownCommitResult = errors.New("txn: commit outcome unknown")
	// ErrOptionsMismatch: join_existing with options that differ from the
	// open transaction's.
	ErrOptionsMismatch = errors.New("txn: options differ from the open transaction's")
)

// Refinements of the sentinels above: each wraps one of them, so server/
// maps it without knowing it, and callers that care can tell it apart.
var (
	// ErrCommitPending: the session's last commit has an unknown outcome
	// (status Unknown). Starting, joining or running another transaction,
	// and document operations on the session, are refused until Commit
	// resolves it: another operation could join the uncommitted transaction
	// or move the session past it, after which its outcome can no longer be
	// learnt. Wraps ErrInProgress.
	ErrCommitPending = fmt.Errorf("%w: the last commit's outcome is unknown, commit again to resolve it", ErrInProgress)
	// ErrAbortAfterCommit: abort of a transaction whose commit was already
	// sent (committed, or outcome unknown). An abort cannot undo a commit, so
	// it is refused, as MongoDB's drivers refuse it. Wraps ErrNoTransaction.
	ErrAbortAfterCommit = fmt.Errorf("%w: cannot abort after commit", ErrNoTransaction)
	// ErrSnapshotSession: a transaction on a snapshot session, which MongoDB
	// does not allow. Wraps ErrNotSupported.
	ErrSnapshotSession = fmt.Errorf("%w: snapshot sessions cannot run transactions", ErrNotSupported)
	// ErrUnacknowledged: a transaction with an unacknowledged (w:0) write
	// concern. Wraps crud.ErrUnacknowledgedInSession, the same rule for
	// single writes.
	ErrUnacknowledged = fmt.Errorf("%w: transactions need an acknowledged write concern", crud.ErrUnacknowledgedInSession)
	// ErrFenced: another instance, answering for this transaction while
	// its owner did not answer, decided through its outcome record that it
	// never commits (see Record); wraps ErrAborted.
	ErrFenced = fmt.Errorf("%w: another instance answered for it that it did not commit", ErrAborted)
	// ErrDangling: the session's transaction ended (an abort at an inner
	// level, or its lifetime limit) while levels the client opened are
	// still open; it wraps ErrAborted. Close them with CommitTransaction
	// (answers aborted) or AbortTransaction before using the session again.
	ErrDangling = fmt.Errorf("%w: the transaction ended while outer levels are still open; close them first", ErrAborted)
)
