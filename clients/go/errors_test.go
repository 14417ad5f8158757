package mongogate_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"

	mongogate "github.com/mongogate/mongogate/clients/go"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// sentinels are every exported sentinel a server reason maps to, with the
// reason and code the wire contract gives it (ErrorReason in common.proto).
var sentinels = []reasonSentinel{
	{mongogate.ErrInvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, codes.InvalidArgument},
	{mongogate.ErrForbiddenOperator, pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR, codes.InvalidArgument},
	{mongogate.ErrSessionNotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND, codes.NotFound},
	{mongogate.ErrSessionExpired, pb.ErrorReason_ERROR_REASON_SESSION_EXPIRED, codes.NotFound},
	{mongogate.ErrSessionOwnerGone, pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE, codes.NotFound},
	{mongogate.ErrResultTooLarge, pb.ErrorReason_ERROR_REASON_RESULT_TOO_LARGE, codes.ResourceExhausted},
	{mongogate.ErrSessionClientMismatch, pb.ErrorReason_ERROR_REASON_SESSION_CLIENT_MISMATCH, codes.FailedPrecondition},
	{mongogate.ErrTransactionInProgress, pb.ErrorReason_ERROR_REASON_TRANSACTION_IN_PROGRESS, codes.FailedPrecondition},
	{mongogate.ErrNoTransaction, pb.ErrorReason_ERROR_REASON_NO_TRANSACTION, codes.FailedPrecondition},
	{mongogate.ErrTransactionsNotSupported, pb.ErrorReason_ERROR_REASON_TRANSACTIONS_NOT_SUPPORTED, codes.FailedPrecondition},
	{mongogate.ErrTransactionAborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED, codes.Aborted},
	{mongogate.ErrUnknownCommitResult, pb.ErrorReason_ERROR_REASON_UNKNOWN_COMMIT_RESULT, codes.Unavailable},
	{mongogate.ErrDuplicateKey, pb.ErrorReason_ERROR_REASON_DUPLICATE_KEY, codes.AlreadyExists},
	{mongogate.ErrSessionLimit, pb.ErrorReason_ERROR_REASON_SESSION_LIMIT, codes.ResourceExhausted},
	{mongogate.ErrUnauthenticated, pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED, codes.Unauthenticated},
	{mongogate.ErrNamespaceForbidden, pb.ErrorReason_ERROR_REASON_NAMESPACE_FORBIDDEN, codes.PermissionDenied},
	{mongogate.ErrBackendUnavailable, pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE, codes.Unavailable},
	{mongogate.ErrShuttingDown, pb.ErrorReason_ERROR_REASON_SHUTTING_DOWN, codes.Unavailable},
	{mongogate.ErrDeadlineExceeded, pb.ErrorReason_ERROR_REASON_DEADLINE_EXCEEDED, codes.DeadlineExceeded},
	{mongogate.ErrCanceled, pb.ErrorReason_ERROR_REASON_CANCELED, codes.Canceled},
	{mongogate.ErrMongo, pb.ErrorReason_ERROR_REASON_MONGO_ERROR, codes.FailedPrecondition},
	{mongogate.ErrInternal, pb.ErrorReason_ERROR_REASON_INTERNAL, codes.Internal},
	{mongogate.ErrChangeStreamHistoryLost, pb.ErrorReason_ERROR_REASON_CHANGE_STREAM_HISTORY_LOST, codes.OutOfRange},
	{mongogate.ErrWatchTooSlow, pb.ErrorReason_ERROR_REASON_WATCH_TOO_SLOW, codes.Unavailable},
}

// reasonSentinel is the sentinel of a reason and the code it comes with.
type reasonSentinel struct {
	err    error
	reason pb.ErrorReason
	code   codes.Code
}

// clientSentinels never come from the server: no status may match them.
var clientSentinels = []error{
	mongogate.ErrNoDocuments, mongogate.ErrClientClosed, mongogate.ErrSessionEnded, mongogate.ErrNilDocument,
}

// statusErr builds a server error as server/status.go does.
func statusErr(t *testing.T, code codes.Code, reason string, meta map[string]string, details ...*errdetails.RetryInfo) error {
	t.Helper()
	st, err := status.New(code, "message for people").WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "mongogate.dev", Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range details {
		if st, err = st.WithDetails(d); err != nil {
			t.Fatal(err)
		}
	}
	return st.Err()
}

