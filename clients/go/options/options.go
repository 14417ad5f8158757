// Package options holds the per-operation options of the mongogate Go client
// (github.com/mongogate/mongogate/clients/go), shaped like the MongoDB Go
// driver's so that code moves between the two with an import change:
//
//	coll.Find(ctx, bson.D{{Key: "status", Value: "A"}},
//		options.Find().SetSort(bson.D{{Key: "created", Value: -1}}).SetLimit(10))
//
// Each operation has a constructor (Find, UpdateOne, ...) returning an empty
// options struct whose Set methods chain. Every field is a pointer, an
// interface or a slice; nil means "not set", so the server's default
// applies. An operation takes any number of options structs and merges them
// in order: a field set in a later struct wins.
//
// Fields typed any take whatever the client marshals with bson.Marshal: a
// bson.D, bson.M, bson.Raw or a struct. Hint takes an index name (a string)
// or an index key pattern (a document).
package options

import "time"

// Collation is MongoDB's collation document: language-specific rules for
// comparing strings.
type Collation struct {
	Locale          string `bson:"locale"`
	CaseLevel       bool   `bson:"caseLevel,omitempty"`
	CaseFirst       string `bson:"caseFirst,omitempty"`
	Strength        int    `bson:"strength,omitempty"`
	NumericOrdering bool   `bson:"numericOrdering,omitempty"`
	Alternate       string `bson:"alternate,omitempty"`
	MaxVariable     string `bson:"maxVariable,omitempty"`
	Normalization   bool   `bson:"normalization,omitempty"`
	Backwards       bool   `bson:"backwards,omitempty"`
}

// ReturnDocument chooses which version of a document the FindOneAnd*
// operations return.
type ReturnDocument int8

const (
	// Before returns the document as it was before the change (MongoDB's
	// default).
	Before ReturnDocument = iota + 1
	// After returns the document as it is after the change.
	After
)

// ReadConcern is MongoDB's read concern.
type ReadConcern struct {
	// Level as MongoDB spells it: "local", "majority", "snapshot",
	// "available" or "linearizable".
	Level string
}

// WriteConcern is MongoDB's write concern. There is no wtimeout: bound a
// write with the context's deadline instead.
type WriteConcern struct {
	// W is the number of nodes (an int) or a tag such as "majority" (a
	// string); nil means the default. W 0 (unacknowledged) is refused with
	// a session and in a transaction.
	W any
	// Journal requests acknowledgment only once the write is journaled.
	Journal *bool
}

// Majority is the write concern {w: "majority"}.
func Majority() *WriteConcern { return &WriteConcern{W: "majority"} }

// ReadPrefMode is MongoDB's read preference mode.
type ReadPrefMode int8

// Read preference modes.
const (
	ReadPrimary ReadPrefMode = iota + 1
	ReadPrimaryPreferred
	ReadSecondary
	ReadSecondaryPreferred
	ReadNearest
)

// ReadPreference is MongoDB's read preference.
type ReadPreference struct {
	Mode ReadPrefMode
	// TagSets are tried in order; an empty set matches any member. Not
	// allowed with ReadPrimary.
	TagSets []map[string]string
	// MaxStaleness is the most replication lag a secondary may have (at
	// least 90 s); 0 means no limit.
	MaxStaleness time.Duration
}

// DatabaseOptions configure a Database handle.
type DatabaseOptions struct {
	// Backend names the server's backend (a "client" in mongogate's
	// configuration); nil means the session's backend, or "default".
	Backend *string
	// WriteConcern is the default write concern of the database's
	// collections.
	WriteConcern *WriteConcern
}

// Database returns empty DatabaseOptions.
func Database() *DatabaseOptions { return &DatabaseOptions{} }

// SetBackend sets Backend.
func (o *DatabaseOptions) SetBackend(name string) *DatabaseOptions { o.Backend = &name; return o }

// SetWriteConcern sets WriteConcern.
func (o *DatabaseOptions) SetWriteConcern(wc *WriteConcern) *DatabaseOptions {
	o.WriteConcern = wc
	return o
}

// CollectionOptions configure a Collection handle.
type CollectionOptions struct {
	// WriteConcern of the collection's writes outside transactions; nil
	// inherits the database's. Inside a transaction the transaction's
	// write concern applies and this one is not sent.
	WriteConcern *WriteConcern
}

// Collection returns empty CollectionOptions.
func Collection() *CollectionOptions { return &CollectionOptions{} }

