package txn

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/mongogate/mongogate/sessions"
)

// Options are the per-transaction settings; zero fields fall back to the
// session's defaults, then the backend's.
type Options struct {
	ReadConcern    *readconcern.ReadConcern
	WriteConcern   *writeconcern.WriteConcern
	ReadPreference *readpref.ReadPref
	// MaxCommitTime bounds one commit, including its retries.
	MaxCommitTime time.Duration
	// RecordOutcome writes an outcome record inside the transaction before
	// it commits (see Record); nil means the session's default, then
	// the backend's (Config.RecordByDefault).
	RecordOutcome *bool
}

func (o Options) isZero() bool { return o == Options{} }

// Status is where a session's current (or last) transaction stands.
type Status int

const (
	// None: no transaction was ever started on the session.
	None Status = iota
	// InProgress: started and neither committed nor aborted.
	InProgress
	// Committed: the last transaction committed.
	Committed
	// Aborted: the last transaction aborted (by the client, an error,
	// expiry or shutdown).
	Aborted
	// Unknown: a commit was attempted and its outcome is not known yet;
	// committing again is the way to learn it.
	Unknown
)

func (s Status) String() string {
	switch s {
	case InProgress:
		return "IN_PROGRESS"
	case Committed:
		return "COMMITTED"
	case Aborted:
		return "ABORTED"
	case Unknown:
		return "UNKNOWN"
	}
	return "NONE"
}

// State is the transaction state of one session, kept in its registry
// entry (sessions.Entry.Txn). Its fields are unexported: this package is
// its only writer, on the goroutine that holds the session; others read a
// copy through Describe.
type State struct {
	// number counts the session's transactions from 1; 0 before the first.
	number int64
	status Status
	// depth is the nesting level of join_existing starts; 1 for a plain
	// transaction, 0 when none is open.
	depth int
	// dangling counts levels the client opened on a transaction that
	// ended without them closing it: the outer levels left by an abort at
	// an inner depth, or every level when the transaction outlived its
	// lifetime. Until the client closes each (Commit answers aborted,
	// Abort succeeds), the session refuses document operations, so code
	// that believes it is inside the transaction never writes outside it.
	dangling int
	// options are the effective options of the current transaction.
	options Options
	started time.Time
	// outcome is the id of the transaction's outcome record when it
	// records one, else "".
	outcome string
	// opened: the transaction's record was written open before it
	// started (a RunTransaction attempt, see Record).
	opened bool
	// recorded: the transaction has written its record committed (inside
	// itself), so a commit may be sent.
	recorded bool
	// marked is what the session's recording marker says (markNone,
	// markOn, markOff; see Outcomes.mark), and markedUntil when it
	// expires, in Unix seconds.
	marked      markState
	markedUntil int64
	// defaults are the session's default transaction options, from
	// StartSession.
	defaults Options
}

// OpenSince implements sessions.TxnSlot.
func (s *State) OpenSince() (time.Time, bool) { return s.started, s.status == InProgress }

// CommitPending implements sessions.TxnSlot.
func (s *State) CommitPending() bool { return s.status == Unknown }

// Number implements sessions.TxnSlot.
func (s *State) Number() int64 { return s.number }

// NewState is the transaction state a new session starts with: its
// default transaction options, from StartSession. It is nil when there are
// none, so a session that never runs a transaction costs nothing here.
func NewState(defaults Options) sessions.TxnSlot {
	if defaults.isZero() {
		return nil
	}
	return &State{defaults: defaults}
}

// Info is a copy of a session's transaction state, for readers.
type Info struct {
	// Number is the current (or last) transaction's, 0 before the first.
	Number int64
	Status Status
	// Depth is the number of open join levels; 0 unless InProgress.
	Depth int
	// Started is when the current (or last) transaction started.
	Started time.Time
	// Defaults are the session's default transaction options.
	Defaults Options
}

// Describe reports e's current or most recent transaction. Only the
// holder of e may call it.
func Describe(e *sessions.Entry) Info {
	s := peek(e)
	return Info{Number: s.number, Status: s.status, Depth: s.depth, Started: s.started, Defaults: s.defaults}
}

// noState is what a session without transaction state reads as.
var noState State

// peek is e's state for reading; it allocates nothing.
func peek(e *sessions.Entry) *State {
	if s, ok := e.Txn.(*State); ok && s != nil {
		return s
	}
	return &noState
}

// subject is what a transaction runs on: a driver session, its state, and
// who runs it where (for outcome records and the open list). A registry
// entry provides it (subjectOf), or RunOwn's session of its own.
type subject struct {
	sess                      *mongo.Session
	st                        *State
	token, backend, principal string
	now                       func() time.Time
}

// subjectOf is e's subject; it gives e a state of its own if it had none.
func subjectOf(e *sessions.Entry) *subject {
	s, ok := e.Txn.(*State)
	if !ok || s == nil {
		s = &State{}
		e.Txn = s
	}
	return &subject{sess: e.Session, st: s, token: e.Token, backend: e.Backend, principal: e.Principal, now: e.Now}
}
