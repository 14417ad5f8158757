package expr

import (
	"errors"
	"math"
	"math/big"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

func init() {
	register(parseAdd, "$add")
	register(parseMultiply, "$multiply")
	register(eager(2, 2, subtract), "$subtract")
	register(eager(2, 2, divide), "$divide")
	register(eager(2, 2, mod), "$mod")
	register(singleNumeric(absNum), "$abs")
	register(singleNumeric(func(_ string, v any) (any, error) { return integral(v, 'c'), nil }), "$ceil")
	register(singleNumeric(func(_ string, v any) (any, error) { return integral(v, 'f'), nil }), "$floor")
	register(singleNumeric(sqrtNum), "$sqrt")
	register(singleNumeric(func(_ string, v any) (any, error) { return floatFn(v, math.Exp), nil }), "$exp")
	register(singleNumeric(lnNum(28766, "$ln", math.Log)), "$ln")
	register(singleNumeric(lnNum(28761, "$log10", math.Log10)), "$log10")
	register(eager(2, 2, logNum), "$log")
	register(eager(2, 2, pow), "$pow")
	register(eager(1, 2, roundFn('e')), "$round")
	register(eager(1, 2, roundFn('t')), "$trunc")
	register(variadicOrArray(func(_ string, v []any) (any, error) { return Sum(v), nil }), "$sum")
	register(variadicOrArray(func(_ string, v []any) (any, error) { return Avg(v), nil }), "$avg")
	register(variadicOrArray(func(_ string, v []any) (any, error) { return Extreme(v, 1), nil }), "$max")
	register(variadicOrArray(func(_ string, v []any) (any, error) { return Extreme(v, -1), nil }), "$min")
}

// addNumbers is value.Add, falling back to double when a 64-bit integer
// sum overflows (as the server's $add and $sum do).
func addNumbers(a, b any) any {
	r, err := value.Add(a, b)
	if errors.Is(err, value.ErrOverflow) {
		x, _ := value.ToFloat(a)
		y, _ := value.ToFloat(b)
		return x + y
	}
	return r
}

func parseAdd(name string, arg any) (Expr, error) {
	args, err := operands(arg)
	if err != nil {
		return nil, err
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		var total any = int32(0)
		var date bson.DateTime
		haveDate := false
		for _, a := range args {
			v, err := a.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			switch x := v.(type) {
			case bson.DateTime:
				if haveDate {
					return nil, mongoerr.New(16612, "only one date allowed in an $add expression")
				}
				haveDate, date = true, x
			default:
				if value.IsNumber(v) {
					total = addNumbers(total, v)
					continue
				}
				if Nullish(v) {
					return nil, nil
				}
				return nil, mongoerr.New(16554, "$add only supports numeric or date types, not %s", typeName(v))
			}
		}
		if !haveDate {
			return total, nil
		}
		ms, ok := roundToInt64(total)
		if !ok {
			return nil, mongoerr.New(mongoerr.Overflow, "date overflow in $add")
		}
		return bson.DateTime(int64(date) + ms), nil
	}), nil
}

