package mongogate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/drivererr"
)

// errorDomain is the ErrorInfo domain of every error a mongogate server
// produces.
const errorDomain = "mongogate.dev"

// ErrorInfo metadata keys (see common.proto).
const (
	metaMongoCode     = "mongo_code"
	metaMongoCodeName = "mongo_code_name"
	metaLabels        = "labels"
)

// MongoDB error labels that decide the retries of Session.WithTransaction:
// "TransientTransactionError" and "UnknownTransactionCommitResult", the
// names MongoDB gives them and Error.Labels carries.
const (
	LabelTransientTransactionError      = drivererr.LabelTransientTransaction
	LabelUnknownTransactionCommitResult = drivererr.LabelUnknownCommitResult
)

// Sentinel errors, one per ErrorInfo reason of the wire contract. A server
// error is an *Error; errors.Is(err, ErrX) reports whether its reason is
// X's. Branch on these (or on Error.Code and Error.Reason), never on
// message text.
var (
	// ErrInvalidArgument: a malformed document, a missing namespace, a bad
	// option. Error.Violations names the fields.
	ErrInvalidArgument = errors.New("mongogate: invalid argument")
	// ErrForbiddenOperator: $where, $function or $accumulator (server-side
	// JavaScript) in a filter, update or pipeline.
	ErrForbiddenOperator = errors.New("mongogate: forbidden operator")
	// ErrSessionNotFound: the session token is unknown, ended, or owned by
	// another principal.
	ErrSessionNotFound = errors.New("mongogate: session not found")
	// ErrSessionExpired: the session outlived its idle timeout or absolute
	// lifetime.
	ErrSessionExpired = errors.New("mongogate: session expired")
	// ErrSessionOwnerGone: the server instance that held the session is
	// gone (stopped, crashed or unreachable), and the session with it. A
	// transaction open on it never commits, except one whose commit was
	// under way: Session.TransactionOutcome (the GetTransactionOutcome
	// RPC, answered by any instance) says how that one ended.
	// Start a new session.
	ErrSessionOwnerGone = errors.New("mongogate: the server instance holding the session is gone")
	// ErrResultTooLarge: a Find or Aggregate over REST matched more than
	// one JSON answer holds. The Go client streams over gRPC and never
	// meets it; it is here so that every reason has its sentinel.
	ErrResultTooLarge = errors.New("mongogate: result too large for one answer")
	// ErrSessionClientMismatch: the request names another backend than
	// the one the session is bound to.
	ErrSessionClientMismatch = errors.New("mongogate: session bound to another backend")
	// ErrTransactionInProgress: StartTransaction while a transaction is
	// open (without JoinExisting), or an operation while the last commit's
	// outcome is unknown.
	ErrTransactionInProgress = errors.New("mongogate: transaction in progress")
	// ErrNoTransaction: commit or abort with no transaction open.
	ErrNoTransaction = errors.New("mongogate: no transaction")
	// ErrTransactionsNotSupported: the backend cannot run transactions
	// (a standalone server, or a snapshot session).
	ErrTransactionsNotSupported = errors.New("mongogate: transactions not supported")
	// ErrTransactionAborted: the transaction was aborted (write conflict,
	// transient error, expiry); rerunning it from the start may succeed.
	// Session.WithTransaction does so.
	ErrTransactionAborted = errors.New("mongogate: transaction aborted")
	// ErrUnknownCommitResult: the server could not learn whether the
	// commit succeeded; committing again is safe. Session.WithTransaction
	// does so.
	ErrUnknownCommitResult = errors.New("mongogate: commit result unknown")
	// ErrDuplicateKey: a write violated a unique index.
	ErrDuplicateKey = errors.New("mongogate: duplicate key")
	// ErrSessionLimit: too many sessions, in total or for this principal.
	ErrSessionLimit = errors.New("mongogate: session limit reached")
	// ErrUnauthenticated: no or bad credentials.
	ErrUnauthenticated = errors.New("mongogate: unauthenticated")
	// ErrNamespaceForbidden: the principal may not use the collection.
	ErrNamespaceForbidden = errors.New("mongogate: namespace forbidden")
	// ErrBackendUnavailable: the server cannot reach MongoDB.
	ErrBackendUnavailable = errors.New("mongogate: backend unavailable")
	// ErrShuttingDown: the server is draining; retry on another instance.
	ErrShuttingDown = errors.New("mongogate: server shutting down")
	// ErrDeadlineExceeded: the deadline or max time passed, on the server
	// or in the client. Such errors also match context.DeadlineExceeded.
	ErrDeadlineExceeded = errors.New("mongogate: deadline exceeded")
	// ErrCanceled: the call was canceled. Such errors also match
	// context.Canceled.
	ErrCanceled = errors.New("mongogate: canceled")
	// ErrMongo: any other MongoDB error; see Error.MongoCode.
	ErrMongo = errors.New("mongogate: MongoDB error")
	// ErrInternal: a bug in the server.
	ErrInternal = errors.New("mongogate: internal server error")
	// ErrChangeStreamHistoryLost: a Watch's start position (a resume
	// token, a cluster time) is no longer in MongoDB's oplog. Resuming
	// from it again fails the same way: watch without a start position,
	// after resynchronising what the events maintained.
	ErrChangeStreamHistoryLost = errors.New("mongogate: change stream history lost")
	// ErrWatchTooSlow: the server cut a ChangeStream that fell too far
	// behind; Error.Metadata["resume_token"] is where to resume.
	// ChangeStream resumes by itself, so programs meet it only through
	// the RPC.
	ErrWatchTooSlow = errors.New("mongogate: change stream reader too slow")
)

