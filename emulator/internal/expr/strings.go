package expr

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

func init() {
	register(parseConcat, "$concat")
	register(eager(3, 3, substrBytes), "$substr", "$substrBytes")
	register(eager(3, 3, substrCP), "$substrCP")
	register(eager(1, 1, caseFn(strings.ToLower)), "$toLower")
	register(eager(1, 1, caseFn(strings.ToUpper)), "$toUpper")
	register(eager(1, 1, strLen(34473, false)), "$strLenBytes")
	register(eager(1, 1, strLen(34471, true)), "$strLenCP")
	register(eager(2, 2, split), "$split")
	register(parseTrim, "$trim", "$ltrim", "$rtrim")
	register(eager(2, 4, indexOfStr(false)), "$indexOfBytes")
	register(eager(2, 4, indexOfStr(true)), "$indexOfCP")
	register(eager(2, 2, strcasecmp), "$strcasecmp")
	register(parseRegex, "$regexMatch", "$regexFind", "$regexFindAll")
	register(parseReplace, "$replaceOne", "$replaceAll")
}

// CoerceToString is the server's Value::coerceToString: nullish values give
// "", numbers and dates their text form; other types fail with 16007.
func CoerceToString(v any) (string, error) {
	switch x := v.(type) {
	case nil, bson.Undefined:
		return "", nil
	case string:
		return x, nil
	case bson.Symbol:
		return string(x), nil
	case bson.JavaScript:
		return string(x), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return formatDouble(x), nil
	case bson.Decimal128:
		return x.String(), nil
	case bson.DateTime:
		return formatDate(isoFormat, x, utcZone)
	case bson.Timestamp:
		return fmt.Sprintf("Timestamp(%d, %d)", x.T, x.I), nil
	}
	if Nullish(v) {
		return "", nil
	}
	return "", mongoerr.New(16007, "can't convert from BSON type %s to String", typeName(v))
}

func formatDouble(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	case f == 0 && math.Signbit(f):
		return "-0"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func parseConcat(_ string, arg any) (Expr, error) {
	args, err := operands(arg)
	if err != nil {
		return nil, err
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		var b strings.Builder
		for _, a := range args {
			v, err := a.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if Nullish(v) {
				return nil, nil
			}
			s, ok := v.(string)
			if !ok {
				return nil, mongoerr.New(16702, "$concat only supports strings, not %s", typeName(v))
			}
			b.WriteString(s)
		}
		return b.String(), nil
	}), nil
}

func utf8Continuation(b byte) bool { return b&0xc0 == 0x80 }

func substrBytes(_ string, v []any) (any, error) {
	s, err := CoerceToString(v[0])
	if err != nil {
		return nil, err
	}
	isIndex := func(x any) bool {
		switch x.(type) {
		case int32, int64, float64:
			return true
		}
		return false
	}
	if !isIndex(v[1]) {
		return nil, mongoerr.New(16034, "$substrBytes:  starting index must be a numeric type (is BSON type %s)", typeName(v[1]))
	}
	if !isIndex(v[2]) {
		return nil, mongoerr.New(16035, "$substrBytes:  length must be a numeric type (is BSON type %s)", typeName(v[2]))
	}
	lower := truncInt(v[1])
	if lower < 0 {
		return nil, mongoerr.New(50752, "$substrBytes:  starting index must be non-negative (got: %d)", lower)
	}
	length := truncInt(v[2])
	if length < 0 {
		length = int64(len(s))
	}
	if lower < int64(len(s)) && utf8Continuation(s[lower]) {
		return nil, mongoerr.New(28656, "$substrBytes:  Invalid range, starting index is a UTF-8 continuation byte.")
	}
	if end := lower + length; end < int64(len(s)) && utf8Continuation(s[end]) {
		return nil, mongoerr.New(28657, "$substrBytes:  Invalid range, ending index is in the middle of a UTF-8 character.")
	}
	if lower >= int64(len(s)) {
		return "", nil
	}
	end := min(lower+length, int64(len(s)))
	return s[lower:end], nil
}

