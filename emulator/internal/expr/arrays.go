package expr

import (
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

func init() {
	register(eager(1, 1, func(_ string, v []any) (any, error) {
		a, ok := v[0].(bson.A)
		if !ok {
			return nil, mongoerr.New(17124, "The argument to $size must be an array, but was of type: %s", typeName(v[0]))
		}
		return createIntOrLong(int64(len(a))), nil
	}), "$size")
	register(eager(2, 2, arrayElemAt), "$arrayElemAt")
	register(eager(1, 1, firstLast(true)), "$first")
	register(eager(1, 1, firstLast(false)), "$last")
	register(eager(2, 2, func(_ string, v []any) (any, error) {
		a, ok := v[1].(bson.A)
		if !ok {
			return nil, mongoerr.New(40081, "$in requires an array as a second argument, found: %s", typeName(v[1]))
		}
		for _, el := range a {
			if Compare(v[0], el) == 0 {
				return true, nil
			}
		}
		return false, nil
	}), "$in")
	register(eager(2, 3, slice), "$slice")
	register(variadic(func(_ string, v []any) (any, error) {
		out := bson.A{}
		for _, x := range v {
			if Nullish(x) {
				return nil, nil
			}
			a, ok := x.(bson.A)
			if !ok {
				return nil, mongoerr.New(28664, "$concatArrays only supports arrays, not %s", typeName(x))
			}
			out = append(out, a...)
		}
		return out, nil
	}), "$concatArrays")
	register(parseFilter, "$filter")
	register(parseMap, "$map")
	register(parseReduce, "$reduce")
	register(eager(1, 1, func(_ string, v []any) (any, error) {
		_, ok := v[0].(bson.A)
		return ok, nil
	}), "$isArray")
	register(eager(1, 1, func(_ string, v []any) (any, error) {
		if Nullish(v[0]) {
			return nil, nil
		}
		a, ok := v[0].(bson.A)
		if !ok {
			return nil, mongoerr.New(34435, "The argument to $reverseArray must be an array, but was of type: %s", typeName(v[0]))
		}
		out := slices.Clone(a)
		slices.Reverse(out)
		return out, nil
	}), "$reverseArray")
	register(eager(2, 3, rangeFn), "$range")
	register(eager(2, 4, indexOfArray), "$indexOfArray")
	register(parseZip, "$zip")
	register(parseSortArray, "$sortArray")
	register(variadic(setUnion), "$setUnion")
	register(variadic(setIntersection), "$setIntersection")
	register(eager(2, 2, setDifference), "$setDifference")
	register(variadic(setEquals), "$setEquals")
	register(eager(2, 2, setIsSubset), "$setIsSubset")
	register(eager(1, 1, elementsTrue(17041, true)), "$anyElementTrue")
	register(eager(1, 1, elementsTrue(17040, false)), "$allElementsTrue")
}

func arrayElemAt(name string, v []any) (any, error) {
	if Nullish(v[0]) || Nullish(v[1]) {
		return nil, nil
	}
	a, ok := v[0].(bson.A)
	if !ok {
		return nil, mongoerr.New(28689, "%s's first argument must be an array, but is %s", name, typeName(v[0]))
	}
	if !isNumber(v[1]) {
		return nil, mongoerr.New(28690, "%s's second argument must be a numeric value, but is %s", name, typeName(v[1]))
	}
	i, ok := int32Arg(v[1])
	if !ok {
		return nil, mongoerr.New(28691, "%s's second argument must be representable as a 32-bit integer: %s", name, render(v[1]))
	}
	idx := int(i)
	if idx < 0 {
		idx += len(a)
	}
	if idx < 0 || idx >= len(a) {
		return value.Missing{}, nil
	}
	return a[idx], nil
}

func firstLast(first bool) func(string, []any) (any, error) {
	return func(name string, v []any) (any, error) {
		if Nullish(v[0]) {
			return nil, nil
		}
		a, ok := v[0].(bson.A)
		if !ok {
			return nil, mongoerr.New(28689, "%s's argument must be an array, but is %s", name, typeName(v[0]))
		}
		if len(a) == 0 {
			return value.Missing{}, nil
		}
		if first {
			return a[0], nil
		}
		return a[len(a)-1], nil
	}
}

func slice(_ string, v []any) (any, error) {
	if Nullish(v[0]) || Nullish(v[1]) {
		return nil, nil
	}
	a, ok := v[0].(bson.A)
	if !ok {
		return nil, mongoerr.New(28724, "First argument to $slice must be an array, but is of type: %s", typeName(v[0]))
	}
	if !isNumber(v[1]) {
		return nil, mongoerr.New(28725, "Second argument to $slice must be a numeric value, but is of type: %s", typeName(v[1]))
	}
	n, ok := int32Arg(v[1])
	if !ok {
		return nil, mongoerr.New(28726, "Second argument to $slice can't be represented as a 32-bit integer: %s", render(v[1]))
	}
	start, end := 0, len(a)
	if len(v) == 2 {
		if n >= 0 {
			end = min(end, int(n))
		} else {
			start = max(0, len(a)+int(n))
		}
	} else {
		if n < 0 {
			start = max(0, len(a)+int(n))
		} else {
			start = min(len(a), int(n))
		}
		if Nullish(v[2]) {
			return nil, nil
		}
		if !isNumber(v[2]) {
			return nil, mongoerr.New(28727, "Third argument to $slice must be numeric, but is of type: %s", typeName(v[2]))
		}
		c, ok := int32Arg(v[2])
		if !ok {
			return nil, mongoerr.New(28728, "Third argument to $slice can't be represented as a 32-bit integer: %s", render(v[2]))
		}
		if c <= 0 {
			return nil, mongoerr.New(28729, "Third argument to $slice must be positive: %d", c)
		}
		end = min(start+int(c), len(a))
	}
	return slices.Clone(a[start:end]), nil
}

// iterVar parses the 'as' name of $map/$filter, defaulting to "this".
func iterVar(spec any, have bool) (string, error) {
	if !have {
		return "this", nil
	}
	name, _ := spec.(string)
	if err := ValidateVarName(name); err != nil {
		return "", err
	}
	return name, nil
}

func parseFilter(_ string, arg any) (Expr, error) {
	d, ok := value.Doc(arg)
	if !ok {
		return nil, mongoerr.New(28646, "$filter only supports an object as its argument")
	}
	var input, cond, limit any
	var haveInput, haveAs, haveCond, haveLimit bool
	var as any
	for _, e := range d {
		switch e.Key {
		case "input":
			input, haveInput = e.Value, true
		case "as":
			as, haveAs = e.Value, true
		case "cond":
			cond, haveCond = e.Value, true
		case "limit":
			limit, haveLimit = e.Value, true
		default:
			return nil, mongoerr.New(28647, "Unrecognized parameter to $filter: %s", e.Key)
		}
	}
	if !haveInput {
		return nil, mongoerr.New(28648, "Missing 'input' parameter to $filter")
	}
	if !haveCond {
		return nil, mongoerr.New(28650, "Missing 'cond' parameter to $filter")
	}
	name, err := iterVar(as, haveAs)
	if err != nil {
		return nil, err
	}
	inE, err := Compile(input)
	if err != nil {
		return nil, err
	}
	condE, err := Compile(cond)
	if err != nil {
		return nil, err
	}
	var limitE Expr
	if haveLimit {
		if limitE, err = Compile(limit); err != nil {
			return nil, err
		}
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		in, err := inE.Eval(root, vars)
		if err != nil {
			return nil, err
		}
		if Nullish(in) {
			return nil, nil
		}
		a, ok := in.(bson.A)
		if !ok {
			return nil, mongoerr.New(28651, "input to $filter must be an array not %s", typeName(in))
		}
		max := len(a)
		if limitE != nil {
			l, err := limitE.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if !Nullish(l) {
				n, ok := int32Arg(l)
				if !ok {
					return nil, mongoerr.New(327392, "$filter: limit must be represented as a 32-bit integral value: %s", render(l))
				}
				if n < 1 {
					return nil, mongoerr.New(327391, "$filter: limit must be greater than 0: %d", n)
				}
				max = int(n)
			}
		}
		out := bson.A{}
		inner := withVars(vars, 1)
		for _, el := range a {
			if len(out) >= max {
				break
			}
			inner[name] = el
			c, err := condE.Eval(root, inner)
			if err != nil {
				return nil, err
			}
			if value.Truthy(c) {
				out = append(out, el)
			}
		}
		return out, nil
	}), nil
}

