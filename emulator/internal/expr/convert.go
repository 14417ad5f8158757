package expr

import (
	"math"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// ConversionFailure is the server's code for a failed $convert; mongoerr
// does not name it yet, so errors are built with the name here.
const ConversionFailure int32 = 241

func conversionError(format string, args ...any) error {
	e := mongoerr.New(ConversionFailure, format, args...)
	e.Name = "ConversionFailure"
	return e
}

func init() {
	register(parseConvert, "$convert")
	for name, to := range map[string]string{
		"$toString": "string", "$toObjectId": "objectId", "$toDate": "date",
		"$toDouble": "double", "$toInt": "int", "$toLong": "long",
		"$toDecimal": "decimal", "$toBool": "bool",
	} {
		register(func(name string, arg any) (Expr, error) {
			args, err := operands(arg)
			if err != nil {
				return nil, err
			}
			if len(args) != 1 {
				return nil, mongoerr.New(50723, "%s requires a single argument, got %d", name, len(args))
			}
			return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
				v, err := args[0].Eval(root, vars)
				if err != nil {
					return nil, err
				}
				if Nullish(v) {
					return nil, nil
				}
				return Convert(v, to)
			}), nil
		}, name)
	}
}

func parseConvert(_ string, arg any) (Expr, error) {
	args, err := namedArgs(arg, []string{"input", "to", "onError", "onNull"},
		func() error {
			return mongoerr.New(mongoerr.FailedToParse, "$convert expects an object of named arguments but found: %s", typeName(arg))
		},
		func(f string) error {
			return mongoerr.New(mongoerr.FailedToParse, "$convert found an unknown argument: %s", f)
		})
	if err != nil {
		return nil, err
	}
	if args["input"] == nil {
		return nil, mongoerr.New(mongoerr.FailedToParse, "Missing 'input' parameter to $convert")
	}
	if args["to"] == nil {
		return nil, mongoerr.New(mongoerr.FailedToParse, "Missing 'to' parameter to $convert")
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		toV, err := args["to"].Eval(root, vars)
		if err != nil {
			return nil, err
		}
		in, err := args["input"].Eval(root, vars)
		if err != nil {
			return nil, err
		}
		var target string
		if !Nullish(toV) {
			if target, err = targetType(toV); err != nil {
				return nil, err
			}
		}
		if Nullish(in) {
			if args["onNull"] != nil {
				return args["onNull"].Eval(root, vars)
			}
			return nil, nil
		}
		if Nullish(toV) {
			return nil, nil
		}
		out, err := Convert(in, target)
		if err != nil {
			if e := mongoerr.As(err); e != nil && e.Code == ConversionFailure && args["onError"] != nil {
				return args["onError"].Eval(root, vars)
			}
			return nil, err
		}
		return out, nil
	}), nil
}

func targetType(to any) (string, error) {
	switch x := to.(type) {
	case string:
		if x == "missing" {
			return x, nil
		}
		if _, ok := value.AliasNumber(x); !ok {
			return "", mongoerr.New(mongoerr.BadValue, "Unknown type name: %s", x)
		}
		return x, nil
	}
	if !isNumber(to) {
		return "", mongoerr.New(mongoerr.FailedToParse, "$convert's 'to' argument must be a string or number, but is %s", typeName(to))
	}
	n, ok := toInt64(to)
	if !ok {
		return "", mongoerr.New(mongoerr.FailedToParse, "In $convert, numeric 'to' argument is not an integer")
	}
	for _, alias := range []string{"double", "string", "object", "array", "binData", "undefined", "objectId", "bool", "date", "null", "regex", "dbPointer", "javascript", "symbol", "javascriptWithScope", "int", "timestamp", "long", "decimal", "minKey", "maxKey"} {
		if code, _ := value.AliasNumber(alias); int64(code) == n {
			return alias, nil
		}
	}
	return "", mongoerr.New(mongoerr.FailedToParse, "In $convert, numeric value for 'to' does not correspond to a BSON type: %d", n)
}