// truncInt converts a number toward zero, saturating at the int64 range.
func truncInt(v any) int64 {
	switch x := v.(type) {
	case int32:
		return int64(x)
	case int64:
		return x
	}
	f, _ := toFloat(v)
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// int32Arg returns v as an int32 when it is an integral number in range.
func int32Arg(v any) (int32, bool) {
	i, ok := toInt64(v)
	if !ok || i < math.MinInt32 || i > math.MaxInt32 {
		return 0, false
	}
	return int32(i), true
}

func substrCP(_ string, v []any) (any, error) {
	s, err := CoerceToString(v[0])
	if err != nil {
		return nil, err
	}
	if !isNumber(v[1]) {
		return nil, mongoerr.New(34450, "$substrCP: starting index must be a numeric type (is BSON type %s)", typeName(v[1]))
	}
	start, ok := int32Arg(v[1])
	if !ok {
		return nil, mongoerr.New(34451, "$substrCP: starting index cannot be represented as a 32-bit integral value: %s", render(v[1]))
	}
	if !isNumber(v[2]) {
		return nil, mongoerr.New(34452, "$substrCP: length must be a numeric type (is BSON type %s)", typeName(v[2]))
	}
	length, ok := int32Arg(v[2])
	if !ok {
		return nil, mongoerr.New(34453, "$substrCP: length cannot be represented as a 32-bit integral value: %s", render(v[2]))
	}
	if length < 0 {
		return nil, mongoerr.New(34454, "$substrCP: length must be a nonnegative integer.")
	}
	if start < 0 {
		return nil, mongoerr.New(34455, "$substrCP: the starting index must be nonnegative integer.")
	}
	runes := []rune(s)
	if int(start) >= len(runes) {
		return "", nil
	}
	end := min(int(start)+int(length), len(runes))
	return string(runes[start:end]), nil
}

func caseFn(f func(string) string) func(string, []any) (any, error) {
	return func(_ string, v []any) (any, error) {
		s, err := CoerceToString(v[0])
		if err != nil {
			return nil, err
		}
		// The server maps ASCII letters only.
		return asciiOnly(s, f), nil
	}
}

func asciiOnly(s string, f func(string) string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x80 {
			b[i] = f(string(c))[0]
		}
	}
	return string(b)
}

func strLen(code int32, codePoints bool) func(string, []any) (any, error) {
	return func(name string, v []any) (any, error) {
		s, ok := v[0].(string)
		if !ok {
			return nil, mongoerr.New(code, "%s requires a string argument, found: %s", name, typeName(v[0]))
		}
		if codePoints {
			return int32(utf8.RuneCountInString(s)), nil
		}
		return int32(len(s)), nil
	}
}

func split(_ string, v []any) (any, error) {
	if Nullish(v[0]) || Nullish(v[1]) {
		return nil, nil
	}
	s, ok := v[0].(string)
	if !ok {
		return nil, mongoerr.New(40085, "$split requires an expression that evaluates to a string as a first argument, found: %s", typeName(v[0]))
	}
	sep, ok := v[1].(string)
	if !ok {
		return nil, mongoerr.New(40086, "$split requires an expression that evaluates to a string as a second argument, found: %s", typeName(v[1]))
	}
	if sep == "" {
		return nil, mongoerr.New(40087, "$split requires a non-empty separator")
	}
	out := bson.A{}
	for _, p := range strings.Split(s, sep) {
		out = append(out, p)
	}
	return out, nil
}

// defaultTrim is the server's kDefaultTrimWhitespaceChars.
var defaultTrim = []string{
	"\x00", " ", "\t", "\n", "\v", "\f", "\r", "\u00a0", "\u1680", "\u2000", "\u2001",
	"\u2002", "\u2003", "\u2004", "\u2005", "\u2006", "\u2007", "\u2008", "\u2009", "\u200a",
}

func parseTrim(name string, arg any) (Expr, error) {
	args, err := namedArgs(arg, []string{"input", "chars"},
		func() error {
			return mongoerr.New(50696, "%s only supports an object as an argument, found %s", name, typeName(arg))
		},
		func(f string) error { return mongoerr.New(50694, "%s found an unknown argument: %s", name, f) })
	if err != nil {
		return nil, err
	}
	input, chars := args["input"], args["chars"]
	if input == nil {
		return nil, mongoerr.New(50695, "%s requires an 'input' field", name)
	}
	left, right := name != "$rtrim", name != "$ltrim"
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		in, err := input.Eval(root, vars)
		if err != nil {
			return nil, err
		}
		if Nullish(in) {
			return nil, nil
		}
		s, ok := in.(string)
		if !ok {
			return nil, mongoerr.New(50699, "%s requires its input to be a string, got %s (of type %s) instead.", name, render(in), typeName(in))
		}
		cps := defaultTrim
		if chars != nil {
			c, err := chars.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if Nullish(c) {
				return nil, nil
			}
			cs, ok := c.(string)
			if !ok {
				return nil, mongoerr.New(50700, "%s requires 'chars' to be a string, got %s (of type %s) instead.", name, render(c), typeName(c))
			}
			cps = nil
			for _, r := range cs {
				cps = append(cps, string(r))
			}
		}
		if left {
			for trimmed := true; trimmed && s != ""; {
				trimmed = false
				for _, cp := range cps {
					if strings.HasPrefix(s, cp) {
						s, trimmed = s[len(cp):], true
						break
					}
				}
			}
		}
		if right {
			for trimmed := true; trimmed && s != ""; {
				trimmed = false
				for _, cp := range cps {
					if strings.HasSuffix(s, cp) {
						s, trimmed = s[:len(s)-len(cp)], true
						break
					}
				}
			}
		}
		return s, nil
	}), nil
}

