package value

import (
	"math"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestCompare(t *testing.T) {
	dec := func(s string) bson.Decimal128 {
		d, err := bson.ParseDecimal128(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	oid1, oid2 := bson.ObjectID{1}, bson.ObjectID{2}
	tests := []struct {
		name string
		a, b any
		want int
	}{
		{"int32 equals int64", int32(1), int64(1), 0},
		{"int equals double", int64(2), 2.0, 0},
		{"decimal equals int", dec("3.0"), int32(3), 0},
		{"decimal fraction", dec("3.5"), int32(3), 1},
		{"large int64 vs double precision", int64(1<<53 + 1), float64(1 << 53), 1},
		{"NaN below numbers", math.NaN(), math.Inf(-1), -1},
		{"NaN equals NaN", math.NaN(), math.NaN(), 0},
		{"null below numbers", nil, int32(0), -1},
		{"missing equals null", Missing{}, nil, 0},
		{"minKey below null", bson.MinKey{}, nil, -1},
		{"numbers below strings", 1e300, "", -1},
		{"string binary order", "B", "a", -1},
		{"symbol equals string", bson.Symbol("x"), "x", 0},
		{"strings below objects", "z", bson.D{}, -1},
		{"objects below arrays", bson.D{{Key: "a", Value: 1}}, bson.A{}, -1},
		{"doc field names", bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "b", Value: 1}}, -1},
		{"doc values", bson.D{{Key: "a", Value: 2}}, bson.D{{Key: "a", Value: int64(1)}}, 1},
		{"doc value type first", bson.D{{Key: "b", Value: 1}}, bson.D{{Key: "a", Value: "x"}}, -1},
		{"shorter doc first", bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 1}}, -1},
		{"array elementwise", bson.A{int32(1), int32(2)}, bson.A{int32(1), int32(3)}, -1},
		{"go int is a number", 7, int64(7), 0},
		{"binary length first", bson.Binary{Data: []byte{9}}, bson.Binary{Data: []byte{1, 1}}, -1},
		{"objectid", oid1, oid2, -1},
		{"false below true", false, true, -1},
		{"dates", bson.DateTime(1), bson.DateTime(2), -1},
		{"bools below dates", true, bson.DateTime(0), -1},
		{"timestamps", bson.Timestamp{T: 1, I: 2}, bson.Timestamp{T: 1, I: 1}, 1},
		{"maxKey above all", bson.MaxKey{}, bson.Regex{Pattern: "a"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compare(tt.a, tt.b); got != tt.want {
				t.Errorf("Compare(%v, %v) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Compare(tt.b, tt.a); got != -tt.want {
				t.Errorf("Compare(%v, %v) = %d, want %d (antisymmetry)", tt.b, tt.a, got, -tt.want)
			}
			if eq := Key(tt.a) == Key(tt.b); eq != (tt.want == 0) {
				t.Errorf("Key equality = %v, want %v (%q vs %q)", eq, tt.want == 0, Key(tt.a), Key(tt.b))
			}
		})
	}
}

func TestArithmetic(t *testing.T) {
	tests := []struct {
		name    string
		got     func() (any, error)
		want    any
		wantErr error
	}{
		{"int32 stays int32", func() (any, error) { return Add(int32(1), int32(2)) }, int32(3), nil},
		{"int32 overflow widens", func() (any, error) { return Add(int32(math.MaxInt32), int32(1)) }, int64(math.MaxInt32 + 1), nil},
		{"int64 overflow errors", func() (any, error) { return Add(int64(math.MaxInt64), int32(1)) }, nil, ErrOverflow},
		{"double wins", func() (any, error) { return Multiply(int32(2), 1.5) }, 3.0, nil},
		{"subtract", func() (any, error) { return Subtract(int64(5), int32(7)) }, int64(-2), nil},
		{"not a number", func() (any, error) { return Add("a", int32(1)) }, nil, ErrNotNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.got()
			if err != tt.wantErr {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
	fifteen, err := bson.ParseDecimal128("15")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Add(fifteen, int32(1))
	if err != nil {
		t.Fatal(err)
	}
	if s := d.(bson.Decimal128).String(); s != "16" {
		t.Errorf("decimal add = %s, want 16", s)
	}
}

func TestGet(t *testing.T) {
	doc := bson.D{{Key: "a", Value: bson.D{{Key: "b", Value: bson.A{int32(5), bson.D{{Key: "c", Value: "x"}}}}}}}
	if v, ok := Get(doc, "a.b.1.c"); !ok || v != "x" {
		t.Errorf("Get a.b.1.c = %v %v", v, ok)
	}
	if _, ok := Get(doc, "a.b.c"); ok {
		t.Error("Get must not fan out over arrays")
	}
	if _, ok := Get(doc, "a.z"); ok {
		t.Error("missing field found")
	}
}

func TestCloneIsDeep(t *testing.T) {
	orig := bson.D{{Key: "a", Value: bson.A{bson.D{{Key: "b", Value: int32(1)}}}}}
	c := CloneDoc(orig)
	c[0].Value.(bson.A)[0].(bson.D)[0].Value = int32(2)
	if v, _ := Get(orig, "a.0.b"); v != int32(1) {
		t.Errorf("clone shares memory with original: %v", v)
	}
}

func TestTruthy(t *testing.T) {
	for _, v := range []any{nil, Missing{}, false, int32(0), 0.0, bson.Undefined{}} {
		if Truthy(v) {
			t.Errorf("Truthy(%#v) = true", v)
		}
	}
	for _, v := range []any{true, int32(1), "", bson.D{}, bson.A{}} {
		if !Truthy(v) {
			t.Errorf("Truthy(%#v) = false", v)
		}
	}
}
