package update

import (
	"math"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

var operators = map[string]bool{
	"$addToSet": true, "$bit": true, "$currentDate": true, "$inc": true, "$max": true,
	"$min": true, "$mul": true, "$pop": true, "$pull": true, "$pullAll": true, "$push": true,
	"$rename": true, "$set": true, "$setOnInsert": true, "$unset": true,
}

// operator adds every field of one operator of the update document to the
// tree (parseUpdateExpression and validateMod).
func (c *compiler) operator(e bson.E) error {
	if !operators[e.Key] {
		return mongoerr.New(mongoerr.FailedToParse,
			"Unknown modifier: %s. Expected a valid update modifier or pipeline-style update specified as an array", e.Key)
	}
	fields, ok := value.Doc(e.Value)
	if !ok {
		return mongoerr.New(mongoerr.FailedToParse,
			"Modifiers operate on fields but we found type %s instead. For example: {$mod: {<field>: ...}} not {%s: %s}",
			value.TypeAlias(e.Value), e.Key, format(e.Value))
	}
	for _, f := range fields {
		if e.Key == "$rename" {
			if err := c.rename(f); err != nil {
				return err
			}
			continue
		}
		parts, err := splitPath(f.Key)
		if err != nil {
			return err
		}
		l, err := c.leaf(e.Key, f)
		if err != nil {
			return err
		}
		if err := c.insert(parts, l); err != nil {
			return err
		}
	}
	return nil
}

// leaf parses one operator's argument (the init of MongoDB's node classes).
func (c *compiler) leaf(op string, f bson.E) (node, error) {
	v := normalize(value.Clone(f.Value))
	switch op {
	case "$set":
		return &leaf{mod: setMod{v: v}}, nil
	case "$setOnInsert":
		return &leaf{mod: setMod{v: v}, insertOnly: true}, nil
	case "$unset":
		return &leaf{mod: unsetMod{}, allowNonViable: true, removes: true}, nil
	case "$inc", "$mul":
		if !value.IsNumber(v) {
			verb := "increment"
			if op == "$mul" {
				verb = "multiply"
			}
			return nil, mongoerr.New(mongoerr.TypeMismatch, "Cannot %s with non-numeric argument: {%s: %s}", verb, f.Key, format(v))
		}
		return &leaf{mod: arithMod{op: op, v: v}}, nil
	case "$min", "$max":
		return &leaf{mod: compareMod{max: op == "$max", v: v}}, nil
	case "$currentDate":
		m, err := parseCurrentDate(v)
		return &leaf{mod: m}, err
	case "$push":
		m, err := parsePush(v)
		return &leaf{mod: m}, err
	case "$addToSet":
		m, err := parseAddToSet(v)
		return &leaf{mod: m}, err
	case "$pull":
		match, err := c.pullMatcher(v)
		return &leaf{mod: pullMod{op: op, match: match}}, err
	case "$pullAll":
		arr, ok := v.(bson.A)
		if !ok {
			return nil, mongoerr.New(mongoerr.BadValue, "$pullAll requires an array argument but was given a %s", value.TypeAlias(v))
		}
		match := func(x any) (bool, error) {
			return slices.ContainsFunc(arr, func(y any) bool { return value.Equal(x, y) }), nil
		}
		return &leaf{mod: pullMod{op: op, match: match}}, nil
	case "$pop":
		m, err := parsePop(f.Key, v)
		return &leaf{mod: m}, err
	case "$bit":
		m, err := parseBit(f.Key, v)
		return &leaf{mod: m}, err
	}
	return nil, mongoerr.New(mongoerr.FailedToParse, "Unknown modifier: %s", op)
}

// normalize turns the Go types a caller may hand in ([]any, bson.M, int)
// into the ones the driver decodes to, deeply.
func normalize(v any) any {
	switch x := v.(type) {
	case []any:
		return normalize(bson.A(x))
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case bson.M:
		return normalize(value.AsDoc(x))
	case bson.D:
		out := make(bson.D, len(x))
		for i, e := range x {
			out[i] = bson.E{Key: e.Key, Value: normalize(e.Value)}
		}
		return out
	case int:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return int32(x)
		}
		return int64(x)
	}
	return v
}

