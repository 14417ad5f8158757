package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mongogate/mongogate/authz"
	"github.com/mongogate/mongogate/crud"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/drivererr"
	"github.com/mongogate/mongogate/sessions"
	"github.com/mongogate/mongogate/txn"
	"github.com/mongogate/mongogate/watch"
)

// errorDomain is the google.rpc.ErrorInfo domain of every mongogate error.
// Its reasons are the pb.ErrorReason values of common.proto, sent by their
// Wire names.
const errorDomain = "mongogate.dev"

// ErrorInfo metadata keys.
const (
	metaMongoCode      = "mongo_code"      // MongoDB error code, decimal
	metaMongoCodeName  = "mongo_code_name" // MongoDB error code name, e.g. WriteConflict
	metaLabels         = "labels"          // MongoDB error labels, comma-separated
	metaOperator       = "operator"        // FORBIDDEN_OPERATOR: $where, $function, $accumulator
	metaClient         = "client"          // SESSION_CLIENT_MISMATCH: the backend the request named
	metaBoundClient    = "bound_client"    // SESSION_CLIENT_MISMATCH: the backend the session is bound to
	metaDatabase       = "database"        // NAMESPACE_FORBIDDEN
	metaCollection     = "collection"      // NAMESPACE_FORBIDDEN
	metaAccess         = "access"          // NAMESPACE_FORBIDDEN: read or write
	metaOperationIndex = "operation_index" // RunTransaction: which operation failed, from 0
	metaMaxDocuments   = "max_documents"   // RESULT_TOO_LARGE
	metaMaxBytes       = "max_bytes"       // RESULT_TOO_LARGE
	metaResumeToken    = "resume_token"    // WATCH_TOO_SLOW: the token to resume after
)

// Retry delays suggested in RetryInfo.
const (
	retryUnavailable = time.Second            // BACKEND_UNAVAILABLE, SHUTTING_DOWN, UNKNOWN_COMMIT_RESULT
	retrySessionSlot = 5 * time.Second        // SESSION_LIMIT: sessions end or expire over time
	retryWatchSlow   = 100 * time.Millisecond // WATCH_TOO_SLOW: the caller catches up on a stream of its own, at its pace
)

// maxMessageBytes bounds a status message; MongoDB messages can quote
// whole keys.
const maxMessageBytes = 1024

// mongoCodeNames names the codes that WriteErrors carry without a name.
var mongoCodeNames = map[int]string{
	2: "BadValue", 6: "HostUnreachable", 7: "HostNotFound", 9: "FailedToParse",
	13: "Unauthorized", 14: "TypeMismatch", 15: "Overflow", 16: "InvalidLength",
	22: "InvalidBSON", 26: "NamespaceNotFound", 28: "PathNotViable", 30: "InvalidPath",
	40: "ConflictingUpdateOperators", 50: "MaxTimeMSExpired", 52: "DollarPrefixedFieldName",
	53: "InvalidIdField", 54: "NotSingleValueField", 55: "InvalidDBRef", 56: "EmptyFieldName",
	57: "DottedFieldName", 59: "CommandNotFound", 64: "WriteConcernTimeout", 66: "ImmutableField",
	72: "InvalidOptions", 73: "InvalidNamespace", 79: "UnknownReplWriteConcern",
	89: "NetworkTimeout", 91: "ShutdownInProgress", 100: "UnsatisfiableWriteConcern",
	112: "WriteConflict", 115: "CommandNotSupported", 121: "DocumentValidationFailure",
	146: "ExceededMemoryLimit", 168: "InvalidPipelineOperator", 189: "PrimarySteppedDown",
	225: "TransactionTooOld", 238: "NotImplemented", 244: "TransactionAborted",
	251: "NoSuchTransaction", 262: "ExceededTimeLimit", 263: "OperationNotSupportedInTransaction",
	290: "TransactionExceededLifetimeLimitSeconds", 292: "QueryExceededMemoryLimitNoDiskUseAllowed",
	9001: "SocketException", 10107: "NotWritablePrimary", 10334: "BSONObjectTooLarge",
	11000: "DuplicateKey", 11600: "InterruptedAtShutdown", 11602: "InterruptedDueToReplStateChange",
	13435: "NotPrimaryNoSecondaryOk", 13436: "NotPrimaryOrSecondary", 17280: "KeyTooLong",
}

