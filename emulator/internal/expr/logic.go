package expr

import (
	"math/rand/v2"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

func init() {
	for name, test := range map[string]func(int) bool{
		"$eq":  func(c int) bool { return c == 0 },
		"$ne":  func(c int) bool { return c != 0 },
		"$gt":  func(c int) bool { return c > 0 },
		"$gte": func(c int) bool { return c >= 0 },
		"$lt":  func(c int) bool { return c < 0 },
		"$lte": func(c int) bool { return c <= 0 },
	} {
		register(eager(2, 2, func(_ string, v []any) (any, error) {
			return test(Compare(v[0], v[1])), nil
		}), name)
	}
	register(eager(2, 2, func(_ string, v []any) (any, error) {
		return int32(Compare(v[0], v[1])), nil
	}), "$cmp")
	register(parseAndOr(true), "$and")
	register(parseAndOr(false), "$or")
	register(eager(1, 1, func(_ string, v []any) (any, error) {
		return !value.Truthy(v[0]), nil
	}), "$not")
	register(parseCond, "$cond")
	register(parseIfNull, "$ifNull")
	register(parseSwitch, "$switch")
	register(parseLet, "$let")
	register(func(_ string, arg any) (Expr, error) { return constant{normalize(arg)}, nil }, "$literal", "$const")
	register(parseRand, "$rand")
	register(eager(1, 1, func(_ string, v []any) (any, error) {
		return value.TypeAlias(v[0]), nil
	}), "$type")
	register(eager(1, 1, func(_ string, v []any) (any, error) {
		return value.IsNumber(v[0]), nil
	}), "$isNumber")
}

// Compare orders two expression values the way aggregation comparisons do:
// MongoDB's BSON order, except that a missing value sorts below null (with
// undefined), so {$eq: ["$missing", null]} is false.
func Compare(a, b any) int {
	if _, ok := a.(value.Missing); ok {
		a = bson.Undefined{}
	}
	if _, ok := b.(value.Missing); ok {
		b = bson.Undefined{}
	}
	c := value.Compare(a, b)
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

func parseAndOr(isAnd bool) parser {
	return func(_ string, arg any) (Expr, error) {
		args, err := operands(arg)
		if err != nil {
			return nil, err
		}
		return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
			for _, a := range args {
				v, err := a.Eval(root, vars)
				if err != nil {
					return nil, err
				}
				if value.Truthy(v) != isAnd {
					return !isAnd, nil
				}
			}
			return isAnd, nil
		}), nil
	}
}

func parseCond(name string, arg any) (Expr, error) {
	var ifE, thenE, elseE Expr
	if d, ok := value.Doc(arg); ok {
		for _, e := range d {
			c, err := Compile(e.Value)
			if err != nil {
				return nil, err
			}
			switch e.Key {
			case "if":
				ifE = c
			case "then":
				thenE = c
			case "else":
				elseE = c
			default:
				return nil, mongoerr.New(17083, "Unrecognized parameter to $cond: %s", e.Key)
			}
		}
		switch {
		case ifE == nil:
			return nil, mongoerr.New(17080, "Missing 'if' parameter to $cond")
		case thenE == nil:
			return nil, mongoerr.New(17081, "Missing 'then' parameter to $cond")
		case elseE == nil:
			return nil, mongoerr.New(17082, "Missing 'else' parameter to $cond")
		}
	} else {
		args, err := fixed(name, arg, 3)
		if err != nil {
			return nil, err
		}
		ifE, thenE, elseE = args[0], args[1], args[2]
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		c, err := ifE.Eval(root, vars)
		if err != nil {
			return nil, err
		}
		if value.Truthy(c) {
			return thenE.Eval(root, vars)
		}
		return elseE.Eval(root, vars)
	}), nil
}

func parseIfNull(_ string, arg any) (Expr, error) {
	args, err := operands(arg)
	if err != nil {
		return nil, err
	}
	if len(args) < 2 {
		return nil, mongoerr.New(1257300, "$ifNull needs at least two arguments, had: %d", len(args))
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		for _, a := range args[:len(args)-1] {
			v, err := a.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if !Nullish(v) {
				return v, nil
			}
		}
		return args[len(args)-1].Eval(root, vars)
	}), nil
}

