package txn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/mongogate/mongogate/emulator"
	"github.com/mongogate/mongogate/internal/drivererr"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
	"github.com/mongogate/mongogate/sessions"
)

// op is one step of a state machine case.
type op struct {
	do          string // start, join, commit, abort, insert
	number      int64  // for commit and abort; 0 = current
	opts        Options
	unsupported bool

	wantErr    error
	wantNumber int64
	wantDepth  int
	wantDone   bool // Committed for commit, Aborted for abort
	wantState  Status
}

func TestStateMachine(t *testing.T) {
	const (
		none       = None
		inProgress = InProgress
		committed  = Committed
		aborted    = Aborted
	)
	majority := Options{ReadConcern: readconcern.Majority()}
	tests := []struct {
		name string
		ops  []op
	}{
		{"commit", []op{
			{do: "start", wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "insert", wantState: inProgress},
			{do: "commit", wantNumber: 1, wantDone: true, wantState: committed},
		}},
		{"commit of an empty transaction", []op{
			{do: "start", wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "commit", wantNumber: 1, wantDone: true, wantState: committed},
		}},
		{"commit again after success", []op{
			{do: "start", wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "insert", wantState: inProgress},
			{do: "commit", number: 1, wantNumber: 1, wantDone: true, wantState: committed},
			{do: "commit", number: 1, wantNumber: 1, wantDone: true, wantState: committed},
			{do: "commit", wantNumber: 1, wantDone: true, wantState: committed},
		}},
		{"commit again after the driver session moved on", []op{
			{do: "start", wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "insert", wantState: inProgress},
			{do: "commit", wantNumber: 1, wantDone: true, wantState: committed},
			{do: "insert", wantState: committed}, // outside a transaction
			{do: "commit", number: 1, wantNumber: 1, wantDone: true, wantState: committed},
			{do: "abort", number: 1, wantErr: ErrNoTransaction, wantNumber: 1, wantState: committed},
		}},
		{"start while open", []op{
			{do: "start", wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "start", wantErr: ErrInProgress, wantState: inProgress},
			{do: "commit", wantNumber: 1, wantDone: true, wantState: committed},
		}},
		{"no transaction", []op{
			{do: "commit", wantErr: ErrNoTransaction, wantState: none},
			{do: "abort", wantErr: ErrNoTransaction, wantState: none},
			{do: "commit", number: 1, wantErr: ErrNoTransaction, wantState: none},
		}},
		{"wrong number", []op{
			{do: "start", wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "commit", number: 2, wantErr: ErrNoTransaction, wantState: inProgress},
			{do: "abort", number: 2, wantErr: ErrNoTransaction, wantState: inProgress},
			{do: "commit", number: 1, wantNumber: 1, wantDone: true, wantState: committed},
			{do: "start", wantNumber: 2, wantDepth: 1, wantState: inProgress},
			{do: "commit", number: 1, wantErr: ErrNoTransaction, wantState: inProgress},
		}},
		{"abort is idempotent", []op{
			{do: "start", wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "insert", wantState: inProgress},
			{do: "abort", number: 1, wantNumber: 1, wantDone: true, wantState: aborted},
			{do: "abort", number: 1, wantNumber: 1, wantState: aborted},
			{do: "abort", wantNumber: 1, wantState: aborted},
			{do: "commit", number: 1, wantErr: ErrAborted, wantNumber: 1, wantState: aborted},
		}},
		{"abort after commit", []op{
			{do: "start", wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "insert", wantState: inProgress},
			{do: "commit", wantNumber: 1, wantDone: true, wantState: committed},
			{do: "abort", wantErr: ErrAbortAfterCommit, wantNumber: 1, wantState: committed},
		}},
		{"numbers increase", []op{
			{do: "start", wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "commit", wantNumber: 1, wantDone: true, wantState: committed},
			{do: "start", wantNumber: 2, wantDepth: 1, wantState: inProgress},
			{do: "abort", wantNumber: 2, wantDone: true, wantState: aborted},
			{do: "start", wantNumber: 3, wantDepth: 1, wantState: inProgress},
		}},
		{"join nests", []op{
			{do: "start", wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "join", wantNumber: 1, wantDepth: 2, wantState: inProgress},
			{do: "join", wantNumber: 1, wantDepth: 3, wantState: inProgress},
			{do: "insert", wantState: inProgress},
			{do: "commit", number: 1, wantNumber: 1, wantDepth: 2, wantState: inProgress},
			{do: "commit", number: 1, wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "commit", number: 1, wantNumber: 1, wantDone: true, wantState: committed},
		}},
		{"inner abort aborts all", []op{
			{do: "start", wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "insert", wantState: inProgress},
			{do: "join", wantNumber: 1, wantDepth: 2, wantState: inProgress},
			{do: "abort", number: 1, wantNumber: 1, wantDone: true, wantState: aborted},
			{do: "commit", number: 1, wantErr: ErrAborted, wantNumber: 1, wantState: aborted},
			{do: "abort", number: 1, wantNumber: 1, wantState: aborted},
		}},
		{"join without an open transaction starts one", []op{
			{do: "join", wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "commit", wantNumber: 1, wantDone: true, wantState: committed},
			{do: "join", wantNumber: 2, wantDepth: 1, wantState: inProgress},
		}},
		{"join options", []op{
			{do: "start", opts: majority, wantNumber: 1, wantDepth: 1, wantState: inProgress},
			{do: "join", opts: majority, wantNumber: 1, wantDepth: 2, wantState: inProgress},
			{do: "join", wantNumber: 1, wantDepth: 3, wantState: inProgress},
			{do: "join", opts: Options{ReadConcern: readconcern.Local()}, wantErr: ErrOptionsMismatch, wantState: inProgress},
			{do: "join", opts: Options{WriteConcern: writeconcern.W1()}, wantErr: ErrOptionsMismatch, wantState: inProgress},
		}},
		{"unsupported deployment", []op{
			{do: "start", unsupported: true, wantErr: ErrNotSupported, wantState: none},
		}},
		{"unacknowledged write concern", []op{
			{do: "start", opts: Options{WriteConcern: writeconcern.Unacknowledged()}, wantErr: ErrUnacknowledged, wantState: none},
		}},
	}
	f := mustFixture(t)
	m := mustManager(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := f.mustEntry(t, sessions.Options{})
			ctx := context.Background()
			for i, o := range tt.ops {
				var (
					number int64
					depth  int
					done   bool
					err    error
				)
				switch o.do {
				case "start", "join":
					number, depth, err = m.Start(ctx, e, o.opts, o.do == "join", !o.unsupported)
				case "commit":
					var r CommitResult
					r, err = m.Commit(ctx, e, o.number)
					number, depth, done = r.Number, r.Depth, r.Committed
				case "abort":
					var r AbortResult
					r, err = m.Abort(ctx, e, o.number)
					number, done = r.Number, r.Aborted
				case "insert":
					err = f.insert(ctx, e, fmt.Sprintf("%s-%d", t.Name(), i))
				}
				where := fmt.Sprintf("step %d (%s %d)", i, o.do, o.number)
				if o.wantErr == nil && err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				if o.wantErr != nil && !errors.Is(err, o.wantErr) {
					t.Fatalf("%s: err = %v, want %v", where, err, o.wantErr)
				}
				if o.do != "insert" && (number != o.wantNumber || depth != o.wantDepth || done != o.wantDone) {
					t.Errorf("%s: got number %d depth %d done %v, want %d %d %v", where, number, depth, done, o.wantNumber, o.wantDepth, o.wantDone)
				}
				if peek(e).status != o.wantState {
					t.Errorf("%s: state %v, want %v", where, peek(e).status, o.wantState)
				}
			}
		})
	}
}

