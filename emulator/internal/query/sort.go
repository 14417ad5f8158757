package query

import (
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Sort is a compiled sort specification such as {a: 1, "b.c": -1}.
type Sort struct {
	keys []sortKey
}

type sortKey struct {
	path []string
	desc bool
}

// metaSorts are the $meta sort names MongoDB recognises
// (src/mongo/db/query/sort_pattern.cpp); none is supported here.
var metaSorts = map[string]bool{
	"textScore": true, "randVal": true, "geoNearDistance": true,
	"searchScore": true, "vectorSearchScore": true, "score": true,
}

// CompileSort parses a sort specification. Directions are numbers that
// truncate to 1 or -1; {$meta: …} answers NotImplemented; other values fail
// with MongoDB's codes.
func CompileSort(spec bson.D) (*Sort, error) {
	s := &Sort{}
	seen := map[string]bool{}
	for _, e := range spec {
		if d, ok := asDoc(e.Value); ok {
			if len(d) == 0 || d[0].Key != "$meta" {
				return nil, mongoerr.New(17312, "$meta is the only expression supported by $sort right now")
			}
			if len(d) != 1 {
				return nil, mongoerr.New(mongoerr.FailedToParse, "Cannot have additional keys in a $meta sort specification")
			}
			name, _ := d[0].Value.(string)
			if !metaSorts[name] {
				return nil, mongoerr.New(31138, "Illegal $meta sort: %s", formatElem("$meta", d[0].Value))
			}
			return nil, mongoerr.New(mongoerr.NotImplemented, "sorting by {$meta: %q} is not supported by the emulator", name)
		}
		if !value.IsNumber(e.Value) {
			return nil, mongoerr.New(15974, "Illegal key in $sort specification: %s", formatElem(e.Key, e.Value))
		}
		var dir int64
		if f, _ := value.ToFloat(e.Value); f == f && f > -2 && f < 2 {
			dir = int64(f) // safeNumberLong truncates toward zero
		}
		if dir != 1 && dir != -1 {
			return nil, mongoerr.New(15975, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
		}
		path, err := fieldPath(e.Key)
		if err != nil {
			return nil, err
		}
		if seen[e.Key] {
			return nil, mongoerr.New(7472500, "$sort key must not contain duplicate keys (duplicate: '%s')", e.Key)
		}
		seen[e.Key] = true
		s.keys = append(s.keys, sortKey{path: path, desc: dir < 0})
	}
	return s, nil
}

// Compare orders a before b (-1), after (1) or as equal (0). For a path
// reaching an array, an ascending key uses the smallest element and a
// descending key the largest; a missing field sorts as null and an empty
// array as undefined, below null.
func (s *Sort) Compare(a, b bson.D) int {
	for _, k := range s.keys {
		if c := compareKey(k, k.value(a), k.value(b)); c != 0 {
			return c
		}
	}
	return 0
}

func compareKey(k sortKey, a, b any) int {
	c := value.Compare(a, b)
	if k.desc {
		return -c
	}
	return c
}

// SortDocs sorts stably.
func (s *Sort) SortDocs(docs []bson.D) {
	if len(s.keys) == 0 || len(docs) < 2 {
		return
	}
	type keyed struct {
		doc  bson.D
		keys []any
	}
	items := make([]keyed, len(docs))
	for i, d := range docs {
		ks := make([]any, len(s.keys))
		for j, k := range s.keys {
			ks[j] = k.value(d)
		}
		items[i] = keyed{doc: d, keys: ks}
	}
	slices.SortStableFunc(items, func(x, y keyed) int {
		for j, k := range s.keys {
			if c := compareKey(k, x.keys[j], y.keys[j]); c != 0 {
				return c
			}
		}
		return 0
	})
	for i, it := range items {
		docs[i] = it.doc
	}
}

// value is the document's sort key for k: the minimum (ascending) or
// maximum (descending) of the values the path yields.
func (k sortKey) value(doc bson.D) any {
	vals := sortValues(doc, k.path, nil)
	best := vals[0]
	for _, v := range vals[1:] {
		if c := value.Compare(v, best); (c < 0 && !k.desc) || (c > 0 && k.desc) {
			best = v
		}
	}
	return best
}

// sortValues collects the values path contributes to a sort key the way
// MongoDB's BtreeKeyGenerator builds index keys: arrays fan out, an element
// or field without the path gives null, an empty array at the end of the
// path gives undefined, and a numeric component indexes an array.
func sortValues(v any, path []string, out []any) []any {
	if len(path) == 0 {
		if arr, ok := v.(bson.A); ok {
			if len(arr) == 0 {
				return append(out, bson.Undefined{})
			}
			return append(out, arr...)
		}
		return append(out, v)
	}
	if d, ok := asDoc(v); ok {
		f, ok := lookup(d, path[0])
		if !ok {
			return append(out, nil)
		}
		return sortValues(f, path[1:], out)
	}
	arr, ok := v.(bson.A)
	if !ok || len(arr) == 0 {
		return append(out, nil)
	}
	if i, ok := arrayIndex(path[0]); ok && i < len(arr) {
		return sortValues(arr[i], path[1:], out)
	}
	for _, e := range arr {
		if d, ok := asDoc(e); ok {
			out = sortValues(d, path, out)
		} else {
			out = append(out, nil)
		}
	}
	return out
}
