// Package crud executes one MongoDB document operation (insert, find,
// update, delete, find-and-modify, count, distinct, aggregate, bulk write)
// on a collection, inside a session or not. It decodes documents given as
// Extended JSON or BSON, checks them, and refuses server-side JavaScript.
package crud

import (
	"errors"
	"fmt"
)

// ErrForbiddenOperator: the request uses a server-side JavaScript operator
// ($where, $function, $accumulator), which mongogate never runs.
var ErrForbiddenOperator = errors.New("crud: forbidden operator")

// ErrUnacknowledgedInSession: w:0 was asked for on a write in a session;
// MongoDB cannot tie an unacknowledged write to a session.
var ErrUnacknowledgedInSession = errors.New("crud: unacknowledged write concern in a session")

// ArgError is a bad request argument: which field, and what is wrong.
type ArgError struct {
	Field  string // e.g. "filter", "documents[2]", "options.limit"
	Reason string
}

func (e *ArgError) Error() string { return fmt.Sprintf("crud: invalid %s: %s", e.Field, e.Reason) }

// ForbiddenError names the forbidden operator and where it was found.
type ForbiddenError struct {
	Operator string // "$where", "$function", "$accumulator"
	Field    string // the request field holding it
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("crud: %s in %s: server-side JavaScript is not allowed", e.Operator, e.Field)
}

func (e *ForbiddenError) Is(target error) bool { return target == ErrForbiddenOperator }