func TestStartOptions(t *testing.T) {
	f := mustFixture(t)
	m := mustManager(t, Config{})
	// Started comes from the entry's clock, the registry's.
	reg, err := sessions.New(sessions.Config{InstanceID: "test", Now: func() time.Time { return time.Unix(1700000000, 0) }, AbortTxn: m.AbortFor})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	tests := []struct {
		name      string
		defaults  Options
		explicit  Options
		wantLevel string
		wantMCT   time.Duration
	}{
		{"backend defaults", Options{}, Options{}, "", 0},
		{"session defaults", Options{ReadConcern: readconcern.Majority(), MaxCommitTime: time.Second}, Options{}, "majority", time.Second},
		{"explicit wins", Options{ReadConcern: readconcern.Majority()}, Options{ReadConcern: readconcern.Local()}, "local", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := f.mustRegistered(t, reg, tt.defaults)
			if _, _, err := m.Start(context.Background(), e, tt.explicit, false, true); err != nil {
				t.Fatalf("Start: %v", err)
			}
			f.mustInsert(t, e, t.Name())
			var level string
			if rc := peek(e).options.ReadConcern; rc != nil {
				level = rc.Level
			}
			if level != tt.wantLevel || peek(e).options.MaxCommitTime != tt.wantMCT {
				t.Errorf("effective options %+v, want level %q max commit %v", peek(e).options, tt.wantLevel, tt.wantMCT)
			}
			if !peek(e).started.Equal(time.Unix(1700000000, 0)) {
				t.Errorf("Started = %v", peek(e).started)
			}
			if _, err := m.Commit(context.Background(), e, 0); err != nil {
				t.Fatalf("Commit: %v", err)
			}
		})
	}
}

