package bench

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mongogate/mongogate/server"
)

// call is one unary RPC as mongogate's Go client made it: the full method
// name and the serialized sizes of the request and the response.
type call struct {
	method    string
	req, resp int
}

func (c call) String() string {
	return fmt.Sprintf("%s %d→%d B", c.method[strings.LastIndexByte(c.method, '/')+1:], c.req, c.resp)
}

// recorder is a client interceptor that notes every call of the env's
// probe client, which only the probes use (the measured client has no
// interceptor).
type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	c := call{method: method, req: protoSize(req)}
	if err == nil {
		c.resp = protoSize(reply)
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return err
}

func protoSize(m any) int {
	if pm, ok := m.(proto.Message); ok {
		return proto.Size(pm)
	}
	return 0
}

// take returns the calls noted since the last take.
func (r *recorder) take() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// record runs op once (an operation of a figure done with e.probe) and
// returns the RPCs it made, in order.
func (e *env) record(ctx context.Context, t testing.TB, figure string, op func(context.Context) error) []call {
	t.Helper()
	e.rec.take()
	if err := op(ctx); err != nil {
		t.Fatalf("%s: probe: %v", figure, err)
	}
	calls := e.rec.take()
	if len(calls) == 0 {
		t.Fatalf("%s: probe made no RPC", figure)
	}
	return calls
}

// floor is the gRPC part of a figure's floor: a bare grpc.Server on
// loopback (grpc-go defaults but for mongogate's message size limit) that
// answers each of mongogate's methods in calls with a
// wrapperspb.BytesValue as large as mongogate's response, and a client
// (defaults but for the same limit) that sends a BytesValue as large as
// mongogate's request. The methods keep mongogate's names, so even the
// HTTP/2 headers are alike.
type floor struct {
	conn  *grpc.ClientConn
	calls []floorCall
}

type floorCall struct {
	method string
	req    *wrapperspb.BytesValue
}

// startFloor starts the floor of calls; it stops at cleanup.
func startFloor(t testing.TB, calls []call) *floor {
	t.Helper()
	services := map[string]*grpc.ServiceDesc{}
	var order []string
	replies := map[string]int{}
	for _, c := range calls {
		replies[c.method] = max(replies[c.method], c.resp)
	}
	for _, c := range calls {
		n, ok := replies[c.method]
		if !ok {
			continue
		}
		delete(replies, c.method)
		svc, name, found := strings.Cut(strings.TrimPrefix(c.method, "/"), "/")
		if !found {
			t.Fatalf("floor: method %q has no service", c.method)
		}
		sd := services[svc]
		if sd == nil {
			sd = &grpc.ServiceDesc{ServiceName: svc, HandlerType: (*any)(nil)}
			services[svc] = sd
			order = append(order, svc)
		}
		sd.Methods = append(sd.Methods, grpc.MethodDesc{MethodName: name, Handler: echo(c.method, padded(n))})
	}
	g := grpc.NewServer(grpc.MaxRecvMsgSize(server.DefaultMaxMessageSize), grpc.MaxSendMsgSize(server.DefaultMaxMessageSize))
	for _, svc := range order {
		g.RegisterService(services[svc], struct{}{})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(server.DefaultMaxMessageSize), grpc.MaxCallSendMsgSize(server.DefaultMaxMessageSize)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	f := &floor{conn: conn}
	for _, c := range calls {
		f.calls = append(f.calls, floorCall{method: c.method, req: padded(c.req)})
	}
	return f
}

// echo is a unary handler that reads the request and answers reply
// (shared: marshalling only reads it).
func echo(method string, reply *wrapperspb.BytesValue) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(_ any, ctx context.Context, dec func(any) error, intercept grpc.UnaryServerInterceptor) (any, error) {
		in := new(wrapperspb.BytesValue)
		if err := dec(in); err != nil {
			return nil, err
		}
		if intercept == nil {
			return reply, nil
		}
		return intercept(ctx, in, &grpc.UnaryServerInfo{FullMethod: method}, func(context.Context, any) (any, error) { return reply, nil })
	}
}

// padded is a BytesValue of n serialized bytes: its value, and where the
// length's varint grows past what n leaves (n = 130, say), one unknown
// varint field of 2 or 3 bytes that takes up the rest. Only n = 1 cannot
// be made (no field is 1 byte long); that gives an empty message.
func padded(n int) *wrapperspb.BytesValue {
	m := &wrapperspb.BytesValue{}
	for l := n - 2; l > 0; l-- {
		if size := 1 + protowire.SizeVarint(uint64(l)) + l; size == n || size <= n-2 {
			m.Value = make([]byte, l)
			break
		}
	}
	switch n - proto.Size(m) {
	case 2:
		m.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 0))
	case 3:
		m.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1<<7))
	}
	return m
}

// roundTrips makes the floor's calls one after the other.
func (f *floor) roundTrips(ctx context.Context) error {
	for _, c := range f.calls {
		if err := f.conn.Invoke(ctx, c.method, c.req, new(wrapperspb.BytesValue)); err != nil {
			return fmt.Errorf("floor %s: %w", c.method, err)
		}
	}
	return nil
}

// sizes describes mongogate's calls for the notes, and the floor's own
// sizes where padding could not match them.
func (f *floor) sizes(calls []call) string {
	parts := make([]string, len(calls))
	for i, c := range calls {
		parts[i] = c.String()
		if req, resp := proto.Size(f.calls[i].req), proto.Size(padded(c.resp)); req != c.req || resp != c.resp {
			parts[i] += fmt.Sprintf(" (floor %d→%d B)", req, resp)
		}
	}
	return strings.Join(parts, ", ")
}

// TestPadded checks that the floor's messages have mongogate's sizes,
// around the lengths where a varint grows too.
func TestPadded(t *testing.T) {
	for _, n := range []int{0, 2, 3, 4, 5, 127, 128, 129, 130, 131, 132, 16383, 16384, 16385, 16386, 16387, 16388, 1 << 20} {
		m := padded(n)
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != n {
			t.Errorf("padded(%d) marshals to %d bytes", n, len(b))
		}
		var back wrapperspb.BytesValue
		if err := proto.Unmarshal(b, &back); err != nil {
			t.Errorf("padded(%d) does not unmarshal: %v", n, err)
		}
	}
}