func parseMap(_ string, arg any) (Expr, error) {
	d, ok := value.Doc(arg)
	if !ok {
		return nil, mongoerr.New(16878, "$map only supports an object as its argument")
	}
	var input, in, as any
	var haveInput, haveIn, haveAs bool
	for _, e := range d {
		switch e.Key {
		case "input":
			input, haveInput = e.Value, true
		case "as":
			as, haveAs = e.Value, true
		case "in":
			in, haveIn = e.Value, true
		default:
			return nil, mongoerr.New(16879, "Unrecognized parameter to $map: %s", e.Key)
		}
	}
	if !haveInput {
		return nil, mongoerr.New(16880, "Missing 'input' parameter to $map")
	}
	if !haveIn {
		return nil, mongoerr.New(16882, "Missing 'in' parameter to $map")
	}
	name, err := iterVar(as, haveAs)
	if err != nil {
		return nil, err
	}
	inputE, err := Compile(input)
	if err != nil {
		return nil, err
	}
	inE, err := Compile(in)
	if err != nil {
		return nil, err
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		v, err := inputE.Eval(root, vars)
		if err != nil {
			return nil, err
		}
		if Nullish(v) {
			return nil, nil
		}
		a, ok := v.(bson.A)
		if !ok {
			return nil, mongoerr.New(16883, "input to $map must be an array not %s", typeName(v))
		}
		out := make(bson.A, len(a))
		inner := withVars(vars, 1)
		for i, el := range a {
			inner[name] = el
			r, err := inE.Eval(root, inner)
			if err != nil {
				return nil, err
			}
			if _, ok := r.(value.Missing); ok {
				r = nil
			}
			out[i] = r
		}
		return out, nil
	}), nil
}

