// Package value gives the emulator MongoDB's view of BSON values: the
// cross-type comparison order used by queries, sorts and indexes, value
// equality, hashable keys for equal values, type names for $type, deep copies
// and dotted-path lookups.
//
// Values are the Go types the driver's bson package decodes into bson.D:
// float64, string, bson.D, bson.A, bson.Binary, bson.Undefined,
// bson.ObjectID, bool, bson.DateTime, nil, bson.Regex, bson.DBPointer,
// bson.JavaScript, bson.Symbol, bson.CodeWithScope, int32, bson.Timestamp,
// int64, bson.Decimal128, bson.MinKey and bson.MaxKey.
package value

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Missing stands for a field that does not exist. It sorts and compares like
// null, which is how MongoDB treats missing fields in sorts and equality to null.
type Missing struct{}

// Canonical type ranks, following MongoDB's canonicalizeBSONType: values of
// different ranks compare by rank; numbers share one rank, as do strings and
// symbols.
const (
	rankMinKey    = -1
	rankUndefined = 0
	rankNull      = 5
	rankNumber    = 10
	rankString    = 15
	rankObject    = 20
	rankArray     = 25
	rankBinary    = 30
	rankObjectID  = 35
	rankBool      = 40
	rankDate      = 45
	rankTimestamp = 47
	rankRegex     = 50
	rankDBPointer = 55
	rankCode      = 60
	rankCodeScope = 65
	rankMaxKey    = 127
)

// Rank returns v's canonical type rank. Values of different ranks are ordered
// by rank alone.
func Rank(v any) int {
	switch v.(type) {
	case bson.MinKey:
		return rankMinKey
	case bson.Undefined:
		return rankUndefined
	case nil, Missing:
		return rankNull
	case int, int32, int64, float64, bson.Decimal128:
		return rankNumber
	case string, bson.Symbol:
		return rankString
	case bson.D, bson.M:
		return rankObject
	case bson.A:
		return rankArray
	case bson.Binary:
		return rankBinary
	case bson.ObjectID:
		return rankObjectID
	case bool:
		return rankBool
	case bson.DateTime:
		return rankDate
	case bson.Timestamp:
		return rankTimestamp
	case bson.Regex:
		return rankRegex
	case bson.DBPointer:
		return rankDBPointer
	case bson.JavaScript:
		return rankCode
	case bson.CodeWithScope:
		return rankCodeScope
	case bson.MaxKey:
		return rankMaxKey
	}
	return rankMaxKey
}

// Compare orders a and b the way MongoDB sorts them: first by canonical type
// rank, then by value. Numbers of all types compare by numeric value; NaN is
// below every other number and equal to itself.
func Compare(a, b any) int { return CompareWith(a, b, nil) }

// CompareWith is Compare with strings and symbols ordered by coll (nil:
// binary), as under a collation; field names and everything else compare
// as without one.
func CompareWith(a, b any, coll Collator) int {
	ra, rb := Rank(a), Rank(b)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch ra {
	case rankMinKey, rankMaxKey, rankUndefined, rankNull:
		return 0
	case rankNumber:
		return CompareNumbers(a, b)
	case rankString:
		if coll != nil {
			return coll.CompareStrings(stringOf(a), stringOf(b))
		}
		return strings.Compare(stringOf(a), stringOf(b))
	case rankObject:
		return compareDocs(AsDoc(a), AsDoc(b), coll)
	case rankArray:
		return compareArrays(a.(bson.A), b.(bson.A), coll)
	case rankBinary:
		x, y := a.(bson.Binary), b.(bson.Binary)
		if c := cmp.Compare(len(x.Data), len(y.Data)); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Subtype, y.Subtype); c != 0 {
			return c
		}
		return bytes.Compare(x.Data, y.Data)
	case rankObjectID:
		x, y := a.(bson.ObjectID), b.(bson.ObjectID)
		return bytes.Compare(x[:], y[:])
	case rankBool:
		x, y := a.(bool), b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case rankDate:
		return cmp.Compare(a.(bson.DateTime), b.(bson.DateTime))
	case rankTimestamp:
		x, y := a.(bson.Timestamp), b.(bson.Timestamp)
		if c := cmp.Compare(x.T, y.T); c != 0 {
			return c
		}
		return cmp.Compare(x.I, y.I)
	case rankRegex:
		x, y := a.(bson.Regex), b.(bson.Regex)
		if c := strings.Compare(x.Pattern, y.Pattern); c != 0 {
			return c
		}
		return strings.Compare(x.Options, y.Options)
	case rankDBPointer:
		x, y := a.(bson.DBPointer), b.(bson.DBPointer)
		if c := strings.Compare(x.DB, y.DB); c != 0 {
			return c
		}
		return bytes.Compare(x.Pointer[:], y.Pointer[:])
	case rankCode:
		return strings.Compare(string(a.(bson.JavaScript)), string(b.(bson.JavaScript)))
	case rankCodeScope:
		x, y := a.(bson.CodeWithScope), b.(bson.CodeWithScope)
		if c := strings.Compare(string(x.Code), string(y.Code)); c != 0 {
			return c
		}
		return CompareWith(x.Scope, y.Scope, coll)
	}
	return 0
}

// Equal reports whether a and b are equal in MongoDB's sense: Compare is 0.
// So int32(1), int64(1) and 1.0 are equal, and null equals a missing field.
func Equal(a, b any) bool { return Compare(a, b) == 0 }