// Codes by what they mean for the caller.
var (
	// The transaction is gone; rerunning it from the start may succeed.
	txnAbortedCodes = []int{drivererr.CodeWriteConflict, drivererr.CodeNoSuchTransaction, drivererr.CodeTransactionAborted,
		drivererr.CodeTransactionTooOld, drivererr.CodeTransactionLifetimeLimit}
	// The operation ran out of time on the server.
	deadlineCodes = []int{drivererr.CodeMaxTimeMSExpired, drivererr.CodeExceededTimeLimit, drivererr.CodeWriteConcernTimeout}
	// The member is unreachable, stepping down or shutting down.
	backendCodes = []int{6, 7, 89, 91, 189, 9001, 10058, 10107, 11600, 11602, 13435, 13436}
	// The request itself is wrong, whatever the data.
	invalidCodes = []int{drivererr.CodeBadValue, 9, 14, 15, 16, 22, 28, 30, 40, 52, 53, 54, 55, 56, 57,
		66, 72, 73, 79, 100, 168, 10334, 17280}
)

// apiError is one mongogate error as it goes on the wire: a status with
// exactly one ErrorInfo, and RetryInfo and BadRequest where they apply.
// Handlers return it (or domain errors, which toStatus maps) as a plain
// error; gRPC and toStatus find its status through GRPCStatus.
type apiError struct {
	code       codes.Code
	reason     pb.ErrorReason
	msg        string
	meta       map[string]string
	retryAfter time.Duration
	violations []*errdetails.BadRequest_FieldViolation
}

func (e *apiError) Error() string {
	return "rpc error: code = " + e.code.String() + " reason = " + e.reason.Wire() + " desc = " + e.msg
}

func (e *apiError) set(key, value string) {
	if e.meta == nil {
		e.meta = make(map[string]string)
	}
	e.meta[key] = clean(value)
}

func (e *apiError) badField(field, description string) {
	e.violations = append(e.violations, &errdetails.BadRequest_FieldViolation{
		Field: clean(field), Description: clean(description),
	})
}

// GRPCStatus is the status the client receives.
func (e *apiError) GRPCStatus() *status.Status {
	details := []proto.Message{&errdetails.ErrorInfo{Reason: e.reason.Wire(), Domain: errorDomain, Metadata: e.meta}}
	if e.retryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.retryAfter)})
	}
	if len(e.violations) > 0 {
		details = append(details, &errdetails.BadRequest{FieldViolations: e.violations})
	}
	p := &spb.Status{Code: int32(e.code), Message: clean(e.msg)}
	for _, d := range details {
		// Marshal fails only on invalid UTF-8, which clean removed.
		if a, err := anypb.New(d); err == nil {
			p.Details = append(p.Details, a)
		}
	}
	return status.FromProto(p)
}

// clean makes s valid UTF-8 of bounded length.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxMessageBytes {
		return s
	}
	cut := maxMessageBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// toStatus turns any error a call ends with into the gRPC status the
// client receives. It is the only place where domain and MongoDB errors
// become codes and reasons (see ErrorReason in common.proto), and only the
// status guard (see ServerOptions) calls it, once per failed call:
// handlers, the forwarder and the authenticator return plain errors. A
// gRPC status anywhere in err's chain (an apiError, or a forwarded call's
// status) passes through unchanged. Errors it does not know become
// INTERNAL with a generic message, and their detail goes to log instead,
// as does the cause of BACKEND_UNAVAILABLE.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var st *status.Status
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		st = se.GRPCStatus()
	}
	if st.Code() == codes.OK {
		e := classify(err)
		switch e.reason {
		case pb.ErrorReason_ERROR_REASON_INTERNAL:
			log.ErrorContext(ctx, "unmapped error became INTERNAL", "error", err.Error(), "type", fmt.Sprintf("%T", err))
		case pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE:
			log.WarnContext(ctx, "MongoDB backend unavailable", "error", err.Error())
		}
		st = e.GRPCStatus()
	}
	var oe *operationError
	if errors.As(err, &oe) {
		st = oe.annotate(st)
	}
	return st.Err()
}

// classify picks code, reason, message and details for err. Domain
// sentinels come first: they say what happened in mongogate's terms even
// when they wrap a MongoDB error, whose code and labels still go into the
// metadata.
func classify(err error) *apiError {
	e := classifyDomain(err)
	if e == nil {
		e = classifyMongo(err)
	}
	if mi, ok := mongoInfoOf(err); ok {
		if mi.code != 0 {
			e.set(metaMongoCode, strconv.Itoa(mi.code))
		}
		if mi.name != "" {
			e.set(metaMongoCodeName, mi.name)
		}
		if len(mi.labels) > 0 {
			e.set(metaLabels, strings.Join(mi.labels, ","))
		}
	}
	return e
}

