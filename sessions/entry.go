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
)

// Options are what StartSession asked for.
type Options struct {
	// IdleTimeout zero means the registry's default.
	IdleTimeout time.Duration
	// CausalConsistency Default means the backend's default.
	CausalConsistency Choice
	Snapshot          bool
}

// Choice is an option a client may leave to a default: a byte, where a
// *bool would cost every session a pointer.
type Choice int8

const (
	Default Choice = iota
	Yes
	No
)

// ChoiceOf is the Choice of an optional bool: nil is Default.
func ChoiceOf(b *bool) Choice {
	switch {
	case b == nil:
		return Default
	case *b:
		return Yes
	}
	return No
}

// Or is the choice made, or def for Default.
func (c Choice) Or(def bool) bool {
	if c == Default {
		return def
	}
	return c == Yes
}

// Ptr is the choice as an optional bool: nil for Default.
func (c Choice) Ptr() *bool {
	if c == Default {
		return nil
	}
	b := c == Yes
	return &b
}

// TxnSlot is the transaction state of a session (Entry.Txn). Package txn
// defines it and alone changes it, on the goroutine that holds the
// session; the registry only reads it through these methods, to enforce
// the transaction lifetime and to bound the end of a session whose commit
// is undecided.
type TxnSlot interface {
	// OpenSince reports when the transaction in progress started, on the
	// registry's clock (Entry.Now); ok is false when none is in progress.
	OpenSince() (started time.Time, ok bool)
	// CommitPending reports whether a commit was sent and its outcome is
	// not known.
	CommitPending() bool
	// Number is the current (or last) transaction's number, 0 before the
	// first.
	Number() int64
}

// Entry is one registered session. Token, Principal, Backend, Session and
// Options never change after creation. Txn belongs to whoever
// holds the session, and only package txn sets or changes it (nil until it
// does): the registry reads it to schedule the transaction lifetime, and
// asks txn (Config.AbortTxn) whenever a transaction must end.
type Entry struct {
	Token     string
	Principal string
	Backend   string
	Session   *mongo.Session
	Options   Options
	Txn       TxnSlot

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

// Cause says why the registry asks for a session's transaction to be
// aborted (Config.AbortTxn).
type Cause int

const (
	// CauseEnded: EndSession.
	CauseEnded Cause = iota + 1
	// CauseExpired: the session outlived its idle or absolute timeout.
	CauseExpired
	// CauseClosed: the registry is closing (shutdown).
	CauseClosed
	// CauseLifetime: the transaction outlived Config.TxnLifetime; the
	// session stays.
	CauseLifetime
	// CauseRevoked: the instance's peers declared it dead, and it stops
	// serving the sessions it held (Registry.Renew).
	CauseRevoked
)

func (c Cause) String() string {
	switch c {
	case CauseEnded:
		return "session ended"
	case CauseExpired:
		return "session expired"
	case CauseClosed:
		return "shutdown"
	case CauseLifetime:
		return "transaction lifetime exceeded"
	case CauseRevoked:
		return "instance declared dead"
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
