package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mongogate/mongogate/authz"
	"github.com/mongogate/mongogate/crud"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/sessions"
	"github.com/mongogate/mongogate/txn"
	"github.com/mongogate/mongogate/watch"
)

// statusDetails is what a client reads from a mongogate error.
type statusDetails struct {
	code       codes.Code
	info       *errdetails.ErrorInfo
	retry      *errdetails.RetryInfo
	badRequest *errdetails.BadRequest
}

// mustDetails decodes err as a status with exactly one ErrorInfo in
// mongogate's domain.
// mapErr is err as the status guard sends it.
func mapErr(t *testing.T, err error) error {
	t.Helper()
	return toStatus(t.Context(), slog.New(slog.DiscardHandler), err)
}

func mustDetails(t *testing.T, err error) statusDetails {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("not a gRPC status: %T %v", err, err)
	}
	d := statusDetails{code: st.Code()}
	infos := 0
	for _, x := range st.Details() {
		switch v := x.(type) {
		case *errdetails.ErrorInfo:
			infos++
			d.info = v
		case *errdetails.RetryInfo:
			d.retry = v
		case *errdetails.BadRequest:
			d.badRequest = v
		case error:
			t.Fatalf("undecodable detail: %v", v)
		}
	}
	if infos != 1 {
		t.Fatalf("status %v has %d ErrorInfo details, want exactly 1", st.Code(), infos)
	}
	if d.info.GetDomain() != errorDomain {
		t.Errorf("ErrorInfo domain = %q, want %q", d.info.GetDomain(), errorDomain)
	}
	return d
}

// okStatusError is an error that claims the OK status.
type okStatusError struct{}

func (okStatusError) Error() string              { return "not an error" }
func (okStatusError) GRPCStatus() *status.Status { return status.New(codes.OK, "") }

