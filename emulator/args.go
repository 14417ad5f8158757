package emulator

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Argument readers for command documents. Type errors read like MongoDB's
// IDL parser: "BSON field 'find.filter' is the wrong type 'string', expected type 'object'".

func wrongType(cmd, field string, v any, want string) error {
	return mongoerr.New(mongoerr.TypeMismatch, "BSON field '%s.%s' is the wrong type '%s', expected type '%s'",
		cmd, field, value.TypeAlias(v), want)
}

// docArg returns an optional document argument (nil when absent or null).
func (x *exec) docArg(field string) (bson.D, error) {
	return docField(x.cmd, x.name, field)
}

func docField(d bson.D, cmd, field string) (bson.D, error) {
	v, ok := value.Lookup(d, field)
	if !ok || v == nil {
		return nil, nil
	}
	doc, isDoc := v.(bson.D)
	if !isDoc {
		return nil, wrongType(cmd, field, v, "object")
	}
	return doc, nil
}

// intArg returns an optional integral argument.
func (x *exec) intArg(field string) (int64, bool, error) {
	return intField(x.cmd, x.name, field)
}

func intField(d bson.D, cmd, field string) (int64, bool, error) {
	v, ok := value.Lookup(d, field)
	if !ok || v == nil {
		return 0, false, nil
	}
	if !value.IsNumber(v) {
		return 0, false, wrongType(cmd, field, v, "long")
	}
	n, ok := value.ToInt64(v)
	if !ok {
		f, _ := value.ToFloat(v)
		n = int64(f)
	}
	return n, true, nil
}

func boolField(d bson.D, field string) bool {
	v, _ := value.Lookup(d, field)
	return value.Truthy(v)
}

func (x *exec) boolArg(field string) bool { return boolField(x.cmd, field) }

// collName is the collection a command names in its first field.
func (x *exec) collName() (string, error) {
	v := x.cmd[0].Value
	s, ok := v.(string)
	if !ok || s == "" {
		return "", mongoerr.New(mongoerr.InvalidNamespace, "Invalid namespace specified '%s.%v'", x.db, v)
	}
	return s, nil
}

func (x *exec) ns(coll string) string { return x.db + "." + coll }

// docsArg reads an array of documents (a kind-1 sequence arrives as one).
func (x *exec) docsArg(field string) ([]bson.D, error) {
	v, ok := value.Lookup(x.cmd, field)
	if !ok {
		return nil, mongoerr.New(mongoerr.FailedToParse, "BSON field '%s.%s' is missing but a required field", x.name, field)
	}
	arr, isArr := v.(bson.A)
	if !isArr {
		return nil, wrongType(x.name, field, v, "array")
	}
	out := make([]bson.D, len(arr))
	for i, e := range arr {
		d, isDoc := e.(bson.D)
		if !isDoc {
			return nil, wrongType(x.name, field, e, "object")
		}
		out[i] = d
	}
	return out, nil
}

// letVars reads the command's `let` variables, evaluated as constants.
func (x *exec) letVars() (map[string]any, error) {
	vars := map[string]any{
		"NOW":          bson.NewDateTimeFromTime(nowFunc()),
		"CLUSTER_TIME": timestamp(x.s.store.last),
	}
	let, err := x.docArg("let")
	if err != nil || let == nil {
		return vars, err
	}
	for _, e := range let {
		v, err := evalConstant(e.Value, vars)
		if err != nil {
			return nil, err
		}
		vars[e.Key] = v
	}
	return vars, nil
}

// checkHint refuses a hint naming no index of c as MongoDB does (BadValue
// "hint provided does not correspond to an existing index").
func checkHint(c *collection, spec bson.D) error {
	hint, ok := value.Lookup(spec, "hint")
	if !ok || hint == nil || c == nil {
		return nil
	}
	switch h := hint.(type) {
	case string:
		if h == "" || c.indexByName(h) >= 0 {
			return nil
		}
	case bson.D:
		if len(h) == 0 || h[0].Key == "$natural" {
			return nil
		}
		for _, ix := range c.indexes {
			if value.Equal(ix.key, h) {
				return nil
			}
		}
	default:
		return mongoerr.New(mongoerr.FailedToParse, "hint must be a string or an object")
	}
	return mongoerr.New(mongoerr.BadValue, "error processing query: planner returned error :: caused by :: hint provided does not correspond to an existing index")
}

// argReader reads several optional arguments of a command and keeps the
// first error, so a handler reads its arguments in one block and checks
// once.
type argReader struct {
	d    bson.D
	name string
	err  error
}

func (x *exec) args() *argReader { return &argReader{d: x.cmd, name: x.name} }

func (a *argReader) doc(field string) bson.D {
	if a.err != nil {
		return nil
	}
	var d bson.D
	d, a.err = docField(a.d, a.name, field)
	return d
}

func (a *argReader) int(field string) int64 {
	if a.err != nil {
		return 0
	}
	var n int64
	n, _, a.err = intField(a.d, a.name, field)
	return n
}