func classifyDomain(err error) *apiError {
	var (
		argErr       *crud.ArgError
		forbiddenErr *crud.ForbiddenError
		deniedErr    *authz.DeniedError
		pipelineErr  *authz.PipelineError
		slowErr      *watch.SlowError
	)
	switch {
	case errors.As(err, &slowErr):
		e := &apiError{code: codes.Unavailable, reason: pb.ErrorReason_ERROR_REASON_WATCH_TOO_SLOW, retryAfter: retryWatchSlow,
			msg: fmt.Sprintf("this caller fell %d messages behind its change stream and was cut; Watch again with resume_after set to metadata resume_token", slowErr.Queue)}
		if slowErr.Token != "" {
			e.set(metaResumeToken, slowErr.Token)
		}
		return e
	case errors.Is(err, watch.ErrHistoryLost):
		return &apiError{code: codes.OutOfRange, reason: pb.ErrorReason_ERROR_REASON_CHANGE_STREAM_HISTORY_LOST,
			msg: "the watch's start position is no longer in MongoDB's oplog; watch again without a start position after resynchronising"}
	case errors.Is(err, watch.ErrClosed):
		return &apiError{code: codes.Unavailable, reason: pb.ErrorReason_ERROR_REASON_SHUTTING_DOWN, retryAfter: retryUnavailable,
			msg: "the server is shutting down; Watch again with the last resume token, on another instance"}
	case errors.Is(err, watch.ErrSpec):
		e := &apiError{code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, msg: err.Error()}
		e.badField("", err.Error())
		return e
	case errors.As(err, &deniedErr):
		return namespaceForbidden(deniedErr.Access)
	case errors.As(err, &pipelineErr):
		e := &apiError{code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, msg: err.Error()}
		e.badField(pipelineErr.Field, pipelineErr.Reason)
		return e
	case errors.As(err, &argErr):
		e := &apiError{code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, msg: err.Error()}
		e.badField(argErr.Field, argErr.Reason)
		return e
	case errors.As(err, &forbiddenErr):
		e := &apiError{code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR, msg: err.Error()}
		e.set(metaOperator, forbiddenErr.Operator)
		if forbiddenErr.Field != "" {
			e.badField(forbiddenErr.Field, forbiddenErr.Operator+" (server-side JavaScript) is not allowed")
		}
		return e
	case errors.Is(err, crud.ErrForbiddenOperator):
		return &apiError{code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR, msg: err.Error()}
	case errors.Is(err, crud.ErrUnacknowledgedInSession):
		e := &apiError{code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, msg: err.Error()}
		e.badField("write_concern", "w:0 (unacknowledged) cannot be used with a session or in a transaction")
		return e
	case errors.Is(err, txn.ErrOptionsMismatch):
		// common.proto: joining with different options is INVALID_ARGUMENT.
		e := &apiError{code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, msg: err.Error()}
		e.badField("options", "must be unset or equal to the open transaction's options when joining it")
		return e

	case errors.Is(err, sessions.ErrNotFound):
		return &apiError{code: codes.NotFound, reason: pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND, msg: domainMessage(err, sessions.ErrNotFound)}
	case errors.Is(err, sessions.ErrExpired):
		return &apiError{code: codes.NotFound, reason: pb.ErrorReason_ERROR_REASON_SESSION_EXPIRED, msg: domainMessage(err, sessions.ErrExpired)}
	case errors.Is(err, sessions.ErrOwnerGone):
		return &apiError{code: codes.NotFound, reason: pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE, msg: err.Error()}
	case errors.Is(err, sessions.ErrOwnerUnreachable):
		// The instance holding the session may be alive, paused or
		// partitioned: nothing is promised but that a retry is answered
		// once it is reachable or declared gone.
		return &apiError{code: codes.Unavailable, reason: pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE, msg: err.Error(), retryAfter: retryUnavailable}
	case errors.Is(err, sessions.ErrLimit):
		return &apiError{code: codes.ResourceExhausted, reason: pb.ErrorReason_ERROR_REASON_SESSION_LIMIT,
			msg: domainMessage(err, sessions.ErrLimit), retryAfter: retrySessionSlot}
	case errors.Is(err, sessions.ErrClosed):
		return &apiError{code: codes.Unavailable, reason: pb.ErrorReason_ERROR_REASON_SHUTTING_DOWN,
			msg: domainMessage(err, sessions.ErrClosed), retryAfter: retryUnavailable}

	case errors.Is(err, txn.ErrInProgress):
		return &apiError{code: codes.FailedPrecondition, reason: pb.ErrorReason_ERROR_REASON_TRANSACTION_IN_PROGRESS, msg: domainMessage(err, txn.ErrInProgress)}
	case errors.Is(err, txn.ErrNoTransaction):
		return &apiError{code: codes.FailedPrecondition, reason: pb.ErrorReason_ERROR_REASON_NO_TRANSACTION, msg: domainMessage(err, txn.ErrNoTransaction)}
	case errors.Is(err, txn.ErrNotSupported):
		return &apiError{code: codes.FailedPrecondition, reason: pb.ErrorReason_ERROR_REASON_TRANSACTIONS_NOT_SUPPORTED, msg: domainMessage(err, txn.ErrNotSupported)}
	case errors.Is(err, txn.ErrAborted):
		return &apiError{code: codes.Aborted, reason: pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED, msg: domainMessage(err, txn.ErrAborted)}
	case errors.Is(err, txn.ErrUnknownCommitResult):
		return &apiError{code: codes.Unavailable, reason: pb.ErrorReason_ERROR_REASON_UNKNOWN_COMMIT_RESULT,
			msg: domainMessage(err, txn.ErrUnknownCommitResult), retryAfter: retryUnavailable}
	}
	return nil
}

