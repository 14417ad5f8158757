package server_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/sessions"
)

// An idle timeout above the server's maximum is refused, as session.proto
// says, rather than capped; the maximum itself is accepted.
func TestStartSessionIdleTimeoutAboveMax(t *testing.T) {
	g := mustGate(t)
	ctx := testCtx(t)
	max := sessions.DefaultMaxIdleTimeout

	_, err := g.sess.StartSession(ctx, &pb.StartSessionRequest{Options: &pb.SessionOptions{IdleTimeout: durationpb.New(max + time.Second)}})
	d := mustDetails(t, err)
	if d.code != codes.InvalidArgument || d.info.GetReason() != pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT.Wire() {
		t.Fatalf("got %v %s, want INVALID_ARGUMENT", d.code, d.info.GetReason())
	}
	v := d.badRequest.GetFieldViolations()
	if len(v) != 1 || v[0].GetField() != "options.idle_timeout" {
		t.Fatalf("field violations = %v, want options.idle_timeout", v)
	}
	if !strings.Contains(v[0].GetDescription(), max.String()) {
		t.Errorf("description %q does not name the maximum %v", v[0].GetDescription(), max)
	}

	resp, err := g.sess.StartSession(ctx, &pb.StartSessionRequest{Options: &pb.SessionOptions{IdleTimeout: durationpb.New(max)}})
	if err != nil {
		t.Fatalf("StartSession at the maximum: %v", err)
	}
	if got := resp.GetSession().GetIdleTimeout().AsDuration(); got != max {
		t.Errorf("idle timeout in force = %v, want %v", got, max)
	}
	if _, err := g.sess.EndSession(ctx, &pb.EndSessionRequest{SessionToken: resp.GetSession().GetToken()}); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
}
