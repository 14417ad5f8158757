package server

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mongogate/mongogate/internal/promtest"
)

// fakeStream sends and receives n messages, then fails.
type fakeStream struct {
	grpc.ServerStream
	recv, sent int
}

func (s *fakeStream) RecvMsg(any) error {
	if s.recv == 2 {
		return fmt.Errorf("no more")
	}
	s.recv++
	return nil
}

func (s *fakeStream) SendMsg(any) error {
	s.sent++
	return nil
}

// The grpc_server_* series count as go-grpc-middleware's provider
// counts: a unary call receives one message and sends one when it
// succeeds; a stream's messages are counted as they pass; context errors
// are their gRPC codes; every method starts with its series at zero.
func TestRPCMetrics(t *testing.T) {
	m := NewMetrics()
	unary := m.UnaryServerInterceptor()
	stream := m.StreamServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/mongogate.v1.SessionService/GetSession"}
	for _, err := range []error{nil, nil, status.Error(codes.NotFound, "x"), context.DeadlineExceeded, status.Error(codes.Code(99), "odd")} {
		if _, got := unary(context.Background(), nil, info, func(context.Context, any) (any, error) { return nil, err }); got != err {
			t.Fatalf("unary returned %v, want %v", got, err)
		}
	}
	sinfo := &grpc.StreamServerInfo{FullMethod: "/mongogate.v1.DocumentService/Find", IsServerStream: true}
	err := stream(nil, &fakeStream{}, sinfo, func(_ any, ss grpc.ServerStream) error {
		for ss.RecvMsg(nil) == nil {
		}
		for range 3 {
			_ = ss.SendMsg(nil)
		}
		return status.Error(codes.Internal, "x")
	})
	if status.Code(err) != codes.Internal {
		t.Fatalf("stream returned %v", err)
	}
	m.rpc.method("/mongogate.v1.DocumentService/Aggregate", rpcServerStream)

	fams := promtest.Serve(t, m)
	get := []string{"grpc_type", "unary", "grpc_service", "mongogate.v1.SessionService", "grpc_method", "GetSession"}
	find := []string{"grpc_type", "server_stream", "grpc_service", "mongogate.v1.DocumentService", "grpc_method", "Find"}
	agg := []string{"grpc_type", "server_stream", "grpc_service", "mongogate.v1.DocumentService", "grpc_method", "Aggregate"}
	for _, want := range []struct {
		name   string
		labels []string
		value  float64
	}{
		{"grpc_server_started_total", get, 5},
		{"grpc_server_msg_received_total", get, 5},
		{"grpc_server_msg_sent_total", get, 2},
		{"grpc_server_handled_total", append(get, "grpc_code", "OK"), 2},
		{"grpc_server_handled_total", append(get, "grpc_code", "NotFound"), 1},
		{"grpc_server_handled_total", append(get, "grpc_code", "DeadlineExceeded"), 1},
		{"grpc_server_handled_total", append(get, "grpc_code", "Code(99)"), 1},
		{"grpc_server_handling_seconds", get, 5},
		{"grpc_server_started_total", find, 1},
		{"grpc_server_msg_received_total", find, 2},
		{"grpc_server_msg_sent_total", find, 3},
		{"grpc_server_handled_total", append(find, "grpc_code", "Internal"), 1},
		{"grpc_server_handling_seconds", find, 1},
		{"grpc_server_started_total", agg, 0},
		{"grpc_server_handled_total", append(agg, "grpc_code", "Unauthenticated"), 0},
		{"grpc_server_handling_seconds", agg, 0},
	} {
		got, ok := fams.Value(want.name, want.labels...)
		if !ok || got != want.value {
			t.Errorf("%s%v = %v (found %v), want %v", want.name, want.labels, got, ok, want.value)
		}
	}
}

// BenchmarkRPCMetrics is what the metrics interceptor costs a unary call
// (go-grpc-middleware's provider, which it replaced: about 780 ns and 2
// allocations here; now about 130 ns and none).
func BenchmarkRPCMetrics(b *testing.B) {
	unary := NewMetrics().UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/mongogate.v1.DocumentService/FindOne"}
	handler := func(context.Context, any) (any, error) { return nil, nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = unary(ctx, nil, info, handler)
	}
}
