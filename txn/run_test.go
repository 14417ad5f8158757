package txn

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/internal/drivererr"
	"github.com/mongogate/mongogate/sessions"
)

func TestRun(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		failPoint bson.D // mode {times:1} unless failMode is set
		failMode  any
		timeout   time.Duration
		fnErr     error // returned by fn after its insert

		wantAttempts int // 0: at least 1
		wantErr      error
		wantLabel    string
		wantState    Status
		wantCount    int64
	}{
		{
			name:         "commits",
			wantAttempts: 1, wantState: Committed, wantCount: 1,
		},
		{
			name: "WriteConflict reruns",
			failPoint: bson.D{
				{Key: "failCommands", Value: bson.A{"insert"}},
				{Key: "errorCode", Value: int32(112)},
			},
			wantAttempts: 2, wantState: Committed, wantCount: 1,
		},
		{
			name: "unknown commit result recommits",
			failPoint: bson.D{
				{Key: "failCommands", Value: bson.A{"commitTransaction"}},
				{Key: "closeConnection", Value: true},
			},
			failMode:     bson.D{{Key: "times", Value: 2}},
			wantAttempts: 1, wantState: Committed, wantCount: 1,
		},
		{
			name: "transient commit error reruns",
			failPoint: bson.D{
				{Key: "failCommands", Value: bson.A{"commitTransaction"}},
				{Key: "errorCode", Value: int32(251)},
			},
			wantAttempts: 2, wantState: Committed, wantCount: 1,
		},
		{
			name:         "fn error aborts",
			fnErr:        errBoom,
			wantAttempts: 1, wantErr: errBoom, wantState: Aborted, wantCount: 0,
		},
		{
			name: "gives up at the timeout",
			failPoint: bson.D{
				{Key: "failCommands", Value: bson.A{"insert"}},
				{Key: "errorCode", Value: int32(112)},
			},
			failMode:  "alwaysOn",
			timeout:   200 * time.Millisecond,
			wantLabel: drivererr.LabelTransientTransaction, wantState: Aborted, wantCount: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFixture(t)
			m := mustManager(t, fastConfig())
			e := f.mustEntry(t, sessions.Options{})
			if tt.failPoint != nil {
				mode := tt.failMode
				if mode == nil {
					mode = bson.D{{Key: "times", Value: 1}}
				}
				f.failPoint(t, mode, tt.failPoint)
			}
			calls := 0
			attempts, err := m.RunWithin(context.Background(), e, Options{}, tt.timeout, func(ctx context.Context) error {
				calls++
				if mongo.SessionFromContext(ctx) != e.Session {
					t.Errorf("fn's context does not carry the session")
				}
				if _, err := f.coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}}); err != nil {
					return err
				}
				return tt.fnErr
			})
			switch {
			case tt.wantErr == nil && tt.wantLabel == "" && err != nil:
				t.Fatalf("Run: %v", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("Run: err = %v, want %v", err, tt.wantErr)
			case tt.wantLabel != "" && !drivererr.HasLabel(err, tt.wantLabel):
				t.Fatalf("Run: err = %v, want label %s", err, tt.wantLabel)
			}
			if attempts != calls || attempts < 1 || (tt.wantAttempts != 0 && attempts != tt.wantAttempts) {
				t.Errorf("attempts = %d (fn ran %d times), want %d", attempts, calls, tt.wantAttempts)
			}
			// One transaction per attempt, and GetSession sees the last.
			wantOutcome(t, e, int64(attempts), tt.wantState, 0)
			wantCount(t, f, "x", tt.wantCount)
		})
	}
}

func TestRunWithoutSession(t *testing.T) {
	f := mustFixture(t)
	m := mustManager(t, Config{})
	attempts, err := m.RunOwn(context.Background(), f.client, "", "", Options{}, 0, func(ctx context.Context) error {
		if mongo.SessionFromContext(ctx) == nil {
			t.Errorf("fn's context carries no session")
		}
		_, err := f.coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}})
		return err
	})
	if err != nil || attempts != 1 {
		t.Fatalf("Run = %d, %v; want 1 attempt, success", attempts, err)
	}
	wantCount(t, f, "x", 1)
	if _, err := m.RunOwn(context.Background(), nil, "", "", Options{}, 0, func(context.Context) error { return nil }); err == nil {
		t.Errorf("Run without session or client succeeded")
	}
}

func TestRunRefusesOpenTransaction(t *testing.T) {
	f := mustFixture(t)
	m := mustManager(t, Config{})
	ctx := context.Background()
	e := f.mustEntry(t, sessions.Options{})
	if _, _, err := m.Start(ctx, e, Options{}, false, true); err != nil {
		t.Fatalf("Start: %v", err)
	}
	ran := false
	_, err := m.RunWithin(ctx, e, Options{}, 0, func(context.Context) error { ran = true; return nil })
	if !errors.Is(err, ErrInProgress) || ran {
		t.Fatalf("Run in an open transaction: err = %v, fn ran %v; want ErrInProgress, not run", err, ran)
	}
	wantOutcome(t, e, 1, InProgress, 1)
	if _, err := m.Commit(ctx, e, 0); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	// After the session's own transaction, Run numbers on from it.
	if _, err := m.RunWithin(ctx, e, Options{}, 0, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantOutcome(t, e, 2, Committed, 0)
}