func indexArg(name, what string, v any) (int, error) {
	i, ok := toInt64(v)
	if !ok {
		return 0, mongoerr.New(40096, "%s requires an integral %s, found a value of type: %s, with value: %s", name, what, typeName(v), render(v))
	}
	if i < 0 {
		return 0, mongoerr.New(40097, "%s requires a nonnegative %s, found: %s", name, what, render(v))
	}
	return int(min(i, math.MaxInt32)), nil
}

func indexOfStr(codePoints bool) func(string, []any) (any, error) {
	return func(name string, v []any) (any, error) {
		if Nullish(v[0]) {
			return nil, nil
		}
		firstCode, secondCode := int32(40091), int32(40092)
		if codePoints {
			firstCode, secondCode = 40093, 40094
		}
		s, ok := v[0].(string)
		if !ok {
			return nil, mongoerr.New(firstCode, "%s requires a string as the first argument, found: %s", name, typeName(v[0]))
		}
		tok, ok := v[1].(string)
		if !ok {
			return nil, mongoerr.New(secondCode, "%s requires a string as the second argument, found: %s", name, typeName(v[1]))
		}
		var units []string
		if codePoints {
			for _, r := range s {
				units = append(units, string(r))
			}
		}
		length := len(s)
		if codePoints {
			length = len(units)
		}
		start, end := 0, length
		if len(v) > 2 {
			i, err := indexArg(name, "starting index", v[2])
			if err != nil {
				return nil, err
			}
			start = i
		}
		if len(v) > 3 {
			i, err := indexArg(name, "ending index", v[3])
			if err != nil {
				return nil, err
			}
			end = min(i, length)
		}
		if start > length || end < start {
			return int32(-1), nil
		}
		if !codePoints {
			if pos := strings.Index(s[start:end], tok); pos >= 0 {
				return int32(start + pos), nil
			}
			return int32(-1), nil
		}
		if length == 0 && tok == "" && start == 0 {
			return int32(0), nil
		}
		for i := start; i < end; i++ {
			if strings.HasPrefix(strings.Join(units[i:], ""), tok) {
				return int32(i), nil
			}
		}
		return int32(-1), nil
	}
}

func strcasecmp(_ string, v []any) (any, error) {
	a, err := CoerceToString(v[0])
	if err != nil {
		return nil, err
	}
	b, err := CoerceToString(v[1])
	if err != nil {
		return nil, err
	}
	c := strings.Compare(asciiOnly(a, strings.ToUpper), asciiOnly(b, strings.ToUpper))
	return int32(c), nil
}

// CompileRegex compiles a MongoDB (PCRE) pattern and options for the
// expression operator op with value.CompileRegex, answering with the
// aggregation errors: 51108 for a bad flag, 51111 for a bad pattern.
func CompileRegex(pattern, options, op string) (*regexp.Regexp, error) {
	re, err := value.CompileRegex(pattern, options)
	var flagErr *value.RegexOptionError
	switch {
	case errors.As(err, &flagErr):
		return nil, mongoerr.New(51108, "%s invalid flag in regex options: %c", op, flagErr.Flag)
	case err != nil:
		return nil, mongoerr.New(51111, "Invalid Regex in %s: %v", op, err)
	}
	return re, nil
}

