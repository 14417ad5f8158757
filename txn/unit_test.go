package txn

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/mongogate/mongogate/internal/drivererr"
)

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero", Config{}, false},
		{"negative limit", Config{CommitRetryLimit: -time.Second}, true},
		{"negative run timeout", Config{RunTimeout: -time.Second}, true},
		{"max below initial", Config{InitialBackoff: time.Second, MaxBackoff: time.Millisecond}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New: err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			c := m.cfg
			if c.CommitRetryLimit != 30*time.Second || c.InitialBackoff != 10*time.Millisecond ||
				c.MaxBackoff != time.Second || c.RunTimeout != 120*time.Second || c.AbortTimeout != 10*time.Second {
				t.Errorf("defaults not applied: %+v", c)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	defaults := Options{
		ReadConcern:   readconcern.Majority(),
		WriteConcern:  writeconcern.Majority(),
		MaxCommitTime: time.Second,
	}
	explicit := Options{ReadConcern: readconcern.Local(), ReadPreference: readpref.Primary()}
	got := merge(explicit, defaults)
	if got.ReadConcern.Level != "local" || got.WriteConcern.W != "majority" || got.ReadPreference.Mode() != readpref.PrimaryMode || got.MaxCommitTime != time.Second {
		t.Errorf("merge = %+v", got)
	}
	if z := merge(Options{}, Options{}); z != (Options{}) {
		t.Errorf("merge of zero options = %+v, want zero (driver defaults)", z)
	}
}

func TestMismatch(t *testing.T) {
	open := Options{ReadConcern: readconcern.Majority(), WriteConcern: writeconcern.W1(), MaxCommitTime: time.Second}
	yes, no := true, false
	tests := []struct {
		name      string
		joining   Options
		recording bool // the open transaction writes an outcome record
		want      string
	}{
		{"zero", Options{}, false, ""},
		{"equal", open, false, ""},
		{"equal subset", Options{ReadConcern: readconcern.Majority()}, false, ""},
		{"read concern", Options{ReadConcern: readconcern.Local()}, false, "read concern"},
		{"write concern", Options{WriteConcern: writeconcern.Majority()}, false, "write concern"},
		{"read preference unset in open", Options{ReadPreference: readpref.Primary()}, false, "read preference"},
		{"max commit time", Options{MaxCommitTime: time.Minute}, false, "max commit time"},
		// Whether the open transaction records is what it does, whoever
		// chose it: its options leave a backend default out.
		{"record outcome true, recording by default", Options{RecordOutcome: &yes}, true, ""},
		{"record outcome false, recording by default", Options{RecordOutcome: &no}, true, "record outcome"},
		{"record outcome true, not recording", Options{RecordOutcome: &yes}, false, "record outcome"},
		{"record outcome false, not recording", Options{RecordOutcome: &no}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mismatch(tt.joining, open, tt.recording); got != tt.want {
				t.Errorf("mismatch = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClassifyCommit(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want commitClass
	}{
		{"nil", nil, commitDone},
		{"network", mongo.CommandError{Labels: []string{"NetworkError", drivererr.LabelUnknownCommitResult}}, commitRetry},
		{"write concern timeout", mongo.CommandError{Code: 64, Labels: []string{drivererr.LabelUnknownCommitResult}}, commitRetry},
		{"max time expired", mongo.CommandError{Code: 50, Labels: []string{drivererr.LabelUnknownCommitResult}}, commitUnknown},
		{"transient", mongo.CommandError{Code: 251, Labels: []string{drivererr.LabelTransientTransaction}}, commitAborted},
		{"no such transaction unlabelled", mongo.CommandError{Code: 251}, commitAborted},
		{"unsatisfiable write concern", mongo.CommandError{Code: 100}, commitUnknown},
		{"client side", errors.New("cannot call commitTransaction after calling abortTransaction"), commitUnknown},
		{"deadline", context.DeadlineExceeded, commitUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyCommit(tt.err); got != tt.want {
				t.Errorf("classifyCommit(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestSentinelKinds(t *testing.T) {
	tests := []struct {
		err, kind error
	}{
		{ErrCommitPending, ErrInProgress},
		{ErrAbortAfterCommit, ErrNoTransaction},
		{ErrSnapshotSession, ErrNotSupported},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.kind) {
			t.Errorf("%v does not wrap %v", tt.err, tt.kind)
		}
	}
}