// roundToInt64 rounds a number to the nearest int64.
func roundToInt64(v any) (int64, bool) {
	if i, ok := value.ToInt64(v); ok {
		return i, true
	}
	f, _ := value.ToFloat(v)
	f = math.Round(f)
	if math.IsNaN(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

func parseMultiply(name string, arg any) (Expr, error) {
	args, err := operands(arg)
	if err != nil {
		return nil, err
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		var product any = int32(1)
		for _, a := range args {
			v, err := a.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if !value.IsNumber(v) {
				if Nullish(v) {
					return nil, nil
				}
				return nil, mongoerr.New(16555, "$multiply only supports numeric types, not %s", typeName(v))
			}
			r, err := value.Multiply(product, v)
			if errors.Is(err, value.ErrOverflow) {
				x, _ := value.ToFloat(product)
				y, _ := value.ToFloat(v)
				r = x * y
			}
			product = r
		}
		return product, nil
	}), nil
}

func subtract(_ string, v []any) (any, error) {
	a, b := v[0], v[1]
	if value.IsNumber(a) && value.IsNumber(b) {
		r, err := value.Subtract(a, b)
		if errors.Is(err, value.ErrOverflow) {
			x, _ := value.ToFloat(a)
			y, _ := value.ToFloat(b)
			return x - y, nil
		}
		return r, nil
	}
	if Nullish(a) || Nullish(b) {
		return nil, nil
	}
	if da, ok := a.(bson.DateTime); ok {
		switch y := b.(type) {
		case bson.DateTime:
			return int64(da) - int64(y), nil
		default:
			if value.IsNumber(b) {
				ms, ok := roundToInt64(b)
				if !ok {
					return nil, mongoerr.New(mongoerr.Overflow, "date overflow in $subtract")
				}
				return bson.DateTime(int64(da) - ms), nil
			}
		}
		return nil, mongoerr.New(16613, "cant $subtract a %s from a Date", typeName(b))
	}
	return nil, mongoerr.New(16556, "cant $subtract a %s from a %s", typeName(b), typeName(a))
}

func isDecimal(v any) bool {
	_, ok := v.(bson.Decimal128)
	return ok
}

func divide(_ string, v []any) (any, error) {
	a, b := v[0], v[1]
	if value.IsNumber(a) && value.IsNumber(b) {
		if isDecimal(a) || isDecimal(b) {
			da, db := toDecimal(a), toDecimal(b)
			if decIsZero(db) {
				return nil, mongoerr.New(16608, "can't $divide by zero")
			}
			ra, okA := decRat(da)
			rb, okB := decRat(db)
			if okA && okB {
				return ratDec(new(big.Rat).Quo(ra, rb)), nil
			}
			x, _ := value.ToFloat(da)
			y, _ := value.ToFloat(db)
			return floatDec(x / y), nil
		}
		x, _ := value.ToFloat(a)
		y, _ := value.ToFloat(b)
		if y == 0 {
			return nil, mongoerr.New(16608, "can't $divide by zero")
		}
		return x / y, nil
	}
	if Nullish(a) || Nullish(b) {
		return nil, nil
	}
	return nil, mongoerr.New(16609, "$divide only supports numeric types, not %s and %s", typeName(a), typeName(b))
}

func mod(_ string, v []any) (any, error) {
	a, b := v[0], v[1]
	if !value.IsNumber(a) || !value.IsNumber(b) {
		if Nullish(a) || Nullish(b) {
			return nil, nil
		}
		return nil, mongoerr.New(16611, "$mod only supports numeric types, not %s and %s", typeName(a), typeName(b))
	}
	if isDecimal(a) || isDecimal(b) {
		da, db := toDecimal(a), toDecimal(b)
		if decIsZero(db) {
			return nil, mongoerr.New(16610, "can't $mod by zero")
		}
		ra, okA := decRat(da)
		rb, okB := decRat(db)
		if !okA || !okB {
			x, _ := value.ToFloat(da)
			y, _ := value.ToFloat(db)
			return floatDec(math.Mod(x, y)), nil
		}
		q := roundRat(new(big.Rat).Quo(ra, rb), 't')
		r := new(big.Rat).Sub(ra, new(big.Rat).Mul(rb, new(big.Rat).SetInt(q)))
		return ratDec(r), nil
	}
	y, _ := value.ToFloat(b)
	if y == 0 {
		return nil, mongoerr.New(16610, "can't $mod by zero")
	}
	_, aF := a.(float64)
	_, bF := b.(float64)
	if aF || (bF && y != math.Trunc(y)) {
		x, _ := value.ToFloat(a)
		return math.Mod(x, y), nil
	}
	x, _ := value.ToInt64(a)
	yi, _ := value.ToInt64(b)
	r := int64(0)
	if yi != -1 {
		r = x % yi
	}
	_, aL := a.(int64)
	_, bL := b.(int64)
	if aL || bL {
		return r, nil
	}
	return int32(r), nil
}

// singleNumeric is ExpressionSingleNumericArg: one operand, null for
// nullish input, 28765 for non-numbers.
func singleNumeric(f func(name string, v any) (any, error)) parser {
	return eager(1, 1, func(name string, v []any) (any, error) {
		if Nullish(v[0]) {
			return nil, nil
		}
		if !value.IsNumber(v[0]) {
			return nil, mongoerr.New(28765, "%s only supports numeric types, not %s", name, typeName(v[0]))
		}
		return f(name, v[0])
	})
}

func absNum(_ string, v any) (any, error) {
	switch x := v.(type) {
	case float64:
		return math.Abs(x), nil
	case bson.Decimal128:
		if decSign(x) < 0 {
			return parseDecimal(x.String()[1:]), nil
		}
		return x, nil
	case int32:
		if x < 0 {
			return createIntOrLong(-int64(x)), nil
		}
		return x, nil
	case int64:
		if x == math.MinInt64 {
			return nil, mongoerr.New(28680, "can't take $abs of long long min")
		}
		if x < 0 {
			return -x, nil
		}
		return x, nil
	}
	return v, nil
}

func createIntOrLong(i int64) any {
	if i >= math.MinInt32 && i <= math.MaxInt32 {
		return int32(i)
	}
	return i
}

// integral rounds toward +inf ('c') or -inf ('f'); integers are unchanged.
func integral(v any, mode byte) any {
	switch x := v.(type) {
	case float64:
		if mode == 'c' {
			return math.Ceil(x)
		}
		return math.Floor(x)
	case bson.Decimal128:
		r, ok := decRat(x)
		if !ok {
			return x
		}
		return parseDecimal(roundRat(r, mode).String())
	}
	return v
}

func sqrtNum(_ string, v any) (any, error) {
	if d, ok := v.(bson.Decimal128); ok {
		if decSign(d) < 0 {
			return nil, mongoerr.New(28714, "$sqrt's argument must be greater than or equal to 0")
		}
		r, ok := decRat(d)
		if !ok {
			return d, nil
		}
		f := new(big.Float).SetPrec(256).SetRat(r)
		f.Sqrt(f)
		return parseDecimal(trimMantissa(f.Text('e', 33))), nil
	}
	f, _ := value.ToFloat(v)
	if f < 0 {
		return nil, mongoerr.New(28714, "$sqrt's argument must be greater than or equal to 0")
	}
	return math.Sqrt(f), nil
}

// floatFn applies a binary-floating-point function; decimals in, decimals
// out (at double precision).
func floatFn(v any, fn func(float64) float64) any {
	f, _ := value.ToFloat(v)
	if isDecimal(v) {
		return approxDec(fn(f))
	}
	return fn(f)
}

func lnNum(code int32, name string, fn func(float64) float64) func(string, any) (any, error) {
	return func(_ string, v any) (any, error) {
		f, _ := value.ToFloat(v)
		if !(f > 0 || math.IsNaN(f)) {
			return nil, mongoerr.New(code, "%s's argument must be a positive number, but is %v", name, f)
		}
		return floatFn(v, fn), nil
	}
}

func logNum(_ string, v []any) (any, error) {
	a, b := v[0], v[1]
	if Nullish(a) || Nullish(b) {
		return nil, nil
	}
	if !value.IsNumber(a) {
		return nil, mongoerr.New(28756, "$log's argument must be numeric, not %s", typeName(a))
	}
	if !value.IsNumber(b) {
		return nil, mongoerr.New(28757, "$log's base must be numeric, not %s", typeName(b))
	}
	x, _ := value.ToFloat(a)
	base, _ := value.ToFloat(b)
	if !(x > 0 || math.IsNaN(x)) {
		return nil, mongoerr.New(28758, "$log's argument must be a positive number, but is %v", x)
	}
	if !(base > 0 && base != 1 || math.IsNaN(base)) {
		return nil, mongoerr.New(28759, "$log's base must be a positive number not equal to 1, but is %v", base)
	}
	r := math.Log(x) / math.Log(base)
	if isDecimal(a) || isDecimal(b) {
		return approxDec(r), nil
	}
	return r, nil
}

func pow(_ string, v []any) (any, error) {
	a, b := v[0], v[1]
	if Nullish(a) || Nullish(b) {
		return nil, nil
	}
	if !value.IsNumber(a) {
		return nil, mongoerr.New(28762, "$pow's base must be numeric, not %s", typeName(a))
	}
	if !value.IsNumber(b) {
		return nil, mongoerr.New(28763, "$pow's exponent must be numeric, not %s", typeName(b))
	}
	x, _ := value.ToFloat(a)
	y, _ := value.ToFloat(b)
	if x == 0 && y < 0 {
		return nil, mongoerr.New(28764, "$pow cannot take a base of 0 and a negative exponent")
	}
	if isDecimal(a) || isDecimal(b) {
		if ra, ok := decRat(a); ok {
			if e, ok := value.ToInt64(b); ok && e >= 0 && e <= 1000 {
				r := new(big.Rat).SetInt64(1)
				for range e {
					r.Mul(r, ra)
				}
				return ratDec(r), nil
			}
		}
		return approxDec(math.Pow(x, y)), nil
	}
	_, aF := a.(float64)
	_, bF := b.(float64)
	if aF || bF {
		return math.Pow(x, y), nil
	}
	base, _ := value.ToInt64(a)
	exp, _ := value.ToInt64(b)
	_, aL := a.(int64)
	_, bL := b.(int64)
	format := func(r int64) any {
		if aL || bL {
			return r
		}
		return createIntOrLong(r)
	}
	switch {
	case base == 0:
		if exp == 0 {
			return format(1), nil
		}
		return format(0), nil
	case base == 1:
		return format(1), nil
	case base == -1:
		if exp%2 == 0 {
			return format(1), nil
		}
		return format(-1), nil
	case exp < 0 || exp > 63:
		return math.Pow(float64(base), float64(exp)), nil
	}
	r := new(big.Int).Exp(big.NewInt(base), big.NewInt(exp), nil)
	if !r.IsInt64() {
		return math.Pow(float64(base), float64(exp)), nil
	}
	return format(r.Int64()), nil
}

func roundFn(mode byte) func(string, []any) (any, error) {
	return func(name string, v []any) (any, error) {
		n := v[0]
		if Nullish(n) {
			return nil, nil
		}
		if !value.IsNumber(n) {
			return nil, mongoerr.New(51081, "%s only supports numeric types, not %s", name, typeName(n))
		}
		var places int64
		if len(v) > 1 {
			p := v[1]
			if Nullish(p) {
				return nil, nil
			}
			pi, ok := value.ToInt64(p)
			if !ok {
				return nil, mongoerr.New(51082, "precision argument to  %s must be a integral value", name)
			}
			if pi < -20 || pi > 100 {
				return nil, mongoerr.New(51083, "cannot apply %s with precision value %d value must be in [-20, 100]", name, pi)
			}
			places = pi
		}
		switch x := n.(type) {
		case bson.Decimal128:
			r, ok := decRat(x)
			if !ok {
				return x, nil
			}
			out := roundPlaces(r, places, mode)
			if places > 0 {
				d, err := bson.ParseDecimal128(out.FloatString(int(places)))
				if err == nil {
					return d, nil
				}
			}
			return ratDec(out), nil
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return x, nil
			}
			r, _ := new(big.Rat).SetString(big.NewFloat(x).Text('e', 33))
			f, _ := roundPlaces(r, places, mode).Float64()
			return f, nil
		}
		if places >= 0 {
			return n, nil
		}
		i, _ := value.ToInt64(n)
		out := roundPlaces(new(big.Rat).SetInt64(i), places, mode)
		if !out.IsInt() || !out.Num().IsInt64() {
			return nil, mongoerr.New(51080, "invalid conversion from Decimal128 result in %s resulting from arguments: [%d, %d]", name, i, places)
		}
		r := out.Num().Int64()
		if _, isLong := n.(int64); isLong || r > math.MaxInt32 || r < math.MinInt32 {
			return r, nil
		}
		return int32(r), nil
	}
}

