package txn

import (
	"reflect"

	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// merge fills each unset field of explicit from defaults. Fields unset in
// both stay unset, so the driver applies the client's defaults.
func merge(explicit, defaults Options) Options {
	out := explicit
	if out.ReadConcern == nil {
		out.ReadConcern = defaults.ReadConcern
	}
	if out.WriteConcern == nil {
		out.WriteConcern = defaults.WriteConcern
	}
	if out.ReadPreference == nil {
		out.ReadPreference = defaults.ReadPreference
	}
	if out.MaxCommitTime == 0 {
		out.MaxCommitTime = defaults.MaxCommitTime
	}
	if out.RecordOutcome == nil {
		out.RecordOutcome = defaults.RecordOutcome
	}
	return out
}

// mismatch names the first field set in joining that differs from the open
// transaction's effective options, or returns "". Unset fields inherit, so
// a joiner states only what it relies on. recording is whether the open
// transaction records its outcome, whoever chose it (the transaction, the
// session or the backend's default).
func mismatch(joining, open Options, recording bool) string {
	switch {
	case joining.ReadConcern != nil && !equalPtr(joining.ReadConcern, open.ReadConcern):
		return "read concern"
	case joining.WriteConcern != nil && !equalPtr(joining.WriteConcern, open.WriteConcern):
		return "write concern"
	case joining.ReadPreference != nil && !equalPtr(joining.ReadPreference, open.ReadPreference):
		return "read preference"
	case joining.MaxCommitTime != 0 && joining.MaxCommitTime != open.MaxCommitTime:
		return "max commit time"
	case joining.RecordOutcome != nil && *joining.RecordOutcome != recording:
		return "record outcome"
	}
	return ""
}

// equalPtr compares what a and b point to; a is not nil.
func equalPtr[T any](a, b *T) bool {
	return b != nil && reflect.DeepEqual(*a, *b)
}

// driverOptions converts effective options to the driver's. The driver's
// TransactionOptions (v2.9.3) has no MaxCommitTime, so the commit paths
// bound their context by it instead; the driver then sends the remaining
// time as maxTimeMS on commitTransaction.
func driverOptions(o Options) *options.TransactionOptionsBuilder {
	b := options.Transaction()
	if o.ReadConcern != nil {
		b.SetReadConcern(o.ReadConcern)
	}
	if o.WriteConcern != nil {
		b.SetWriteConcern(o.WriteConcern)
	}
	if o.ReadPreference != nil {
		b.SetReadPreference(o.ReadPreference)
	}
	return b
}
