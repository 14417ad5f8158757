package update

import (
	"fmt"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
)

// Codes the update language raises that mongoerr does not name yet, with
// MongoDB's numbers and names (error_codes.yml).
const (
	codeCannotBackfillArray int32 = 34
	codeInvalidDBRef        int32 = 55
	codeEmptyFieldName      int32 = 56
)

// coded builds an error for a code mongoerr has no name for, so the reply
// still carries MongoDB's codeName.
func coded(code int32, name, format string, args ...any) *mongoerr.Error {
	return &mongoerr.Error{Code: code, Name: name, Msg: fmt.Sprintf(format, args...)}
}

func conflict(path, at string) error {
	return mongoerr.New(mongoerr.ConflictingUpdateOperators,
		"Updating the path '%s' would create a conflict at '%s'", path, at)
}

func immutableID(path string) error {
	return mongoerr.New(mongoerr.ImmutableField,
		"Performing an update on the path '%s' would modify the immutable field '_id'", path)
}