func TestSnapshotSessionRefused(t *testing.T) {
	f := mustFixture(t)
	m := mustManager(t, Config{})
	e := f.mustEntry(t, sessions.Options{Snapshot: true})
	_, _, err := m.Start(context.Background(), e, Options{}, false, true)
	if !errors.Is(err, ErrSnapshotSession) || !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Start on snapshot session: err = %v, want ErrSnapshotSession", err)
	}
	wantOutcome(t, e, 0, None, 0)
}

// TestVisibility checks what other readers see: nothing before the
// outermost commit, everything after it, nothing after an abort.
func TestVisibility(t *testing.T) {
	tests := []struct {
		name       string
		join       bool
		abortInner bool
		wantAfter  int64
	}{
		{"commit", false, false, 1},
		{"nested commit", true, false, 1},
		{"abort at inner level", true, true, 0},
	}
	f := mustFixture(t)
	m := mustManager(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := f.mustEntry(t, sessions.Options{})
			id := t.Name()
			if _, _, err := m.Start(ctx, e, Options{}, false, true); err != nil {
				t.Fatalf("Start: %v", err)
			}
			f.mustInsert(t, e, id)
			if tt.join {
				if _, _, err := m.Start(ctx, e, Options{}, true, true); err != nil {
					t.Fatalf("join: %v", err)
				}
				f.mustInsert(t, e, id+"-inner")
				if tt.abortInner {
					if _, err := m.Abort(ctx, e, 0); err != nil {
						t.Fatalf("inner Abort: %v", err)
					}
				} else {
					r, err := m.Commit(ctx, e, 0)
					if err != nil || r.Committed {
						t.Fatalf("inner Commit = %+v, %v; want not committed yet", r, err)
					}
				}
			}
			wantCount(t, f, id, 0)
			_, err := m.Commit(ctx, e, 0)
			if tt.abortInner {
				if !errors.Is(err, ErrAborted) {
					t.Fatalf("outer Commit after inner abort: err = %v, want ErrAborted", err)
				}
			} else if err != nil {
				t.Fatalf("Commit: %v", err)
			}
			wantCount(t, f, id, tt.wantAfter)
			if tt.join {
				wantCount(t, f, id+"-inner", tt.wantAfter)
			}
		})
	}
}

