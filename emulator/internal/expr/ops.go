package expr

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// parser compiles the argument of operator name.
type parser func(name string, arg any) (Expr, error)

// operators is filled by init functions in this package's files; a map
// literal here would form an initialization cycle through Compile.
var operators = map[string]parser{}

func register(p parser, names ...string) {
	for _, n := range names {
		operators[n] = p
	}
}

// unsupported lists real server operators the emulator does not implement,
// so they fail as NotImplemented rather than as unknown operators.
var unsupported = []string{
	"$meta", "$stdDevPop", "$stdDevSamp", "$dateAdd", "$dateSubtract", "$dateDiff",
	"$dateTrunc", "$firstN", "$lastN", "$maxN", "$minN",
	"$toHashedIndexKey", "$median", "$percentile", "$top", "$topN",
	"$bottom", "$bottomN", "$bitAnd", "$bitOr", "$bitXor", "$bitNot",
	"$sin", "$cos", "$tan", "$asin", "$acos", "$atan", "$atan2", "$asinh",
	"$acosh", "$atanh", "$sinh", "$cosh", "$tanh", "$degreesToRadians", "$radiansToDegrees",
	"$sampleRate", "$covariancePop", "$covarianceSamp", "$integral", "$derivative",
	"$expMovingAvg", "$shift", "$rank", "$denseRank", "$documentNumber", "$locf",
	"$linearFill", "$internalJsEmit",
}

// javascript lists operators that run server-side JavaScript, which the
// emulator refuses.
var javascript = []string{"$function", "$accumulator", "$where"}

func compileOperator(name string, arg any) (Expr, error) {
	if p, ok := operators[name]; ok {
		return p(name, arg)
	}
	for _, js := range javascript {
		if js == name {
			// The server answers 31264 when JavaScript may not run
			// (expression_function.cpp, Atlas tiers without JS).
			return nil, mongoerr.New(31264, "%s not allowed: server-side JavaScript is not supported by this server", name)
		}
	}
	for _, u := range unsupported {
		if u == name {
			return nil, mongoerr.New(mongoerr.NotImplemented, "expression %s is not supported by this server", name)
		}
	}
	return nil, mongoerr.New(mongoerr.InvalidPipelineOperator, "Unrecognized expression '%s'", name)
}

// operands compiles an operator's arguments: an array gives one operand per
// element, anything else is a single operand (ExpressionNary::parseArguments).
func operands(arg any) ([]Expr, error) {
	if a, ok := arg.(bson.A); ok {
		out := make([]Expr, len(a))
		for i, e := range a {
			c, err := Compile(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	c, err := Compile(arg)
	if err != nil {
		return nil, err
	}
	return []Expr{c}, nil
}

// fixed compiles exactly n operands (ExpressionFixedArity, code 16020).
func fixed(name string, arg any, n int) ([]Expr, error) {
	args, err := operands(arg)
	if err != nil {
		return nil, err
	}
	if len(args) != n {
		return nil, mongoerr.New(16020, "Expression %s takes exactly %d arguments. %d were passed in.", name, n, len(args))
	}
	return args, nil
}

// ranged compiles between lo and hi operands (ExpressionRangedArity, 28667).
func ranged(name string, arg any, lo, hi int) ([]Expr, error) {
	args, err := operands(arg)
	if err != nil {
		return nil, err
	}
	if len(args) < lo || len(args) > hi {
		return nil, mongoerr.New(28667, "Expression %s takes at least %d arguments, and at most %d. %d were passed in.", name, lo, hi, len(args))
	}
	return args, nil
}

// evalAll evaluates every operand in order.
func evalAll(args []Expr, root bson.D, vars map[string]any) ([]any, error) {
	out := make([]any, len(args))
	for i, a := range args {
		v, err := a.Eval(root, vars)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// eager builds an operator with n..m operands that evaluates all of them
// before calling f.
func eager(lo, hi int, f func(name string, v []any) (any, error)) parser {
	return func(name string, arg any) (Expr, error) {
		var args []Expr
		var err error
		if lo == hi {
			args, err = fixed(name, arg, lo)
		} else {
			args, err = ranged(name, arg, lo, hi)
		}
		if err != nil {
			return nil, err
		}
		return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
			v, err := evalAll(args, root, vars)
			if err != nil {
				return nil, err
			}
			return f(name, v)
		}), nil
	}
}

// variadic builds an operator with any number of operands, all evaluated.
func variadic(f func(name string, v []any) (any, error)) parser {
	return func(name string, arg any) (Expr, error) {
		args, err := operands(arg)
		if err != nil {
			return nil, err
		}
		return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
			v, err := evalAll(args, root, vars)
			if err != nil {
				return nil, err
			}
			return f(name, v)
		}), nil
	}
}

// namedArgs checks that arg is a document and splits it into the allowed
// named arguments, compiling each. notObject and unknown produce the
// operator-specific errors.
func namedArgs(arg any, allowed []string, notObject func() error, unknown func(field string) error) (map[string]Expr, error) {
	d, ok := value.Doc(arg)
	if !ok {
		return nil, notObject()
	}
	out := make(map[string]Expr, len(d))
	for _, e := range d {
		known := false
		for _, a := range allowed {
			if a == e.Key {
				known = true
				break
			}
		}
		if !known {
			return nil, unknown(e.Key)
		}
		c, err := Compile(e.Value)
		if err != nil {
			return nil, err
		}
		out[e.Key] = c
	}
	return out, nil
}

func toFloat(v any) (float64, bool) { return value.ToFloat(v) }

func toInt64(v any) (int64, bool) { return value.ToInt64(v) }

func isNumber(v any) bool { return value.IsNumber(v) }