// Errors of the client itself; they never come from the server.
var (
	// ErrNoDocuments: FindOne or a FindOneAnd* operation matched nothing.
	ErrNoDocuments = errors.New("mongogate: no documents in result")
	// ErrClientClosed: the Client was closed.
	ErrClientClosed = errors.New("mongogate: client is closed")
	// ErrSessionEnded: the Session was ended with End (or by
	// Client.Close) and cannot be used any more.
	ErrSessionEnded = errors.New("mongogate: session has ended")
	// ErrNilDocument: a required document (a write's filter, an update, a
	// document to insert) is nil. Use bson.D{} to match every document.
	ErrNilDocument = errors.New("mongogate: document is nil")
)

// sentinelByReason gives each reason of the contract its sentinel; the
// client's tests fail for an ErrorReason that has none.
var sentinelByReason = map[pb.ErrorReason]error{
	pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT:           ErrInvalidArgument,
	pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR:         ErrForbiddenOperator,
	pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND:          ErrSessionNotFound,
	pb.ErrorReason_ERROR_REASON_SESSION_EXPIRED:            ErrSessionExpired,
	pb.ErrorReason_ERROR_REASON_SESSION_CLIENT_MISMATCH:    ErrSessionClientMismatch,
	pb.ErrorReason_ERROR_REASON_TRANSACTION_IN_PROGRESS:    ErrTransactionInProgress,
	pb.ErrorReason_ERROR_REASON_NO_TRANSACTION:             ErrNoTransaction,
	pb.ErrorReason_ERROR_REASON_TRANSACTIONS_NOT_SUPPORTED: ErrTransactionsNotSupported,
	pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED:        ErrTransactionAborted,
	pb.ErrorReason_ERROR_REASON_UNKNOWN_COMMIT_RESULT:      ErrUnknownCommitResult,
	pb.ErrorReason_ERROR_REASON_DUPLICATE_KEY:              ErrDuplicateKey,
	pb.ErrorReason_ERROR_REASON_SESSION_LIMIT:              ErrSessionLimit,
	pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED:            ErrUnauthenticated,
	pb.ErrorReason_ERROR_REASON_NAMESPACE_FORBIDDEN:        ErrNamespaceForbidden,
	pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE:        ErrBackendUnavailable,
	pb.ErrorReason_ERROR_REASON_SHUTTING_DOWN:              ErrShuttingDown,
	pb.ErrorReason_ERROR_REASON_DEADLINE_EXCEEDED:          ErrDeadlineExceeded,
	pb.ErrorReason_ERROR_REASON_CANCELED:                   ErrCanceled,
	pb.ErrorReason_ERROR_REASON_MONGO_ERROR:                ErrMongo,
	pb.ErrorReason_ERROR_REASON_INTERNAL:                   ErrInternal,
	pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE:         ErrSessionOwnerGone,
	pb.ErrorReason_ERROR_REASON_RESULT_TOO_LARGE:           ErrResultTooLarge,
	pb.ErrorReason_ERROR_REASON_CHANGE_STREAM_HISTORY_LOST: ErrChangeStreamHistoryLost,
	pb.ErrorReason_ERROR_REASON_WATCH_TOO_SLOW:             ErrWatchTooSlow,
}

// sentinelByCode stands in for the reason of a status without an
// ErrorInfo: one produced by gRPC itself, in the client or a proxy.
var sentinelByCode = map[codes.Code]error{
	codes.DeadlineExceeded: ErrDeadlineExceeded,
	codes.Canceled:         ErrCanceled,
	codes.Unauthenticated:  ErrUnauthenticated,
}

