package query

import (
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/value"
)

// leafMode says what a path yields when it ends at an array.
type leafMode int

const (
	// leafTraverse yields each element of the array, then the array itself,
	// so {a: 1} and {a: [1, 2]} both match {a: [1, 2]}.
	leafTraverse leafMode = iota
	// leafWhole yields only the array, for operators that look at arrays as
	// a whole ($size, $elemMatch).
	leafWhole
)

// yieldFunc receives each value a path reaches and the index of the element
// of the outermost array traversed to reach it (-1 when no array was
// traversed implicitly); returning false stops the walk.
type yieldFunc func(v any, offset int) bool

// walk is MongoDB's element iterator (src/mongo/db/matcher/path.cpp,
// BSONElementIterator): it follows path through doc, fanning out over arrays.
// A missing field yields value.Missing once. Where the path continues past
// an array, each document element is searched for the rest of the path, and
// a numeric component also indexes the array. walk reports whether the walk
// ran to completion.
func walk(doc bson.D, path []string, mode leafMode, yield yieldFunc) bool {
	v, i := dottedOrArray(doc, path)
	arr, ok := v.(bson.A)
	if !ok {
		return yield(v, -1)
	}
	rest := path[i+1:]
	if len(rest) == 0 {
		if mode == leafWhole {
			return yield(arr, -1)
		}
		for j, e := range arr {
			if !yield(e, j) {
				return false
			}
		}
		return yield(arr, -1)
	}
	return walkArray(arr, rest, mode, yield)
}

// walkArray continues a path (rest, never empty) through the elements of arr.
func walkArray(arr bson.A, rest []string, mode leafMode, yield yieldFunc) bool {
	numeric := isDigits(rest[0])
	for j, e := range arr {
		offsetMatch := numeric && rest[0] == strconv.Itoa(j)
		if d, ok := value.Doc(e); ok {
			// Values found inside the element report this array's offset: the
			// outermost implicit traversal wins.
			if !walk(d, rest, mode, func(v any, _ int) bool { return yield(v, j) }) {
				return false
			}
			if !offsetMatch {
				continue
			}
			if len(rest) == 1 {
				if !yield(e, -1) {
					return false
				}
				continue
			}
			if !walk(d, rest[1:], mode, yield) {
				return false
			}
			continue
		}
		if !offsetMatch {
			continue
		}
		if len(rest) == 1 {
			if !yield(e, -1) {
				return false
			}
			continue
		}
		if nested, ok := e.(bson.A); ok {
			if !walkArray(nested, rest[1:], mode, yield) {
				return false
			}
		}
	}
	return true
}

// dottedOrArray descends through embedded documents along path until it
// reaches the end or an array, returning the value found (value.Missing if
// none) and the index of the path component it stopped at.
func dottedOrArray(doc bson.D, path []string) (any, int) {
	cur := doc
	for i, part := range path {
		v, ok := value.Lookup(cur, part)
		if !ok {
			return value.Missing{}, i
		}
		if i == len(path)-1 {
			return v, i
		}
		if _, isArr := v.(bson.A); isArr {
			return v, i
		}
		d, isDoc := value.Doc(v)
		if !isDoc {
			return value.Missing{}, i
		}
		cur = d
	}
	return value.Missing{}, 0
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// arrayIndex parses a path component naming an array element: digits
// without a leading zero, as BSON array keys are written.
func arrayIndex(s string) (int, bool) {
	if !isDigits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}
