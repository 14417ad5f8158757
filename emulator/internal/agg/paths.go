package agg

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/value"
)

// setPath returns a copy of d with the dotted path set to v, replacing
// any non-document on the way with a new document. d itself is unchanged;
// untouched values are shared.
func setPath(d bson.D, path []string, v any) bson.D {
	out := make(bson.D, 0, len(d)+1)
	found := false
	for _, e := range d {
		if e.Key != path[0] {
			out = append(out, e)
			continue
		}
		found = true
		if len(path) == 1 {
			out = append(out, bson.E{Key: e.Key, Value: v})
			continue
		}
		sub, _ := value.Doc(e.Value)
		out = append(out, bson.E{Key: e.Key, Value: setPath(sub, path[1:], v)})
	}
	if !found {
		if len(path) == 1 {
			out = append(out, bson.E{Key: path[0], Value: v})
		} else {
			out = append(out, bson.E{Key: path[0], Value: setPath(nil, path[1:], v)})
		}
	}
	return out
}

// removePath returns a copy of d without the dotted path (no array
// traversal).
func removePath(d bson.D, path []string) bson.D {
	out := make(bson.D, 0, len(d))
	for _, e := range d {
		if e.Key != path[0] {
			out = append(out, e)
			continue
		}
		if len(path) == 1 {
			continue
		}
		if sub, ok := value.Doc(e.Value); ok {
			out = append(out, bson.E{Key: e.Key, Value: removePath(sub, path[1:])})
			continue
		}
		out = append(out, e)
	}
	return out
}

// getPath reads a dotted path through documents only, as $unwind does.
func getPath(d bson.D, path []string) (any, bool) {
	var cur any = d
	for _, seg := range path {
		doc, ok := value.Doc(cur)
		if !ok {
			return nil, false
		}
		if cur, ok = value.Lookup(doc, seg); !ok {
			return nil, false
		}
	}
	return cur, true
}

// queryValues collects the values a query on path compares against:
// arrays along the way fan out, a leaf array contributes itself and its
// elements, and a missing path contributes null.
func queryValues(d bson.D, path string) []any {
	var out []any
	collectQueryValues(d, strings.Split(path, "."), &out)
	if len(out) == 0 {
		out = append(out, nil)
	}
	return out
}

func collectQueryValues(v any, path []string, out *[]any) {
	if len(path) == 0 {
		*out = append(*out, v)
		if a, ok := v.(bson.A); ok {
			*out = append(*out, a...)
		}
		return
	}
	switch x := v.(type) {
	case bson.D, bson.M:
		doc, _ := value.Doc(x)
		if f, ok := value.Lookup(doc, path[0]); ok {
			collectQueryValues(f, path[1:], out)
		}
	case bson.A:
		for _, el := range x {
			if _, ok := value.Doc(el); ok {
				collectQueryValues(el, path, out)
			}
		}
	}
}
