// Package testkit holds what mongogate's tests repeat across packages:
// the three service stubs on one connection, assertions on a status's
// code and ErrorInfo reason (the kind an error keeps across the RPC, which
// tests compare instead of messages), a bounded wait for a condition in
// place of a sleep, and a settable clock. It imports neither the server nor the client, so
// that their own tests can use it.
package testkit

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// ErrorDomain is the ErrorInfo domain of every mongogate error.
const ErrorDomain = "mongogate.dev"

// Stubs are mongogate's three services on one connection.
type Stubs struct {
	Sessions pb.SessionServiceClient
	Txns     pb.TransactionServiceClient
	Docs     pb.DocumentServiceClient
}

// NewStubs makes the three stubs on cc: a *grpc.ClientConn, or a bufconn
// or in-process connection of a unit test.
func NewStubs(cc grpc.ClientConnInterface) Stubs {
	return Stubs{
		Sessions: pb.NewSessionServiceClient(cc),
		Txns:     pb.NewTransactionServiceClient(cc),
		Docs:     pb.NewDocumentServiceClient(cc),
	}
}

// Dial opens a plaintext connection to addr (host:port) with opts added,
// and closes it when the test ends.
func Dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatalf("testkit: dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// MustStubs dials addr (see Dial) and returns the stubs on the connection.
func MustStubs(t testing.TB, addr string, opts ...grpc.DialOption) Stubs {
	t.Helper()
	return NewStubs(Dial(t, addr, opts...))
}

// Reason is err's status code and the reason of its ErrorInfo in
// mongogate's domain, "" if it has none (OK for a nil err).
func Reason(err error) (codes.Code, string) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetDomain() == ErrorDomain {
			return st.Code(), ei.GetReason()
		}
	}
	return st.Code(), ""
}

// RetryInfo is err's RetryInfo detail, the delay mongogate asks a client
// to wait before retrying, or nil.
func RetryInfo(err error) *errdetails.RetryInfo {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri
		}
	}
	return nil
}

// IsReason reports whether err is a status with code and reason.
func IsReason(err error, code codes.Code, reason pb.ErrorReason) bool {
	c, r := Reason(err)
	return err != nil && c == code && r == reason.Wire()
}

// WantReason fails the test unless err is a gRPC status with code and
// exactly one ErrorInfo, in mongogate's domain, with reason. what names
// the call in the failure message. It returns the status for further
// checks of its details.
func WantReason(t testing.TB, what string, err error, code codes.Code, reason pb.ErrorReason) *status.Status {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want %v %s", what, code, reason.Wire())
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%s: %v is not a gRPC status, want %v %s", what, err, code, reason.Wire())
	}
	var infos []*errdetails.ErrorInfo
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			infos = append(infos, ei)
		}
	}
	if len(infos) != 1 {
		t.Fatalf("%s: %v with %d ErrorInfo details (message %q), want %v %s with exactly one", what, st.Code(), len(infos), st.Message(), code, reason.Wire())
	}
	if st.Code() != code || infos[0].GetReason() != reason.Wire() || infos[0].GetDomain() != ErrorDomain {
		t.Fatalf("%s: %v %s (domain %q, message %q), want %v %s", what, st.Code(), infos[0].GetReason(), infos[0].GetDomain(), st.Message(), code, reason.Wire())
	}
	return st
}

// pollEvery is how often WaitFor checks its condition.
const pollEvery = 20 * time.Millisecond

// WaitFor checks cond until it returns nil and fails the test if it has
// not within the given time; cond's last error says what was seen
// instead. It stands in for a sleep that hopes something happened: the
// test waits for the thing itself, as long as it takes and no longer.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(pollEvery)
	}
}

// Clock is a settable clock for a Config's Now: it stands still until the
// test moves it, so that expiry is a step of the test, not a wait.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