func parseCurrentDate(v any) (modifier, error) {
	switch x := v.(type) {
	case bool:
		return currentDateMod{}, nil
	case bson.D:
		found, timestamp := false, false
		for _, e := range x {
			if e.Key != "$type" {
				return nil, mongoerr.New(mongoerr.BadValue, "Unrecognized $currentDate option: %s", e.Key)
			}
			switch e.Value {
			case "date":
				found, timestamp = true, false
			case "timestamp":
				found, timestamp = true, true
			}
		}
		if !found {
			return nil, mongoerr.New(mongoerr.BadValue,
				"The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}")
		}
		return currentDateMod{timestamp: timestamp}, nil
	}
	return nil, mongoerr.New(mongoerr.BadValue,
		"%s is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'}).",
		value.TypeAlias(v))
}

// integer is MatchExpressionParser::parseIntegerElementToLong: a number
// with no fractional part that fits a long.
func integer(v any) (int64, bool) {
	if !value.IsNumber(v) {
		return 0, false
	}
	return value.ToInt64(v)
}

func parsePush(v any) (modifier, error) {
	m := pushMod{position: math.MaxInt64, slice: math.MaxInt64}
	d, isDoc := v.(bson.D)
	if _, hasEach := value.Lookup(d, "$each"); !isDoc || !hasEach {
		m.values = bson.A{v}
		return m, nil
	}
	seen := map[string]bool{}
	for _, e := range d {
		switch e.Key {
		case "$each", "$slice", "$sort", "$position":
		default:
			return nil, mongoerr.New(mongoerr.BadValue, "Unrecognized clause in $push: %s", e.Key)
		}
		if seen[e.Key] {
			return nil, mongoerr.New(mongoerr.BadValue, "Only one %s is supported.", e.Key)
		}
		seen[e.Key] = true
	}
	each, _ := value.Lookup(d, "$each")
	arr, ok := each.(bson.A)
	if !ok {
		return nil, mongoerr.New(mongoerr.BadValue,
			"The argument to $each in $push must be an array but it was of type: %s", value.TypeAlias(each))
	}
	m.values = arr
	if s, ok := value.Lookup(d, "$slice"); ok {
		n, ok := integer(s)
		if !ok {
			return nil, mongoerr.New(mongoerr.BadValue,
				"The value for $slice must be an integer value but was given type: %s", value.TypeAlias(s))
		}
		m.slice = n
	}
	if s, ok := value.Lookup(d, "$sort"); ok {
		sort, err := parsePushSort(s)
		if err != nil {
			return nil, err
		}
		m.sort = sort
	}
	if p, ok := value.Lookup(d, "$position"); ok {
		n, ok := integer(p)
		if !ok {
			return nil, mongoerr.New(mongoerr.BadValue,
				"The value for $position must be an integer value, not of type: %s", value.TypeAlias(p))
		}
		m.position = n
	}
	return m, nil
}

func parsePushSort(s any) (*pushSort, error) {
	direction := func(v any) (float64, bool) {
		f, _ := value.ToFloat(v)
		return f, f == 1 || f == -1
	}
	if pattern, ok := s.(bson.D); ok {
		if len(pattern) == 0 {
			return nil, mongoerr.New(mongoerr.BadValue, "The $sort pattern is empty when it should be a set of fields.")
		}
		for _, e := range pattern {
			if _, ok := direction(e.Value); !ok {
				return nil, mongoerr.New(mongoerr.BadValue, "The $sort element value must be either 1 or -1")
			}
			if e.Key == "" {
				return nil, mongoerr.New(mongoerr.BadValue, "The $sort field cannot be empty")
			}
			if slices.Contains(strings.Split(e.Key, "."), "") {
				return nil, mongoerr.New(mongoerr.BadValue, "The $sort field is a dotted field but has an empty part: %s", e.Key)
			}
		}
		return &pushSort{pattern: pattern}, nil
	}
	if value.IsNumber(s) {
		dir, ok := direction(s)
		if !ok {
			return nil, mongoerr.New(mongoerr.BadValue, "The $sort element value must be either 1 or -1")
		}
		return &pushSort{whole: true, desc: dir < 0}, nil
	}
	return nil, mongoerr.New(mongoerr.BadValue,
		"The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields")
}

