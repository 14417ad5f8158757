package value

import (
	"cmp"
	"errors"
	"math"
	"math/big"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrOverflow reports integer arithmetic that does not fit a 64-bit integer.
var ErrOverflow = errors.New("integer overflow")

// IsNumber reports whether v is int32, int64, float64 or Decimal128.
func IsNumber(v any) bool {
	switch v.(type) {
	case int, int32, int64, float64, bson.Decimal128:
		return true
	}
	return false
}

// ToFloat converts a number to float64; ok is false for non-numbers.
func ToFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case bson.Decimal128:
		f, ok := decimalFloat(x)
		if !ok {
			return math.NaN(), true
		}
		return f, true
	}
	return 0, false
}

// ToInt64 converts an integral number to int64; ok is false for non-numbers
// and for values with a fractional part or out of range.
func ToInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case float64, bson.Decimal128:
		f, _ := ToFloat(x)
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

func decimalFloat(d bson.Decimal128) (float64, bool) {
	f, err := strconv.ParseFloat(d.String(), 64)
	if err != nil {
		switch d.String() {
		case "Infinity":
			return math.Inf(1), true
		case "-Infinity":
			return math.Inf(-1), true
		}
		return 0, false
	}
	return f, true
}

func decimalRat(d bson.Decimal128) (*big.Rat, bool) {
	r, ok := new(big.Rat).SetString(d.String())
	return r, ok
}

// CompareNumbers compares two numbers of any numeric type by value. NaN sorts
// below all other numbers and equals NaN.
func CompareNumbers(a, b any) int {
	ai, aInt := intOf(a)
	bi, bInt := intOf(b)
	if aInt && bInt {
		return cmp.Compare(ai, bi)
	}
	_, aDec := a.(bson.Decimal128)
	_, bDec := b.(bson.Decimal128)
	if aDec || bDec {
		if c, ok := compareExact(a, b); ok {
			return c
		}
	}
	af, _ := ToFloat(a)
	bf, _ := ToFloat(b)
	switch {
	case math.IsNaN(af) && math.IsNaN(bf):
		return 0
	case math.IsNaN(af):
		return -1
	case math.IsNaN(bf):
		return 1
	}
	if aInt && !math.IsInf(bf, 0) {
		return compareIntFloat(ai, bf)
	}
	if bInt && !math.IsInf(af, 0) {
		return -compareIntFloat(bi, af)
	}
	return cmp.Compare(af, bf)
}

// intOf returns the value of an integer type (int, int32, int64).
func intOf(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// compareIntFloat compares exactly, since float64(i) loses precision above 2^53.
func compareIntFloat(i int64, f float64) int {
	if f >= 9.3e18 {
		return -1
	}
	if f <= -9.3e18 {
		return 1
	}
	t := math.Trunc(f)
	if c := cmp.Compare(i, int64(t)); c != 0 {
		return c
	}
	return cmp.Compare(0, f-t)
}

// compareExact compares via rationals when both are finite; ok is false for
// NaN and infinities, which the float path handles.
func compareExact(a, b any) (int, bool) {
	ra, ok := toRat(a)
	if !ok {
		return 0, false
	}
	rb, ok := toRat(b)
	if !ok {
		return 0, false
	}
	return ra.Cmp(rb), true
}

func toRat(v any) (*big.Rat, bool) {
	if i, ok := intOf(v); ok {
		return new(big.Rat).SetInt64(i), true
	}
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(x), true
	case bson.Decimal128:
		return decimalRat(x)
	}
	return nil, false
}

// numberKey is equal for numbers that compare equal.
func numberKey(v any) string {
	if i, ok := ToInt64(v); ok {
		return strconv.FormatInt(i, 10)
	}
	if d, ok := v.(bson.Decimal128); ok {
		if r, ok := decimalRat(d); ok {
			if f, exact := r.Float64(); exact {
				return strconv.FormatFloat(f, 'g', -1, 64)
			}
			return r.RatString()
		}
	}
	f, _ := ToFloat(v)
	if math.IsNaN(f) {
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Add adds two numbers with MongoDB's type promotion: int32 widens to int64
// on overflow, int64 overflow is ErrOverflow, any double makes a double, any
// Decimal128 makes a Decimal128.
func Add(a, b any) (any, error) { return arith(a, b, '+') }

// Subtract is a - b with the promotion rules of Add.
func Subtract(a, b any) (any, error) { return arith(a, b, '-') }

// Multiply is a * b with the promotion rules of Add.
func Multiply(a, b any) (any, error) { return arith(a, b, '*') }

// ErrNotNumber reports arithmetic on a non-numeric value.
var ErrNotNumber = errors.New("not a number")

func arith(a, b any, op byte) (any, error) {
	if !IsNumber(a) || !IsNumber(b) {
		return nil, ErrNotNumber
	}
	_, aDec := a.(bson.Decimal128)
	_, bDec := b.(bson.Decimal128)
	if aDec || bDec {
		ra, ok1 := toRat(a)
		rb, ok2 := toRat(b)
		if !ok1 || !ok2 {
			af, _ := ToFloat(a)
			bf, _ := ToFloat(b)
			d, err := bson.ParseDecimal128(strconv.FormatFloat(floatOp(af, bf, op), 'g', -1, 64))
			return d, err
		}
		var r big.Rat
		switch op {
		case '+':
			r.Add(ra, rb)
		case '-':
			r.Sub(ra, rb)
		default:
			r.Mul(ra, rb)
		}
		d, err := bson.ParseDecimal128(r.FloatString(decimalDigits(&r)))
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	_, aF := a.(float64)
	_, bF := b.(float64)
	if aF || bF {
		af, _ := ToFloat(a)
		bf, _ := ToFloat(b)
		return floatOp(af, bf, op), nil
	}
	ai, _ := ToInt64(a)
	bi, _ := ToInt64(b)
	var r int64
	var overflow bool
	switch op {
	case '+':
		r = ai + bi
		overflow = (ai > 0 && bi > 0 && r < 0) || (ai < 0 && bi < 0 && r >= 0)
	case '-':
		r = ai - bi
		overflow = (ai >= 0 && bi < 0 && r < 0) || (ai < 0 && bi > 0 && r >= 0)
	default:
		r = ai * bi
		overflow = ai != 0 && (r/ai != bi || (ai == -1 && bi == math.MinInt64) || (bi == -1 && ai == math.MinInt64))
	}
	if overflow {
		return nil, ErrOverflow
	}
	_, a32 := a.(int32)
	_, b32 := b.(int32)
	if a32 && b32 && r >= math.MinInt32 && r <= math.MaxInt32 {
		return int32(r), nil
	}
	return r, nil
}

func floatOp(a, b float64, op byte) float64 {
	switch op {
	case '+':
		return a + b
	case '-':
		return a - b
	}
	return a * b
}

// decimalDigits is how many fractional digits represent r exactly, capped at
// Decimal128's 34 significant digits.
func decimalDigits(r *big.Rat) int {
	if n, exact := r.FloatPrec(); exact && n <= 34 {
		return n
	}
	return 34
}

// Truthy is MongoDB's expression truthiness: false, null, undefined, missing
// and numeric zero are false; everything else is true.
func Truthy(v any) bool {
	switch x := v.(type) {
	case nil, Missing, bson.Undefined:
		return false
	case bool:
		return x
	case int32, int64, float64, bson.Decimal128:
		f, _ := ToFloat(x)
		return f != 0
	}
	return true
}
