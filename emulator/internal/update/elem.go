package update

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// elem is one field or array item of the private, mutable copy of a
// document that Apply edits, in the manner of MongoDB's mutablebson:
// containers hold pointers to their children and every child knows its
// parent, so an operator deep in the update tree can replace, remove or
// create a value in place, and $rename can reach a field elsewhere.
type elem struct {
	name   string // field name; empty for array items, whose name is their index
	val    any    // *object, *array or a scalar BSON value
	parent *elem
}

type object struct{ fields []*elem }

type array struct{ items []*elem }

// newElem copies v into a fresh element. Containers are copied deeply, so
// nothing in the result aliases v.
func newElem(name string, v any, parent *elem) *elem {
	e := &elem{name: name, parent: parent}
	e.set(v)
	return e
}

// set replaces e's value with a deep copy of v.
func (e *elem) set(v any) {
	switch x := v.(type) {
	case bson.D:
		o := &object{fields: make([]*elem, len(x))}
		for i, f := range x {
			o.fields[i] = newElem(f.Key, f.Value, e)
		}
		e.val = o
	case bson.M:
		e.set(value.AsDoc(x))
	case bson.A:
		a := &array{items: make([]*elem, len(x))}
		for i, item := range x {
			a.items[i] = newElem("", item, e)
		}
		e.val = a
	case []any:
		e.set(bson.A(x))
	case int:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			e.val = int32(x)
		} else {
			e.val = int64(x)
		}
	default:
		e.val = value.Clone(x)
	}
}

// bson returns e's value as a fresh BSON value (bson.D for documents, bson.A
// for arrays) that shares nothing with the tree.
func (e *elem) bson() any {
	switch x := e.val.(type) {
	case *object:
		d := make(bson.D, len(x.fields))
		for i, f := range x.fields {
			d[i] = bson.E{Key: f.name, Value: f.bson()}
		}
		return d
	case *array:
		a := make(bson.A, len(x.items))
		for i, item := range x.items {
			a[i] = item.bson()
		}
		return a
	}
	return e.val
}

// doc returns the root element's value as a document.
func (e *elem) doc() bson.D {
	d, _ := e.bson().(bson.D)
	if d == nil {
		d = bson.D{}
	}
	return d
}

func (o *object) get(name string) *elem {
	for _, f := range o.fields {
		if f.name == name {
			return f
		}
	}
	return nil
}

func (o *object) remove(e *elem) {
	for i, f := range o.fields {
		if f == e {
			o.fields = append(o.fields[:i], o.fields[i+1:]...)
			return
		}
	}
}

// child returns the child of e called field: a document field, or an array
// item when field is a base-10 index. Anything else has no children.
func child(e *elem, field string) *elem {
	switch x := e.val.(type) {
	case *object:
		return x.get(field)
	case *array:
		if i, ok := arrayIndex(field); ok && i < uint64(len(x.items)) {
			return x.items[i]
		}
	}
	return nil
}

// arrayIndex parses a path component as an array index: digits only, as
// MongoDB's parseUnsignedBase10Integer (so "01" is 1 and "-1" is a name).
// Indexes too large to represent come back as MaxUint64, which is past any
// array and too far to pad to.
func arrayIndex(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return math.MaxUint64, true
	}
	return n, true
}

// fieldName is e's name as MongoDB prints it: arrays items by index.
func (e *elem) fieldName() string {
	if e.parent != nil {
		if a, ok := e.parent.val.(*array); ok {
			for i, item := range a.items {
				if item == e {
					return strconv.Itoa(i)
				}
			}
		}
	}
	return e.name
}

// String renders e the way MongoDB's error messages show an element,
// "name: value".
func (e *elem) String() string { return e.fieldName() + ": " + format(e.bson()) }

// idString is the "_id: …" part of MongoDB's messages about a document.
func idString(root *elem) string {
	if o, ok := root.val.(*object); ok {
		if id := o.get("_id"); id != nil {
			return id.String()
		}
	}
	return "no id"
}

// maxPadding is how many nulls MongoDB will add to reach an array index
// (pathsupport::kMaxPaddingAllowed).
const maxPadding = 1500000

// createPath adds the missing path parts under at, which is the deepest
// existing element on the way, with v at the end: intermediate parts become
// documents, except that a numeric part directly under an array pads the
// array with nulls up to that index. It returns the first element created.
// This is MongoDB's pathsupport::createPathAt.
func createPath(parts []string, at *elem, v any) (*elem, error) {
	build := func(parts []string, parent *elem) *elem {
		e := &elem{name: parts[0], parent: parent}
		cur := e
		for _, p := range parts[1:] {
			next := &elem{name: p, parent: cur}
			cur.val = &object{fields: []*elem{next}}
			cur = next
		}
		cur.set(v)
		return e
	}
	switch x := at.val.(type) {
	case *object:
		first := build(parts, at)
		x.fields = append(x.fields, first)
		return first, nil
	case *array:
		idx, ok := arrayIndex(parts[0])
		if !ok {
			return nil, cannotCreate(parts[0], at)
		}
		if idx > uint64(len(x.items)) && idx-uint64(len(x.items)) > maxPadding {
			return nil, coded(codeCannotBackfillArray, "CannotBackfillArray", "can't backfill more than %d elements", maxPadding)
		}
		for uint64(len(x.items)) < idx {
			x.items = append(x.items, &elem{parent: at})
		}
		first := build(parts, at)
		first.name = ""
		x.items = append(x.items, first)
		return first, nil
	}
	return nil, cannotCreate(parts[0], at)
}

func cannotCreate(part string, at *elem) error {
	return mongoerr.New(mongoerr.PathNotViable, "Cannot create field '%s' in element {%s}", part, at)
}

// ensureIDFirst moves _id to the front of d, as MongoDB does to every
// document it writes.
func ensureIDFirst(d bson.D) bson.D {
	for i, e := range d {
		if e.Key == "_id" {
			if i > 0 {
				copy(d[1:i+1], d[:i])
				d[0] = e
			}
			break
		}
	}
	return d
}

// format renders a value for error messages, close to MongoDB's own
// rendering.
func format(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case bson.D:
		if len(x) == 0 {
			return "{}"
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = e.Key + ": " + format(e.Value)
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	case bson.A:
		if len(x) == 0 {
			return "[]"
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = format(e)
		}
		return "[ " + strings.Join(parts, ", ") + " ]"
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEIN") {
			s += ".0"
		}
		return s
	case bson.ObjectID:
		return "ObjectId('" + x.Hex() + "')"
	case bson.DateTime:
		return "new Date(" + strconv.FormatInt(int64(x), 10) + ")"
	case bson.Timestamp:
		return fmt.Sprintf("Timestamp(%d, %d)", x.T, x.I)
	case bson.Decimal128:
		return "NumberDecimal(\"" + x.String() + "\")"
	case bson.Regex:
		return "/" + x.Pattern + "/" + x.Options
	}
	return fmt.Sprint(v)
}

// debugNumber renders a number the way MongoDB's SafeNum::debugString does
// in arithmetic errors.
func debugNumber(v any) string {
	switch x := v.(type) {
	case int32:
		return fmt.Sprintf("(NumberInt)%d", x)
	case int64:
		return fmt.Sprintf("(NumberLong)%d", x)
	case float64:
		return "(NumberDouble)" + strconv.FormatFloat(x, 'g', -1, 64)
	case bson.Decimal128:
		return "(NumberDecimal)" + x.String()
	}
	return format(v)
}
