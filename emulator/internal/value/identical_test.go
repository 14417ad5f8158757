package value

import (
	"math"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestIdentical(t *testing.T) {
	dec := func(s string) bson.Decimal128 {
		d, err := bson.ParseDecimal128(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name string
		a, b any
		want bool
	}{
		{"same int32", int32(1), int32(1), true},
		{"int32 and double", int32(1), 1.0, false},
		{"int32 and int64", int32(1), int64(1), false},
		{"go int as int32", 1, int32(1), true},
		{"large go int as int64", 1 << 40, int64(1 << 40), true},
		{"zero and negative zero", 0.0, math.Copysign(0, -1), false},
		{"NaN", math.NaN(), math.NaN(), true},
		{"decimals with different exponents", dec("1.0"), dec("1.00"), false},
		{"same decimal", dec("1.5"), dec("1.5"), true},
		{"nulls", nil, nil, true},
		{"null and missing", nil, Missing{}, false},
		{"strings", "a", "a", true},
		{"string and symbol", "a", bson.Symbol("a"), false},
		{"documents", bson.D{{Key: "a", Value: int32(1)}}, bson.D{{Key: "a", Value: int32(1)}}, true},
		{"document field order", bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 2}}, bson.D{{Key: "b", Value: 2}, {Key: "a", Value: 1}}, false},
		{"nested types", bson.D{{Key: "a", Value: bson.A{int32(1)}}}, bson.D{{Key: "a", Value: bson.A{int64(1)}}}, false},
		{"map and document", bson.M{"a": 1}, bson.D{{Key: "a", Value: 1}}, true},
		{"arrays", bson.A{1, "x"}, bson.A{1, "x"}, true},
		{"array lengths", bson.A{1}, bson.A{1, 2}, false},
		{"array and document", bson.A{}, bson.D{}, false},
		{"binary", bson.Binary{Data: []byte{1}}, bson.Binary{Data: []byte{1}}, true},
		{"binary subtype", bson.Binary{Data: []byte{1}}, bson.Binary{Subtype: 4, Data: []byte{1}}, false},
		{"code with scope", bson.CodeWithScope{Code: "f", Scope: bson.D{}}, bson.CodeWithScope{Code: "f", Scope: bson.D{}}, true},
		{"dates", bson.DateTime(5), bson.DateTime(5), true},
		{"timestamps", bson.Timestamp{T: 1, I: 1}, bson.Timestamp{T: 1, I: 2}, false},
		{"object ids", bson.ObjectID{1}, bson.ObjectID{1}, true},
		{"regex options", bson.Regex{Pattern: "a", Options: "i"}, bson.Regex{Pattern: "a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Identical(tt.a, tt.b); got != tt.want {
				t.Errorf("Identical(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if got := Identical(tt.b, tt.a); got != tt.want {
				t.Errorf("Identical(%v, %v) = %v, want %v (symmetry)", tt.b, tt.a, got, tt.want)
			}
		})
	}
}
