package expr

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

func init() {
	register(variadic(func(_ string, v []any) (any, error) { return MergeObjects(v) }), "$mergeObjects")
	register(parseGetField, "$getField")
	register(parseSetField, "$setField", "$unsetField")
	register(eager(1, 1, objectToArray), "$objectToArray")
	register(eager(1, 1, arrayToObject), "$arrayToObject")
}

// MergeObjects merges documents left to right, later fields replacing
// earlier ones in place; null and missing inputs are skipped.
func MergeObjects(vals []any) (any, error) {
	out := bson.D{}
	for _, v := range vals {
		if Nullish(v) {
			continue
		}
		d, ok := value.Doc(v)
		if !ok {
			return nil, mongoerr.New(40400, "$mergeObjects requires object inputs, but input %s is of type %s", render(v), typeName(v))
		}
		for _, e := range d {
			out = setTop(out, e.Key, e.Value)
		}
	}
	return out, nil
}

// setTop sets a top-level field of a document it owns, keeping its
// position when it exists.
func setTop(d bson.D, key string, v any) bson.D {
	for i := range d {
		if d[i].Key == key {
			d[i].Value = v
			return d
		}
	}
	return append(d, bson.E{Key: key, Value: v})
}

// constantField compiles the 'field' argument of $getField/$setField,
// which must be a constant string.
func constantField(spec any, op string, nonConst, notString, fieldPath int32) (string, error) {
	var v any
	switch x := spec.(type) {
	case string:
		if strings.HasPrefix(x, "$") {
			return "", mongoerr.New(fieldPath, "%s requires 'field' to evaluate to a constant, but got a field path or variable %q; use {$literal: ...} to name a dollar-prefixed field", op, x)
		}
		v = x
	case bson.D, bson.M:
		c, err := Compile(x)
		if err != nil {
			return "", err
		}
		k, ok := c.(constant)
		if !ok {
			return "", mongoerr.New(nonConst, "%s requires 'field' to evaluate to a constant, but got a non-constant argument", op)
		}
		v = k.v
	default:
		v = x
	}
	s, ok := v.(string)
	if !ok {
		return "", mongoerr.New(notString, "%s requires 'field' to evaluate to type String, but got %s", op, typeName(v))
	}
	return s, nil
}

func parseGetField(_ string, arg any) (Expr, error) {
	fieldSpec, inputSpec := arg, any("$$CURRENT")
	if d, ok := value.Doc(arg); ok && !(len(d) > 0 && strings.HasPrefix(d[0].Key, "$")) {
		haveField := false
		for _, e := range d {
			switch e.Key {
			case "field":
				fieldSpec, haveField = e.Value, true
			case "input":
				inputSpec = e.Value
			default:
				return nil, mongoerr.New(3041701, "$getField found an unknown argument: %s", e.Key)
			}
		}
		if !haveField {
			return nil, mongoerr.New(3041702, "$getField requires 'field' to be specified")
		}
	}
	field, err := constantField(fieldSpec, "$getField", 5654601, 5654602, 5654601)
	if err != nil {
		return nil, err
	}
	input, err := Compile(inputSpec)
	if err != nil {
		return nil, err
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		in, err := input.Eval(root, vars)
		if err != nil {
			return nil, err
		}
		if Nullish(in) {
			return nil, nil
		}
		d, ok := value.Doc(in)
		if !ok {
			return nil, mongoerr.New(3041705, "$getField requires 'input' to evaluate to type Object, but got %s", typeName(in))
		}
		if v, ok := value.Lookup(d, field); ok {
			return v, nil
		}
		return value.Missing{}, nil
	}), nil
}