// TestCommitRetriesUnknownResult: a commit whose outcome is unknown is sent
// again until it succeeds, except after MaxTimeMSExpired. Under a deadline
// the driver itself resends a commit that failed on the network as often as
// the deadline allows; a write concern error is resent by mongogate's loop.
func TestCommitRetriesUnknownResult(t *testing.T) {
	tests := []struct {
		name        string
		fail        bson.D
		wantErr     error
		wantCommits int64
	}{
		{"network error", bson.D{{Key: "closeConnection", Value: true}}, nil, 3},
		{"write concern timeout", bson.D{{Key: "writeConcernError", Value: bson.D{
			{Key: "code", Value: int32(64)}, {Key: "codeName", Value: "WriteConcernFailed"},
			{Key: "errmsg", Value: "waiting for replication timed out"},
			{Key: "errInfo", Value: bson.D{{Key: "wtimeout", Value: true}}},
		}}}, nil, 3},
		{"MaxTimeMSExpired", bson.D{{Key: "errorCode", Value: int32(50)}}, ErrUnknownCommitResult, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFixture(t)
			m := mustManager(t, Config{InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
			ctx := context.Background()
			e := f.mustEntry(t, sessions.Options{})
			if _, _, err := m.Start(ctx, e, Options{}, false, true); err != nil {
				t.Fatalf("Start: %v", err)
			}
			f.mustInsert(t, e, "x")
			// Two failures: the driver's own single retry is not enough.
			f.failPoint(t, bson.D{{Key: "times", Value: 2}}, append(bson.D{
				{Key: "failCommands", Value: bson.A{"commitTransaction"}},
			}, tt.fail...))
			r, err := m.Commit(ctx, e, 1)
			if tt.wantErr == nil && (err != nil || !r.Committed) {
				t.Fatalf("Commit = %+v, %v; want committed", r, err)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Commit: err = %v, want %v", err, tt.wantErr)
				}
				wantOutcome(t, e, 1, Unknown, 0)
			}
			if got := f.commits.Load(); got != tt.wantCommits {
				t.Errorf("commitTransaction sent %d times, want %d", got, tt.wantCommits)
			}
			f.failPointOff(t)
			if r, err := m.Commit(ctx, e, 1); err != nil || !r.Committed {
				t.Fatalf("Commit again = %+v, %v; want committed", r, err)
			}
			wantOutcome(t, e, 1, Committed, 0)
			wantCount(t, f, "x", 1)
		})
	}
}

// TestCommitUnknownThenResolved walks a commit whose outcome stays unknown
// (the limit runs out while every commit fails), what the session allows
// meanwhile, and the commit that resolves it.
func TestCommitUnknownThenResolved(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		cfg  Config
		ctx  func(context.Context) (context.Context, context.CancelFunc)
	}{
		{"CommitRetryLimit", Options{}, fastConfig(), nil},
		{"MaxCommitTime", Options{MaxCommitTime: 300 * time.Millisecond}, Config{InitialBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, nil},
		{"ctx deadline", Options{}, Config{InitialBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
			func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 300*time.Millisecond)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFixture(t)
			m := mustManager(t, tt.cfg)
			ctx := context.Background()
			e := f.mustEntry(t, sessions.Options{})
			if _, _, err := m.Start(ctx, e, tt.opts, false, true); err != nil {
				t.Fatalf("Start: %v", err)
			}
			f.mustInsert(t, e, "x")
			f.failPoint(t, "alwaysOn", bson.D{
				{Key: "failCommands", Value: bson.A{"commitTransaction"}},
				{Key: "closeConnection", Value: true},
			})
			cctx, cancel := ctx, context.CancelFunc(func() {})
			if tt.ctx != nil {
				cctx, cancel = tt.ctx(ctx)
			}
			r, err := m.Commit(cctx, e, 1)
			cancel()
			if !errors.Is(err, ErrUnknownCommitResult) || r.Committed {
				t.Fatalf("Commit = %+v, %v; want ErrUnknownCommitResult", r, err)
			}
			if !drivererr.HasLabel(err, drivererr.LabelUnknownCommitResult) {
				t.Errorf("Commit error %v does not carry MongoDB's last error", err)
			}
			wantOutcome(t, e, 1, Unknown, 0)

			// Meanwhile nothing may move the session past the transaction.
			if _, _, err := m.Start(ctx, e, Options{}, false, true); !errors.Is(err, ErrCommitPending) {
				t.Errorf("Start: err = %v, want ErrCommitPending", err)
			}
			if _, _, err := m.Start(ctx, e, Options{}, true, true); !errors.Is(err, ErrCommitPending) {
				t.Errorf("join: err = %v, want ErrCommitPending", err)
			}
			if _, err := m.RunWithin(ctx, e, Options{}, 0, func(context.Context) error { return nil }); !errors.Is(err, ErrCommitPending) {
				t.Errorf("Run: err = %v, want ErrCommitPending", err)
			}
			if err := CheckOperation(e); !errors.Is(err, ErrCommitPending) {
				t.Errorf("CheckOperation: err = %v, want ErrCommitPending", err)
			}
			if _, err := m.Abort(ctx, e, 1); !errors.Is(err, ErrAbortAfterCommit) {
				t.Errorf("Abort: err = %v, want ErrAbortAfterCommit", err)
			}
			for _, c := range []sessions.Cause{sessions.CauseEnded, sessions.CauseExpired, sessions.CauseClosed, sessions.CauseLifetime} {
				if m.AbortFor(ctx, e, c) {
					t.Errorf("AbortFor(%v) aborted a transaction whose commit is pending", c)
				}
			}
			wantOutcome(t, e, 1, Unknown, 0)

			f.failPointOff(t)
			for i := range 2 {
				r, err = m.Commit(ctx, e, 1)
				if err != nil || !r.Committed || r.Number != 1 {
					t.Fatalf("Commit %d after the fail point: %+v, %v; want committed", i, r, err)
				}
			}
			wantOutcome(t, e, 1, Committed, 0)
			wantCount(t, f, "x", 1)
			if err := CheckOperation(e); err != nil {
				t.Errorf("CheckOperation after commit: %v", err)
			}
		})
	}
}

