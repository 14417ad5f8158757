package value

import (
	"bytes"
	"math"
	"reflect"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Identical reports whether a and b would encode to the same BSON bytes: the
// same type and the same value, with documents listing the same fields in the
// same order. It is MongoDB's binaryEqualValues, which decides whether an
// update really changed a field: unlike Equal, int32(1) and 1.0 differ, as do
// {a: 1, b: 1} and {b: 1, a: 1}, and 0.0 and -0.0. A Go int counts as the
// int32 or int64 the driver would encode it as.
func Identical(a, b any) bool {
	a, b = sizedInt(a), sizedInt(b)
	switch x := a.(type) {
	case bson.D, bson.M:
		switch b.(type) {
		case bson.D, bson.M:
		default:
			return false
		}
		da, db := AsDoc(x), AsDoc(b)
		if len(da) != len(db) {
			return false
		}
		for i := range da {
			if da[i].Key != db[i].Key || !Identical(da[i].Value, db[i].Value) {
				return false
			}
		}
		return true
	case bson.A:
		y, ok := b.(bson.A)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Identical(x[i], y[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case bson.Binary:
		y, ok := b.(bson.Binary)
		return ok && x.Subtype == y.Subtype && bytes.Equal(x.Data, y.Data)
	case bson.CodeWithScope:
		y, ok := b.(bson.CodeWithScope)
		return ok && x.Code == y.Code && Identical(x.Scope, y.Scope)
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb {
		return false
	}
	if ta == nil {
		return true
	}
	return ta.Comparable() && a == b
}

// sizedInt turns a Go int into the int32 or int64 the driver encodes it as.
func sizedInt(v any) any {
	if i, ok := v.(int); ok {
		if i >= math.MinInt32 && i <= math.MaxInt32 {
			return int32(i)
		}
		return int64(i)
	}
	return v
}