// SetWriteConcern sets WriteConcern.
func (o *CollectionOptions) SetWriteConcern(wc *WriteConcern) *CollectionOptions {
	o.WriteConcern = wc
	return o
}

// SessionOptions configure a session.
type SessionOptions struct {
	// Backend binds the session to a named backend; nil means "default".
	Backend *string
	// CausalConsistency; nil means the backend's default.
	CausalConsistency *bool
	// Snapshot makes every read see one point in time; it excludes causal
	// consistency and transactions.
	Snapshot *bool
	// IdleTimeout asks for an idle timeout other than the server's default
	// (5 min), up to the server's maximum.
	IdleTimeout *time.Duration
	// DefaultTransactionOptions apply to the session's transactions unless
	// a transaction sets its own. JoinExisting is ignored here.
	DefaultTransactionOptions *TransactionOptions
	// KeepAliveInterval overrides the client's keep-alive interval for this
	// session; negative disables keep-alive.
	KeepAliveInterval *time.Duration
}

// Session returns empty SessionOptions.
func Session() *SessionOptions { return &SessionOptions{} }

// SetBackend sets Backend.
func (o *SessionOptions) SetBackend(name string) *SessionOptions { o.Backend = &name; return o }

// SetCausalConsistency sets CausalConsistency.
func (o *SessionOptions) SetCausalConsistency(b bool) *SessionOptions {
	o.CausalConsistency = &b
	return o
}

// SetSnapshot sets Snapshot.
func (o *SessionOptions) SetSnapshot(b bool) *SessionOptions { o.Snapshot = &b; return o }

// SetIdleTimeout sets IdleTimeout.
func (o *SessionOptions) SetIdleTimeout(d time.Duration) *SessionOptions {
	o.IdleTimeout = &d
	return o
}

// SetDefaultTransactionOptions sets DefaultTransactionOptions.
func (o *SessionOptions) SetDefaultTransactionOptions(t *TransactionOptions) *SessionOptions {
	o.DefaultTransactionOptions = t
	return o
}

// SetKeepAliveInterval sets KeepAliveInterval.
func (o *SessionOptions) SetKeepAliveInterval(d time.Duration) *SessionOptions {
	o.KeepAliveInterval = &d
	return o
}

// TransactionOptions configure a transaction. Unset fields fall back to the
// session's DefaultTransactionOptions, then to the backend's defaults.
type TransactionOptions struct {
	ReadConcern    *ReadConcern
	WriteConcern   *WriteConcern
	ReadPreference *ReadPreference
	// MaxCommitTime bounds a commit, including the server's retries of an
	// unknown commit result.
	MaxCommitTime *time.Duration
	// JoinExisting joins the session's open transaction (one level deeper)
	// instead of failing with ErrTransactionInProgress; only the outermost
	// commit commits.
	JoinExisting *bool
	// RecordOutcome has the server record the transaction's outcome
	// durably, inside the transaction, so that its outcome stays known
	// even if the server instance holding the session dies during the
	// commit (see Session.TransactionOutcome). Nil means the server's
	// default for the backend.
	RecordOutcome *bool
}

// Transaction returns empty TransactionOptions.
func Transaction() *TransactionOptions { return &TransactionOptions{} }

// SetReadConcern sets ReadConcern.
func (o *TransactionOptions) SetReadConcern(rc *ReadConcern) *TransactionOptions {
	o.ReadConcern = rc
	return o
}

// SetWriteConcern sets WriteConcern.
func (o *TransactionOptions) SetWriteConcern(wc *WriteConcern) *TransactionOptions {
	o.WriteConcern = wc
	return o
}

// SetReadPreference sets ReadPreference.
func (o *TransactionOptions) SetReadPreference(rp *ReadPreference) *TransactionOptions {
	o.ReadPreference = rp
	return o
}

// SetMaxCommitTime sets MaxCommitTime.
func (o *TransactionOptions) SetMaxCommitTime(d time.Duration) *TransactionOptions {
	o.MaxCommitTime = &d
	return o
}

// SetJoinExisting sets JoinExisting.
func (o *TransactionOptions) SetJoinExisting(b bool) *TransactionOptions {
	o.JoinExisting = &b
	return o
}

// SetRecordOutcome sets RecordOutcome.
func (o *TransactionOptions) SetRecordOutcome(b bool) *TransactionOptions {
	o.RecordOutcome = &b
	return o
}
