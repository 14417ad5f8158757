package expr

import (
	"math"
	"math/big"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/value"
)

// decRat returns the exact value of a finite Decimal128 or number; ok is
// false for NaN and infinities.
func decRat(v any) (*big.Rat, bool) {
	switch x := v.(type) {
	case bson.Decimal128:
		s := x.String()
		if strings.Contains(s, "Inf") || strings.Contains(s, "NaN") {
			return nil, false
		}
		return new(big.Rat).SetString(s)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		// Doubles become decimals with 15 significant digits, as the
		// server's Decimal128(double) constructor does.
		r, ok := new(big.Rat).SetString(strconv.FormatFloat(x, 'e', 14, 64))
		return r, ok
	}
	if i, ok := value.ToInt64(v); ok {
		return new(big.Rat).SetInt64(i), true
	}
	return nil, false
}

// ratDec rounds r to Decimal128's 34 significant digits, keeping exact
// results short (1/4 is 0.25, not 0.2500…).
func ratDec(r *big.Rat) bson.Decimal128 {
	if n, exact := r.FloatPrec(); exact {
		s := r.FloatString(n)
		if significant(s) <= 34 {
			d, err := bson.ParseDecimal128(s)
			if err == nil {
				return d
			}
		}
	}
	f := new(big.Float).SetPrec(256).SetRat(r)
	return parseDecimal(trimMantissa(f.Text('e', 33)))
}

func significant(s string) int {
	s = strings.TrimLeft(strings.TrimPrefix(s, "-"), "0.")
	return len(strings.ReplaceAll(s, ".", ""))
}

// trimMantissa drops trailing zeros of an "d.ddde±x" mantissa.
func trimMantissa(s string) string {
	m, exp, ok := strings.Cut(s, "e")
	if !ok || !strings.Contains(m, ".") {
		return s
	}
	m = strings.TrimRight(strings.TrimRight(m, "0"), ".")
	return m + "e" + exp
}

func parseDecimal(s string) bson.Decimal128 {
	d, err := bson.ParseDecimal128(s)
	if err != nil {
		d, _ = bson.ParseDecimal128("NaN")
	}
	return d
}

// floatDec converts a double to Decimal128 with 15 significant digits.
func floatDec(f float64) bson.Decimal128 {
	switch {
	case math.IsNaN(f):
		return parseDecimal("NaN")
	case math.IsInf(f, 1):
		return parseDecimal("Infinity")
	case math.IsInf(f, -1):
		return parseDecimal("-Infinity")
	}
	return parseDecimal(strconv.FormatFloat(f, 'e', 14, 64))
}

// approxDec converts a double result of an operation the emulator computes
// in binary floating point back to Decimal128 (shortest representation).
func approxDec(f float64) bson.Decimal128 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return floatDec(f)
	}
	return parseDecimal(strconv.FormatFloat(f, 'g', -1, 64))
}

func toDecimal(v any) bson.Decimal128 {
	switch x := v.(type) {
	case bson.Decimal128:
		return x
	case float64:
		return floatDec(x)
	}
	if r, ok := decRat(v); ok {
		return ratDec(r)
	}
	f, _ := value.ToFloat(v)
	return floatDec(f)
}

func decIsZero(d bson.Decimal128) bool {
	r, ok := decRat(d)
	return ok && r.Sign() == 0
}

func decSign(d bson.Decimal128) int {
	r, ok := decRat(d)
	if ok {
		return r.Sign()
	}
	s := d.String()
	switch {
	case strings.HasPrefix(s, "-Inf"):
		return -1
	case strings.HasPrefix(s, "Inf"):
		return 1
	}
	return 0
}

func decIsNaN(d bson.Decimal128) bool { return d.String() == "NaN" }

// roundRat rounds r to an integer: ties to even when even is true,
// otherwise toward zero (trunc), toward +inf (ceil) or -inf (floor).
func roundRat(r *big.Rat, mode byte) *big.Int {
	num, den := r.Num(), r.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int)) // truncated
	if m.Sign() == 0 {
		return q
	}
	switch mode {
	case 'c':
		if r.Sign() > 0 {
			q.Add(q, big.NewInt(1))
		}
	case 'f':
		if r.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		}
	case 'e':
		twice := new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2))
		c := twice.Cmp(den)
		if c > 0 || (c == 0 && q.Bit(0) == 1) {
			if r.Sign() > 0 {
				q.Add(q, big.NewInt(1))
			} else {
				q.Sub(q, big.NewInt(1))
			}
		}
	}
	return q
}

// roundPlaces rounds r at `places` decimal places (negative: to tens,
// hundreds…) with mode as in roundRat.
func roundPlaces(r *big.Rat, places int64, mode byte) *big.Rat {
	scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(abs64(places)), nil))
	x := new(big.Rat).Set(r)
	if places >= 0 {
		x.Mul(x, scale)
	} else {
		x.Quo(x, scale)
	}
	x.SetInt(roundRat(x, mode))
	if places >= 0 {
		x.Quo(x, scale)
	} else {
		x.Mul(x, scale)
	}
	return x
}

func abs64(i int64) int64 {
	if i < 0 {
		return -i
	}
	return i
}
