package expr

import (
	"math"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// exprCase evaluates spec against doc; exactly one of want / code applies.
type exprCase struct {
	name string
	spec any
	doc  bson.D
	vars map[string]any
	want any
	code int32 // expected mongoerr code, at compile or evaluation time
}

func runCases(t *testing.T, cases []exprCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := evalSpec(tc.spec, tc.doc, tc.vars)
			if tc.code != 0 {
				e := mongoerr.As(err)
				if e == nil {
					t.Fatalf("got %#v, %v; want error code %d", got, err, tc.code)
				}
				if e.Code != tc.code {
					t.Fatalf("got error %d (%s), want code %d", e.Code, e.Msg, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !same(got, tc.want) {
				t.Fatalf("got %#v (%T), want %#v (%T)", got, got, tc.want, tc.want)
			}
		})
	}
}

func evalSpec(spec any, doc bson.D, vars map[string]any) (any, error) {
	x, err := Compile(spec)
	if err != nil {
		return nil, err
	}
	return x.Eval(doc, vars)
}

// same compares values including their BSON types; decimals by value text,
// NaN equal to NaN.
func same(a, b any) bool {
	switch x := a.(type) {
	case bson.Decimal128:
		y, ok := b.(bson.Decimal128)
		return ok && x.String() == y.String()
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case bson.D:
		y, ok := b.(bson.D)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i].Key != y[i].Key || !same(x[i].Value, y[i].Value) {
				return false
			}
		}
		return true
	case bson.A:
		y, ok := b.(bson.A)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !same(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func dec(t testing.TB, s string) bson.Decimal128 {
	t.Helper()
	d, err := bson.ParseDecimal128(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func op(name string, arg any) bson.D { return bson.D{{Key: name, Value: arg}} }

func doc(kv ...any) bson.D {
	d := bson.D{}
	for i := 0; i+1 < len(kv); i += 2 {
		d = append(d, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	return d
}

var missing = value.Missing{}