func TestErrorIsSentinel(t *testing.T) {
	for _, tt := range sentinels {
		t.Run(tt.reason.Wire(), func(t *testing.T) {
			err := mongogate.FromStatus(statusErr(t, tt.code, tt.reason.Wire(), nil))
			for _, other := range sentinels {
				if got, want := errors.Is(err, other.err), other.err == tt.err; got != want {
					t.Errorf("errors.Is(%s error, %v) = %v, want %v", tt.reason, other.err, got, want)
				}
			}
			for _, other := range clientSentinels {
				if errors.Is(err, other) {
					t.Errorf("errors.Is(%s error, %v) = true", tt.reason, other)
				}
			}
			// Wrapped by the caller, it still matches.
			if wrapped := fmt.Errorf("transfer: %w", err); !errors.Is(wrapped, tt.err) {
				t.Errorf("wrapped error does not match %v", tt.err)
			}
			var e *mongogate.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.Reason != tt.reason.Wire() {
				t.Fatalf("errors.As: %#v, want code %v reason %s", e, tt.code, tt.reason)
			}
			// It unwraps to the gRPC status.
			if got := status.Code(errors.Unwrap(err)); got != tt.code {
				t.Errorf("status.Code(errors.Unwrap(err)) = %v, want %v", got, tt.code)
			}
			if got := status.Code(err); got != tt.code {
				t.Errorf("status.Code(err) = %v, want %v", got, tt.code)
			}
		})
	}
}

func TestErrorDetails(t *testing.T) {
	err := mongogate.FromStatus(statusErr(t, codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED.Wire(),
		map[string]string{"mongo_code": "112", "mongo_code_name": "WriteConflict", "labels": "TransientTransactionError,Other"},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)}))
	var e *mongogate.Error
	if !errors.As(err, &e) {
		t.Fatalf("not an *Error: %T", err)
	}
	if e.MongoCode != 112 || e.MongoCodeName != "WriteConflict" {
		t.Errorf("MongoCode, MongoCodeName = %d, %q", e.MongoCode, e.MongoCodeName)
	}
	if !slices.Equal(e.Labels, []string{"TransientTransactionError", "Other"}) {
		t.Errorf("Labels = %q", e.Labels)
	}
	if !e.HasErrorLabel(mongogate.LabelTransientTransactionError) || e.HasErrorLabel(mongogate.LabelUnknownTransactionCommitResult) {
		t.Errorf("HasErrorLabel wrong for %q", e.Labels)
	}
	if e.RetryDelay != 1500*time.Millisecond {
		t.Errorf("RetryDelay = %v", e.RetryDelay)
	}
	if e.Message != "message for people" {
		t.Errorf("Message = %q", e.Message)
	}

	st, _ := status.New(codes.InvalidArgument, "bad").WithDetails(
		&errdetails.ErrorInfo{Reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT.Wire(), Domain: "mongogate.dev"},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "filter", Description: "not BSON"}}})
	if !errors.As(mongogate.FromStatus(st.Err()), &e) || len(e.Violations) != 1 || e.Violations[0].Field != "filter" {
		t.Errorf("Violations = %+v", e.Violations)
	}
}

