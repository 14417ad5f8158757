package query

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Server error codes without a constant in mongoerr. MongoDB names numeric
// assertion codes "Location<code>", which mongoerr.New does by default.
const (
	codeQueryFeatureNotAllowed int32 = 224
	codeNoScriptEngine         int32 = 6108304 // $where: server-side JavaScript is off
	codeRegexInvalid           int32 = 51091
	codeRegexOptions           int32 = 51108
	codeRegexOptionsTwiceA     int32 = 51074
	codeRegexOptionsTwiceB     int32 = 51075
)

// featureNotAllowed is QueryFeatureNotAllowed, which mongoerr does not name.
func featureNotAllowed(format string, args ...any) error {
	e := mongoerr.New(codeQueryFeatureNotAllowed, format, args...)
	e.Name = "QueryFeatureNotAllowed"
	return e
}

// intArg converts a number argument to int64 the way MongoDB's
// parseIntegerElementToLong does; reason is non-empty when it cannot.
func intArg(key string, v any) (n int64, reason string) {
	elem := formatElem(key, v)
	switch x := v.(type) {
	case int:
		return int64(x), ""
	case int32:
		return int64(x), ""
	case int64:
		return x, ""
	case float64:
		switch {
		case math.IsNaN(x):
			return 0, "Expected an integer, but found NaN in: " + elem
		case x >= 0x1p63 || x < -0x1p63:
			return 0, "Cannot represent as a 64-bit integer: " + elem
		case x != math.Trunc(x):
			return 0, "Expected an integer: " + elem
		}
		return int64(x), ""
	case bson.Decimal128:
		r, ok := new(big.Rat).SetString(x.String())
		if !ok || !r.IsInt() || !r.Num().IsInt64() {
			return 0, "Cannot represent as a 64-bit integer: " + elem
		}
		return r.Num().Int64(), ""
	}
	return 0, "Expected a number in: " + elem
}

// nonNegativeIntArg is intArg restricted to 0 … MaxInt32, as MongoDB's
// parseIntegerElementToNonNegativeInt.
func nonNegativeIntArg(key string, v any) (int, string) {
	n, reason := intArg(key, v)
	switch {
	case reason != "":
		return 0, reason
	case n < 0:
		return 0, "Expected a non-negative number in: " + formatElem(key, v)
	case n > math.MaxInt32:
		return 0, "Cannot represent " + formatElem(key, v) + " in an int"
	}
	return int(n), ""
}

// coerceInt64 is BSONElement::tryCoerce to a 64-bit integer: doubles and
// decimals truncate toward zero.
func coerceInt64(v any) (int64, string) {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, "Unable to coerce NaN/Inf to integral type"
		}
		t := math.Trunc(x)
		if t >= 0x1p63 || t < -0x1p63 {
			return 0, "Out of bounds coercing to integral value"
		}
		return int64(t), ""
	case bson.Decimal128:
		if x.IsNaN() || x.IsInf() != 0 {
			return 0, "Unable to coerce NaN/Inf to integral type"
		}
		n, ok := truncDecimal(x)
		if !ok {
			return 0, "Out of bounds coercing to integral value"
		}
		return n, ""
	}
	n, _ := value.ToInt64(v)
	return n, ""
}

// truncDecimal truncates d toward zero; ok is false for NaN, infinities and
// values outside int64.
func truncDecimal(d bson.Decimal128) (int64, bool) {
	r, ok := new(big.Rat).SetString(d.String())
	if !ok {
		return 0, false
	}
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}

// formatElem renders "key: value" like a server error message does.
func formatElem(key string, v any) string {
	return key + ": " + formatValue(v)
}

// formatValue renders v roughly as the mongo shell would, for messages.
func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case float64:
		if x == math.Trunc(x) && !math.IsInf(x, 0) && math.Abs(x) < 1e15 {
			return strconv.FormatFloat(x, 'f', 1, 64)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bson.D:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = formatElem(e.Key, e.Value)
		}
		if len(parts) == 0 {
			return "{}"
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	case bson.A:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = formatValue(e)
		}
		if len(parts) == 0 {
			return "[]"
		}
		return "[ " + strings.Join(parts, ", ") + " ]"
	case nil:
		return "null"
	case bson.Regex:
		return "/" + x.Pattern + "/" + x.Options
	case bson.Decimal128:
		return "NumberDecimal(\"" + x.String() + "\")"
	case int64:
		return "NumberLong(" + strconv.FormatInt(x, 10) + ")"
	}
	return fmt.Sprint(v)
}
