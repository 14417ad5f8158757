package e2e

import (
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

// The server's /metrics parses with the Prometheus libraries and counts
// what happened: RPCs by method and code, and transactions by outcome,
// including the one EndSession aborted.
func TestMetricsScrape(t *testing.T) {
	t.Parallel()
	b := mustBackend(t)
	s := mustStartServer(t, b, "--metrics-listen", "127.0.0.1:0")
	if s.MetricsURL == "" {
		t.Fatal("the server did not print its metrics URL")
	}
	ns := namespace(testbackend.DBName(t), "items")
	ctx := testCtx(t)

	token := s.mustStartSession(ctx, t)
	number := s.mustStartTransaction(ctx, t, token)
	s.mustInsert(ctx, t, token, ns, `{"_id": 1}`)
	s.mustCommit(ctx, t, token, number)
	s.mustStartTransaction(ctx, t, token)
	if _, err := s.Sessions.EndSession(ctx, &pb.EndSessionRequest{SessionToken: token}); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	_, err := s.Sessions.GetSession(ctx, &pb.GetSessionRequest{SessionToken: token})
	testkit.WantReason(t, "GetSession after EndSession", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND)

	fams := promtest.Scrape(t, s.MetricsURL)
	for _, want := range []struct {
		name   string
		labels []string
		value  float64
	}{
		{"mongogate_transactions_total", []string{"outcome", "committed"}, 1},
		{"mongogate_transactions_total", []string{"outcome", "aborted"}, 1},
		{"mongogate_sessions_started_total", nil, 1},
		{"mongogate_sessions_active", nil, 0},
		{"mongogate_commit_attempts_total", nil, 1},
		{"grpc_server_handled_total", []string{"grpc_service", "mongogate.v1.TransactionService", "grpc_method", "StartTransaction", "grpc_code", "OK"}, 2},
		{"grpc_server_handled_total", []string{"grpc_service", "mongogate.v1.SessionService", "grpc_method", "GetSession", "grpc_code", "NotFound"}, 1},
		{"grpc_server_handling_seconds", []string{"grpc_method", "CommitTransaction"}, 1},
	} {
		got, ok := fams.Value(want.name, want.labels...)
		if !ok || got != want.value {
			t.Errorf("%s%v = %v (found %v), want %v", want.name, want.labels, got, ok, want.value)
		}
	}
	// Every method is exported before its first call.
	if _, ok := fams.Value("grpc_server_handled_total", "grpc_method", "BulkWrite"); !ok {
		t.Error("grpc_server_handled_total has no series for BulkWrite, which was never called")
	}
}
