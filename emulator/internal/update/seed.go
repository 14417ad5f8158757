package update

import (
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// equality is one field = value condition of a query.
type equality struct {
	path  string
	value any
}

// UpsertSeed builds the document an upsert starts from: the query's
// equality conditions (field: value, $eq, a one-element $in or $all, and
// these inside $and or a one-clause $or; everything else is ignored), with
// dotted paths expanded into nested documents and _id first. Two
// conditions on one path, or on a path and its prefix ({a: 1, "a.b": 2}),
// cannot both be satisfied and fail with NotSingleValueField, as in
// MongoDB's pathsupport::extractEqualityMatches.
//
// MongoDB applies the conditions in the order of its canonical query,
// which sorts them by path; so does this.
func UpsertSeed(filter bson.D) (bson.D, error) {
	var eqs []equality
	collectEqualities(filter, &eqs)
	slices.SortStableFunc(eqs, func(x, y equality) int { return strings.Compare(x.path, y.path) })
	for i, e := range eqs {
		for _, prev := range eqs[:i] {
			switch {
			case prev.path == e.path:
				return nil, mongoerr.New(mongoerr.NotSingleValueField,
					"cannot infer query fields to set, path '%s' is matched twice", e.path)
			case strings.HasPrefix(e.path, prev.path+"."):
				return nil, mongoerr.New(mongoerr.NotSingleValueField,
					"cannot infer query fields to set, both paths '%s' and '%s' are matched", e.path, prev.path)
			}
		}
	}
	root := newElem("", bson.D{}, nil)
	for _, e := range eqs {
		parts := strings.Split(e.path, ".")
		at, i := root, 0
		for ; i < len(parts)-1; i++ {
			next := child(at, parts[i])
			if next == nil {
				break
			}
			at = next
		}
		if _, err := createPath(parts[i:], at, e.value); err != nil {
			return nil, err
		}
	}
	return ensureIDFirst(root.doc()), nil
}

func collectEqualities(filter bson.D, out *[]equality) {
	for _, e := range filter {
		switch {
		case e.Key == "$and":
			for _, sub := range arrayOf(e.Value) {
				if d, ok := value.Doc(sub); ok {
					collectEqualities(d, out)
				}
			}
		case e.Key == "$or":
			// The query optimizer replaces a one-clause $or by its clause.
			if clauses := arrayOf(e.Value); len(clauses) == 1 {
				if d, ok := value.Doc(clauses[0]); ok {
					collectEqualities(d, out)
				}
			}
		case strings.HasPrefix(e.Key, "$"):
		default:
			collectField(e.Key, e.Value, out)
		}
	}
}

func collectField(path string, v any, out *[]equality) {
	add := func(v any) {
		if _, isRegex := v.(bson.Regex); !isRegex {
			*out = append(*out, equality{path: path, value: normalize(value.Clone(v))})
		}
	}
	d, isDoc := value.Doc(v)
	if !isDoc || len(d) == 0 || !isOperator(d[0].Key) {
		add(v)
		return
	}
	for _, op := range d {
		switch op.Key {
		case "$eq":
			*out = append(*out, equality{path: path, value: normalize(value.Clone(op.Value))})
		case "$in":
			// The optimizer turns a one-value $in into an equality.
			if vals := arrayOf(op.Value); len(vals) == 1 {
				add(vals[0])
			}
		case "$all":
			// $all is an $and of equalities, one per value.
			for _, x := range arrayOf(op.Value) {
				if xd, ok := value.Doc(x); ok && len(xd) > 0 && xd[0].Key == "$elemMatch" {
					continue
				}
				add(x)
			}
		}
	}
}

// isOperator reports whether a field of a query value makes it an operator
// expression rather than a document to compare with; DBRef fields do not.
func isOperator(key string) bool {
	return strings.HasPrefix(key, "$") && key != "$ref" && key != "$id" && key != "$db"
}

func arrayOf(v any) bson.A {
	switch x := v.(type) {
	case bson.A:
		return x
	case []any:
		return x
	}
	return nil
}
