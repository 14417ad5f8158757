package query

import (
	"math"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Sort is a compiled sort specification such as {a: 1, "b.c": -1}.
type Sort struct {
	keys []sortKey
	coll value.Collator
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
		if d, ok := value.Doc(e.Value); ok {
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
		if f, _ := value.ToFloat(e.Value); !math.IsNaN(f) && f > -2 && f < 2 {
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

// WithCollator returns s ordering strings under coll (nil: binary), as a
// sort under a collation does (MongoDB manual, "Collation").
func (s *Sort) WithCollator(coll value.Collator) *Sort {
	c := *s
	c.coll = coll
	return &c
}

// Compare orders a before b (-1), after (1) or as equal (0). For a path
// reaching an array, an ascending key uses the smallest element and a
// descending key the largest; a missing field sorts as null and an empty
// array as undefined, below null. Keys over paths through the same array are
// taken from the same element, as MongoDB builds them (BtreeKeyGenerator).
func (s *Sort) Compare(a, b bson.D) int {
	if len(s.keys) == 0 {
		return 0
	}
	return s.compareTuples(s.sortKey(a), s.sortKey(b))
}

// Check reports the error MongoDB raises for a document it cannot sort:
// a compound sort whose paths go through two different arrays ("parallel
// arrays"). Compare and SortDocs still order such documents, using the
// first array.
func (s *Sort) Check(doc bson.D) error {
	if len(s.keys) < 2 {
		return nil
	}
	_, err := s.keyTuples(doc, true)
	return err
}

// SortDocs sorts stably.
func (s *Sort) SortDocs(docs []bson.D) {
	if len(s.keys) == 0 || len(docs) < 2 {
		return
	}
	type keyed struct {
		doc bson.D
		key SortKey
	}
	items := make([]keyed, len(docs))
	for i, d := range docs {
		items[i] = keyed{doc: d, key: s.Key(d)}
	}
	slices.SortStableFunc(items, func(x, y keyed) int { return s.CompareKeys(x.key, y.key) })
	for i, it := range items {
		docs[i] = it.doc
	}
}

// SortKey is a document's sort key under one Sort, computed once so that
// sorting many items does not rebuild it for every comparison.
type SortKey []any

// Key returns doc's sort key; CompareKeys(Key(a), Key(b)) == Compare(a, b).
func (s *Sort) Key(doc bson.D) SortKey {
	if len(s.keys) == 0 {
		return nil
	}
	return s.sortKey(doc)
}

// CompareKeys compares keys returned by Key.
func (s *Sort) CompareKeys(a, b SortKey) int {
	if len(s.keys) == 0 {
		return 0
	}
	return s.compareTuples(a, b)
}

func (s *Sort) compareTuples(a, b []any) int {
	for i, k := range s.keys {
		c := value.CompareWith(a[i], b[i], s.coll)
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// sortKey is the document's key: of all the key tuples the paths produce,
// the one that sorts first under the pattern.
func (s *Sort) sortKey(doc bson.D) []any {
	tuples, _ := s.keyTuples(doc, false)
	best := tuples[0]
	for _, t := range tuples[1:] {
		if s.compareTuples(t, best) < 0 {
			best = t
		}
	}
	return best
}

func (s *Sort) keyTuples(doc bson.D, strict bool) ([][]any, error) {
	g := &keyGen{strict: strict}
	fields := make([][]string, len(s.keys))
	for i, k := range s.keys {
		fields[i] = k.path
	}
	err := g.keys(doc, fields, make([]any, len(s.keys)), make([]*positional, len(s.keys)))
	return g.out, err
}

// keyGen generates index-style keys the way MongoDB's BtreeKeyGenerator
// does (src/mongo/db/index/btree_key_generator.cpp): one array along the
// paths is expanded into one key per element (an empty array gives
// undefined at the end of a path, null in the middle), elements without
// the rest of a path give null, and a numeric component picks an element.
type keyGen struct {
	strict bool // fail on parallel arrays instead of keeping the second whole
	out    [][]any
}

// positional records a numeric path component resolved against an array:
// elt is the element it names, dotted the value the rest of the path leads
// to from the array, rest what remains of the path after that.
type positional struct {
	elt    any
	dotted any
	rest   []string
}

// keys extracts each unfinished path (fields[i], empty once resolved) from
// container, whose resolved values are in fixed.
func (g *keyGen) keys(container any, fields [][]string, fixed []any, pos []*positional) error {
	fields = slices.Clone(fields)
	fixed = slices.Clone(fixed)
	var arr bson.A
	arrID := ""
	var arrIdxs []int
	mayExpand := true
	for i, f := range fields {
		if len(f) == 0 {
			continue
		}
		v, rest, id, nested := extractNext(container, f, pos[i])
		a, isArr := v.(bson.A)
		switch {
		case isMissing(v):
			fixed[i], fields[i] = nil, nil
		case !isArr:
			fixed[i], fields[i] = v, nil
		case arrIdxs == nil || id == arrID:
			arr, arrID = a, id
			arrIdxs = append(arrIdxs, i)
			fields[i] = rest
			if nested {
				mayExpand = false
			}
		case g.strict:
			return mongoerr.New(mongoerr.BadValue, "cannot sort with keys that are parallel arrays")
		default:
			fixed[i], fields[i] = a, nil
		}
	}
	if arrIdxs == nil {
		g.out = append(g.out, fixed)
		return nil
	}
	if len(arr) == 0 {
		return g.element(fields, fixed, bson.Undefined{}, arr, arrIdxs, true, make([]*positional, len(fields)))
	}
	sub := make([]*positional, len(fields))
	for _, i := range arrIdxs {
		if len(fields[i]) == 0 {
			continue
		}
		if idx, ok := arrayIndex(fields[i][0]); ok && idx < len(arr) {
			dotted, rest := extractAlong(arr, fields[i])
			sub[i] = &positional{elt: arr[idx], dotted: dotted, rest: rest}
		}
	}
	for _, e := range arr {
		if err := g.element(fields, fixed, e, arr, arrIdxs, mayExpand, sub); err != nil {
			return err
		}
	}
	return nil
}

// element continues key generation into one element of the expanded array.
func (g *keyGen) element(fields [][]string, fixed []any, elem any, arr bson.A, arrIdxs []int, mayExpand bool, pos []*positional) error {
	fixed = slices.Clone(fixed)
	for _, i := range arrIdxs {
		if len(fields[i]) == 0 {
			if mayExpand {
				fixed[i] = elem
			} else {
				fixed[i] = arr
			}
		}
	}
	var container any = bson.D{}
	if d, ok := value.Doc(elem); ok {
		container = d
	}
	return g.keys(container, fields, fixed, pos)
}

// extractNext finds path in container, or through a positional component
// resolved earlier. id identifies the array found, for the parallel check;
// nested reports a positional component naming an array inside an array.
func extractNext(container any, path []string, pos *positional) (v any, rest []string, id string, nested bool) {
	if _, ok := lookupAny(container, path[0]); ok || pos == nil {
		v, rest = extractAlong(container, path)
		return v, rest, "field:" + strings.Join(path[:len(path)-len(rest)], "."), false
	}
	_, nested = pos.elt.(bson.A)
	return pos.dotted, pos.rest, "positional:" + strings.Join(path, "."), nested
}

// extractAlong follows path through documents (and, from an array, by
// index) until its end or an array, returning the value (value.Missing if
// none) and the rest of the path.
func extractAlong(container any, path []string) (any, []string) {
	cur := container
	for i, part := range path {
		v, ok := lookupAny(cur, part)
		if !ok {
			return value.Missing{}, nil
		}
		if _, isArr := v.(bson.A); isArr || i == len(path)-1 {
			return v, path[i+1:]
		}
		if _, isDoc := value.Doc(v); !isDoc {
			return value.Missing{}, nil
		}
		cur = v
	}
	return value.Missing{}, nil
}

func lookupAny(container any, key string) (any, bool) {
	if a, ok := container.(bson.A); ok {
		i, ok := arrayIndex(key)
		if !ok || i >= len(a) {
			return nil, false
		}
		return a[i], true
	}
	d, ok := value.Doc(container)
	if !ok {
		return nil, false
	}
	return value.Lookup(d, key)
}

func isMissing(v any) bool {
	_, ok := v.(value.Missing)
	return ok
}