// namespaceForbidden: the principal may not do a (the authorization
// rules do not allow it).
func namespaceForbidden(a authz.Access) *apiError {
	e := &apiError{code: codes.PermissionDenied, reason: pb.ErrorReason_ERROR_REASON_NAMESPACE_FORBIDDEN,
		msg: fmt.Sprintf("%s on namespace %s is not allowed for this principal", a.Action, a.Namespace)}
	e.set(metaDatabase, a.Namespace.Database)
	e.set(metaCollection, a.Namespace.Collection)
	e.set(metaAccess, a.Action.String())
	return e
}

// domainMessage is err's text, unless err wraps a connection-level driver
// error whose text names backend hosts: then only the sentinel's text.
func domainMessage(err, sentinel error) string {
	if isConnectionFailure(err) {
		return sentinel.Error() + " (MongoDB backend unreachable)"
	}
	return err.Error()
}

func classifyMongo(err error) *apiError {
	mi, _ := mongoInfoOf(err)
	switch {
	case errors.Is(err, context.Canceled):
		return &apiError{code: codes.Canceled, reason: pb.ErrorReason_ERROR_REASON_CANCELED, msg: "the request was canceled"}
	case mongo.IsDuplicateKeyError(err):
		return &apiError{code: codes.AlreadyExists, reason: pb.ErrorReason_ERROR_REASON_DUPLICATE_KEY, msg: "duplicate key: " + mi.message}
	case drivererr.HasLabel(err, drivererr.LabelUnknownCommitResult):
		return &apiError{code: codes.Unavailable, reason: pb.ErrorReason_ERROR_REASON_UNKNOWN_COMMIT_RESULT, retryAfter: retryUnavailable,
			msg: "the transaction's commit outcome is unknown; committing it again is safe"}
	case drivererr.HasLabel(err, drivererr.LabelTransientTransaction) || drivererr.HasCode(err, txnAbortedCodes...):
		return &apiError{code: codes.Aborted, reason: pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED,
			msg: "the transaction was aborted by MongoDB and can be retried from its start: " + mi.describe()}
	case isSelectionFailure(err):
		return backendUnavailable()
	case errors.Is(err, context.DeadlineExceeded) || drivererr.HasCode(err, deadlineCodes...) || mongo.IsTimeout(err):
		return &apiError{code: codes.DeadlineExceeded, reason: pb.ErrorReason_ERROR_REASON_DEADLINE_EXCEEDED,
			msg: "the operation did not finish in time (RPC deadline or max_time)"}
	case isConnectionFailure(err) || drivererr.HasCode(err, backendCodes...):
		return backendUnavailable()
	case isDriverArgument(err):
		e := &apiError{code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, msg: err.Error()}
		e.badField("", err.Error())
		return e
	case mi.code != 0:
		return &apiError{code: mongoCodeToGRPC(mi.code), reason: pb.ErrorReason_ERROR_REASON_MONGO_ERROR, msg: "MongoDB error: " + mi.describe()}
	}
	return &apiError{code: codes.Internal, reason: pb.ErrorReason_ERROR_REASON_INTERNAL, msg: "internal error"}
}

