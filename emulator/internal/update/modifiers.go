package update

import (
	"math"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// modifier is one update operator bound to its argument (MongoDB's
// ModifierNode subclasses).
type modifier interface {
	// update changes the existing element e and reports whether it did.
	update(a *applier, e *elem) (bool, error)
	// create gives the value of the field the operator creates when its
	// path is missing; ok is false for operators that never create one.
	create(a *applier) (v any, ok bool, err error)
}

// leaf runs a modifier at the end of a path (ModifierNode::apply).
type leaf struct {
	mod            modifier
	insertOnly     bool // $setOnInsert
	allowNonViable bool // $unset: a path through a scalar is merely missing
	removes        bool // $unset: nothing is written, so nothing to validate
}

func (l *leaf) apply(a *applier, el *elem) error {
	if l.insertOnly && !a.inserting {
		return nil
	}
	if len(a.toCreate) > 0 {
		return l.applyNew(a, el)
	}
	return l.applyExisting(a, el)
}

func (l *leaf) applyExisting(a *applier, e *elem) error {
	changed, err := l.mod.update(a, e)
	if err != nil || !changed {
		return err
	}
	if a.taken[0] == "_id" {
		return immutableID(strings.Join(a.taken, "."))
	}
	if !a.inserting && !l.removes && len(a.taken) == 1 && strings.HasPrefix(e.name, "$") {
		if err := checkTopLevelDollar(a.root, e); err != nil {
			return err
		}
	}
	a.changed = true
	return nil
}

func (l *leaf) applyNew(a *applier, el *elem) error {
	v, creates, err := l.mod.create(a)
	if err != nil {
		return err
	}
	if !creates {
		if l.allowNonViable {
			return nil
		}
		return checkViability(a, el)
	}
	first, err := createPath(a.toCreate, el, v)
	if err != nil {
		return err
	}
	if !a.inserting && len(a.taken) == 0 && strings.HasPrefix(first.name, "$") {
		if err := checkTopLevelDollar(a.root, first); err != nil {
			return err
		}
	}
	if len(a.taken) > 0 && a.taken[0] == "_id" {
		return mongoerr.New(mongoerr.ImmutableField,
			"Updating the path '%s' to %s would modify the immutable field '_id'", strings.Join(a.taken, "."), el)
	}
	a.changed = true
	return nil
}

// checkViability fails an operator that does not create fields ($pop,
// $pull, $pullAll) on a missing path that could not be created either.
func checkViability(a *applier, el *elem) error {
	switch el.val.(type) {
	case *object:
		return nil
	case *array:
		if _, ok := arrayIndex(a.toCreate[0]); ok {
			return nil
		}
	}
	return mongoerr.New(mongoerr.PathNotViable, "Cannot use the part (%s) of (%s) to traverse the element ({%s})",
		a.toCreate[0], a.path(), el)
}

func checkTopLevelDollar(root, e *elem) error {
	o := root.val.(*object)
	return checkDollarField(fieldsOfElem(o), slices.Index(o.fields, e))
}

// $set, $setOnInsert

type setMod struct{ v any }

func (m setMod) update(_ *applier, e *elem) (bool, error) {
	if value.Identical(e.bson(), m.v) {
		return false, nil
	}
	e.set(m.v)
	return true, nil
}

func (m setMod) create(*applier) (any, bool, error) { return m.v, true, nil }

// setElemMod is the $set half of $rename: unlike $set it always counts as
// a change.
type setElemMod struct{ v any }

func (m setElemMod) update(_ *applier, e *elem) (bool, error) {
	e.set(m.v)
	return true, nil
}

func (m setElemMod) create(*applier) (any, bool, error) { return m.v, true, nil }

// $unset

type unsetMod struct{}

// update removes a field; an array element becomes null instead, so that
// the other elements keep their indexes.
func (unsetMod) update(_ *applier, e *elem) (bool, error) {
	switch p := e.parent.val.(type) {
	case *array:
		e.val = nil
	case *object:
		p.remove(e)
	}
	return true, nil
}

func (unsetMod) create(*applier) (any, bool, error) { return nil, false, nil }

// $inc, $mul

type arithMod struct {
	op string // "$inc" or "$mul"
	v  any
}

func (m arithMod) update(a *applier, e *elem) (bool, error) {
	if !value.IsNumber(e.val) {
		return false, mongoerr.New(mongoerr.TypeMismatch,
			"Cannot apply %s to a value of non-numeric type. {%s} has the field '%s' of non-numeric type %s",
			m.op, idString(a.root), e.fieldName(), value.TypeAlias(e.bson()))
	}
	r, err := m.compute(e.val)
	if err != nil {
		return false, mongoerr.New(mongoerr.BadValue, "Failed to apply %s operations to current value (%s) for document {%s}",
			m.op, debugNumber(e.val), idString(a.root))
	}
	if sameNumber(r, e.val) {
		return false, nil
	}
	e.val = r
	return true, nil
}

func (m arithMod) compute(cur any) (any, error) {
	if m.op == "$inc" {
		return value.Add(cur, m.v)
	}
	return value.Multiply(cur, m.v)
}

// create: $inc sets the increment; $mul sets a zero of the multiplier's
// type.
func (m arithMod) create(*applier) (any, bool, error) {
	if m.op == "$inc" {
		return m.v, true, nil
	}
	z, err := value.Multiply(m.v, int32(0))
	return z, true, err
}

// sameNumber is SafeNum::isIdentical: same type and equal value (so 0.0
// and -0.0 are the same, NaN is not itself).
func sameNumber(a, b any) bool {
	switch x := a.(type) {
	case int32:
		y, ok := b.(int32)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case bson.Decimal128:
		y, ok := b.(bson.Decimal128)
		return ok && value.Equal(x, y)
	}
	return false
}

// $min, $max

type compareMod struct {
	max bool
	v   any
}

func (m compareMod) update(_ *applier, e *elem) (bool, error) {
	c := value.Compare(e.bson(), m.v)
	if c == 0 || (m.max && c > 0) || (!m.max && c < 0) {
		return false, nil
	}
	e.set(m.v)
	return true, nil
}

func (m compareMod) create(*applier) (any, bool, error) { return m.v, true, nil }

// $currentDate

type currentDateMod struct{ timestamp bool }

func (m currentDateMod) now(a *applier) any {
	if m.timestamp {
		return newTimestamp(a.now)
	}
	return bson.NewDateTimeFromTime(a.now())
}

func (m currentDateMod) update(a *applier, e *elem) (bool, error) {
	e.set(m.now(a))
	return true, nil
}

func (m currentDateMod) create(a *applier) (any, bool, error) { return m.now(a), true, nil }

// $bit

type bitOp struct {
	op      string // "and", "or" or "xor"
	operand any    // int32 or int64
}

type bitMod struct{ ops []bitOp }

func (m bitMod) compute(v any) any {
	for _, op := range m.ops {
		x, _ := value.ToInt64(v)
		y, _ := value.ToInt64(op.operand)
		var r int64
		switch op.op {
		case "and":
			r = x & y
		case "or":
			r = x | y
		default:
			r = x ^ y
		}
		_, v32 := v.(int32)
		_, o32 := op.operand.(int32)
		if v32 && o32 {
			v = int32(r)
		} else {
			v = r
		}
	}
	return v
}

func (m bitMod) update(a *applier, e *elem) (bool, error) {
	switch e.val.(type) {
	case int32, int64:
	default:
		return false, mongoerr.New(mongoerr.BadValue,
			"Cannot apply $bit to a value of non-integral type.{%s} has the field %s of non-integer type %s",
			idString(a.root), e.fieldName(), value.TypeAlias(e.bson()))
	}
	r := m.compute(e.val)
	if value.Identical(r, e.val) {
		return false, nil
	}
	e.val = r
	return true, nil
}

func (m bitMod) create(*applier) (any, bool, error) { return m.compute(int32(0)), true, nil }

// $push

type pushMod struct {
	values   bson.A
	position int64
	slice    int64 // math.MaxInt64 when absent
	sort     *pushSort
}

type pushSort struct {
	whole   bool   // sort by the elements themselves
	desc    bool   // when whole
	pattern bson.D // field paths to ±1, when not whole
}

func (m pushMod) update(a *applier, e *elem) (bool, error) {
	if _, ok := e.val.(*array); !ok {
		return false, mongoerr.New(mongoerr.BadValue, "The field '%s' must be an array but is of type %s in document {%s}",
			strings.Join(a.taken, "."), value.TypeAlias(e.bson()), idString(a.root))
	}
	before := e.bson().(bson.A)
	after := m.push(before)
	// MongoDB notices that an in-place push changed no byte (a $sort of a
	// sorted array with nothing to add) and reports no modification.
	if value.Identical(before, after) {
		return false, nil
	}
	e.set(after)
	return true, nil
}

func (m pushMod) create(*applier) (any, bool, error) { return m.push(bson.A{}), true, nil }

// push inserts the values at the position, then sorts, then slices
// (PushNode::performPush).
func (m pushMod) push(items bson.A) bson.A {
	out := slices.Clone(items)
	if len(m.values) > 0 {
		n := int64(len(out))
		var at int64
		switch p := m.position; {
		case n == 0 || p > n:
			at = n
		case p > 0:
			at = p
		case p < 0 && -p < n:
			at = n + p
		default:
			at = 0
		}
		out = slices.Insert(out, int(at), m.values...)
	}
	if m.sort != nil {
		slices.SortStableFunc(out, m.sort.compare)
	}
	limit := m.slice
	if limit == math.MinInt64 {
		limit = math.MaxInt64
	} else if limit < 0 {
		limit = -limit
	}
	if int64(len(out)) > limit {
		if m.slice >= 0 {
			out = out[:limit]
		} else {
			out = out[int64(len(out))-limit:]
		}
	}
	return out
}

// compare orders two array elements by the $sort spec (PatternElementCmp):
// whole values, or the values at the pattern's paths (null when missing),
// a non-document element counting as {"": element}.
func (s *pushSort) compare(x, y any) int {
	if s.whole {
		c := value.Compare(x, y)
		if s.desc {
			c = -c
		}
		return c
	}
	for _, f := range s.pattern {
		c := value.Compare(sortKey(x, f.Key), sortKey(y, f.Key))
		if dir, _ := value.ToFloat(f.Value); dir < 0 {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func sortKey(v any, path string) any {
	d, ok := v.(bson.D)
	if !ok {
		d = bson.D{{Key: "", Value: v}}
	}
	got, ok := value.Get(d, path)
	if !ok {
		return nil
	}
	return got
}

// $addToSet

type addToSetMod struct{ values bson.A }

func (m addToSetMod) update(_ *applier, e *elem) (bool, error) {
	arr, ok := e.val.(*array)
	if !ok {
		return false, mongoerr.New(mongoerr.BadValue,
			"Cannot apply $addToSet to non-array field. Field named '%s' has non-array type %s",
			e.fieldName(), value.TypeAlias(e.bson()))
	}
	present := e.bson().(bson.A)
	changed := false
	for _, v := range m.values {
		if !slices.ContainsFunc(present, func(p any) bool { return value.Equal(p, v) }) {
			present = append(present, v)
			arr.items = append(arr.items, newElem("", v, e))
			changed = true
		}
	}
	return changed, nil
}

func (m addToSetMod) create(*applier) (any, bool, error) { return m.values, true, nil }

// $pull, $pullAll

type pullMod struct {
	op    string
	match func(v any) (bool, error)
}

func (m pullMod) update(_ *applier, e *elem) (bool, error) {
	arr, ok := e.val.(*array)
	if !ok {
		return false, mongoerr.New(mongoerr.BadValue, "Cannot apply %s to a non-array value", m.op)
	}
	kept := make([]*elem, 0, len(arr.items))
	for _, item := range arr.items {
		drop, err := m.match(item.bson())
		if err != nil {
			return false, err
		}
		if !drop {
			kept = append(kept, item)
		}
	}
	if len(kept) == len(arr.items) {
		return false, nil
	}
	arr.items = kept
	return true, nil
}

func (pullMod) create(*applier) (any, bool, error) { return nil, false, nil }

// $pop

type popMod struct{ first bool }

func (m popMod) update(a *applier, e *elem) (bool, error) {
	arr, ok := e.val.(*array)
	if !ok {
		return false, mongoerr.New(mongoerr.TypeMismatch, "Path '%s' contains an element of non-array type '%s'",
			strings.Join(a.taken, "."), value.TypeAlias(e.bson()))
	}
	if len(arr.items) == 0 {
		return false, nil
	}
	if m.first {
		arr.items = arr.items[1:]
	} else {
		arr.items = arr.items[:len(arr.items)-1]
	}
	return true, nil
}

func (popMod) create(*applier) (any, bool, error) { return nil, false, nil }

// $rename

// renameLeaf sits at the destination path; it moves the source value
// there, as a $set of the destination followed by an $unset of the source
// (RenameNode).
type renameLeaf struct{ from []string }

func (r *renameLeaf) apply(a *applier, el *elem) error {
	src, err := findExisting(a.root, r.from)
	if err != nil || src == nil {
		return err
	}
	from := strings.Join(r.from, ".")
	for p := src.parent; p != a.root; p = p.parent {
		if _, ok := p.val.(*array); ok {
			return mongoerr.New(mongoerr.BadValue,
				"The source field cannot be an array element, '%s' in doc with %s has an array field called '%s'",
				from, idString(a.root), p.fieldName())
		}
	}
	start := el.parent
	if len(a.toCreate) > 0 {
		start = el
	}
	for p := start; p != nil && p != a.root; p = p.parent {
		if _, ok := p.val.(*array); ok {
			return mongoerr.New(mongoerr.BadValue,
				"The destination field cannot be an array element, '%s' in doc with %s has an array field called '%s'",
				a.path(), idString(a.root), p.fieldName())
		}
	}
	set := &leaf{mod: setElemMod{v: src.bson()}}
	if err := set.apply(a, el); err != nil {
		return err
	}
	taken, toCreate := a.taken, a.toCreate
	a.taken, a.toCreate = slices.Clone(r.from), nil
	unset := &leaf{mod: unsetMod{}, allowNonViable: true, removes: true}
	err = unset.applyExisting(a, src)
	a.taken, a.toCreate = taken, toCreate
	return err
}

// findExisting looks a path up from the root, through documents and array
// indexes; a path that runs into a scalar, or names a field of an array, is
// not viable (pathsupport::findLongestPrefix). A missing element is nil.
func findExisting(root *elem, parts []string) (*elem, error) {
	cur := root
	for _, p := range parts {
		var next *elem
		switch x := cur.val.(type) {
		case *object:
			next = x.get(p)
		case *array:
			i, ok := arrayIndex(p)
			if !ok {
				return nil, notViable(p, parts, cur)
			}
			if i < uint64(len(x.items)) {
				next = x.items[i]
			}
		default:
			return nil, notViable(p, parts, cur)
		}
		if next == nil {
			return nil, nil
		}
		cur = next
	}
	return cur, nil
}

func notViable(part string, parts []string, at *elem) error {
	return mongoerr.New(mongoerr.PathNotViable, "cannot use the part (%s of %s) to traverse the element ({%s})",
		part, strings.Join(parts, "."), at)
}