// variadicOrArray is the expression form of $sum/$avg/$max/$min: a single
// array operand is treated as its elements.
func variadicOrArray(f func(string, []any) (any, error)) parser {
	return variadic(func(name string, v []any) (any, error) {
		if len(v) == 1 {
			if a, ok := v[0].(bson.A); ok {
				return f(name, a)
			}
		}
		return f(name, v)
	})
}

// Sum adds the numeric values, ignoring everything else; no numbers give
// int32 0. It is the $sum expression and accumulator.
func Sum(vals []any) any {
	var total any = int32(0)
	for _, v := range vals {
		if value.IsNumber(v) {
			total = addNumbers(total, v)
		}
	}
	return total
}

// Avg averages the numeric values as a double (decimal if any input is a
// decimal); no numbers give null.
func Avg(vals []any) any {
	var total any = int32(0)
	n := 0
	dec := false
	for _, v := range vals {
		if value.IsNumber(v) {
			total = addNumbers(total, v)
			n++
			dec = dec || isDecimal(v)
		}
	}
	if n == 0 {
		return nil
	}
	if dec {
		r, ok := decRat(toDecimal(total))
		if !ok {
			return total
		}
		return ratDec(r.Quo(r, new(big.Rat).SetInt64(int64(n))))
	}
	f, _ := value.ToFloat(total)
	return f / float64(n)
}

// Extreme returns the largest (sign 1) or smallest (sign -1) value that is
// not null or missing; with none it returns null.
func Extreme(vals []any, sign int) any {
	var best any
	found := false
	for _, v := range vals {
		if Nullish(v) {
			continue
		}
		if !found || Compare(v, best)*sign > 0 {
			best, found = v, true
		}
	}
	return best
}