func TestCommitCanceledBeforeSending(t *testing.T) {
	f := mustFixture(t)
	m := mustManager(t, Config{})
	e := f.mustEntry(t, sessions.Options{})
	if _, _, err := m.Start(context.Background(), e, Options{}, false, true); err != nil {
		t.Fatalf("Start: %v", err)
	}
	f.mustInsert(t, e, "x")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Commit(ctx, e, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with canceled ctx: err = %v, want context.Canceled", err)
	}
	wantOutcome(t, e, 1, InProgress, 1)
	if _, err := m.Commit(context.Background(), e, 0); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	wantCount(t, f, "x", 1)
}

// TestCommitDefiniteAbort: errors that prove the transaction aborted end
// in TxnAborted with ErrAborted, and nothing is written.
func TestCommitDefiniteAbort(t *testing.T) {
	tests := []struct {
		name        string
		failCommand string
		errorCode   int32
	}{
		{"NoSuchTransaction on commit", "commitTransaction", 251},
		// A statement that fails for real (not through failCommand, whose
		// errors leave the transaction open) aborts the transaction.
		{"a failed statement", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFixture(t)
			m := mustManager(t, fastConfig())
			ctx := context.Background()
			e := f.mustEntry(t, sessions.Options{})
			if _, _, err := m.Start(ctx, e, Options{}, false, true); err != nil {
				t.Fatalf("Start: %v", err)
			}
			f.mustInsert(t, e, "x")
			if tt.failCommand != "" {
				f.failPoint(t, bson.D{{Key: "times", Value: 1}}, bson.D{
					{Key: "failCommands", Value: bson.A{tt.failCommand}},
					{Key: "errorCode", Value: tt.errorCode},
				})
			} else if err := f.insert(ctx, e, "x"); !mongo.IsDuplicateKeyError(err) {
				t.Fatalf("second insert of x: err = %v, want a duplicate key error", err)
			}
			_, err := m.Commit(ctx, e, 1)
			var se mongo.ServerError
			if !errors.Is(err, ErrAborted) || !errors.As(err, &se) || !se.HasErrorCode(251) {
				t.Fatalf("Commit: err = %v, want ErrAborted wrapping NoSuchTransaction", err)
			}
			wantOutcome(t, e, 1, Aborted, 0)
			if r, err := m.Abort(ctx, e, 1); err != nil || r.Aborted {
				t.Errorf("Abort after aborted commit = %+v, %v; want success, not aborted again", r, err)
			}
			wantCount(t, f, "x", 0)
			wantCount(t, f, "y", 0)
		})
	}
}