func TestToStatus(t *testing.T) {
	writeConflict := mongo.CommandError{Code: 112, Name: "WriteConflict", Message: "write conflict",
		Labels: []string{"TransientTransactionError"}}
	networkErr := mongo.CommandError{Message: "connection(10.1.2.3:27017[-4]) socket closed",
		Labels: []string{"NetworkError"}, Wrapped: topology.ConnectionError{ConnectionID: "10.1.2.3:27017[-4]", Wrapped: io.EOF}}
	dupWrite := mongo.WriteException{WriteErrors: mongo.WriteErrors{{Index: 0, Code: 11000,
		Message: "E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: 1 }"}}}

	tests := []struct {
		name       string
		err        error
		code       codes.Code
		reason     pb.ErrorReason
		meta       map[string]string // subset expected in ErrorInfo metadata
		retry      bool
		badRequest string // expected field of the first violation; "-" for none
	}{
		// sessions
		{"session not found", fmt.Errorf("sessions: get inst1.abcd…: %w", sessions.ErrNotFound), codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND, nil, false, "-"},
		{"session expired", sessions.ErrExpired, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_EXPIRED, nil, false, "-"},
		{"session owner gone", fmt.Errorf("server: instance mg-1: %w", sessions.ErrOwnerGone), codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE, nil, false, "-"},
		{"session limit", fmt.Errorf("start: %w", sessions.ErrLimit), codes.ResourceExhausted, pb.ErrorReason_ERROR_REASON_SESSION_LIMIT, nil, true, "-"},
		{"registry closed", sessions.ErrClosed, codes.Unavailable, pb.ErrorReason_ERROR_REASON_SHUTTING_DOWN, nil, true, "-"},
		// txn
		{"in progress", txn.ErrInProgress, codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_TRANSACTION_IN_PROGRESS, nil, false, "-"},
		{"no transaction", fmt.Errorf("commit: %w", txn.ErrNoTransaction), codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_NO_TRANSACTION, nil, false, "-"},
		{"not supported", txn.ErrNotSupported, codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_TRANSACTIONS_NOT_SUPPORTED, nil, false, "-"},
		{"aborted", txn.ErrAborted, codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED, nil, false, "-"},
		{"aborted wrapping write conflict", fmt.Errorf("%w: %w", txn.ErrAborted, writeConflict), codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED,
			map[string]string{metaMongoCode: "112", metaMongoCodeName: "WriteConflict", metaLabels: "TransientTransactionError"}, false, "-"},
		{"unknown commit result", txn.ErrUnknownCommitResult, codes.Unavailable, pb.ErrorReason_ERROR_REASON_UNKNOWN_COMMIT_RESULT, nil, true, "-"},
		{"unknown commit result wrapping network error", fmt.Errorf("%w: %w", txn.ErrUnknownCommitResult, networkErr),
			codes.Unavailable, pb.ErrorReason_ERROR_REASON_UNKNOWN_COMMIT_RESULT, map[string]string{metaLabels: "NetworkError"}, true, "-"},
		{"options mismatch", txn.ErrOptionsMismatch, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, nil, false, "options"},
		{"commit pending", fmt.Errorf("txn: start: transaction 3: %w", txn.ErrCommitPending), codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_TRANSACTION_IN_PROGRESS, nil, false, "-"},
		{"abort after commit", txn.ErrAbortAfterCommit, codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_NO_TRANSACTION, nil, false, "-"},
		{"snapshot session", txn.ErrSnapshotSession, codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_TRANSACTIONS_NOT_SUPPORTED, nil, false, "-"},
		{"unacknowledged transaction", txn.ErrUnacknowledged, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, nil, false, "write_concern"},
		// crud
		{"forbidden operator", fmt.Errorf("find: %w", &crud.ForbiddenError{Operator: "$where", Field: "filter"}),
			codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR, map[string]string{metaOperator: "$where"}, false, "filter"},
		{"forbidden operator sentinel", crud.ErrForbiddenOperator, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR, nil, false, "-"},
		{"arg error", fmt.Errorf("insert: %w", &crud.ArgError{Field: "documents[2]", Reason: "json: bad"}),
			codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, nil, false, "documents[2]"},
		{"unacknowledged in session", crud.ErrUnacknowledgedInSession, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, nil, false, "write_concern"},
		// watch
		{"watch too slow", &watch.SlowError{Token: "mgw1abc", Queue: 8}, codes.Unavailable, pb.ErrorReason_ERROR_REASON_WATCH_TOO_SLOW,
			map[string]string{metaResumeToken: "mgw1abc"}, true, "-"},
		{"change stream history lost", fmt.Errorf("%w: %w", watch.ErrHistoryLost, mongo.CommandError{Code: 286, Name: "ChangeStreamHistoryLost", Labels: []string{"NonResumableChangeStreamError"}}),
			codes.OutOfRange, pb.ErrorReason_ERROR_REASON_CHANGE_STREAM_HISTORY_LOST, map[string]string{metaMongoCode: "286", metaLabels: "NonResumableChangeStreamError"}, false, "-"},
		{"watch hub closed", watch.ErrClosed, codes.Unavailable, pb.ErrorReason_ERROR_REASON_SHUTTING_DOWN, nil, true, "-"},
		{"watch spec", fmt.Errorf("%w: no backend", watch.ErrSpec), codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, nil, false, ""},
		// MongoDB
		{"duplicate key write exception", dupWrite, codes.AlreadyExists, pb.ErrorReason_ERROR_REASON_DUPLICATE_KEY,
			map[string]string{metaMongoCode: "11000", metaMongoCodeName: "DuplicateKey"}, false, "-"},
		{"duplicate key wrapped", fmt.Errorf("crud: insert: %w", dupWrite), codes.AlreadyExists, pb.ErrorReason_ERROR_REASON_DUPLICATE_KEY, nil, false, "-"},
		{"duplicate key bulk", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Index: 3, Code: 11000, Message: "E11000"}}}},
			codes.AlreadyExists, pb.ErrorReason_ERROR_REASON_DUPLICATE_KEY, map[string]string{metaMongoCode: "11000"}, false, "-"},
		{"duplicate key command error", mongo.CommandError{Code: 11000, Name: "DuplicateKey"}, codes.AlreadyExists, pb.ErrorReason_ERROR_REASON_DUPLICATE_KEY, nil, false, "-"},
		{"transient label", mongo.CommandError{Code: 24, Name: "LockTimeout", Labels: []string{"TransientTransactionError"}},
			codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED, map[string]string{metaMongoCode: "24", metaLabels: "TransientTransactionError"}, false, "-"},
		{"write conflict", mongo.CommandError{Code: 112, Name: "WriteConflict"}, codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED, nil, false, "-"},
		{"write conflict in write exception", mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 112}}},
			codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED, map[string]string{metaMongoCodeName: "WriteConflict"}, false, "-"},
		{"no such transaction", mongo.CommandError{Code: 251, Name: "NoSuchTransaction"}, codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED, nil, false, "-"},
		{"transaction aborted code", mongo.CommandError{Code: 244}, codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED, nil, false, "-"},
		{"unknown commit label", mongo.CommandError{Code: 50, Name: "MaxTimeMSExpired", Labels: []string{"UnknownTransactionCommitResult"}},
			codes.Unavailable, pb.ErrorReason_ERROR_REASON_UNKNOWN_COMMIT_RESULT, map[string]string{metaLabels: "UnknownTransactionCommitResult"}, true, "-"},
		{"max time expired", mongo.CommandError{Code: 50, Name: "MaxTimeMSExpired"}, codes.DeadlineExceeded, pb.ErrorReason_ERROR_REASON_DEADLINE_EXCEEDED,
			map[string]string{metaMongoCode: "50", metaMongoCodeName: "MaxTimeMSExpired"}, false, "-"},
		{"context deadline", context.DeadlineExceeded, codes.DeadlineExceeded, pb.ErrorReason_ERROR_REASON_DEADLINE_EXCEEDED, nil, false, "-"},
		{"wrapped context deadline", fmt.Errorf("crud: find: %w", context.DeadlineExceeded), codes.DeadlineExceeded, pb.ErrorReason_ERROR_REASON_DEADLINE_EXCEEDED, nil, false, "-"},
		{"context canceled", fmt.Errorf("crud: find: %w", context.Canceled), codes.Canceled, pb.ErrorReason_ERROR_REASON_CANCELED, nil, false, "-"},
		{"network error", networkErr, codes.Unavailable, pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE, map[string]string{metaLabels: "NetworkError"}, true, "-"},
		{"connection error", fmt.Errorf("x: %w", topology.ConnectionError{ConnectionID: "c", Wrapped: io.EOF}), codes.Unavailable, pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE, nil, true, "-"},
		{"server selection timeout", topology.ServerSelectionError{Wrapped: context.DeadlineExceeded}, codes.Unavailable, pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE, nil, true, "-"},
		{"client disconnected", mongo.ErrClientDisconnected, codes.Unavailable, pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE, nil, true, "-"},
		{"not writable primary", mongo.CommandError{Code: 10107, Name: "NotWritablePrimary"}, codes.Unavailable, pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE, nil, true, "-"},
		{"bad value", mongo.CommandError{Code: 2, Name: "BadValue", Message: "unknown operator: $foo"}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_MONGO_ERROR,
			map[string]string{metaMongoCode: "2", metaMongoCodeName: "BadValue"}, false, "-"},
		{"failed to parse", mongo.CommandError{Code: 9, Name: "FailedToParse"}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_MONGO_ERROR, nil, false, "-"},
		{"type mismatch", mongo.CommandError{Code: 14}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_MONGO_ERROR, map[string]string{metaMongoCodeName: "TypeMismatch"}, false, "-"},
		{"invalid options", mongo.CommandError{Code: 72, Name: "InvalidOptions"}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_MONGO_ERROR, nil, false, "-"},
		{"location code", mongo.CommandError{Code: 40324, Message: "Unrecognized pipeline stage name"}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_MONGO_ERROR, nil, false, "-"},
		{"document validation", mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 121, Message: "Document failed validation"}}},
			codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_MONGO_ERROR, map[string]string{metaMongoCode: "121"}, false, "-"},
		{"unauthorized", mongo.CommandError{Code: 13, Name: "Unauthorized"}, codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_MONGO_ERROR, nil, false, "-"},
		{"command not found", mongo.CommandError{Code: 59, Name: "CommandNotFound"}, codes.Unimplemented, pb.ErrorReason_ERROR_REASON_MONGO_ERROR, nil, false, "-"},
		{"memory limit", mongo.CommandError{Code: 292}, codes.ResourceExhausted, pb.ErrorReason_ERROR_REASON_MONGO_ERROR, nil, false, "-"},
		{"driver argument", fmt.Errorf("crud: %w", mongo.ErrNilDocument), codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, nil, false, ""},
		// server-originated
		{"client mismatch", fmt.Errorf("wrapped: %w", errClientMismatch("reports", "default")), codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_SESSION_CLIENT_MISMATCH,
			map[string]string{metaClient: "reports", metaBoundClient: "default"}, false, "-"},
		// authz
		{"namespace forbidden", fmt.Errorf("x: %w", &authz.DeniedError{Access: authz.Access{Namespace: authz.Namespace{Database: "db", Collection: "c"}, Action: authz.Write}}),
			codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_NAMESPACE_FORBIDDEN,
			map[string]string{metaDatabase: "db", metaCollection: "c", metaAccess: "write"}, false, "-"},
		{"bad pipeline namespace", &authz.PipelineError{Field: "pipeline[0].$lookup.from", Reason: "must be a string"},
			codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, nil, false, "pipeline[0].$lookup.from"},
		{"unauthenticated", errUnauthenticated("no key"), codes.Unauthenticated, pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED, nil, false, "-"},
		{"invalid argument", errInvalidArgument("namespace.database", "required"), codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, nil, false, "namespace.database"},
		{"shutting down", errShuttingDown(), codes.Unavailable, pb.ErrorReason_ERROR_REASON_SHUTTING_DOWN, nil, true, "-"},
		{"REST result too large", ResultTooLarge(10, 100), codes.ResourceExhausted, pb.ErrorReason_ERROR_REASON_RESULT_TOO_LARGE, map[string]string{"max_documents": "10", "max_bytes": "100"}, false, "-"},
		{"internal", errInternal(), codes.Internal, pb.ErrorReason_ERROR_REASON_INTERNAL, nil, false, "-"},
		// unknown
		{"unknown error", errors.New("boom"), codes.Internal, pb.ErrorReason_ERROR_REASON_INTERNAL, nil, false, "-"},
		{"OK status as an error", fmt.Errorf("x: %w", okStatusError{}), codes.Internal, pb.ErrorReason_ERROR_REASON_INTERNAL, nil, false, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDetails(t, mapErr(t, tt.err))
			if d.code != tt.code || d.info.GetReason() != tt.reason.Wire() {
				t.Fatalf("got %v %s, want %v %s", d.code, d.info.GetReason(), tt.code, tt.reason.Wire())
			}
			for k, v := range tt.meta {
				if got := d.info.GetMetadata()[k]; got != v {
					t.Errorf("metadata[%q] = %q, want %q", k, got, v)
				}
			}
			if (d.retry != nil) != tt.retry {
				t.Errorf("RetryInfo present = %v, want %v", d.retry != nil, tt.retry)
			}
			if d.retry != nil && d.retry.GetRetryDelay().AsDuration() <= 0 {
				t.Errorf("RetryInfo delay = %v, want > 0", d.retry.GetRetryDelay().AsDuration())
			}
			switch {
			case tt.badRequest == "-" && d.badRequest != nil:
				t.Errorf("unexpected BadRequest %v", d.badRequest)
			case tt.badRequest != "-" && len(d.badRequest.GetFieldViolations()) == 0:
				t.Errorf("BadRequest missing, want field %q", tt.badRequest)
			case tt.badRequest != "-" && d.badRequest.GetFieldViolations()[0].GetField() != tt.badRequest:
				t.Errorf("BadRequest field = %q, want %q", d.badRequest.GetFieldViolations()[0].GetField(), tt.badRequest)
			}
			if tt.reason == pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT && d.badRequest == nil {
				t.Errorf("INVALID_ARGUMENT without BadRequest")
			}
		})
	}

	// Every reason of the contract is produced by some error above, so a
	// reason added to common.proto needs a mapping here (and a case).
	covered := make(map[pb.ErrorReason]bool)
	for _, tt := range tests {
		covered[tt.reason] = true
	}
	values := pb.ErrorReason(0).Descriptor().Values()
	for i := range values.Len() {
		r := pb.ErrorReason(values.Get(i).Number())
		if r != pb.ErrorReason_ERROR_REASON_UNSPECIFIED && !covered[r] {
			t.Errorf("no case of TestToStatus produces %v", r)
		}
	}
}

