// Package sessions is mongogate's registry of server-held MongoDB sessions:
// it issues unguessable tokens that name the owning instance, records who
// owns each session and which backend it is bound to, expires idle and
// over-age sessions (aborting their open transactions), keeps tombstones so
// an expired token answers "expired" rather than "unknown", runs the
// operations on one session one at a time in arrival order, and enforces
// session limits.
package sessions

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// TransactionOptions are the per-transaction settings; zero fields fall back
// to the session's defaults, then the backend's.
type TransactionOptions struct {
	ReadConcern    *readconcern.ReadConcern
	WriteConcern   *writeconcern.WriteConcern
	ReadPreference *readpref.ReadPref
	// MaxCommitTime bounds one commit, including its retries.
	MaxCommitTime time.Duration
	// RecordOutcome writes an outcome record inside the transaction before
	// it commits (see txn.OutcomeID); nil means the session's default.
	RecordOutcome *bool
}

// Options are what StartSession asked for.
type Options struct {
	// CausalConsistency nil means the backend's default.
	CausalConsistency *bool
	Snapshot          bool
	// IdleTimeout zero means the registry's default.
	IdleTimeout        time.Duration
	DefaultTransaction TransactionOptions
}

// TxnState is where the session's current (or last) transaction stands.
type TxnState int

const (
	// TxnNone: no transaction was ever started on the session.
	TxnNone TxnState = iota
	// TxnInProgress: started and neither committed nor aborted.
	TxnInProgress
	// TxnCommitted: the last transaction committed.
	TxnCommitted
	// TxnAborted: the last transaction aborted (by the client, an error,
	// expiry or shutdown).
	TxnAborted
	// TxnUnknown: a commit was attempted and its outcome is not known yet;
	// committing again is the way to learn it.
	TxnUnknown
)

func (s TxnState) String() string {
	switch s {
	case TxnInProgress:
		return "IN_PROGRESS"
	case TxnCommitted:
		return "COMMITTED"
	case TxnAborted:
		return "ABORTED"
	case TxnUnknown:
		return "UNKNOWN"
	}
	return "NONE"
}

// Txn is the transaction state of a session. Only the holder of the
// session (see Registry.Acquire) may read or change it.
type Txn struct {
	// Number counts the session's transactions from 1; 0 before the first.
	Number int64
	State  TxnState
	// Depth is the nesting level of join_existing starts; 1 for a plain
	// transaction, 0 when none is open.
	Depth int
	// Dangling counts levels the client opened on a transaction that
	// ended without them closing it: the outer levels left by an abort at
	// an inner depth, or every level when the transaction outlived its
	// lifetime. Until the client closes each (Commit answers aborted,
	// Abort succeeds), the session refuses document operations, so code
	// that believes it is inside the transaction never writes outside it.
	Dangling int
	Options  TransactionOptions
	Started  time.Time
	// Outcome is the id of the transaction's outcome record when it
	// records one (Options.RecordOutcome), else "".
	Outcome string
}

// Entry is one registered session. Token, Principal, Backend, Session,
// Options and Created never change after creation. Txn belongs to whoever
// holds the session, and only package txn changes it: the registry reads
// it to schedule the transaction lifetime, and asks txn (Config.AbortTxn)
// whenever a transaction must end.
type Entry struct {
	Token     string
	Principal string
	Backend   string
	Session   *mongo.Session
	Options   Options
	Created   time.Time
	Txn       Txn

	now   func() time.Time // the registry's clock; nil outside a registry
	state entryState       // registry bookkeeping, guarded by the registry
}

// Now reads the clock of the registry that holds e (time.Now for an entry
// made outside a registry). Times stored in e, such as Txn.Started, come
// from it, so that the registry measures lifetimes on the clock that
// stamped them.
func (e *Entry) Now() time.Time {
	if e.now == nil {
		return time.Now()
	}
	return e.now()
}

// AbortCause says why the registry asks for a transaction to be aborted.
type AbortCause int

const (
	// AbortEnded: EndSession.
	AbortEnded AbortCause = iota + 1
	// AbortExpired: the session outlived its idle or absolute timeout.
	AbortExpired
	// AbortClosed: the registry is closing (shutdown).
	AbortClosed
	// AbortLifetime: the transaction outlived Config.TxnLifetime; the
	// session stays.
	AbortLifetime
)

func (c AbortCause) String() string {
	switch c {
	case AbortEnded:
		return "session ended"
	case AbortExpired:
		return "session expired"
	case AbortClosed:
		return "shutdown"
	case AbortLifetime:
		return "transaction lifetime exceeded"
	}
	return "unknown"
}

// Redacted is the token as it may appear in logs: the instance prefix and
// the first characters of the secret part only.
func (e *Entry) Redacted() string { return Redact(e.Token) }

type entryKey struct{}

// NewContext returns ctx carrying e, the session the operation under ctx
// runs on, for observers of that operation such as the tracer of MongoDB
// commands. It is set by the holder of e.
func NewContext(ctx context.Context, e *Entry) context.Context {
	return context.WithValue(ctx, entryKey{}, e)
}

// FromContext returns the entry NewContext put in ctx, or nil. Its Txn may
// be read only on the holder's goroutine, as the driver's command monitor
// runs: synchronously, inside the operation.
func FromContext(ctx context.Context) *Entry {
	e, _ := ctx.Value(entryKey{}).(*Entry)
	return e
}
