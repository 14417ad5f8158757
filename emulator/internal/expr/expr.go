// Package expr compiles and evaluates MongoDB aggregation expressions: field
// paths ("$a.b"), variables ("$$ROOT", "$$x"), literals, object and array
// literals and operator documents such as {$add: [...]}. Query ($expr), the
// aggregation pipeline and pipeline-style updates all evaluate expressions
// through this package.
//
// Evaluation follows the server (src/mongo/db/pipeline/expression.cpp): a
// missing field evaluates to value.Missing, which object literals and
// $project drop, array literals turn into null, and comparisons order below
// null. Errors are *mongoerr.Error values carrying the server's codes.
package expr

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Expr is a compiled expression. root is the document being processed
// ($$ROOT, and $$CURRENT unless vars sets "CURRENT"); vars holds user
// variables by name plus the system variables NOW and CLUSTER_TIME. Eval
// never modifies root or vars.
type Expr interface {
	Eval(root bson.D, vars map[string]any) (any, error)
}

// Compile turns an expression specification into an Expr: a "$path" or
// "$$var.path" string, an operator document {$op: args}, an object literal
// {field: <expr>, ...}, an array of expressions, or any other literal.
func Compile(e any) (Expr, error) {
	switch x := e.(type) {
	case string:
		if strings.HasPrefix(x, "$") {
			return compileFieldPath(x)
		}
		return constant{x}, nil
	case bson.D:
		return compileDoc(x)
	case bson.M:
		return compileDoc(value.AsDoc(x))
	case bson.A:
		items := make([]Expr, len(x))
		for i, el := range x {
			c, err := Compile(el)
			if err != nil {
				return nil, err
			}
			items[i] = c
		}
		return arrayLiteral(items), nil
	}
	return constant{normalize(e)}, nil
}

// Let evaluates a command's `let` document into a copy of vars extended
// with the new variables. Command-level let expressions see no document;
// each may use the variables defined before it.
func Let(let bson.D, vars map[string]any) (map[string]any, error) {
	out := maps.Clone(vars)
	if out == nil {
		out = map[string]any{}
	}
	for _, e := range let {
		if err := ValidateVarName(e.Key); err != nil {
			return nil, err
		}
		c, err := Compile(e.Value)
		if err != nil {
			return nil, err
		}
		v, err := c.Eval(nil, out)
		if err != nil {
			return nil, err
		}
		out[e.Key] = v
	}
	return out, nil
}

// IsConstant reports whether e is a literal (including {$literal: ...}), so
// that its value does not depend on the document or variables.
func IsConstant(e Expr) bool {
	_, ok := e.(constant)
	return ok
}

type constant struct{ v any }

func (c constant) Eval(bson.D, map[string]any) (any, error) { return c.v, nil }

type evalFunc func(root bson.D, vars map[string]any) (any, error)

func (f evalFunc) Eval(root bson.D, vars map[string]any) (any, error) { return f(root, vars) }

type arrayLiteral []Expr

func (a arrayLiteral) Eval(root bson.D, vars map[string]any) (any, error) {
	out := make(bson.A, len(a))
	for i, e := range a {
		v, err := e.Eval(root, vars)
		if err != nil {
			return nil, err
		}
		if _, ok := v.(value.Missing); ok {
			v = nil
		}
		out[i] = v
	}
	return out, nil
}

type objectField struct {
	name string
	expr Expr
}

type objectLiteral []objectField

func (o objectLiteral) Eval(root bson.D, vars map[string]any) (any, error) {
	out := make(bson.D, 0, len(o))
	for _, f := range o {
		v, err := f.expr.Eval(root, vars)
		if err != nil {
			return nil, err
		}
		if _, ok := v.(value.Missing); ok {
			continue
		}
		out = append(out, bson.E{Key: f.name, Value: v})
	}
	return out, nil
}