// Convert converts a non-null value to the type named by a $type alias, as
// $convert does; unsupported or failed conversions are ConversionFailure.
func Convert(v any, to string) (any, error) {
	from := value.TypeAlias(v)
	if from == to {
		return v, nil
	}
	unsupported := func() (any, error) {
		return nil, conversionError("Unsupported conversion from %s to %s in $convert with no onError value", from, to)
	}
	switch to {
	case "bool":
		switch v.(type) {
		case int32, int64, float64, bson.Decimal128:
			return value.Truthy(v), nil
		case bson.Undefined, value.Missing:
			return unsupported()
		}
		return true, nil
	case "string":
		switch x := v.(type) {
		case bson.ObjectID:
			return x.Hex(), nil
		case bool:
			return strconv.FormatBool(x), nil
		case int32, int64, float64, bson.Decimal128, bson.DateTime:
			return CoerceToString(x)
		}
	case "double":
		switch x := v.(type) {
		case bool:
			if x {
				return 1.0, nil
			}
			return 0.0, nil
		case int32, int64:
			f, _ := toFloat(x)
			return f, nil
		case bson.Decimal128:
			f, _ := toFloat(x)
			if math.IsInf(f, 0) && !strings.Contains(x.String(), "Inf") {
				return nil, conversionError("Conversion would overflow target type in $convert with no onError value: %s", x)
			}
			return f, nil
		case bson.DateTime:
			return float64(x), nil
		case string:
			if err := rejectHex(x); err != nil {
				return nil, err
			}
			f, err := strconv.ParseFloat(x, 64)
			if err != nil && !isRangeErr(err) {
				return nil, conversionError("Failed to parse number '%s' in $convert with no onError value: %v", x, err)
			}
			return f, nil
		}
	case "int", "long":
		bits := 64
		if to == "int" {
			bits = 32
		}
		var n int64
		switch x := v.(type) {
		case bool:
			if x {
				n = 1
			}
		case int32:
			n = int64(x)
		case int64:
			n = x
		case float64, bson.Decimal128:
			f, _ := toFloat(x)
			if math.IsNaN(f) {
				return nil, conversionError("Attempt to convert NaN value to integer type in $convert with no onError value")
			}
			if math.IsInf(f, 0) {
				return nil, conversionError("Attempt to convert infinity value to integer type in $convert with no onError value")
			}
			t := math.Trunc(f)
			if t < math.MinInt64 || t >= math.MaxInt64 {
				return nil, conversionError("Conversion would overflow target type in $convert with no onError value: %s", render(x))
			}
			n = int64(t)
		case bson.DateTime:
			if to == "int" {
				return unsupported()
			}
			n = int64(x)
		case string:
			i, err := strconv.ParseInt(x, 10, bits)
			if err != nil {
				return nil, conversionError("Failed to parse number '%s' in $convert with no onError value: %v", x, err)
			}
			n = i
		default:
			return unsupported()
		}
		if to == "int" {
			if n < math.MinInt32 || n > math.MaxInt32 {
				return nil, conversionError("Conversion would overflow target type in $convert with no onError value: %d", n)
			}
			return int32(n), nil
		}
		return n, nil
	case "decimal":
		switch x := v.(type) {
		case bool:
			if x {
				return parseDecimal("1"), nil
			}
			return parseDecimal("0"), nil
		case int32, int64, float64:
			return toDecimal(x), nil
		case bson.DateTime:
			return parseDecimal(strconv.FormatInt(int64(x), 10)), nil
		case string:
			if err := rejectHex(x); err != nil {
				return nil, err
			}
			d, err := bson.ParseDecimal128(x)
			if err != nil {
				return nil, conversionError("Failed to parse number '%s' in $convert with no onError value: %v", x, err)
			}
			return d, nil
		}
	case "objectId":
		if s, ok := v.(string); ok {
			oid, err := bson.ObjectIDFromHex(s)
			if err != nil {
				return nil, conversionError("Failed to parse objectId '%s' in $convert with no onError value: Invalid string length for parsing to OID, expected 24 but found %d", s, len(s))
			}
			return oid, nil
		}
	case "date":
		switch x := v.(type) {
		case int64:
			return bson.DateTime(x), nil
		case float64, bson.Decimal128:
			f, _ := toFloat(x)
			if math.IsNaN(f) || math.IsInf(f, 0) || f < math.MinInt64 || f >= math.MaxInt64 {
				return nil, conversionError("Conversion would overflow target type in $convert with no onError value: %s", render(x))
			}
			return bson.DateTime(int64(f)), nil
		case bson.ObjectID:
			return bson.NewDateTimeFromTime(x.Timestamp()), nil
		case bson.Timestamp:
			return bson.DateTime(int64(x.T) * 1000), nil
		case string:
			t, err := ParseDateString(x)
			if err != nil {
				return nil, err
			}
			return t, nil
		}
	}
	return unsupported()
}

func rejectHex(s string) error {
	t := strings.TrimLeft(s, "+-")
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		return conversionError("Illegal hexadecimal input in $convert with no onError value: %s", s)
	}
	return nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