// Statuses that gRPC makes itself carry no ErrorInfo: deadlines,
// cancellation and missing credentials still match by code, and the
// context errors match too.
func TestErrorWithoutReason(t *testing.T) {
	tests := []struct {
		code  codes.Code
		match []error
	}{
		{codes.DeadlineExceeded, []error{mongogate.ErrDeadlineExceeded, context.DeadlineExceeded}},
		{codes.Canceled, []error{mongogate.ErrCanceled, context.Canceled}},
		{codes.Unauthenticated, []error{mongogate.ErrUnauthenticated}},
		{codes.Unavailable, nil},
		{codes.Internal, nil},
	}
	all := []error{context.DeadlineExceeded, context.Canceled}
	for _, s := range sentinels {
		all = append(all, s.err)
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			err := mongogate.FromStatus(status.Error(tt.code, "from grpc"))
			for _, s := range all {
				if got, want := errors.Is(err, s), slices.Contains(tt.match, s); got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
				}
			}
		})
	}
	// An ErrorInfo of another domain is not a mongogate reason.
	st, _ := status.New(codes.NotFound, "x").WithDetails(&errdetails.ErrorInfo{Reason: pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND.Wire(), Domain: "example.com"})
	if err := mongogate.FromStatus(st.Err()); errors.Is(err, mongogate.ErrSessionNotFound) {
		t.Errorf("foreign-domain ErrorInfo matched ErrSessionNotFound")
	}
	// Errors that are not statuses pass through.
	plain := errors.New("plain")
	if mongogate.FromStatus(plain) != plain {
		t.Errorf("non-status error was converted")
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		target string
		want   bool
	}{
		{"localhost:50051", true},
		{"127.0.0.1:50051", true},
		{"127.3.4.5:1", true},
		{"[::1]:50051", true},
		{"dns:///localhost:50051", true},
		{"passthrough:///127.0.0.1:9", true},
		{"unix:///tmp/mongogate.sock", true},
		{"mongogate.internal:443", false},
		{"dns:///mongogate.internal:443", false},
		{"10.0.0.1:50051", false},
		{"[2001:db8::1]:443", false},
	}
	for _, tt := range tests {
		if got := mongogate.IsLoopback(tt.target); got != tt.want {
			t.Errorf("isLoopback(%q) = %v, want %v", tt.target, got, tt.want)
		}
	}
}

func TestBackoffCeiling(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 5 * time.Millisecond},
		{2, 7500 * time.Microsecond},
		{3, 11250 * time.Microsecond},
		{20, 500 * time.Millisecond},
		{1000, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := mongogate.BackoffCeiling(tt.attempt); got != tt.want {
			t.Errorf("backoffCeiling(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}

// Every ErrorReason of the contract, sent by a server, reaches the caller
// as an *Error that matches its sentinel (TestErrorIsSentinel checks it
// matches no other); a value added to common.proto without a sentinel
// fails here.
func TestEveryReasonHasSentinel(t *testing.T) {
	fake := &fakeSessionService{}
	c := mustFakeClient(t, fake)
	values := pb.ErrorReason(0).Descriptor().Values()
	for i := range values.Len() {
		reason := pb.ErrorReason(values.Get(i).Number())
		if reason == pb.ErrorReason_ERROR_REASON_UNSPECIFIED {
			continue
		}
		t.Run(reason.Wire(), func(t *testing.T) {
			j := slices.IndexFunc(sentinels, func(s reasonSentinel) bool { return s.reason == reason })
			if j < 0 {
				t.Fatalf("%v has no sentinel: add one to errors.go and to sentinels", reason)
			}
			want := sentinels[j]
			fake.startSession = func(context.Context, *pb.StartSessionRequest) (*pb.StartSessionResponse, error) {
				return nil, statusErr(t, want.code, reason.Wire(), nil)
			}
			_, err := c.StartSession(testCtx(t))
			if !errors.Is(err, want.err) {
				t.Errorf("errors.Is(%v, %v) = false", err, want.err)
			}
			var e *mongogate.Error
			if !errors.As(err, &e) || e.Code != want.code || e.Reason != reason.Wire() {
				t.Errorf("errors.As: %#v, want code %v reason %s", e, want.code, reason.Wire())
			}
		})
	}
}

// fakeSessionService is a SessionService whose StartSession does what the
// test sets.
type fakeSessionService struct {
	pb.UnimplementedSessionServiceServer
	startSession func(context.Context, *pb.StartSessionRequest) (*pb.StartSessionResponse, error)
}

func (f *fakeSessionService) StartSession(ctx context.Context, req *pb.StartSessionRequest) (*pb.StartSessionResponse, error) {
	return f.startSession(ctx, req)
}

// mustFakeClient serves sessions over bufconn and returns a Client of it;
// both stop at cleanup.
func mustFakeClient(t *testing.T, sessions pb.SessionServiceServer) *mongogate.Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	pb.RegisterSessionServiceServer(g, sessions)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = g.Serve(lis)
	}()
	t.Cleanup(func() {
		g.Stop()
		<-served
	})
	c, err := mongogate.New("passthrough:///bufconn", mongogate.WithInsecure(),
		mongogate.WithDialOptions(grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		})))
	if err != nil {
		t.Fatalf("mongogate.New: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}