// Error is a failed call: the gRPC status and what its google.rpc details
// say. Every error a Client method returns for a failed RPC is an *Error;
// get at it with errors.As, or test it against the sentinels with
// errors.Is.
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Reason is the ErrorInfo reason: the name of an ErrorReason value of
	// common.proto without its ERROR_REASON_ prefix, e.g. SESSION_NOT_FOUND.
	// It is empty when the status has no ErrorInfo of domain mongogate.dev
	// (an error made by gRPC itself, such as a client-side deadline or an
	// unreachable server).
	Reason string
	// Message is the status message, for people; never branch on it.
	Message string
	// MongoCode and MongoCodeName are MongoDB's error code and its name
	// (e.g. 112, "WriteConflict") when MongoDB produced the error.
	MongoCode     int32
	MongoCodeName string
	// Labels are MongoDB's error labels, e.g. TransientTransactionError.
	Labels []string
	// Metadata is the ErrorInfo metadata, including the keys above and
	// reason-specific ones (e.g. "operator" for FORBIDDEN_OPERATOR).
	Metadata map[string]string
	// RetryDelay is the server's RetryInfo: how long to wait before
	// retrying; 0 when the server suggests no retry.
	RetryDelay time.Duration
	// Violations are the BadRequest field violations of an
	// INVALID_ARGUMENT.
	Violations []FieldViolation

	status *status.Status
}

// FieldViolation is one offending request field of an INVALID_ARGUMENT.
type FieldViolation struct {
	// Field is the proto field path, e.g. "filter" or "options.sort".
	Field       string
	Description string
}

// Error returns "mongogate: <reason or code>: <message>".
func (e *Error) Error() string {
	what := e.Reason
	if what == "" {
		what = e.Code.String()
	}
	var b strings.Builder
	b.WriteString("mongogate: ")
	b.WriteString(what)
	if e.MongoCode != 0 {
		fmt.Fprintf(&b, " (MongoDB %d", e.MongoCode)
		if e.MongoCodeName != "" {
			b.WriteString(" " + e.MongoCodeName)
		}
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// HasErrorLabel reports whether MongoDB attached label to the error.
func (e *Error) HasErrorLabel(label string) bool { return slices.Contains(e.Labels, label) }

// Is matches the sentinel of e's reason (or, without a reason, of its code:
// DEADLINE_EXCEEDED, CANCELED and UNAUTHENTICATED), and context's errors
// for deadlines and cancellation.
func (e *Error) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Code == codes.DeadlineExceeded
	case context.Canceled:
		return e.Code == codes.Canceled
	}
	if r, ok := pb.ErrorReasonFromWire(e.Reason); ok {
		return sentinelByReason[r] == target
	}
	if e.Reason == "" {
		if s, ok := sentinelByCode[e.Code]; ok {
			return s == target
		}
	}
	return false
}

// Unwrap returns the gRPC status error, for code that inspects statuses
// (status.FromError works on *Error directly too).
func (e *Error) Unwrap() error { return e.GRPCStatus().Err() }

// GRPCStatus returns the status the server sent.
func (e *Error) GRPCStatus() *status.Status {
	if e.status == nil {
		return status.New(e.Code, e.Message)
	}
	return e.status
}

// transientTxnError reports whether rerunning a transaction from its start may
// succeed after err.
func transientTxnError(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return (e.Code == codes.Aborted && e.Reason == pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED.Wire()) ||
		e.HasErrorLabel(LabelTransientTransactionError)
}

// unknownCommitResult reports whether a commit that failed with err may
// have committed, so that committing again is the way to learn it. A
// status without a reason came from gRPC: the server may have received
// the commit and lost the answer.
func unknownCommitResult(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.HasErrorLabel(LabelUnknownTransactionCommitResult) {
		return true
	}
	return e.Code == codes.Unavailable && (e.Reason == pb.ErrorReason_ERROR_REASON_UNKNOWN_COMMIT_RESULT.Wire() || e.Reason == "")
}

// fromStatus converts an RPC error into an *Error. Errors that are not
// gRPC statuses pass through.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	return newError(st)
}

func newError(st *status.Status) *Error {
	e := &Error{Code: st.Code(), Message: st.Message(), status: st}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() != errorDomain || e.Reason != "" {
				continue
			}
			e.Reason = d.GetReason()
			e.Metadata = d.GetMetadata()
			if n, err := strconv.ParseInt(e.Metadata[metaMongoCode], 10, 32); err == nil {
				e.MongoCode = int32(n)
			}
			e.MongoCodeName = e.Metadata[metaMongoCodeName]
			if l := e.Metadata[metaLabels]; l != "" {
				e.Labels = strings.Split(l, ",")
			}
		case *errdetails.RetryInfo:
			e.RetryDelay = d.GetRetryDelay().AsDuration()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.Violations = append(e.Violations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	return e
}
