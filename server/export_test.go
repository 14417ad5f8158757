package server

import (
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
)

// Hooks for the tests in package server_test, which serve mongogate
// through package gateway (that imports this one).

// ErrorInfo metadata keys.
const (
	MetaClient         = metaClient
	MetaBoundClient    = metaBoundClient
	MetaDatabase       = metaDatabase
	MetaCollection     = metaCollection
	MetaAccess         = metaAccess
	MetaOperationIndex = metaOperationIndex
)

// Forwarding metadata and its signature.
const (
	MDForwarded = mdForwarded
	ForwardSkew = forwardSkew
)

var (
	ForwardSignature = forwardSignature
	ForwardedValue   = forwardedValue
)

// Outcome labels of mongogate_transactions_total.
const (
	OutcomeCommitted = outcomeCommitted
	OutcomeAborted   = outcomeAborted
)

// SplitMessages is splitMessages.
var SplitMessages = splitMessages

// MustDetails is mustDetails: it decodes err as a status with exactly one
// ErrorInfo in mongogate's domain.
func MustDetails(t *testing.T, err error) (codes.Code, *errdetails.ErrorInfo, *errdetails.RetryInfo, *errdetails.BadRequest) {
	t.Helper()
	d := mustDetails(t, err)
	return d.code, d.info, d.retry, d.badRequest
}
