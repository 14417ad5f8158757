package query

import (
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/value"
)

// details records the array offset of the element that satisfied a match,
// MongoDB's MatchDetails elemMatchKey, which the positional `$` uses.
type details struct{ key int }

func (d *details) set(offset int) {
	if d != nil && offset >= 0 {
		d.key = offset
	}
}

// node is a compiled match expression. match tests a whole document; value
// tests one value directly (MongoDB's matchesSingleElement), which is how
// the operators inside {$elemMatch: {$gt: …}} see each array element.
type node interface {
	match(doc bson.D, d *details) (bool, error)
	value(v any, d *details) (bool, error)
}

// andNode is $and and the implicit conjunction of a query's fields. As in
// MongoDB, a later child's array offset overrides an earlier one's.
type andNode struct{ kids []node }

func (n *andNode) match(doc bson.D, d *details) (bool, error) {
	for _, k := range n.kids {
		ok, err := k.match(doc, d)
		if err != nil || !ok {
			if d != nil {
				d.key = -1
			}
			return false, err
		}
	}
	return true, nil
}

func (n *andNode) value(v any, d *details) (bool, error) {
	for _, k := range n.kids {
		if ok, err := k.value(v, d); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// orNode is $or; like MongoDB it records no array offset.
type orNode struct{ kids []node }

func (n *orNode) match(doc bson.D, _ *details) (bool, error) {
	for _, k := range n.kids {
		if ok, err := k.match(doc, nil); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func (n *orNode) value(v any, d *details) (bool, error) {
	for _, k := range n.kids {
		if ok, err := k.value(v, d); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// norNode is $nor.
type norNode struct{ kids []node }

func (n *norNode) match(doc bson.D, _ *details) (bool, error) {
	ok, err := (&orNode{n.kids}).match(doc, nil)
	return !ok && err == nil, err
}

func (n *norNode) value(v any, _ *details) (bool, error) {
	ok, err := (&orNode{n.kids}).value(v, nil)
	return !ok && err == nil, err
}

// notNode is $not, $ne, $nin and {$exists: false}: the negation of the whole
// path match, so {a: {$ne: 1}} rejects {a: [1, 2]}.
type notNode struct{ kid node }

func (n *notNode) match(doc bson.D, _ *details) (bool, error) {
	ok, err := n.kid.match(doc, nil)
	return !ok && err == nil, err
}

func (n *notNode) value(v any, _ *details) (bool, error) {
	ok, err := n.kid.value(v, nil)
	return !ok && err == nil, err
}

// constNode is $alwaysTrue / $alwaysFalse, and $all with no values.
type constNode bool

func (n constNode) match(bson.D, *details) (bool, error) { return bool(n), nil }
func (n constNode) value(any, *details) (bool, error)    { return bool(n), nil }

// exprNode is $expr: an aggregation expression over the whole document.
type exprNode struct {
	ev   Evaluator
	vars map[string]any
}

func (n *exprNode) match(doc bson.D, _ *details) (bool, error) {
	v, err := n.ev.Eval(doc, n.vars)
	if err != nil {
		return false, err
	}
	return value.Truthy(v), nil
}

func (n *exprNode) value(any, *details) (bool, error) { return false, nil }

// sampleNode is $sampleRate: each document matches with probability rate.
type sampleNode float64

func (n sampleNode) match(bson.D, *details) (bool, error) { return rand.Float64() < float64(n), nil }
func (n sampleNode) value(any, *details) (bool, error)    { return false, nil }

// pred tests one value reached by a path.
type pred func(v any, d *details) (bool, error)

// pathNode applies a predicate to every value its path reaches and matches
// when any of them satisfies it.
type pathNode struct {
	path []string
	mode leafMode
	test pred
	// in is set for equality (except to a regex value), regex and $in
	// nodes, which an $or over one path may merge into a single $in.
	in *inArgs
}

// inArgs are the values and patterns of an $in.
type inArgs struct {
	eqs  []any
	res  []*regexMatcher
	coll value.Collator // for eqs; nil is binary
}

func (n *pathNode) match(doc bson.D, d *details) (bool, error) {
	var matched bool
	var err error
	walk(doc, n.path, n.mode, func(v any, offset int) bool {
		ok, e := n.test(v, d)
		if e != nil {
			err = e
			return false
		}
		if ok {
			matched = true
			d.set(offset)
			return false
		}
		return true
	})
	return matched && err == nil, err
}

func (n *pathNode) value(v any, d *details) (bool, error) { return n.test(v, d) }

// pure adapts a predicate that needs neither details nor errors.
func pure(f func(v any) bool) pred {
	return func(v any, _ *details) (bool, error) { return f(v), nil }
}

type cmpOp int

const (
	opEQ cmpOp = iota
	opLT
	opLTE
	opGT
	opGTE
)

// matchRank is MongoDB's canonical type for query comparisons, where a
// missing field (EOO) ranks with undefined, below null.
func matchRank(v any) int {
	switch v.(type) {
	case value.Missing, bson.Undefined:
		return 0
	}
	return value.Rank(v)
}

// compare is ComparisonMatchExpression::matchesSingleElement: values of
// different canonical types never compare ("type bracketing"), except that
// null equals missing and undefined, and MinKey/MaxKey bound everything.
func compare(op cmpOp, e, rhs any, coll value.Collator) bool {
	re, rr := matchRank(e), matchRank(rhs)
	if re != rr {
		switch {
		case re+rr == 5: // one is null, the other missing or undefined
			return op == opEQ || op == opLTE || op == opGTE
		case isMaxKey(rhs):
			return op == opLT || op == opLTE
		case isMinKey(rhs):
			return op == opGT || op == opGTE
		}
		return false
	}
	if op != opEQ {
		ln, rn := isNaN(e), isNaN(rhs)
		if ln || rn {
			return (op == opLTE || op == opGTE) && ln && rn
		}
	}
	c := value.CompareWith(e, rhs, coll)
	switch op {
	case opLT:
		return c < 0
	case opLTE:
		return c <= 0
	case opGT:
		return c > 0
	case opGTE:
		return c >= 0
	}
	return c == 0
}

func isMaxKey(v any) bool { _, ok := v.(bson.MaxKey); return ok }
func isMinKey(v any) bool { _, ok := v.(bson.MinKey); return ok }

func isNaN(v any) bool {
	switch x := v.(type) {
	case float64:
		return math.IsNaN(x)
	case bson.Decimal128:
		return x.IsNaN()
	}
	return false
}

func cmpPred(op cmpOp, rhs any, coll value.Collator) pred {
	return pure(func(v any) bool { return compare(op, v, rhs, coll) })
}

// regexMatcher is a compiled $regex: it matches strings and symbols by
// pattern, and stored regular expressions by identical pattern and flags.
type regexMatcher struct {
	pattern, options string
	re               *regexp.Regexp
}

func (r *regexMatcher) matches(v any) bool {
	switch x := v.(type) {
	case string:
		return r.re.MatchString(x)
	case bson.Symbol:
		return r.re.MatchString(string(x))
	case bson.Regex:
		return x.Pattern == r.pattern && x.Options == r.options
	}
	return false
}

// inPred is $in: equality with any listed value or a match of any listed
// regex; a null in the list also matches missing and undefined.
func inPred(args *inArgs) pred {
	eqs, res, coll := args.eqs, args.res, args.coll
	return pure(func(v any) bool {
		for _, x := range eqs {
			if compare(opEQ, v, x, coll) {
				return true
			}
		}
		for _, r := range res {
			if r.matches(v) {
				return true
			}
		}
		return false
	})
}

func existsPred(v any) bool {
	_, missing := v.(value.Missing)
	return !missing
}

// typeSet is the argument of $type.
type typeSet struct {
	numbers bool
	codes   map[int32]bool
}

func (t *typeSet) matches(v any) bool {
	if _, missing := v.(value.Missing); missing {
		return false
	}
	if t.numbers && value.IsNumber(v) {
		return true
	}
	return t.codes[typeCode(v)]
}

// typeCode is value.TypeNumber, also placing Go ints built by hand.
func typeCode(v any) int32 {
	if i, ok := v.(int); ok {
		if i >= math.MinInt32 && i <= math.MaxInt32 {
			return 16
		}
		return 18
	}
	return value.TypeNumber(v)
}

// modPred is ModMatchExpression: the dividend truncates toward zero and
// values not representable as a 64-bit integer never match.
func modPred(divisor, remainder int64) pred {
	return pure(func(v any) bool {
		var n int64
		switch x := v.(type) {
		case int:
			n = int64(x)
		case int32:
			n = int64(x)
		case int64:
			n = x
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return false
			}
			t := math.Trunc(x)
			if t >= 0x1p63 || t < -0x1p63 {
				return false
			}
			n = int64(t)
		case bson.Decimal128:
			var ok bool
			if n, ok = truncDecimal(x); !ok {
				return false
			}
		default:
			return false
		}
		return n%divisor == remainder
	})
}

func sizePred(size int) pred {
	return pure(func(v any) bool {
		a, ok := v.(bson.A)
		return ok && len(a) == size
	})
}

// elemMatchObject is {$elemMatch: {<query>}}: some element that is a
// document (or an array, seen as a document keyed by index) matches query.
func elemMatchObject(sub node) pred {
	return func(v any, d *details) (bool, error) {
		arr, ok := v.(bson.A)
		if !ok {
			return false, nil
		}
		for j, e := range arr {
			var doc bson.D
			switch x := e.(type) {
			case bson.A:
				doc = arrayAsDoc(x)
			default:
				if doc, ok = value.Doc(x); !ok {
					continue
				}
			}
			ok, err := sub.match(doc, nil)
			if err != nil {
				return false, err
			}
			if ok {
				d.set(j)
				return true, nil
			}
		}
		return false, nil
	}
}

func arrayAsDoc(a bson.A) bson.D {
	d := make(bson.D, len(a))
	for i, e := range a {
		d[i] = bson.E{Key: strconv.Itoa(i), Value: e}
	}
	return d
}

// elemMatchValue is {$elemMatch: {$op: …}}: some element satisfies every
// operator directly, without further array traversal.
func elemMatchValue(subs []node) pred {
	return func(v any, d *details) (bool, error) {
		arr, ok := v.(bson.A)
		if !ok {
			return false, nil
		}
	elements:
		for j, e := range arr {
			for _, s := range subs {
				ok, err := s.value(e, nil)
				if err != nil {
					return false, err
				}
				if !ok {
					continue elements
				}
			}
			d.set(j)
			return true, nil
		}
		return false, nil
	}
}

type bitsOp int

const (
	bitsAllSet bitsOp = iota
	bitsAllClear
	bitsAnySet
	bitsAnyClear
)

// bitsTest is BitTestMatchExpression: numbers are tested as 64-bit two's
// complement (positions past 63 test the sign bit), BinData bit by bit with
// zero extension.
type bitsTest struct {
	op        bitsOp
	positions []uint32
	mask      uint64
}

func (b *bitsTest) matches(v any) bool {
	if bin, ok := v.(bson.Binary); ok {
		for _, p := range b.positions {
			set := int(p/8) < len(bin.Data) && bin.Data[p/8]&(1<<(p%8)) != 0
			switch {
			case set && b.op == bitsAnySet, !set && b.op == bitsAnyClear:
				return true
			case !set && b.op == bitsAllSet, set && b.op == bitsAllClear:
				return false
			}
		}
		return b.op == bitsAllSet || b.op == bitsAllClear
	}
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case float64, bson.Decimal128:
		f, _ := value.ToFloat(x)
		if math.IsNaN(f) || f >= 0x1p63 || f < -0x1p63 || f != math.Trunc(f) {
			return false
		}
		n, _ = value.ToInt64(x)
	default:
		return false
	}
	u := uint64(n)
	switch b.op {
	case bitsAllSet:
		return u&b.mask == b.mask
	case bitsAllClear:
		return ^u&b.mask == b.mask
	case bitsAnySet:
		return u&b.mask != 0
	}
	return ^u&b.mask != 0
}