func backendUnavailable() *apiError {
	return &apiError{code: codes.Unavailable, reason: pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE, retryAfter: retryUnavailable,
		msg: "the MongoDB backend is unreachable or has no primary"}
}

// errBackendDown: the health probe finds the backend unreachable.
func errBackendDown(name string) error {
	e := backendUnavailable()
	e.msg = fmt.Sprintf("the MongoDB backend %q is unreachable (health check failing)", name)
	return e
}

// mongoCodeToGRPC chooses the status code of a MongoDB error that has no
// reason of its own (MONGO_ERROR).
func mongoCodeToGRPC(code int) codes.Code {
	switch {
	case slices.Contains(invalidCodes, code):
		return codes.InvalidArgument
	case code == drivererr.CodeUnauthorized:
		return codes.PermissionDenied
	case code == drivererr.CodeCommandNotFound || code == drivererr.CodeCommandNotSupported || code == drivererr.CodeNotImplemented:
		return codes.Unimplemented
	case code == drivererr.CodeExceededMemoryLimit || code == drivererr.CodeQueryExceededMemoryNoDisk:
		return codes.ResourceExhausted
	case code >= 10000 && mongoCodeNames[code] == "":
		// Unnamed "location" codes are assertions on the request: a
		// malformed pipeline stage, a bad operator argument.
		return codes.InvalidArgument
	}
	return codes.FailedPrecondition
}

// mongoInfo is what a MongoDB server error says about itself.
type mongoInfo struct {
	code    int
	name    string
	message string
	labels  []string
}

func (m mongoInfo) describe() string {
	var b strings.Builder
	if m.code != 0 {
		b.WriteString(strconv.Itoa(m.code))
		if m.name != "" {
			b.WriteString(" (" + m.name + ")")
		}
	}
	if m.message != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(m.message)
	}
	return b.String()
}

// mongoInfoOf finds the MongoDB server error in err's chain. For write
// exceptions the first write error speaks for the others.
func mongoInfoOf(err error) (mongoInfo, bool) {
	var (
		mi   mongoInfo
		ce   mongo.CommandError
		we   mongo.WriteException
		bwe  mongo.BulkWriteException
		wErr mongo.WriteError
	)
	switch {
	case errors.As(err, &ce):
		mi = mongoInfo{code: int(ce.Code), name: ce.Name, message: ce.Message, labels: ce.Labels}
	case errors.As(err, &we):
		mi.labels = we.Labels
		if len(we.WriteErrors) > 0 {
			mi.code, mi.message = we.WriteErrors[0].Code, we.WriteErrors[0].Message
		} else if wce := we.WriteConcernError; wce != nil {
			mi.code, mi.name, mi.message = wce.Code, wce.Name, wce.Message
		}
	case errors.As(err, &bwe):
		mi.labels = bwe.Labels
		if len(bwe.WriteErrors) > 0 {
			mi.code, mi.message = bwe.WriteErrors[0].Code, bwe.WriteErrors[0].Message
		} else if wce := bwe.WriteConcernError; wce != nil {
			mi.code, mi.name, mi.message = wce.Code, wce.Name, wce.Message
		}
	case errors.As(err, &wErr):
		mi.code, mi.message = wErr.Code, wErr.Message
	default:
		return mongoInfo{}, false
	}
	if mi.name == "" {
		mi.name = mongoCodeNames[mi.code]
	}
	return mi, true
}

// isSelectionFailure: the driver found no suitable server, or the client
// is closed. Server selection gives up through a context of its own, so
// this is tested before deadlines.
func isSelectionFailure(err error) bool {
	return errors.As(err, new(topology.ServerSelectionError)) ||
		errors.Is(err, mongo.ErrClientDisconnected) ||
		errors.Is(err, topology.ErrTopologyClosed) ||
		errors.Is(err, topology.ErrPoolClosed)
}

// isConnectionFailure: talking to a server failed below the command level.
func isConnectionFailure(err error) bool {
	return isSelectionFailure(err) || mongo.IsNetworkError(err) || errors.As(err, new(topology.ConnectionError))
}

// isDriverArgument: the driver refused an argument before sending it.
func isDriverArgument(err error) bool {
	return errors.As(err, new(mongo.InvalidArgumentError)) ||
		errors.As(err, new(mongo.MarshalError)) ||
		errors.As(err, new(mongo.ErrMapForOrderedArgument))
}

// Errors the server itself produces. Each is an apiError, which toStatus
// passes through.