func TestAbortFor(t *testing.T) {
	f := mustFixture(t)
	var outcomes []Status
	m := mustManager(t, Config{OnOutcome: func(s Status) { outcomes = append(outcomes, s) }})
	ctx := context.Background()
	e := f.mustEntry(t, sessions.Options{})
	if m.AbortFor(ctx, e, sessions.CauseEnded) {
		t.Errorf("AbortFor without a transaction reported an abort")
	}
	if _, _, err := m.Start(ctx, e, Options{}, false, true); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, _, err := m.Start(ctx, e, Options{}, true, true); err != nil {
		t.Fatalf("join: %v", err)
	}
	f.mustInsert(t, e, "x")
	// A done ctx must not keep the abort from reaching MongoDB (shutdown
	// paths run on expiring contexts).
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if !m.AbortFor(cctx, e, sessions.CauseClosed) {
		t.Fatalf("AbortFor did not abort the open transaction")
	}
	wantOutcome(t, e, 1, Aborted, 0)
	if peek(e).dangling != 0 {
		t.Errorf("Dangling = %d after a shutdown abort, want 0", peek(e).dangling)
	}
	if m.AbortFor(ctx, e, sessions.CauseClosed) {
		t.Errorf("second AbortFor reported an abort")
	}
	if !slices.Equal(outcomes, []Status{Aborted}) {
		t.Errorf("OnOutcome saw %v, want one abort", outcomes)
	}
	wantCount(t, f, "x", 0)
	// The aborted transaction released its write: another writer can
	// insert the same _id at once.
	ictx, icancel := context.WithTimeout(ctx, 5*time.Second)
	defer icancel()
	if _, err := f.coll.InsertOne(ictx, bson.D{{Key: "_id", Value: "x"}}); err != nil {
		t.Fatalf("insert after abort: %v", err)
	}
}

// TestCommitAfterWriteConflict: a transaction that lost a write conflict
// to another is aborted by MongoDB; its commit says so, the winner's
// commits.
func TestCommitAfterWriteConflict(t *testing.T) {
	f := mustFixture(t)
	m := mustManager(t, Config{})
	ctx := context.Background()
	winner, loser := f.mustEntry(t, sessions.Options{}), f.mustEntry(t, sessions.Options{})
	for _, e := range []*sessions.Entry{winner, loser} {
		if _, _, err := m.Start(ctx, e, Options{}, false, true); err != nil {
			t.Fatalf("Start: %v", err)
		}
		f.mustInsert(t, e, "own-"+fmt.Sprint(e == winner))
	}
	f.mustInsert(t, winner, "x")
	err := f.insert(ctx, loser, "x")
	var se mongo.ServerError
	if !errors.As(err, &se) || !se.HasErrorCode(112) || !drivererr.HasLabel(err, drivererr.LabelTransientTransaction) {
		t.Fatalf("conflicting insert: err = %v, want WriteConflict (112) labelled TransientTransactionError", err)
	}
	if _, err := m.Commit(ctx, loser, 0); !errors.Is(err, ErrAborted) {
		t.Fatalf("loser's Commit: err = %v, want ErrAborted", err)
	}
	if _, err := m.Commit(ctx, winner, 0); err != nil {
		t.Fatalf("winner's Commit: %v", err)
	}
	wantCount(t, f, "x", 1)
	wantCount(t, f, "own-true", 1)
	wantCount(t, f, "own-false", 0)
}

// TestCommitAfterLifetimeLimit: MongoDB aborts a transaction open longer
// than transactionLifetimeLimitSeconds; the commit reports it aborted.
// Emulator only: a real deployment's limit is a server parameter.
func TestCommitAfterLifetimeLimit(t *testing.T) {
	if testbackend.External() {
		t.Skip("needs an emulator with a short transaction lifetime")
	}
	srv := testbackend.Start(t, emulator.Config{TransactionLifetimeLimit: 100 * time.Millisecond})
	f := mustFixtureAt(t, srv.URI())
	m := mustManager(t, Config{})
	ctx := context.Background()
	e := f.mustEntry(t, sessions.Options{})
	if _, _, err := m.Start(ctx, e, Options{}, false, true); err != nil {
		t.Fatalf("Start: %v", err)
	}
	f.mustInsert(t, e, "x")
	// The reaper runs once a second for short limits.
	testkit.WaitFor(t, 10*time.Second, "the lifetime reaper's abort", func() error {
		var st struct {
			Transactions struct {
				CurrentOpen int64 `bson:"currentOpen"`
			} `bson:"transactions"`
		}
		if err := f.client.Database("admin").RunCommand(ctx, bson.D{{Key: "serverStatus", Value: 1}}).Decode(&st); err != nil {
			return err
		}
		if n := st.Transactions.CurrentOpen; n != 0 {
			return fmt.Errorf("%d transactions open", n)
		}
		return nil
	})
	if _, err := m.Commit(ctx, e, 0); !errors.Is(err, ErrAborted) {
		t.Fatalf("Commit after the lifetime limit: err = %v, want ErrAborted", err)
	}
	wantOutcome(t, e, 1, Aborted, 0)
	wantCount(t, f, "x", 0)
}