func parseRegex(name string, arg any) (Expr, error) {
	args, err := namedArgs(arg, []string{"input", "regex", "options"},
		func() error {
			return mongoerr.New(51103, "%s expects an object of named arguments but found: %s", name, typeName(arg))
		},
		func(f string) error { return mongoerr.New(31024, "%s found an unknown argument: %s", name, f) })
	if err != nil {
		return nil, err
	}
	if args["input"] == nil {
		return nil, mongoerr.New(31022, "%s requires 'input' parameter", name)
	}
	if args["regex"] == nil {
		return nil, mongoerr.New(31023, "%s requires 'regex' parameter", name)
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		in, err := args["input"].Eval(root, vars)
		if err != nil {
			return nil, err
		}
		re, err := args["regex"].Eval(root, vars)
		if err != nil {
			return nil, err
		}
		var opts any
		if args["options"] != nil {
			if opts, err = args["options"].Eval(root, vars); err != nil {
				return nil, err
			}
		}
		if !Nullish(in) {
			if _, ok := in.(string); !ok {
				return nil, mongoerr.New(51104, "%s needs 'input' to be of type string", name)
			}
		}
		var pattern, options string
		havePattern := false
		switch r := re.(type) {
		case string:
			pattern, havePattern = r, true
		case bson.Regex:
			pattern, havePattern = r.Pattern, true
			if r.Options != "" {
				if !Nullish(opts) {
					return nil, mongoerr.New(51107, "%s: found regex option(s) specified in both 'regex' and 'option' fields", name)
				}
				options = r.Options
			}
		default:
			if !Nullish(re) {
				return nil, mongoerr.New(51105, "%s needs 'regex' to be of type string or regex", name)
			}
		}
		if !Nullish(opts) {
			o, ok := opts.(string)
			if !ok {
				return nil, mongoerr.New(51106, "%s needs 'options' to be of type string", name)
			}
			options = o
		}
		if !havePattern || Nullish(in) {
			switch name {
			case "$regexMatch":
				return false, nil
			case "$regexFindAll":
				return bson.A{}, nil
			}
			return nil, nil
		}
		rx, err := CompileRegex(pattern, options, name)
		if err != nil {
			return nil, err
		}
		s := in.(string)
		switch name {
		case "$regexMatch":
			return rx.MatchString(s), nil
		case "$regexFind":
			m := rx.FindStringSubmatchIndex(s)
			if m == nil {
				return nil, nil
			}
			return regexResult(s, m), nil
		}
		out := bson.A{}
		for _, m := range rx.FindAllStringSubmatchIndex(s, -1) {
			out = append(out, regexResult(s, m))
		}
		return out, nil
	}), nil
}

func regexResult(s string, m []int) bson.D {
	captures := bson.A{}
	for i := 2; i < len(m); i += 2 {
		if m[i] < 0 {
			captures = append(captures, nil)
			continue
		}
		captures = append(captures, s[m[i]:m[i+1]])
	}
	return bson.D{
		{Key: "match", Value: s[m[0]:m[1]]},
		{Key: "idx", Value: int32(utf8.RuneCountInString(s[:m[0]]))},
		{Key: "captures", Value: captures},
	}
}

func parseReplace(name string, arg any) (Expr, error) {
	args, err := namedArgs(arg, []string{"input", "find", "replacement"},
		func() error {
			return mongoerr.New(51751, "%s requires an object as an argument, found: %s", name, typeName(arg))
		},
		func(f string) error { return mongoerr.New(51750, "%s found an unknown argument: %s", name, f) })
	if err != nil {
		return nil, err
	}
	switch {
	case args["input"] == nil:
		return nil, mongoerr.New(51749, "%s requires 'input' to be specified", name)
	case args["find"] == nil:
		return nil, mongoerr.New(51748, "%s requires 'find' to be specified", name)
	case args["replacement"] == nil:
		return nil, mongoerr.New(51747, "%s requires 'replacement' to be specified", name)
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		var vals [3]any
		for i, k := range []string{"input", "find", "replacement"} {
			v, err := args[k].Eval(root, vars)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		}
		for i, code := range []int32{51746, 51745, 51744} {
			if !Nullish(vals[i]) {
				if _, ok := vals[i].(string); !ok {
					what := []string{"input", "find", "replacement"}[i]
					return nil, mongoerr.New(code, "%s requires that '%s' be a string, found: %s", name, what, render(vals[i]))
				}
			}
		}
		if Nullish(vals[0]) || Nullish(vals[1]) || Nullish(vals[2]) {
			return nil, nil
		}
		in, find, repl := vals[0].(string), vals[1].(string), vals[2].(string)
		if name == "$replaceOne" {
			return strings.Replace(in, find, repl, 1), nil
		}
		return strings.ReplaceAll(in, find, repl), nil
	}), nil
}