func parseSwitch(_ string, arg any) (Expr, error) {
	d, ok := value.Doc(arg)
	if !ok {
		return nil, mongoerr.New(40060, "$switch requires an object as an argument, found: %s", typeName(arg))
	}
	type branch struct{ cond, then Expr }
	var branches []branch
	var def Expr
	for _, e := range d {
		switch e.Key {
		case "branches":
			arr, ok := e.Value.(bson.A)
			if !ok {
				return nil, mongoerr.New(40061, "$switch expected an array for 'branches', found: %s", typeName(e.Value))
			}
			for _, b := range arr {
				bd, ok := value.Doc(b)
				if !ok {
					return nil, mongoerr.New(40062, "$switch expected each branch to be an object, found: %s", typeName(b))
				}
				var br branch
				for _, be := range bd {
					c, err := Compile(be.Value)
					if err != nil {
						return nil, err
					}
					switch be.Key {
					case "case":
						br.cond = c
					case "then":
						br.then = c
					default:
						return nil, mongoerr.New(40063, "$switch found an unknown argument to a branch: %s", be.Key)
					}
				}
				if br.cond == nil {
					return nil, mongoerr.New(40064, "$switch requires each branch have a 'case' expression")
				}
				if br.then == nil {
					return nil, mongoerr.New(40065, "$switch requires each branch have a 'then' expression.")
				}
				branches = append(branches, br)
			}
		case "default":
			c, err := Compile(e.Value)
			if err != nil {
				return nil, err
			}
			def = c
		default:
			return nil, mongoerr.New(40067, "$switch found an unknown argument: %s", e.Key)
		}
	}
	if len(branches) == 0 {
		return nil, mongoerr.New(40068, "$switch requires at least one branch.")
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		for _, b := range branches {
			c, err := b.cond.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if value.Truthy(c) {
				return b.then.Eval(root, vars)
			}
		}
		if def == nil {
			return nil, mongoerr.New(40066, "$switch could not find a matching branch for an input, and no default was specified.")
		}
		return def.Eval(root, vars)
	}), nil
}

func parseLet(_ string, arg any) (Expr, error) {
	d, ok := value.Doc(arg)
	if !ok {
		return nil, mongoerr.New(16874, "$let only supports an object as its argument")
	}
	var varsSpec any
	var inSpec any
	haveVars, haveIn := false, false
	for _, e := range d {
		switch e.Key {
		case "vars":
			varsSpec, haveVars = e.Value, true
		case "in":
			inSpec, haveIn = e.Value, true
		default:
			return nil, mongoerr.New(16875, "Unrecognized parameter to $let: %s", e.Key)
		}
	}
	if !haveVars {
		return nil, mongoerr.New(16876, "Missing 'vars' parameter to $let")
	}
	if !haveIn {
		return nil, mongoerr.New(16877, "Missing 'in' parameter to $let")
	}
	vd, ok := value.Doc(varsSpec)
	if !ok {
		return nil, mongoerr.New(10065, "invalid parameter: expected an object (vars)")
	}
	type binding struct {
		name string
		expr Expr
	}
	bindings := make([]binding, 0, len(vd))
	for _, e := range vd {
		if err := ValidateVarName(e.Key); err != nil {
			return nil, err
		}
		c, err := Compile(e.Value)
		if err != nil {
			return nil, err
		}
		bindings = append(bindings, binding{e.Key, c})
	}
	in, err := Compile(inSpec)
	if err != nil {
		return nil, err
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		inner := withVars(vars, len(bindings))
		for _, b := range bindings {
			v, err := b.expr.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			inner[b.name] = v
		}
		return in.Eval(root, inner)
	}), nil
}

func parseRand(_ string, arg any) (Expr, error) {
	d, ok := value.Doc(arg)
	if !ok {
		return nil, mongoerr.New(10065, "invalid parameter: expected an object ($rand)")
	}
	if len(d) != 0 {
		return nil, mongoerr.New(3040501, "$rand does not currently accept arguments")
	}
	return evalFunc(func(bson.D, map[string]any) (any, error) {
		return rand.Float64(), nil
	}), nil
}