// errInvalidArgument: a request field is missing or wrong. field is the
// proto field path, e.g. "namespace.collection" or "operations[2].filter".
func errInvalidArgument(field, description string) error {
	e := &apiError{code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT,
		msg: "invalid " + field + ": " + description}
	e.badField(field, description)
	return e
}

// errClientMismatch: the request names backend requested but the session
// is bound to backend bound.
func errClientMismatch(requested, bound string) error {
	e := &apiError{code: codes.FailedPrecondition, reason: pb.ErrorReason_ERROR_REASON_SESSION_CLIENT_MISMATCH,
		msg: fmt.Sprintf("the session is bound to client %q, the request names client %q", bound, requested)}
	e.set(metaClient, requested)
	e.set(metaBoundClient, bound)
	return e
}

// errUnauthenticated: no credentials, or credentials that do not verify.
func errUnauthenticated(msg string) error {
	return &apiError{code: codes.Unauthenticated, reason: pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED, msg: msg}
}

// errShuttingDown: the server is draining and takes no new work.
func errShuttingDown() error {
	return &apiError{code: codes.Unavailable, reason: pb.ErrorReason_ERROR_REASON_SHUTTING_DOWN, retryAfter: retryUnavailable,
		msg: "the server is shutting down; retry on another instance"}
}

// ResultTooLarge is the error of a Find or Aggregate over REST whose
// answer, one JSON array, would hold more than maxDocs documents or
// maxBytes bytes.
func ResultTooLarge(maxDocs int, maxBytes int64) error {
	e := &apiError{code: codes.ResourceExhausted, reason: pb.ErrorReason_ERROR_REASON_RESULT_TOO_LARGE,
		msg: fmt.Sprintf("the result holds more than %d documents or %d bytes, more than one REST answer holds; narrow it with limit and skip, or read it as a stream over Connect or gRPC", maxDocs, maxBytes)}
	e.set(metaMaxDocuments, strconv.Itoa(maxDocs))
	e.set(metaMaxBytes, strconv.FormatInt(maxBytes, 10))
	return e
}

// InvalidArgument is the INVALID_ARGUMENT error (reason INVALID_ARGUMENT,
// a BadRequest naming field) of a request refused before any service sees
// it, such as an HTTP request of the wrong method or content type.
func InvalidArgument(field, description string) error {
	return errInvalidArgument(field, description)
}

// Internal is the INTERNAL error (reason INTERNAL) of a failure outside
// the services that the caller logged, such as a response that could not
// be encoded; the client learns nothing more.
func Internal() error { return errInternal() }

// errInternal: a bug already logged where it was caught (a recovered
// panic); the client learns nothing about it. Other bugs are plain errors,
// which toStatus logs and makes INTERNAL.
func errInternal() error {
	return &apiError{code: codes.Internal, reason: pb.ErrorReason_ERROR_REASON_INTERNAL, msg: "internal error"}
}

// withOperationIndex marks err as the failure of RunTransaction operation
// i, whose oneof field is field ("" when unknown). toStatus maps err and
// then adds ErrorInfo metadata "operation_index" and prefixes BadRequest
// field paths with "operations[i].field.".
func withOperationIndex(err error, i int, field string) error {
	if err == nil {
		return nil
	}
	return &operationError{err: err, index: i, field: field}
}

// operationError is a RunTransaction operation's failure.
type operationError struct {
	err   error
	index int
	field string
}

func (e *operationError) Error() string {
	return fmt.Sprintf("operation %d: %v", e.index, e.err)
}

func (e *operationError) Unwrap() error { return e.err }

// annotate adds the operation's index and field path to st's details.
func (e *operationError) annotate(st *status.Status) *status.Status {
	p := st.Proto()
	idx := strconv.Itoa(e.index)
	prefix := "operations[" + idx + "]."
	if e.field != "" {
		prefix += e.field + "."
	}
	for n, a := range p.GetDetails() {
		m, uerr := a.UnmarshalNew()
		if uerr != nil {
			continue
		}
		switch d := m.(type) {
		case *errdetails.ErrorInfo:
			if d.Metadata == nil {
				d.Metadata = make(map[string]string)
			}
			d.Metadata[metaOperationIndex] = idx
		case *errdetails.BadRequest:
			for _, v := range d.FieldViolations {
				v.Field = strings.TrimSuffix(prefix+v.Field, ".")
			}
		default:
			continue
		}
		if na, merr := anypb.New(m); merr == nil {
			p.Details[n] = na
		}
	}
	return status.FromProto(p)
}
