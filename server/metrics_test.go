package server

import (
	"fmt"
	"testing"

	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/txn"
)

func TestMetrics(t *testing.T) {
	m := NewMetrics()
	m.SetActiveSessions(func() int { return 7 })
	m.SessionStarted()
	m.SessionStarted()
	m.SessionExpired()
	m.CommitAttempt()
	m.TransactionFinished(txn.Committed)
	m.TransactionFinished(txn.Unknown)
	m.TransactionFinished(txn.InProgress) // not an outcome

	fams := promtest.Serve(t, m)
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mongogate_sessions_active", nil, 7},
		{"mongogate_sessions_started_total", nil, 2},
		{"mongogate_sessions_expired_total", nil, 1},
		{"mongogate_commit_attempts_total", nil, 1},
		{"mongogate_transactions_total", []string{"outcome", "committed"}, 1},
		{"mongogate_transactions_total", []string{"outcome", "aborted"}, 0},
		{"mongogate_transactions_total", []string{"outcome", "unknown"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name+fmt.Sprint(tt.labels), func(t *testing.T) {
			got, ok := fams.Value(tt.name, tt.labels...)
			if !ok || got != tt.want {
				t.Errorf("= %v (found %v), want %v", got, ok, tt.want)
			}
		})
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("%s not exposed", name)
		}
	}

	var nilMetrics *Metrics
	nilMetrics.SessionStarted()
	nilMetrics.SessionExpired()
	nilMetrics.CommitAttempt()
	nilMetrics.TransactionFinished(txn.Aborted)
	nilMetrics.SetActiveSessions(func() int { return 1 })
	nilMetrics.InitializeRPCs(nil)
}
