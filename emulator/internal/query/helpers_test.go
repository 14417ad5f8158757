package query

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// mustDoc parses relaxed extended JSON: small integers become int32, large
// ones int64, fractions float64; {"$numberLong": …}, {"$numberDecimal": …},
// {"$regularExpression": …} etc. give the other BSON types.
func mustDoc(t *testing.T, s string) bson.D {
	t.Helper()
	if s == "" {
		return nil
	}
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(s), false, &d); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return d
}

// mustValue parses one extended-JSON value.
func mustValue(t *testing.T, s string) any {
	t.Helper()
	return mustDoc(t, `{"v": `+s+`}`)[0].Value
}

// assertCode checks that err is a *mongoerr.Error with the given code.
func assertCode(t *testing.T, err error, code int32) {
	t.Helper()
	e := mongoerr.As(err)
	if e == nil {
		t.Fatalf("err = %v, want a mongoerr with code %d", err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %d (%s: %s), want %d", e.Code, e.Name, e.Msg, code)
	}
}

// assertSameDoc compares documents exactly: field order and Go types.
func assertSameDoc(t *testing.T, got, want bson.D) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

// fakeExpr is a tiny stand-in for the aggregation expression engine:
// "$path", "$$var", {$eq: [x, y]}, {$literal: x}, {$fail: 1} and arrays.
type fakeExpr struct{ expr any }

func (f fakeExpr) Eval(root bson.D, vars map[string]any) (any, error) {
	return evalFake(f.expr, root, vars)
}

var errFake = errors.New("fake evaluation failure")

func evalFake(e any, root bson.D, vars map[string]any) (any, error) {
	switch x := e.(type) {
	case string:
		if name, ok := strings.CutPrefix(x, "$$"); ok {
			v, ok := vars[name]
			if !ok {
				return nil, mongoerr.New(17276, "Use of undefined variable: %s", name)
			}
			return v, nil
		}
		if path, ok := strings.CutPrefix(x, "$"); ok {
			v, ok := value.Get(root, path)
			if !ok {
				return value.Missing{}, nil
			}
			return v, nil
		}
		return x, nil
	case bson.A:
		out := make(bson.A, len(x))
		for i, a := range x {
			v, err := evalFake(a, root, vars)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case bson.D:
		if len(x) != 1 {
			return x, nil
		}
		switch x[0].Key {
		case "$literal":
			return x[0].Value, nil
		case "$fail":
			return nil, errFake
		case "$eq":
			args, err := evalFake(x[0].Value, root, vars)
			if err != nil {
				return nil, err
			}
			a := args.(bson.A)
			return value.Equal(a[0], a[1]), nil
		}
		// Any other operator: evaluate its arguments and echo them, which
		// is enough to see that the expression was wired in.
		args, err := evalFake(x[0].Value, root, vars)
		if err != nil {
			return nil, err
		}
		return bson.D{{Key: x[0].Key, Value: args}}, nil
	}
	return e, nil
}

// fakeCompile refuses any expression using the operator $bogus, like the
// real engine refuses unknown operators.
func fakeCompile(expr any) (Evaluator, error) {
	if usesBogus(expr) {
		return nil, mongoerr.New(mongoerr.InvalidPipelineOperator, "Unrecognized expression '$bogus'")
	}
	return fakeExpr{expr}, nil
}

func usesBogus(expr any) bool {
	switch x := expr.(type) {
	case bson.D:
		for _, e := range x {
			if e.Key == "$bogus" || usesBogus(e.Value) {
				return true
			}
		}
	case bson.A:
		for _, e := range x {
			if usesBogus(e) {
				return true
			}
		}
	}
	return false
}
