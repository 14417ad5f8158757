package mongogate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	mongogate "github.com/mongogate/mongogate/clients/go"
)

// sentinels are every exported sentinel a server reason maps to, with the
// reason and code the wire contract gives it (common.proto).
var sentinels = []struct {
	err    error
	reason string
	code   codes.Code
}{
	{mongogate.ErrInvalidArgument, "INVALID_ARGUMENT", codes.InvalidArgument},
	{mongogate.ErrForbiddenOperator, "FORBIDDEN_OPERATOR", codes.InvalidArgument},
	{mongogate.ErrSessionNotFound, "SESSION_NOT_FOUND", codes.NotFound},
	{mongogate.ErrSessionExpired, "SESSION_EXPIRED", codes.NotFound},
	{mongogate.ErrSessionClientMismatch, "SESSION_CLIENT_MISMATCH", codes.FailedPrecondition},
	{mongogate.ErrTransactionInProgress, "TRANSACTION_IN_PROGRESS", codes.FailedPrecondition},
	{mongogate.ErrNoTransaction, "NO_TRANSACTION", codes.FailedPrecondition},
	{mongogate.ErrTransactionsNotSupported, "TRANSACTIONS_NOT_SUPPORTED", codes.FailedPrecondition},
	{mongogate.ErrTransactionAborted, "TRANSACTION_ABORTED", codes.Aborted},
	{mongogate.ErrUnknownCommitResult, "UNKNOWN_COMMIT_RESULT", codes.Unavailable},
	{mongogate.ErrDuplicateKey, "DUPLICATE_KEY", codes.AlreadyExists},
	{mongogate.ErrSessionLimit, "SESSION_LIMIT", codes.ResourceExhausted},
	{mongogate.ErrUnauthenticated, "UNAUTHENTICATED", codes.Unauthenticated},
	{mongogate.ErrNamespaceForbidden, "NAMESPACE_FORBIDDEN", codes.PermissionDenied},
	{mongogate.ErrBackendUnavailable, "BACKEND_UNAVAILABLE", codes.Unavailable},
	{mongogate.ErrShuttingDown, "SHUTTING_DOWN", codes.Unavailable},
	{mongogate.ErrDeadlineExceeded, "DEADLINE_EXCEEDED", codes.DeadlineExceeded},
	{mongogate.ErrCanceled, "CANCELED", codes.Canceled},
	{mongogate.ErrMongo, "MONGO_ERROR", codes.FailedPrecondition},
	{mongogate.ErrInternal, "INTERNAL", codes.Internal},
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
		t.Run(tt.reason, func(t *testing.T) {
			err := mongogate.FromStatus(statusErr(t, tt.code, tt.reason, nil))
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
			if !errors.As(err, &e) || e.Code != tt.code || e.Reason != tt.reason {
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
	err := mongogate.FromStatus(statusErr(t, codes.Aborted, "TRANSACTION_ABORTED",
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
		&errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: "mongogate.dev"},
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
	st, _ := status.New(codes.NotFound, "x").WithDetails(&errdetails.ErrorInfo{Reason: "SESSION_NOT_FOUND", Domain: "example.com"})
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