func parseReduce(_ string, arg any) (Expr, error) {
	args, err := namedArgs(arg, []string{"input", "initialValue", "in"},
		func() error {
			return mongoerr.New(40075, "$reduce requires an object as an argument, found: %s", typeName(arg))
		},
		func(f string) error { return mongoerr.New(40076, "$reduce found an unknown argument: %s", f) })
	if err != nil {
		return nil, err
	}
	switch {
	case args["input"] == nil:
		return nil, mongoerr.New(40077, "$reduce requires 'input' to be specified")
	case args["initialValue"] == nil:
		return nil, mongoerr.New(40078, "$reduce requires 'initialValue' to be specified")
	case args["in"] == nil:
		return nil, mongoerr.New(40079, "$reduce requires 'in' to be specified")
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		in, err := args["input"].Eval(root, vars)
		if err != nil {
			return nil, err
		}
		if Nullish(in) {
			return nil, nil
		}
		a, ok := in.(bson.A)
		if !ok {
			return nil, mongoerr.New(40080, "$reduce requires that 'input' be an array, found: %s", render(in))
		}
		acc, err := args["initialValue"].Eval(root, vars)
		if err != nil {
			return nil, err
		}
		inner := withVars(vars, 2)
		for _, el := range a {
			inner["this"], inner["value"] = el, acc
			if acc, err = args["in"].Eval(root, inner); err != nil {
				return nil, err
			}
		}
		return acc, nil
	}), nil
}

func rangeFn(_ string, v []any) (any, error) {
	if !isNumber(v[0]) {
		return nil, mongoerr.New(34443, "$range requires a numeric starting value, found value of type: %s", typeName(v[0]))
	}
	start, ok := int32Arg(v[0])
	if !ok {
		return nil, mongoerr.New(34444, "$range requires a starting value that can be represented as a 32-bit integer, found value: %s", render(v[0]))
	}
	if !isNumber(v[1]) {
		return nil, mongoerr.New(34445, "$range requires a numeric ending value, found value of type: %s", typeName(v[1]))
	}
	end, ok := int32Arg(v[1])
	if !ok {
		return nil, mongoerr.New(34446, "$range requires an ending value that can be represented as a 32-bit integer, found value: %s", render(v[1]))
	}
	step := int32(1)
	if len(v) == 3 {
		if !isNumber(v[2]) {
			return nil, mongoerr.New(34447, "$range requires a numeric step value, found value of type:%s", typeName(v[2]))
		}
		if step, ok = int32Arg(v[2]); !ok {
			return nil, mongoerr.New(34448, "$range requires a step value that can be represented as a 32-bit integer, found value: %s", render(v[2]))
		}
		if step == 0 {
			return nil, mongoerr.New(34449, "$range requires a non-zero step value")
		}
	}
	out := bson.A{}
	for cur := int64(start); (step > 0 && cur < int64(end)) || (step < 0 && cur > int64(end)); cur += int64(step) {
		out = append(out, int32(cur))
	}
	return out, nil
}

func indexOfArray(name string, v []any) (any, error) {
	if Nullish(v[0]) {
		return nil, nil
	}
	a, ok := v[0].(bson.A)
	if !ok {
		return nil, mongoerr.New(40090, "$indexOfArray requires an array as a first argument, found: %s", typeName(v[0]))
	}
	start, end := 0, len(a)
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
		end = min(i, len(a))
	}
	for i := start; i < end; i++ {
		if Compare(a[i], v[1]) == 0 {
			return int32(i), nil
		}
	}
	return int32(-1), nil
}

