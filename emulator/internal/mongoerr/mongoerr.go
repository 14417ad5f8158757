// Package mongoerr is MongoDB's server error vocabulary for the emulator: a
// typed error carrying the numeric code, its code name, the message and any
// error labels, so every layer can fail the way a real server does and the
// wire layer can render {ok:0, code, codeName, errmsg, errorLabels}.
package mongoerr

import (
	"errors"
	"fmt"
	"slices"
)

// Error is a MongoDB command error.
type Error struct {
	Code   int32
	Name   string
	Msg    string
	Labels []string
	// Info is extra detail some codes carry, such as keyPattern/keyValue on
	// a duplicate key; rendered as top-level reply fields or errInfo.
	Info map[string]any
}

func (e *Error) Error() string {
	return fmt.Sprintf("(%s) %s", e.Name, e.Msg)
}

// HasLabel reports whether e carries the error label.
func (e *Error) HasLabel(label string) bool { return slices.Contains(e.Labels, label) }

// New builds an error with the code's canonical name.
func New(code int32, format string, args ...any) *Error {
	return &Error{Code: code, Name: Name(code), Msg: fmt.Sprintf(format, args...)}
}

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// Codes used by the emulator, with MongoDB's numbers (error_codes.yml).
const (
	InternalError                      int32 = 1
	GraphContainsCycle                 int32 = 5
	DocumentValidationFailure          int32 = 121
	OptionNotSupportedOnView           int32 = 167
	ViewDepthLimitExceeded             int32 = 274
	BadValue                           int32 = 2
	NoSuchKey                          int32 = 4
	FailedToParse                      int32 = 9
	Unauthorized                       int32 = 13
	TypeMismatch                       int32 = 14
	Overflow                           int32 = 15
	IllegalOperation                   int32 = 20
	LockTimeout                        int32 = 24
	NamespaceNotFound                  int32 = 26
	IndexNotFound                      int32 = 27
	PathNotViable                      int32 = 28
	ConflictingUpdateOperators         int32 = 40
	CursorNotFound                     int32 = 43
	NamespaceExists                    int32 = 48
	MaxTimeMSExpired                   int32 = 50
	DollarPrefixedFieldName            int32 = 52
	InvalidIdField                     int32 = 53
	NotSingleValueField                int32 = 54
	CommandNotFound                    int32 = 59
	ImmutableField                     int32 = 66
	CannotCreateIndex                  int32 = 67
	InvalidOptions                     int32 = 72
	InvalidNamespace                   int32 = 73
	IndexOptionsConflict               int32 = 85
	IndexKeySpecsConflict              int32 = 86
	NetworkTimeout                     int32 = 89
	ShutdownInProgress                 int32 = 91
	WriteConflict                      int32 = 112
	ConflictingOperationInProgress     int32 = 117
	CommandNotSupportedOnView          int32 = 166
	InvalidPipelineOperator            int32 = 168
	AmbiguousIndexKeyPattern           int32 = 181
	InvalidIndexSpecificationOption    int32 = 197
	IncompleteTransactionHistory       int32 = 217
	TransactionTooOld                  int32 = 225
	NotImplemented                     int32 = 238
	NoSuchTransaction                  int32 = 251
	TransactionCommitted               int32 = 256
	TransactionTooLarge                int32 = 257
	OperationNotSupportedInTransaction int32 = 263
	DuplicateKey                       int32 = 11000
	NotWritablePrimary                 int32 = 10107
	Interrupted                        int32 = 11601
	InterruptedDueToReplStateChange    int32 = 11602
)

var names = map[int32]string{
	InternalError: "InternalError", BadValue: "BadValue", NoSuchKey: "NoSuchKey",
	FailedToParse: "FailedToParse", Unauthorized: "Unauthorized", TypeMismatch: "TypeMismatch",
	Overflow: "Overflow", IllegalOperation: "IllegalOperation", LockTimeout: "LockTimeout",
	NamespaceNotFound: "NamespaceNotFound", IndexNotFound: "IndexNotFound",
	PathNotViable: "PathNotViable", ConflictingUpdateOperators: "ConflictingUpdateOperators",
	CursorNotFound: "CursorNotFound", NamespaceExists: "NamespaceExists",
	MaxTimeMSExpired: "MaxTimeMSExpired", DollarPrefixedFieldName: "DollarPrefixedFieldName",
	InvalidIdField: "InvalidIdField", NotSingleValueField: "NotSingleValueField",
	CommandNotFound: "CommandNotFound", ImmutableField: "ImmutableField",
	CannotCreateIndex: "CannotCreateIndex", InvalidOptions: "InvalidOptions",
	InvalidNamespace: "InvalidNamespace", IndexOptionsConflict: "IndexOptionsConflict",
	IndexKeySpecsConflict: "IndexKeySpecsConflict", NetworkTimeout: "NetworkTimeout",
	ShutdownInProgress: "ShutdownInProgress", WriteConflict: "WriteConflict",
	ConflictingOperationInProgress:  "ConflictingOperationInProgress",
	CommandNotSupportedOnView:       "CommandNotSupportedOnView",
	AmbiguousIndexKeyPattern:        "AmbiguousIndexKeyPattern",
	InvalidIndexSpecificationOption: "InvalidIndexSpecificationOption",
	InvalidPipelineOperator:         "InvalidPipelineOperator", TransactionTooOld: "TransactionTooOld",
	NotImplemented: "NotImplemented", NoSuchTransaction: "NoSuchTransaction",
	TransactionCommitted: "TransactionCommitted", TransactionTooLarge: "TransactionTooLarge",
	OperationNotSupportedInTransaction: "OperationNotSupportedInTransaction",
	DuplicateKey:                       "DuplicateKey", NotWritablePrimary: "NotWritablePrimary",
	InterruptedDueToReplStateChange: "InterruptedDueToReplStateChange",
	6:                               "HostUnreachable", 7: "HostNotFound", 134: "ReadConcernMajorityNotAvailableYet",
	189: "PrimarySteppedDown", 262: "ExceededTimeLimit", 9001: "SocketException",
	11600: "InterruptedAtShutdown", 13435: "NotPrimaryNoSecondaryOk",
	13436: "NotPrimaryOrSecondary", 239: "SnapshotTooOld", 246: "SnapshotUnavailable",
	250: "StaleChunkHistory", 272: "MigrationConflict", 267: "PreparedTransactionInProgress",
	64: "WriteConcernFailed", 79: "UnknownReplWriteConcern", 100: "UnsatisfiableWriteConcern",
	121: "DocumentValidationFailure", 8: "UnknownError", 3: "OK",
	11: "UserNotFound", 18: "AuthenticationFailed", 96: "OperationFailed",
	5: "GraphContainsCycle", 167: "OptionNotSupportedOnView", 274: "ViewDepthLimitExceeded", 241: "ConversionFailure", 11601: "Interrupted", 34: "CannotBackfillArray", 55: "InvalidDBRef", 56: "EmptyFieldName", 111: "NotExactValueField", 10: "InvalidBSON", 16: "InvalidLength",
}

// Name is the code name MongoDB reports for code; unknown codes (including
// the numeric "Location" assertion codes) are named "Location<code>".
func Name(code int32) string {
	if n, ok := names[code]; ok {
		return n
	}
	return fmt.Sprintf("Location%d", code)
}