func parseAddToSet(v any) (modifier, error) {
	values := bson.A{v}
	if d, ok := v.(bson.D); ok && len(d) > 0 && d[0].Key == "$each" {
		arr, ok := d[0].Value.(bson.A)
		if !ok {
			return nil, mongoerr.New(mongoerr.TypeMismatch,
				"The argument to $each in $addToSet must be an array but it was of type %s", value.TypeAlias(d[0].Value))
		}
		if len(d) > 1 {
			return nil, mongoerr.New(mongoerr.BadValue, "Found unexpected fields after $each in $addToSet: %s", format(d))
		}
		values = arr
	}
	var unique bson.A
	for _, x := range values {
		if !slices.ContainsFunc(unique, func(y any) bool { return value.Equal(x, y) }) {
			unique = append(unique, x)
		}
	}
	if unique == nil {
		unique = bson.A{}
	}
	return addToSetMod{values: unique}, nil
}

func parsePop(path string, v any) (modifier, error) {
	if !value.IsNumber(v) {
		return nil, mongoerr.New(mongoerr.FailedToParse, "Expected a number in: %s: %s", path, format(v))
	}
	n, ok := value.ToInt64(v)
	if !ok {
		return nil, mongoerr.New(mongoerr.FailedToParse, "Expected an integer: %s: %s", path, format(v))
	}
	if n != 1 && n != -1 {
		return nil, mongoerr.New(mongoerr.FailedToParse, "$pop expects 1 or -1, found: %d", n)
	}
	return popMod{first: n == -1}, nil
}

func parseBit(path string, v any) (modifier, error) {
	d, ok := v.(bson.D)
	if !ok {
		return nil, mongoerr.New(mongoerr.BadValue,
			"The $bit modifier is not compatible with a %s. You must pass in an embedded document: {$bit: {field: {and/or/xor: #}}",
			value.TypeAlias(v))
	}
	var m bitMod
	for _, e := range d {
		switch e.Key {
		case "and", "or", "xor":
		default:
			return nil, mongoerr.New(mongoerr.BadValue,
				"The $bit modifier only supports 'and', 'or', and 'xor', not '%s' which is an unknown operator: {%s: %s}",
				e.Key, e.Key, format(e.Value))
		}
		switch e.Value.(type) {
		case int32, int64:
		default:
			return nil, mongoerr.New(mongoerr.BadValue,
				"The $bit modifier field must be an Integer(32/64 bit); a '%s' is not supported here: {%s: %s}",
				value.TypeAlias(e.Value), e.Key, format(e.Value))
		}
		m.ops = append(m.ops, bitOp{op: e.Key, operand: e.Value})
	}
	if len(m.ops) == 0 {
		return nil, mongoerr.New(mongoerr.BadValue,
			"You must pass in at least one bitwise operation. The format is: {$bit: {field: {and/or/xor: #}}")
	}
	return m, nil
}

// rename adds a $rename: a placeholder at the source path, so that other
// operators on it conflict, and the rename itself at the destination.
func (c *compiler) rename(f bson.E) error {
	fromParts, err := splitPath(f.Key)
	if err != nil {
		return err
	}
	if err := c.insert(fromParts, placeholder{}); err != nil {
		return err
	}
	to, ok := f.Value.(string)
	if !ok {
		return mongoerr.New(mongoerr.BadValue, "The 'to' field for $rename must be a string: %s: %s", f.Key, format(f.Value))
	}
	toParts, err := splitPath(to)
	if err != nil {
		return err
	}
	switch {
	case strings.ContainsRune(to, 0):
		return mongoerr.New(mongoerr.BadValue, "The 'to' field for $rename cannot contain an embedded null byte")
	case f.Key == to:
		return mongoerr.New(mongoerr.BadValue, "The source and target field for $rename must differ: %s: %q", f.Key, to)
	case isPrefix(fromParts, toParts) || isPrefix(toParts, fromParts):
		return mongoerr.New(mongoerr.BadValue,
			"The source and target field for $rename must not be on the same path: %s: %q", f.Key, to)
	case dynamic(fromParts):
		return mongoerr.New(mongoerr.BadValue, "The source field for $rename may not be dynamic: %s", f.Key)
	case dynamic(toParts):
		return mongoerr.New(mongoerr.BadValue, "The destination field for $rename may not be dynamic: %s", to)
	}
	return c.insert(toParts, &renameLeaf{from: fromParts})
}

func isPrefix(prefix, parts []string) bool {
	return len(prefix) <= len(parts) && slices.Equal(prefix, parts[:len(prefix)])
}

// dynamic reports whether a path has a positional or array filter part.
func dynamic(parts []string) bool {
	return slices.ContainsFunc(parts, func(p string) bool { return p == "$" || isArrayFilterPart(p) })
}