func parseZip(_ string, arg any) (Expr, error) {
	d, ok := value.Doc(arg)
	if !ok {
		return nil, mongoerr.New(34460, "$zip only supports an object as an argument, found %s", typeName(arg))
	}
	var inputs, defaults []Expr
	longest := false
	for _, e := range d {
		switch e.Key {
		case "inputs", "defaults":
			a, ok := e.Value.(bson.A)
			if !ok {
				code := int32(34461)
				if e.Key == "defaults" {
					code = 34462
				}
				return nil, mongoerr.New(code, "%s must be an array of expressions, found %s", e.Key, typeName(e.Value))
			}
			for _, x := range a {
				c, err := Compile(x)
				if err != nil {
					return nil, err
				}
				if e.Key == "inputs" {
					inputs = append(inputs, c)
				} else {
					defaults = append(defaults, c)
				}
			}
		case "useLongestLength":
			b, ok := e.Value.(bool)
			if !ok {
				return nil, mongoerr.New(34463, "useLongestLength must be a bool, found %s", typeName(e.Value))
			}
			longest = b
		default:
			return nil, mongoerr.New(34464, "$zip found an unknown argument: %s", e.Key)
		}
	}
	switch {
	case len(inputs) == 0:
		return nil, mongoerr.New(34465, "$zip requires at least one input array")
	case !longest && len(defaults) > 0:
		return nil, mongoerr.New(34466, "cannot specify defaults unless useLongestLength is true")
	case len(defaults) > 0 && len(defaults) != len(inputs):
		return nil, mongoerr.New(34467, "defaults and inputs must have the same length")
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		arrays := make([]bson.A, len(inputs))
		minLen, maxLen := -1, 0
		for i, in := range inputs {
			v, err := in.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if Nullish(v) {
				return nil, nil
			}
			a, ok := v.(bson.A)
			if !ok {
				return nil, mongoerr.New(34468, "$zip found a non-array expression in input: %s", render(v))
			}
			arrays[i] = a
			if minLen < 0 || len(a) < minLen {
				minLen = len(a)
			}
			maxLen = max(maxLen, len(a))
		}
		defs := make([]any, len(inputs))
		for i, de := range defaults {
			v, err := de.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			defs[i] = v
		}
		n := minLen
		if longest {
			n = maxLen
		}
		out := make(bson.A, n)
		for row := range n {
			tuple := make(bson.A, len(arrays))
			for col, a := range arrays {
				if row < len(a) {
					tuple[col] = a[row]
				} else {
					tuple[col] = defs[col]
				}
			}
			out[row] = tuple
		}
		return out, nil
	}), nil
}

// Codes 2942500-2942505 are $sortArray's (expression.cpp, 6.0+).
func parseSortArray(_ string, arg any) (Expr, error) {
	d, ok := value.Doc(arg)
	if !ok {
		return nil, mongoerr.New(2942500, "$sortArray requires an object as an argument, found: %s", typeName(arg))
	}
	var input Expr
	var sortBy any
	haveSort := false
	for _, e := range d {
		switch e.Key {
		case "input":
			c, err := Compile(e.Value)
			if err != nil {
				return nil, err
			}
			input = c
		case "sortBy":
			sortBy, haveSort = e.Value, true
		default:
			return nil, mongoerr.New(2942501, "$sortArray found an unknown argument: %s", e.Key)
		}
	}
	if input == nil {
		return nil, mongoerr.New(2942502, "$sortArray requires 'input' to be specified")
	}
	if !haveSort {
		return nil, mongoerr.New(2942503, "$sortArray requires 'sortBy' to be specified")
	}
	var cmp func(a, b any) int
	if dir, ok := sortDirection(sortBy); ok {
		cmp = func(a, b any) int { return Compare(a, b) * dir }
	} else if spec, ok := value.Doc(sortBy); ok && len(spec) > 0 {
		pattern, err := ParseSortSpec(spec, 2942505)
		if err != nil {
			return nil, err
		}
		cmp = func(a, b any) int {
			da, _ := value.Doc(a)
			db, _ := value.Doc(b)
			return pattern.Compare(da, db)
		}
	} else {
		return nil, mongoerr.New(2942505, "$sortArray: sortBy must be either 1, -1 or a non-empty sort pattern")
	}
	return evalFunc(func(root bson.D, vars map[string]any) (any, error) {
		v, err := input.Eval(root, vars)
		if err != nil {
			return nil, err
		}
		if Nullish(v) {
			return nil, nil
		}
		a, ok := v.(bson.A)
		if !ok {
			return nil, mongoerr.New(2942504, "The input argument to $sortArray must be an array, but was of type: %s", typeName(v))
		}
		out := slices.Clone(a)
		slices.SortStableFunc(out, cmp)
		return out, nil
	}), nil
}