func TestToStatusNil(t *testing.T) {
	if err := mapErr(t, nil); err != nil {
		t.Fatalf("toStatus(nil) = %v", err)
	}
}

// A status made elsewhere (a forwarded call's) reaches the client as it was.
func TestToStatusPassesStatusThrough(t *testing.T) {
	orig := status.Error(codes.NotFound, "from the owning instance")
	got := mapErr(t, fmt.Errorf("forward: %w", orig))
	if status.Code(got) != codes.NotFound {
		t.Fatalf("code = %v, want NotFound", status.Code(got))
	}
	if !proto.Equal(status.Convert(got).Proto(), status.Convert(orig).Proto()) {
		t.Errorf("status changed: %v", got)
	}
}

// Internal details and backend addresses stay in the logs.
func TestToStatusHidesInternals(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		secret string
	}{
		{"unknown", errors.New("open /etc/mongogate/secret.pem: permission denied"), "secret.pem"},
		{"network", mongo.CommandError{Message: "connection(10.1.2.3:27017[-4]) closed", Labels: []string{"NetworkError"}}, "10.1.2.3"},
		{"selection", topology.ServerSelectionError{Wrapped: errors.New("no primary at 10.9.9.9:27017")}, "10.9.9.9"},
		{"domain wrapping network", fmt.Errorf("%w: %w", txn.ErrUnknownCommitResult,
			mongo.CommandError{Message: "connection(10.1.2.3:27017[-4]) closed", Labels: []string{"NetworkError"}}), "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if msg := status.Convert(mapErr(t, tt.err)).Message(); strings.Contains(msg, tt.secret) {
				t.Errorf("message %q leaks %q", msg, tt.secret)
			}
		})
	}
}