func parseSetField(name string, arg any) (Expr, error) {
	d, ok := value.Doc(arg)
	if !ok {
		return nil, mongoerr.New(4161100, "%s only supports an object as its argument", name)
	}
	unset := name == "$unsetField"
	var fieldSpec, inputSpec, valueSpec any
	var haveField, haveInput, haveValue bool
	for _, e := range d {
		switch {
		case e.Key == "field":
			fieldSpec, haveField = e.Value, true
		case e.Key == "input":
			inputSpec, haveInput = e.Value, true
		case e.Key == "value" && !unset:
			valueSpec, haveValue = e.Value, true
		default:
			return nil, mongoerr.New(4161101, "%s found an unknown argument: %s", name, e.Key)
		}
	}
	switch {
	case !haveField:
		return nil, mongoerr.New(4161102, "%s requires 'field' to be specified", name)
	case !haveValue && !unset:
		return nil, mongoerr.New(4161103, "%s requires 'value' to be specified", name)
	case !haveInput:
		return nil, mongoerr.New(4161109, "%s requires 'input' to be specified", name)
	}
	field, err := constantField(fieldSpec, name, 4161106, 4161107, 4161108)
	if err != nil {
		return nil, err
	}
	input, err := Compile(inputSpec)
	if err != nil {
		return nil, err
	}
	var val Expr = constant{value.Missing{}}
	if !unset {
		if val, err = Compile(valueSpec); err != nil {
			return nil, err
		}
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		in, err := input.Eval(root, vars)
		if err != nil {
			return nil, err
		}
		if Nullish(in) {
			return nil, nil
		}
		src, ok := value.Doc(in)
		if !ok {
			return nil, mongoerr.New(4161105, "%s requires 'input' to evaluate to type Object", name)
		}
		v, err := val.Eval(root, vars)
		if err != nil {
			return nil, err
		}
		out := make(bson.D, 0, len(src)+1)
		found := false
		for _, e := range src {
			if e.Key == field {
				found = true
				if _, remove := v.(value.Missing); remove {
					continue
				}
				out = append(out, bson.E{Key: field, Value: v})
				continue
			}
			out = append(out, e)
		}
		if _, remove := v.(value.Missing); !found && !remove {
			out = append(out, bson.E{Key: field, Value: v})
		}
		return out, nil
	}), nil
}

func objectToArray(_ string, v []any) (any, error) {
	if Nullish(v[0]) {
		return nil, nil
	}
	d, ok := value.Doc(v[0])
	if !ok {
		return nil, mongoerr.New(40390, "$objectToArray requires a document input, found: %s", typeName(v[0]))
	}
	out := make(bson.A, len(d))
	for i, e := range d {
		out[i] = bson.D{{Key: "k", Value: e.Key}, {Key: "v", Value: e.Value}}
	}
	return out, nil
}

func arrayToObject(_ string, v []any) (any, error) {
	if Nullish(v[0]) {
		return nil, nil
	}
	a, ok := v[0].(bson.A)
	if !ok {
		return nil, mongoerr.New(40386, "$arrayToObject requires an array input, found: %s", typeName(v[0]))
	}
	out := bson.D{}
	if len(a) == 0 {
		return out, nil
	}
	_, pairs := a[0].(bson.A)
	if _, isDoc := value.Doc(a[0]); !pairs && !isDoc {
		return nil, mongoerr.New(40398, "Unrecognised input type format for $arrayToObject: %s", typeName(a[0]))
	}
	for _, el := range a {
		var key, val any
		if pairs {
			p, ok := el.(bson.A)
			if !ok {
				return nil, mongoerr.New(40396, "$arrayToObject requires a consistent input format. Elements must all be arrays or all be objects. Array was detected, now found: %s", typeName(el))
			}
			if len(p) != 2 {
				return nil, mongoerr.New(40397, "$arrayToObject requires an array of size 2 arrays,found array of size: %d", len(p))
			}
			if _, ok := p[0].(string); !ok {
				return nil, mongoerr.New(40395, "$arrayToObject requires an array of key-value pairs, where the key must be of type string. Found key type: %s", typeName(p[0]))
			}
			key, val = p[0], p[1]
		} else {
			d, ok := value.Doc(el)
			if !ok {
				return nil, mongoerr.New(40391, "$arrayToObject requires a consistent input format. Elements must all be arrays or all be objects. Object was detected, now found: %s", typeName(el))
			}
			if len(d) != 2 {
				return nil, mongoerr.New(40392, "$arrayToObject requires an object keys of 'k' and 'v'. Found incorrect number of keys:%d", len(d))
			}
			k, okK := value.Lookup(d, "k")
			vv, okV := value.Lookup(d, "v")
			if !okK || !okV {
				return nil, mongoerr.New(40393, "$arrayToObject requires an object with keys 'k' and 'v'. Missing either or both keys from: %s", render(d))
			}
			if _, ok := k.(string); !ok {
				return nil, mongoerr.New(40394, "$arrayToObject requires an object with keys 'k' and 'v', where the value of 'k' must be of type string. Found type: %s", typeName(k))
			}
			key, val = k, vv
		}
		ks := key.(string)
		if strings.Contains(ks, "\x00") {
			return nil, mongoerr.New(4940401, "Key field cannot contain an embedded null byte")
		}
		out = setTop(out, ks, val)
	}
	return out, nil
}