func compileDoc(d bson.D) (Expr, error) {
	if len(d) > 0 && strings.HasPrefix(d[0].Key, "$") {
		if len(d) != 1 {
			return nil, mongoerr.New(15983, "an expression specification must contain exactly one field, the name of the expression. Found %d fields in %s", len(d), render(d))
		}
		return compileOperator(d[0].Key, d[0].Value)
	}
	seen := make(map[string]bool, len(d))
	obj := make(objectLiteral, 0, len(d))
	for _, e := range d {
		if err := ValidateFieldName(e.Key); err != nil {
			return nil, err
		}
		if seen[e.Key] {
			return nil, mongoerr.New(16406, "duplicate field name specified in object literal: %s", render(d))
		}
		seen[e.Key] = true
		c, err := Compile(e.Value)
		if err != nil {
			return nil, err
		}
		obj = append(obj, objectField{e.Key, c})
	}
	return obj, nil
}

// ValidateFieldName applies FieldPath's rules to a single field name of an
// object literal or a computed field: not empty, no leading '$', no '.'.
func ValidateFieldName(name string) error {
	switch {
	case name == "":
		return mongoerr.New(15998, "FieldPath field names may not be empty strings.")
	case strings.HasPrefix(name, "$"):
		return mongoerr.New(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
	case strings.Contains(name, "."):
		return mongoerr.New(16412, "FieldPath field names may not contain '.'. Consider using $getField or $setField.")
	case strings.Contains(name, "\x00"):
		return mongoerr.New(16411, "FieldPath field names may not contain '\\0'.")
	}
	return nil
}

// ValidatePath checks a dotted path as FieldPath does (used for $project,
// $addFields, $group output names and similar).
func ValidatePath(path string) error {
	if path == "" {
		return mongoerr.New(40352, "FieldPath cannot be constructed with empty string")
	}
	if strings.HasSuffix(path, ".") {
		return mongoerr.New(40353, "FieldPath must not end with a '.'.")
	}
	for seg := range strings.SplitSeq(path, ".") {
		if seg == "" {
			return mongoerr.New(15998, "FieldPath field names may not be empty strings.")
		}
		if strings.HasPrefix(seg, "$") {
			return mongoerr.New(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
		}
	}
	return nil
}

// fieldPath is "$a.b" (variable CURRENT) or "$$v.a.b".
type fieldPath struct {
	variable string
	path     []string
}

func compileFieldPath(raw string) (Expr, error) {
	if len(raw) < 2 {
		return nil, mongoerr.New(16872, "'$' by itself is not a valid FieldPath")
	}
	if raw[1] != '$' {
		p := raw[1:]
		if err := ValidatePath(p); err != nil {
			return nil, err
		}
		return &fieldPath{variable: "CURRENT", path: strings.Split(p, ".")}, nil
	}
	rest := raw[2:]
	name, tail, hasTail := strings.Cut(rest, ".")
	if err := validateVarRead(name); err != nil {
		return nil, err
	}
	f := &fieldPath{variable: name}
	if hasTail {
		if err := ValidatePath(tail); err != nil {
			return nil, err
		}
		f.path = strings.Split(tail, ".")
	}
	return f, nil
}

func (f *fieldPath) Eval(root bson.D, vars map[string]any) (any, error) {
	base, err := lookupVar(f.variable, root, vars)
	if err != nil {
		return nil, err
	}
	if len(f.path) == 0 {
		return base, nil
	}
	switch b := base.(type) {
	case bson.D:
		return walkDoc(b, f.path), nil
	case bson.A:
		return walkArray(b, f.path), nil
	}
	return value.Missing{}, nil
}

func lookupVar(name string, root bson.D, vars map[string]any) (any, error) {
	switch name {
	case "ROOT":
		return root, nil
	case "CURRENT":
		if v, ok := vars["CURRENT"]; ok {
			return v, nil
		}
		return root, nil
	case "REMOVE":
		return value.Missing{}, nil
	case "NOW":
		if v, ok := vars["NOW"]; ok {
			return v, nil
		}
		return bson.NewDateTimeFromTime(time.Now()), nil
	case "CLUSTER_TIME":
		if v, ok := vars["CLUSTER_TIME"]; ok {
			return v, nil
		}
		return bson.Timestamp{T: uint32(time.Now().Unix()), I: 1}, nil
	}
	v, ok := vars[name]
	if !ok {
		return nil, mongoerr.New(17276, "Use of undefined variable: %s", name)
	}
	return v, nil
}

// walkDoc follows path through d the aggregation way: arrays on the way fan
// out over their document elements and collect the results.
func walkDoc(d bson.D, path []string) any {
	v, ok := value.Lookup(d, path[0])
	if !ok {
		return value.Missing{}
	}
	if len(path) == 1 {
		return v
	}
	switch x := v.(type) {
	case bson.D:
		return walkDoc(x, path[1:])
	case bson.M:
		return walkDoc(value.AsDoc(x), path[1:])
	case bson.A:
		return walkArray(x, path[1:])
	}
	return value.Missing{}
}

func walkArray(a bson.A, path []string) any {
	out := bson.A{}
	for _, el := range a {
		var r any
		switch x := el.(type) {
		case bson.D:
			r = walkDoc(x, path)
		case bson.M:
			r = walkDoc(value.AsDoc(x), path)
		case bson.A:
			// Nested arrays are not descended into, as on the server.
			continue
		default:
			continue
		}
		if _, ok := r.(value.Missing); !ok {
			out = append(out, r)
		}
	}
	return out
}

var systemVars = map[string]bool{
	"ROOT": true, "CURRENT": true, "REMOVE": true, "NOW": true, "CLUSTER_TIME": true,
	"SEARCH_META": true, "USER_ROLES": true, "DESCEND": true, "PRUNE": true, "KEEP": true,
}

// validateVarRead mirrors Variables::validateNameForUserRead.
func validateVarRead(name string) error {
	if name == "" {
		return mongoerr.New(16869, "empty variable names are not allowed")
	}
	c := name[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80) {
		return mongoerr.New(16870, "'%s' starts with an invalid character for a user variable name", name)
	}
	for i := 1; i < len(name); i++ {
		if !varChar(name[i]) {
			return mongoerr.New(16871, "'%s' contains an invalid character for a variable name: '%c'", name, name[i])
		}
	}
	return nil
}

// ValidateVarName checks the name of a variable being defined ($let, `let`,
// 'as'), as Variables::validateNameForUserWrite does: user variables start
// with a lowercase letter (or a non-ASCII byte).
func ValidateVarName(name string) error {
	if name == "" {
		return mongoerr.New(16866, "empty variable names are not allowed")
	}
	c := name[0]
	if !(c >= 'a' && c <= 'z' || c >= 0x80) || systemVars[name] {
		return mongoerr.New(16867, "'%s' starts with an invalid character for a user variable name", name)
	}
	for i := 1; i < len(name); i++ {
		if !varChar(name[i]) {
			return mongoerr.New(16868, "'%s' contains an invalid character for a variable name: '%c'", name, name[i])
		}
	}
	return nil
}

func varChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}

// withVars returns a copy of vars that the caller may extend.
func withVars(vars map[string]any, extra int) map[string]any {
	out := make(map[string]any, len(vars)+extra)
	maps.Copy(out, vars)
	return out
}

// normalize turns Go ints (from tests and Go callers) into the BSON integer
// types the driver decodes, recursively.
func normalize(v any) any {
	switch x := v.(type) {
	case int:
		if int64(x) == int64(int32(x)) {
			return int32(x)
		}
		return int64(x)
	case bson.D:
		out := make(bson.D, len(x))
		for i, e := range x {
			out[i] = bson.E{Key: e.Key, Value: normalize(e.Value)}
		}
		return out
	case bson.M:
		return normalize(value.AsDoc(x))
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// Nullish reports whether v is null, undefined or missing.
func Nullish(v any) bool {
	switch v.(type) {
	case nil, value.Missing, bson.Undefined:
		return true
	}
	return false
}

// typeName is the server's typeName() for error messages.
func typeName(v any) string { return value.TypeAlias(v) }

func render(v any) string {
	switch x := v.(type) {
	case bson.D:
		var b strings.Builder
		b.WriteString("{")
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(e.Key)
			b.WriteString(": ")
			b.WriteString(render(e.Value))
		}
		b.WriteString("}")
		return b.String()
	case bson.A:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = render(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case string:
		return fmt.Sprintf("%q", x)
	case nil:
		return "null"
	case value.Missing:
		return "missing"
	}
	return fmt.Sprint(v)
}

// Render formats a value for an error message, roughly as the server's
// Value::toString does.
func Render(v any) string { return render(v) }
