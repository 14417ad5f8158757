package options

import "time"

// RunTransactionOptions are the options of Client.RunTransaction. The
// transaction's fields fall back, when unset, to the session's
// DefaultTransactionOptions (with a session), then to the backend's.
type RunTransactionOptions struct {
	ReadConcern    *ReadConcern
	WriteConcern   *WriteConcern
	ReadPreference *ReadPreference
	// MaxCommitTime bounds each commit, including the server's retries of
	// an unknown commit result.
	MaxCommitTime *time.Duration
	// Timeout is the time after which the server starts no new attempt
	// and fails with the last attempt's error; nil means 120 s, as in
	// the MongoDB drivers' withTransaction. The context's deadline also
	// applies.
	Timeout *time.Duration
}

// RunTransaction returns empty RunTransactionOptions.
func RunTransaction() *RunTransactionOptions { return &RunTransactionOptions{} }

// SetReadConcern sets ReadConcern.
func (o *RunTransactionOptions) SetReadConcern(rc *ReadConcern) *RunTransactionOptions {
	o.ReadConcern = rc
	return o
}

// SetWriteConcern sets WriteConcern.
func (o *RunTransactionOptions) SetWriteConcern(wc *WriteConcern) *RunTransactionOptions {
	o.WriteConcern = wc
	return o
}

// SetReadPreference sets ReadPreference.
func (o *RunTransactionOptions) SetReadPreference(rp *ReadPreference) *RunTransactionOptions {
	o.ReadPreference = rp
	return o
}

// SetMaxCommitTime sets MaxCommitTime.
func (o *RunTransactionOptions) SetMaxCommitTime(d time.Duration) *RunTransactionOptions {
	o.MaxCommitTime = &d
	return o
}

// SetTimeout sets Timeout.
func (o *RunTransactionOptions) SetTimeout(d time.Duration) *RunTransactionOptions {
	o.Timeout = &d
	return o
}