// sortDirection reads a 1 / -1 sort direction.
func sortDirection(v any) (int, bool) {
	i, ok := toInt64(v)
	if !ok || (i != 1 && i != -1) {
		return 0, false
	}
	return int(i), true
}

// set is an ordered, duplicate-free collection of values.
type set struct {
	keys  map[string]bool
	items bson.A
}

func newSet() *set { return &set{keys: map[string]bool{}} }

func (s *set) add(v any) bool {
	k := value.Key(v)
	if s.keys[k] {
		return false
	}
	s.keys[k] = true
	s.items = append(s.items, v)
	return true
}

func (s *set) has(v any) bool { return s.keys[value.Key(v)] }

func (s *set) sorted() bson.A {
	out := slices.Clone(s.items)
	if out == nil {
		out = bson.A{}
	}
	slices.SortStableFunc(out, Compare)
	return out
}

func setUnion(name string, v []any) (any, error) {
	s := newSet()
	for _, x := range v {
		if Nullish(x) {
			return nil, nil
		}
		a, ok := x.(bson.A)
		if !ok {
			return nil, mongoerr.New(17043, "All operands of $setUnion must be arrays. One argument is of type: %s", typeName(x))
		}
		for _, el := range a {
			s.add(el)
		}
	}
	return s.sorted(), nil
}

func setIntersection(name string, v []any) (any, error) {
	var cur *set
	for _, x := range v {
		if Nullish(x) {
			return nil, nil
		}
		a, ok := x.(bson.A)
		if !ok {
			return nil, mongoerr.New(17047, "All operands of $setIntersection must be arrays. One argument is of type: %s", typeName(x))
		}
		next := newSet()
		for _, el := range a {
			if cur == nil || cur.has(el) {
				next.add(el)
			}
		}
		cur = next
	}
	if cur == nil {
		return bson.A{}, nil
	}
	return cur.sorted(), nil
}

func setDifference(_ string, v []any) (any, error) {
	if Nullish(v[0]) || Nullish(v[1]) {
		return nil, nil
	}
	a, ok := v[0].(bson.A)
	if !ok {
		return nil, mongoerr.New(17048, "both operands of $setDifference must be arrays. First argument is of type: %s", typeName(v[0]))
	}
	b, ok := v[1].(bson.A)
	if !ok {
		return nil, mongoerr.New(17049, "both operands of $setDifference must be arrays. Second argument is of type: %s", typeName(v[1]))
	}
	exclude := newSet()
	for _, el := range b {
		exclude.add(el)
	}
	out := bson.A{}
	for _, el := range a {
		if exclude.add(el) {
			out = append(out, el)
		}
	}
	return out, nil
}

func setEquals(_ string, v []any) (any, error) {
	if len(v) < 2 {
		return nil, mongoerr.New(17045, "$setEquals needs at least two arguments had: %d", len(v))
	}
	var first *set
	for _, x := range v {
		a, ok := x.(bson.A)
		if !ok {
			return nil, mongoerr.New(17044, "All operands of $setEquals must be arrays. One argument is of type: %s", typeName(x))
		}
		s := newSet()
		for _, el := range a {
			s.add(el)
		}
		if first == nil {
			first = s
			continue
		}
		if len(s.keys) != len(first.keys) {
			return false, nil
		}
		for k := range s.keys {
			if !first.keys[k] {
				return false, nil
			}
		}
	}
	return true, nil
}

func setIsSubset(_ string, v []any) (any, error) {
	a, ok := v[0].(bson.A)
	if !ok {
		return nil, mongoerr.New(17046, "both operands of $setIsSubset must be arrays. First argument is of type: %s", typeName(v[0]))
	}
	b, ok := v[1].(bson.A)
	if !ok {
		return nil, mongoerr.New(17042, "both operands of $setIsSubset must be arrays. Second argument is of type: %s", typeName(v[1]))
	}
	s := newSet()
	for _, el := range b {
		s.add(el)
	}
	for _, el := range a {
		if !s.has(el) {
			return false, nil
		}
	}
	return true, nil
}

func elementsTrue(code int32, wantAny bool) func(string, []any) (any, error) {
	return func(name string, v []any) (any, error) {
		a, ok := v[0].(bson.A)
		if !ok {
			return nil, mongoerr.New(code, "%s's argument must be an array, but is %s", name, typeName(v[0]))
		}
		for _, el := range a {
			if value.Truthy(el) == wantAny {
				return wantAny, nil
			}
		}
		return !wantAny, nil
	}
}
