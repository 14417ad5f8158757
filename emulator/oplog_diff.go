package emulator

import (
	"reflect"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/value"
)

// updateDesc is an update event's updateDescription. MongoDB derives it
// from the update's $v:2 oplog delta; the emulator computes the same
// delta by comparing the document before and after, at the granularity
// the update operators name (a $set of a whole subdocument reports that
// field, a $set of "a.b" reports "a.b"), and, for pipeline updates, at the
// finest granularity, as the server's document differ does
// (docs/change_streams.md; manual "Change Events", update event).
type updateDesc struct {
	updated   bson.D
	removed   bson.A
	truncated bson.A
	// disambiguated maps dotted paths with numeric components to their
	// components, array indexes as numbers (MongoDB 6.1+, shown with
	// showExpandedEvents).
	disambiguated bson.D
}

func (u *updateDesc) doc(expanded bool) bson.D {
	d := bson.D{
		{Key: "updatedFields", Value: orEmptyDoc(u.updated)},
		{Key: "removedFields", Value: orEmpty(u.removed)},
		{Key: "truncatedArrays", Value: orEmpty(u.truncated)},
	}
	if expanded {
		d = append(d, bson.E{Key: "disambiguatedPaths", Value: orEmptyDoc(u.disambiguated)})
	}
	return d
}

func orEmptyDoc(d bson.D) bson.D {
	if d == nil {
		return bson.D{}
	}
	return d
}

// opPath is a path an update operator names; grows marks array
// operators ($push, $pull, ...) whose array is diffed element-wise.
type opPath struct {
	parts []string
	grows bool
}

var arrayOperators = map[string]bool{"$push": true, "$addToSet": true, "$pop": true, "$pull": true, "$pullAll": true}

// updatePaths returns the paths an operator update names, or nil paths
// for a pipeline update (diffed fully); ok is false for a replacement.
func updatePaths(u any) (paths []opPath, ok bool) {
	switch t := u.(type) {
	case bson.A:
		return nil, true
	case bson.D:
		if len(t) == 0 || !strings.HasPrefix(t[0].Key, "$") {
			return nil, false
		}
		for _, op := range t {
			for _, f := range value.AsDoc(op.Value) {
				paths = append(paths, opPath{parts: strings.Split(f.Key, "."), grows: arrayOperators[op.Key]})
				if op.Key == "$rename" {
					if to, ok := f.Value.(string); ok {
						paths = append(paths, opPath{parts: strings.Split(to, ".")})
					}
				}
			}
		}
		if paths == nil {
			paths = []opPath{}
		}
		return paths, true
	}
	return nil, false
}

type differ struct {
	paths []opPath // nil: recurse everywhere
	out   *updateDesc
}

func diffDocs(pre, post bson.D, paths []opPath) *updateDesc {
	d := differ{paths: paths, out: &updateDesc{}}
	d.object(pre, post, nil)
	return d.out
}

// recurse reports whether the diff may descend into path rather than
// report it whole.
func (d differ) recurse(path []any, array bool) bool {
	if d.paths == nil {
		return true
	}
	for _, p := range d.paths {
		if len(p.parts) < len(path) || (len(p.parts) == len(path) && !(array && p.grows)) {
			continue
		}
		match := true
		for i, c := range path {
			if pc := p.parts[i]; !strings.HasPrefix(pc, "$") && pc != component(c) {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func component(c any) string {
	if i, ok := c.(int); ok {
		return strconv.Itoa(i)
	}
	return c.(string)
}

func (d differ) object(pre, post bson.D, prefix []any) {
	for _, e := range post {
		path := append(append([]any(nil), prefix...), e.Key)
		old, had := value.Lookup(pre, e.Key)
		if !had {
			d.update(path, e.Value)
			continue
		}
		d.value(old, e.Value, path)
	}
	for _, e := range pre {
		if _, ok := value.Lookup(post, e.Key); !ok {
			path := append(append([]any(nil), prefix...), e.Key)
			d.out.removed = append(d.out.removed, d.name(path))
		}
	}
}

func (d differ) value(old, cur any, path []any) {
	if value.Equal(old, cur) && sameType(old, cur) {
		return
	}
	switch n := cur.(type) {
	case bson.D:
		if o, ok := old.(bson.D); ok && d.recurse(path, false) {
			d.object(o, n, path)
			return
		}
	case bson.A:
		if o, ok := old.(bson.A); ok && d.recurse(path, true) {
			d.array(o, n, path)
			return
		}
	}
	d.update(path, cur)
}

// sameType keeps a change of numeric type (1 to 1.0) an update, as the
// server's byte-wise comparison does.
func sameType(a, b any) bool { return reflect.TypeOf(a) == reflect.TypeOf(b) }

func (d differ) array(pre, post bson.A, prefix []any) {
	if len(post) < len(pre) {
		d.out.truncated = append(d.out.truncated, bson.D{
			{Key: "field", Value: d.name(prefix)}, {Key: "newSize", Value: int32(len(post))}})
	}
	for i, v := range post {
		path := append(append([]any(nil), prefix...), i)
		if i >= len(pre) {
			d.update(path, v)
			continue
		}
		d.value(pre[i], v, path)
	}
}

func (d differ) update(path []any, v any) {
	d.out.updated = append(d.out.updated, bson.E{Key: d.name(path), Value: v})
}

// name joins path with dots and records it in disambiguatedPaths when a
// component is numeric, since the dotted form cannot say whether "1" is a
// field name or an array index.
func (d differ) name(path []any) string {
	parts := make([]string, len(path))
	ambiguous := false
	for i, c := range path {
		parts[i] = component(c)
		if _, isIndex := c.(int); isIndex {
			ambiguous = true
		} else if _, err := strconv.Atoi(parts[i]); err == nil {
			ambiguous = true
		}
	}
	name := strings.Join(parts, ".")
	if ambiguous {
		comps := make(bson.A, len(path))
		for i, c := range path {
			if n, ok := c.(int); ok {
				comps[i] = int32(n)
			} else {
				comps[i] = c
			}
		}
		d.out.disambiguated = append(d.out.disambiguated, bson.E{Key: name, Value: comps})
	}
	return name
}
