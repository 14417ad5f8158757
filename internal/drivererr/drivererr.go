// Package drivererr reads the MongoDB error labels and codes that the Go
// driver's errors carry, for the code that decides what a driver error
// means: the transaction retries of txn and the status mapping of server.
// It knows MongoDB's vocabulary only (label names, numeric codes), not
// mongogate's; the emulator's own server-side error type is
// emulator/internal/mongoerr.
package drivererr

import (
	"errors"
	"slices"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Error labels that MongoDB attaches to transaction errors.
const (
	// LabelTransientTransaction: the whole transaction can be run again
	// from its start.
	LabelTransientTransaction = "TransientTransactionError"
	// LabelUnknownCommitResult: the commit may or may not have been
	// applied; committing again is safe.
	LabelUnknownCommitResult = "UnknownTransactionCommitResult"
)

// MongoDB error codes that mongogate branches on, by their code names.
const (
	CodeBadValue                  = 2
	CodeUnauthorized              = 13
	CodeMaxTimeMSExpired          = 50
	CodeCommandNotFound           = 59
	CodeWriteConcernTimeout       = 64
	CodeWriteConflict             = 112
	CodeCommandNotSupported       = 115
	CodeExceededMemoryLimit       = 146
	CodeTransactionTooOld         = 225
	CodeNotImplemented            = 238
	CodeTransactionAborted        = 244
	CodeNoSuchTransaction         = 251
	CodeExceededTimeLimit         = 262
	CodeTransactionLifetimeLimit  = 290
	CodeQueryExceededMemoryNoDisk = 292
	CodeDuplicateKey              = 11000
)

// HasLabel reports whether a driver error in err's chain carries label.
func HasLabel(err error, label string) bool {
	var le mongo.LabeledError
	return errors.As(err, &le) && le.HasErrorLabel(label)
}

// HasCode reports whether the first MongoDB server error in err's chain
// carries any of codes (a write exception carries one per write error,
// and its write concern error's).
func HasCode(err error, codes ...int) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range se.ErrorCodes() {
		if slices.Contains(codes, c) {
			return true
		}
	}
	return false
}