// After an abort at an inner level, the outer levels are still open in the
// client's code: the session refuses document operations (so they cannot
// run outside the transaction they were written for) until each level is
// closed, by Commit (aborted) or Abort.
func TestDanglingLevelsAfterInnerAbort(t *testing.T) {
	f := mustFixture(t)
	m := mustManager(t, Config{})
	ctx := context.Background()
	e := f.mustEntry(t, sessions.Options{})
	for range 3 {
		if _, _, err := m.Start(ctx, e, Options{}, true, true); err != nil {
			t.Fatalf("Start: %v", err)
		}
	}
	f.mustInsert(t, e, "in-txn")
	if r, err := m.Abort(ctx, e, 0); err != nil || !r.Aborted {
		t.Fatalf("inner Abort = %+v, %v", r, err)
	}
	if err := CheckOperation(e); !errors.Is(err, ErrDangling) || !errors.Is(err, ErrAborted) {
		t.Fatalf("CheckOperation with two outer levels open: %v, want ErrDangling (an ErrAborted)", err)
	}
	if _, _, err := m.Start(ctx, e, Options{}, false, true); !errors.Is(err, ErrDangling) {
		t.Fatalf("Start with outer levels open: %v, want ErrDangling", err)
	}
	if _, err := m.Commit(ctx, e, 0); !errors.Is(err, ErrAborted) {
		t.Fatalf("middle Commit: %v, want ErrAborted", err)
	}
	if err := CheckOperation(e); !errors.Is(err, ErrDangling) {
		t.Fatalf("CheckOperation with one outer level open: %v, want ErrDangling", err)
	}
	if r, err := m.Abort(ctx, e, 0); err != nil || r.Aborted {
		t.Fatalf("outer Abort = %+v, %v; want success, not aborted again", r, err)
	}
	if err := CheckOperation(e); err != nil {
		t.Fatalf("CheckOperation after every level closed: %v", err)
	}
	wantCount(t, f, "in-txn", 0)
	if _, _, err := m.Start(ctx, e, Options{}, false, true); err != nil {
		t.Fatalf("Start after every level closed: %v", err)
	}
}

// TestJoinRecordOutcome joins transactions whose recording was chosen by
// the backend's default: a joiner asking for what the transaction does
// joins, one asking for the opposite is refused.
func TestJoinRecordOutcome(t *testing.T) {
	f := mustFixture(t)
	outcomes, err := NewOutcomes(OutcomesConfig{Backends: map[string]*mongo.Client{"": f.client}, Database: f.coll.Database().Name(), Collection: "outcomes"})
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	for _, byDefault := range []bool{true, false} {
		t.Run(fmt.Sprintf("backend default %v", byDefault), func(t *testing.T) {
			m := mustManager(t, Config{
				Outcomes:        outcomes,
				RecordByDefault: func(string) bool { return byDefault },
			})
			ctx := context.Background()
			e := f.mustEntry(t, sessions.Options{})
			if _, _, err := m.Start(ctx, e, Options{}, false, true); err != nil {
				t.Fatalf("Start: %v", err)
			}
			if got := peek(e).outcome != ""; got != byDefault {
				t.Fatalf("records its outcome: %v, want the backend default %v", got, byDefault)
			}
			same, opposite := &yes, &no
			if !byDefault {
				same, opposite = &no, &yes
			}
			if _, depth, err := m.Start(ctx, e, Options{RecordOutcome: same}, true, true); err != nil || depth != 2 {
				t.Fatalf("join with record_outcome %v: depth %d, %v; want depth 2", *same, depth, err)
			}
			if _, _, err := m.Start(ctx, e, Options{RecordOutcome: opposite}, true, true); !errors.Is(err, ErrOptionsMismatch) {
				t.Fatalf("join with record_outcome %v: %v, want ErrOptionsMismatch", *opposite, err)
			}
			if _, err := m.Abort(ctx, e, 0); err != nil {
				t.Fatalf("Abort: %v", err)
			}
		})
	}
}