func stringOf(v any) string {
	if s, ok := v.(bson.Symbol); ok {
		return string(s)
	}
	return v.(string)
}

// AsDoc returns v as a bson.D. It accepts bson.D and bson.M (with keys in
// sorted order, since a map has none); anything else gives nil.
func AsDoc(v any) bson.D {
	switch d := v.(type) {
	case bson.D:
		return d
	case bson.M:
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make(bson.D, 0, len(d))
		for _, k := range keys {
			out = append(out, bson.E{Key: k, Value: d[k]})
		}
		return out
	}
	return nil
}

func compareDocs(x, y bson.D, coll Collator) int {
	for i := 0; i < len(x) && i < len(y); i++ {
		if c := cmp.Compare(Rank(x[i].Value), Rank(y[i].Value)); c != 0 {
			return c
		}
		if c := strings.Compare(x[i].Key, y[i].Key); c != 0 {
			return c
		}
		if c := CompareWith(x[i].Value, y[i].Value, coll); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(x), len(y))
}

func compareArrays(x, y bson.A, coll Collator) int {
	for i := 0; i < len(x) && i < len(y); i++ {
		if c := CompareWith(x[i], y[i], coll); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(x), len(y))
}

// Key returns a string that is the same for two values exactly when they are
// Equal, for use as a map key (the _id index, $group, $addToSet, distinct).
func Key(v any) string { return KeyWith(v, nil) }

// KeyWith is Key for equality under coll (nil: binary): strings and
// symbols contribute their collation keys.
func KeyWith(v any, coll Collator) string {
	var b strings.Builder
	writeKey(&b, v, coll)
	return b.String()
}

func writeKey(b *strings.Builder, v any, coll Collator) {
	b.WriteString(strconv.Itoa(Rank(v)))
	b.WriteByte(':')
	switch x := v.(type) {
	case int, int32, int64, float64, bson.Decimal128:
		b.WriteString(numberKey(x))
	case string:
		b.WriteString(strconv.Quote(collKey(x, coll)))
	case bson.Symbol:
		b.WriteString(strconv.Quote(collKey(string(x), coll)))
	case bson.D, bson.M:
		b.WriteByte('{')
		for _, e := range AsDoc(x) {
			b.WriteString(strconv.Quote(e.Key))
			b.WriteByte('=')
			writeKey(b, e.Value, coll)
			b.WriteByte(',')
		}
		b.WriteByte('}')
	case bson.A:
		b.WriteByte('[')
		for _, e := range x {
			writeKey(b, e, coll)
			b.WriteByte(',')
		}
		b.WriteByte(']')
	case bson.Binary:
		b.WriteString(strconv.Itoa(int(x.Subtype)))
		b.WriteByte('/')
		b.WriteString(strconv.Quote(string(x.Data)))
	case bson.ObjectID:
		b.WriteString(x.Hex())
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case bson.DateTime:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case bson.Timestamp:
		b.WriteString(strconv.FormatUint(uint64(x.T)<<32|uint64(x.I), 10))
	case bson.Regex:
		b.WriteString(strconv.Quote(x.Pattern))
		b.WriteString(x.Options)
	case bson.DBPointer:
		b.WriteString(strconv.Quote(x.DB))
		b.WriteString(x.Pointer.Hex())
	case bson.JavaScript:
		b.WriteString(strconv.Quote(string(x)))
	case bson.CodeWithScope:
		b.WriteString(strconv.Quote(string(x.Code)))
		writeKey(b, x.Scope, coll)
	}
}

// Clone returns a deep copy of v, so that changing the copy (an update, a
// projection) never changes stored data.
func Clone(v any) any {
	switch x := v.(type) {
	case bson.D:
		return CloneDoc(x)
	case bson.M:
		return CloneDoc(AsDoc(x))
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = Clone(e)
		}
		return out
	case bson.Binary:
		return bson.Binary{Subtype: x.Subtype, Data: bytes.Clone(x.Data)}
	}
	return v
}

// CloneDoc returns a deep copy of d.
func CloneDoc(d bson.D) bson.D {
	if d == nil {
		return nil
	}
	out := make(bson.D, len(d))
	for i, e := range d {
		out[i] = bson.E{Key: e.Key, Value: Clone(e.Value)}
	}
	return out
}

// Lookup returns the value at a top-level field of d.
func Lookup(d bson.D, key string) (any, bool) {
	for _, e := range d {
		if e.Key == key {
			return e.Value, true
		}
	}
	return nil, false
}

// Get follows a dotted path through documents and, where a segment is a
// non-negative integer, into array elements. It does not fan out over arrays:
// "a.b" on {a: [{b: 1}]} is not found. Queries that need MongoDB's implicit
// array traversal implement it themselves.
func Get(d bson.D, path string) (any, bool) {
	var cur any = d
	for seg := range strings.SplitSeq(path, ".") {
		switch x := cur.(type) {
		case bson.D:
			v, ok := Lookup(x, seg)
			if !ok {
				return nil, false
			}
			cur = v
		case bson.A:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// Doc returns v as a document and whether it is one (bson.D, or bson.M in
// sorted key order); unlike AsDoc it tells an empty document from a
// non-document.
func Doc(v any) (bson.D, bool) {
	switch x := v.(type) {
	case bson.D:
		return x, true
	case bson.M:
		return AsDoc(x), true
	}
	return nil, false
}
