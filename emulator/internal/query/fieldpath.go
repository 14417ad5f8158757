package query

import (
	"strings"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
)

// fieldPath validates a sort or projection path the way MongoDB's FieldPath
// does (src/mongo/db/pipeline/field_path.cpp) and splits it.
func fieldPath(path string) ([]string, error) {
	if path == "" {
		return nil, mongoerr.New(40352, "FieldPath cannot be constructed with empty string")
	}
	if strings.HasSuffix(path, ".") {
		return nil, mongoerr.New(40353, "FieldPath must not end with a '.'.")
	}
	parts := strings.Split(path, ".")
	for _, p := range parts {
		switch {
		case p == "":
			return nil, mongoerr.New(15998, "FieldPath field names may not be empty strings.")
		case strings.HasPrefix(p, "$") && p != "$id" && p != "$ref" && p != "$db":
			return nil, mongoerr.New(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
		case strings.ContainsRune(p, 0):
			return nil, mongoerr.New(16411, "FieldPath field names may not contain '\\0'.")
		}
	}
	return parts, nil
}