// Strings from requests may be invalid UTF-8; the status must still marshal
// with its details (gRPC drops details it cannot marshal).
func TestStatusInvalidUTF8(t *testing.T) {
	err := errInvalidArgument("filter.\xff\xfe", "bad key \xff")
	st := status.Convert(err)
	if _, merr := proto.Marshal(st.Proto()); merr != nil {
		t.Fatalf("marshal: %v", merr)
	}
	d := mustDetails(t, err)
	if d.badRequest == nil {
		t.Fatal("BadRequest lost")
	}
}

func TestWithOperationIndex(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		reason pb.ErrorReason
		field  string // "-" for no BadRequest
	}{
		{"arg error", &crud.ArgError{Field: "filter", Reason: "json: bad"}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "operations[2].filter"},
		{"driver argument", mongo.ErrNilDocument, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "operations[2]"},
		{"duplicate key", mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000}}}, codes.AlreadyExists, pb.ErrorReason_ERROR_REASON_DUPLICATE_KEY, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDetails(t, mapErr(t, withOperationIndex(tt.err, 2, "")))
			if d.code != tt.code || d.info.GetReason() != tt.reason.Wire() {
				t.Fatalf("got %v %s, want %v %s", d.code, d.info.GetReason(), tt.code, tt.reason.Wire())
			}
			if got := d.info.GetMetadata()[metaOperationIndex]; got != "2" {
				t.Errorf("operation_index = %q, want 2", got)
			}
			if tt.field == "-" {
				if d.badRequest != nil {
					t.Errorf("unexpected BadRequest %v", d.badRequest)
				}
				return
			}
			if got := d.badRequest.GetFieldViolations()[0].GetField(); got != tt.field {
				t.Errorf("field = %q, want %q", got, tt.field)
			}
		})
	}
	if withOperationIndex(nil, 0, "") != nil {
		t.Error("withOperationIndex(nil) != nil")
	}
}
