package expr

import (
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// SortPattern is a parsed sort specification such as {a: 1, "b.c": -1}.
type SortPattern []SortField

// SortField is one key of a SortPattern; Dir is 1 or -1.
type SortField struct {
	Path string
	Dir  int
}

// ParseSortSpec parses a sort document whose values must be 1 or -1;
// badValue is the code for any other value (15975 for $sort).
func ParseSortSpec(spec bson.D, badValue int32) (SortPattern, error) {
	out := make(SortPattern, 0, len(spec))
	for _, e := range spec {
		dir, ok := sortDirection(e.Value)
		if !ok {
			if d, isDoc := value.Doc(e.Value); isDoc && len(d) > 0 && d[0].Key == "$meta" {
				return nil, mongoerr.New(mongoerr.NotImplemented, "$meta sort is not supported by this server")
			}
			return nil, mongoerr.New(badValue, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
		}
		if err := ValidatePath(e.Key); err != nil {
			return nil, err
		}
		out = append(out, SortField{Path: e.Key, Dir: dir})
	}
	return out, nil
}

// Compare orders two documents by the pattern.
func (p SortPattern) Compare(a, b bson.D) int {
	for _, f := range p {
		if c := value.Compare(SortKey(a, f.Path, f.Dir < 0), SortKey(b, f.Path, f.Dir < 0)); c != 0 {
			return c * f.Dir
		}
	}
	return 0
}

// Keys extracts a document's sort key values once, for sorting many
// documents; compare them with CompareKeys.
func (p SortPattern) Keys(d bson.D) []any {
	out := make([]any, len(p))
	for i, f := range p {
		out[i] = SortKey(d, f.Path, f.Dir < 0)
	}
	return out
}

// CompareKeys compares keys produced by Keys.
func (p SortPattern) CompareKeys(a, b []any) int { return p.CompareKeysWith(a, b, nil) }

// CompareKeysWith is CompareKeys with strings ordered by coll (nil: binary).
func (p SortPattern) CompareKeysWith(a, b []any, coll value.Collator) int {
	for i, f := range p {
		if c := value.CompareWith(a[i], b[i], coll); c != 0 {
			return c * f.Dir
		}
	}
	return 0
}

// emptyArray is the sort key of an empty array: below null and missing.
var emptyArray = bson.Undefined{}

// SortKey is the value MongoDB sorts d by for path: the field's value, or
// where arrays are involved the smallest (ascending) or largest
// (descending) of the values the path reaches. A missing path sorts as null
// and an empty array below null.
func SortKey(d bson.D, path string, desc bool) any {
	var vals []any
	collectSortValues(d, strings.Split(path, "."), &vals)
	if len(vals) == 0 {
		return nil
	}
	best := vals[0]
	for _, v := range vals[1:] {
		c := value.Compare(v, best)
		if (desc && c > 0) || (!desc && c < 0) {
			best = v
		}
	}
	return best
}

func collectSortValues(v any, path []string, out *[]any) {
	if len(path) == 0 {
		if a, ok := v.(bson.A); ok {
			if len(a) == 0 {
				*out = append(*out, emptyArray)
				return
			}
			*out = append(*out, a...)
			return
		}
		*out = append(*out, v)
		return
	}
	switch x := v.(type) {
	case bson.D:
		if f, ok := value.Lookup(x, path[0]); ok {
			collectSortValues(f, path[1:], out)
		} else {
			*out = append(*out, nil)
		}
	case bson.M:
		collectSortValues(value.AsDoc(x), path, out)
	case bson.A:
		if i, err := strconv.Atoi(path[0]); err == nil && i >= 0 && i < len(x) {
			collectSortValues(x[i], path[1:], out)
		}
		for _, el := range x {
			switch el.(type) {
			case bson.D, bson.M:
				collectSortValues(el, path, out)
			}
		}
	default:
		*out = append(*out, nil)
	}
}
