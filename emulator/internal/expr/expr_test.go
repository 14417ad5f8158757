package expr

import (
	"math"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
)

func TestFieldPathsAndLiterals(t *testing.T) {
	arrDoc := doc("a", bson.A{doc("b", int32(1)), doc("b", int32(2)), int32(7), doc("c", int32(3)), bson.A{doc("b", int32(9))}})
	runCases(t, []exprCase{
		{name: "top-level field", spec: "$x", doc: doc("x", int32(5)), want: int32(5)},
		{name: "nested field", spec: "$a.b", doc: doc("a", doc("b", "hi")), want: "hi"},
		{name: "missing field", spec: "$nope", doc: doc("x", int32(1)), want: missing},
		{name: "through scalar is missing", spec: "$x.y", doc: doc("x", int32(1)), want: missing},
		{name: "array fan-out skips non-documents and nested arrays", spec: "$a.b", doc: arrDoc, want: bson.A{int32(1), int32(2)}},
		{name: "whole array", spec: "$a", doc: doc("a", bson.A{int32(1)}), want: bson.A{int32(1)}},
		{name: "string literal", spec: "abc", want: "abc"},
		{name: "go int literal becomes int32", spec: 7, want: int32(7)},
		{name: "big go int literal becomes int64", spec: 1 << 40, want: int64(1 << 40)},
		{name: "array literal, missing becomes null", spec: bson.A{"$x", "$nope", int32(1)}, doc: doc("x", "v"), want: bson.A{"v", nil, int32(1)}},
		{name: "object literal drops missing", spec: doc("p", "$x", "q", "$nope"), doc: doc("x", true), want: doc("p", true)},
		{name: "empty object literal", spec: bson.D{}, want: bson.D{}},
		{name: "nested object literal", spec: doc("o", doc("i", "$x")), doc: doc("x", int32(2)), want: doc("o", doc("i", int32(2)))},
		{name: "$literal keeps dollar string", spec: op("$literal", "$bar"), want: "$bar"},
		{name: "$literal keeps operator document", spec: op("$literal", op("$add", bson.A{1, 2})), want: op("$add", bson.A{int32(1), int32(2)})},
		{name: "dollar alone", spec: "$", code: 16872},
		{name: "empty path segment", spec: "$a..b", code: 15998},
		{name: "trailing dot", spec: "$a.", code: 40353},
		{name: "dollar segment", spec: "$a.$b", code: 16410},
		{name: "object literal field with dollar", spec: doc("a", int32(1), "$b", int32(2)), code: 16410},
		{name: "object literal field with dot", spec: doc("a.b", int32(1)), code: 16412},
		{name: "object literal duplicate", spec: doc("a", int32(1), "a", int32(2)), code: 16406},
		{name: "operator with extra field", spec: doc("$add", bson.A{}, "x", int32(1)), code: 15983},
		{name: "unknown operator", spec: op("$foo", int32(1)), code: mongoerr.InvalidPipelineOperator},
		{name: "javascript refused", spec: op("$function", doc("body", "x", "args", bson.A{}, "lang", "js")), code: 31264},
		{name: "known but unsupported", spec: op("$dateTrunc", bson.D{}), code: mongoerr.NotImplemented},
	})
}

func TestVariables(t *testing.T) {
	now := bson.DateTime(1700000000000)
	d := doc("x", int32(1), "o", doc("p", "q"))
	runCases(t, []exprCase{
		{name: "ROOT", spec: "$$ROOT", doc: d, want: d},
		{name: "ROOT path", spec: "$$ROOT.o.p", doc: d, want: "q"},
		{name: "CURRENT", spec: "$$CURRENT.x", doc: d, want: int32(1)},
		{name: "CURRENT from vars", spec: "$x", doc: d, vars: map[string]any{"CURRENT": doc("x", "other")}, want: "other"},
		{name: "REMOVE", spec: "$$REMOVE", want: missing},
		{name: "NOW from vars", spec: "$$NOW", vars: map[string]any{"NOW": now}, want: now},
		{name: "user var", spec: "$$v", vars: map[string]any{"v": "val"}, want: "val"},
		{name: "user var path", spec: "$$v.a", vars: map[string]any{"v": doc("a", int32(3))}, want: int32(3)},
		{name: "user var array path", spec: "$$v.a", vars: map[string]any{"v": bson.A{doc("a", int32(3)), doc("a", int32(4))}}, want: bson.A{int32(3), int32(4)}},
		{name: "undefined var", spec: "$$nope", code: 17276},
		{name: "empty var name", spec: "$$", code: 16869},
		{name: "bad var start", spec: "$$_x", code: 16870},
		{name: "bad var char", spec: "$$a-b", code: 16871},
		{name: "$let", spec: op("$let", doc("vars", doc("a", "$x", "b", int32(10)), "in", op("$add", bson.A{"$$a", "$$b"}))), doc: d, want: int32(11)},
		{name: "$let vars see outer scope only", spec: op("$let", doc("vars", doc("a", int32(1)), "in", op("$let", doc("vars", doc("a", op("$add", bson.A{"$$a", 1})), "in", "$$a")))), want: int32(2)},
		{name: "$let bad var name", spec: op("$let", doc("vars", doc("A", 1), "in", 1)), code: 16867},
		{name: "$let cannot set ROOT", spec: op("$let", doc("vars", doc("ROOT", 1), "in", 1)), code: 16867},
		{name: "$let bad char", spec: op("$let", doc("vars", doc("a.b", 1), "in", 1)), code: 16868},
		{name: "$let missing vars", spec: op("$let", doc("in", 1)), code: 16876},
		{name: "$let missing in", spec: op("$let", doc("vars", bson.D{})), code: 16877},
		{name: "$let unknown", spec: op("$let", doc("vars", bson.D{}, "in", 1, "x", 1)), code: 16875},
		{name: "$let not object", spec: op("$let", int32(1)), code: 16874},
	})
}

func TestLet(t *testing.T) {
	vars, err := Let(doc("id", int32(1), "y", op("$literal", "$bar"), "z", op("$add", bson.A{"$$id", 1})), map[string]any{"NOW": bson.DateTime(1)})
	if err != nil {
		t.Fatal(err)
	}
	if vars["id"] != int32(1) || vars["y"] != "$bar" || vars["z"] != int32(2) || vars["NOW"] != bson.DateTime(1) {
		t.Fatalf("Let = %#v", vars)
	}
	if _, err := Let(doc("Bad", 1), nil); mongoerr.As(err) == nil || mongoerr.As(err).Code != 16867 {
		t.Fatalf("Let(Bad) error = %v, want 16867", err)
	}
}

func TestArithmetic(t *testing.T) {
	date := bson.DateTime(1000)
	runCases(t, []exprCase{
		{name: "$add ints", spec: op("$add", bson.A{int32(1), int32(2)}), want: int32(3)},
		{name: "$add int overflow widens", spec: op("$add", bson.A{int32(math.MaxInt32), int32(1)}), want: int64(math.MaxInt32 + 1)},
		{name: "$add long", spec: op("$add", bson.A{int32(1), int64(2)}), want: int64(3)},
		{name: "$add long overflow becomes double", spec: op("$add", bson.A{int64(math.MaxInt64), int64(1)}), want: float64(math.MaxInt64) + 1},
		{name: "$add double", spec: op("$add", bson.A{int32(1), 0.5}), want: 1.5},
		{name: "$add decimal", spec: op("$add", bson.A{dec(t, "1.1"), int32(1)}), want: dec(t, "2.1")},
		{name: "$add date and number", spec: op("$add", bson.A{date, int32(500)}), want: bson.DateTime(1500)},
		{name: "$add two dates", spec: op("$add", bson.A{date, date}), code: 16612},
		{name: "$add null", spec: op("$add", bson.A{int32(1), nil}), want: nil},
		{name: "$add missing", spec: op("$add", bson.A{int32(1), "$nope"}), want: nil},
		{name: "$add string", spec: op("$add", bson.A{int32(1), "x"}), code: 16554},
		{name: "$add empty", spec: op("$add", bson.A{}), want: int32(0)},
		{name: "$subtract", spec: op("$subtract", bson.A{int32(5), int32(7)}), want: int32(-2)},
		{name: "$subtract dates", spec: op("$subtract", bson.A{bson.DateTime(5000), date}), want: int64(4000)},
		{name: "$subtract number from date", spec: op("$subtract", bson.A{date, int32(1)}), want: bson.DateTime(999)},
		{name: "$subtract date from number", spec: op("$subtract", bson.A{int32(1), date}), code: 16556},
		{name: "$subtract string from date", spec: op("$subtract", bson.A{date, "x"}), code: 16613},
		{name: "$subtract null", spec: op("$subtract", bson.A{nil, int32(1)}), want: nil},
		{name: "$subtract arity", spec: op("$subtract", bson.A{int32(1)}), code: 16020},
		{name: "$multiply", spec: op("$multiply", bson.A{int32(2), int32(3), int64(4)}), want: int64(24)},
		{name: "$multiply double", spec: op("$multiply", bson.A{int32(2), 1.5}), want: 3.0},
		{name: "$multiply overflow", spec: op("$multiply", bson.A{int64(math.MaxInt64), int32(2)}), want: float64(math.MaxInt64) * 2},
		{name: "$multiply string", spec: op("$multiply", bson.A{int32(2), "x"}), code: 16555},
		{name: "$divide", spec: op("$divide", bson.A{int32(1), int32(4)}), want: 0.25},
		{name: "$divide decimal", spec: op("$divide", bson.A{dec(t, "1"), int32(4)}), want: dec(t, "0.25")},
		{name: "$divide decimal repeating", spec: op("$divide", bson.A{dec(t, "1"), int32(3)}), want: dec(t, "0.3333333333333333333333333333333333")},
		{name: "$divide by zero", spec: op("$divide", bson.A{int32(1), int32(0)}), code: 16608},
		{name: "$divide types", spec: op("$divide", bson.A{"a", int32(1)}), code: 16609},
		{name: "$divide null", spec: op("$divide", bson.A{nil, int32(1)}), want: nil},
		{name: "$mod ints", spec: op("$mod", bson.A{int32(7), int32(3)}), want: int32(1)},
		{name: "$mod negative", spec: op("$mod", bson.A{int32(-7), int32(3)}), want: int32(-1)},
		{name: "$mod long", spec: op("$mod", bson.A{int64(7), int32(3)}), want: int64(1)},
		{name: "$mod int by integral double stays int", spec: op("$mod", bson.A{int32(7), 3.0}), want: int32(1)},
		{name: "$mod double", spec: op("$mod", bson.A{7.5, int32(2)}), want: 1.5},
		{name: "$mod decimal", spec: op("$mod", bson.A{dec(t, "7.5"), int32(2)}), want: dec(t, "1.5")},
		{name: "$mod zero", spec: op("$mod", bson.A{int32(1), int32(0)}), code: 16610},
		{name: "$mod types", spec: op("$mod", bson.A{int32(1), "x"}), code: 16611},
		{name: "$abs", spec: op("$abs", int32(-3)), want: int32(3)},
		{name: "$abs int min widens", spec: op("$abs", int32(math.MinInt32)), want: int64(-math.MinInt32)},
		{name: "$abs long min", spec: op("$abs", int64(math.MinInt64)), code: 28680},
		{name: "$abs decimal", spec: op("$abs", dec(t, "-1.5")), want: dec(t, "1.5")},
		{name: "$abs null", spec: op("$abs", nil), want: nil},
		{name: "$abs string", spec: op("$abs", "x"), code: 28765},
		{name: "$abs arity", spec: op("$abs", bson.A{1, 2}), code: 16020},
		{name: "$ceil", spec: op("$ceil", 1.2), want: 2.0},
		{name: "$ceil int", spec: op("$ceil", int32(3)), want: int32(3)},
		{name: "$ceil decimal", spec: op("$ceil", dec(t, "1.2")), want: dec(t, "2")},
		{name: "$floor", spec: op("$floor", -1.2), want: -2.0},
		{name: "$floor decimal", spec: op("$floor", dec(t, "-1.2")), want: dec(t, "-2")},
		{name: "$sqrt", spec: op("$sqrt", int32(16)), want: 4.0},
		{name: "$sqrt negative", spec: op("$sqrt", int32(-1)), code: 28714},
		{name: "$exp", spec: op("$exp", int32(0)), want: 1.0},
		{name: "$ln", spec: op("$ln", 1.0), want: 0.0},
		{name: "$ln non-positive", spec: op("$ln", int32(0)), code: 28766},
		{name: "$log10", spec: op("$log10", int32(100)), want: 2.0},
		{name: "$log10 negative", spec: op("$log10", int32(-1)), code: 28761},
		{name: "$log", spec: op("$log", bson.A{int32(8), int32(2)}), want: 3.0},
		{name: "$log bad arg", spec: op("$log", bson.A{"x", int32(2)}), code: 28756},
		{name: "$log bad base type", spec: op("$log", bson.A{int32(2), "x"}), code: 28757},
		{name: "$log non-positive", spec: op("$log", bson.A{int32(0), int32(2)}), code: 28758},
		{name: "$log base one", spec: op("$log", bson.A{int32(2), int32(1)}), code: 28759},
		{name: "$pow ints", spec: op("$pow", bson.A{int32(2), int32(10)}), want: int32(1024)},
		{name: "$pow to long", spec: op("$pow", bson.A{int32(2), int32(40)}), want: int64(1 << 40)},
		{name: "$pow overflow to double", spec: op("$pow", bson.A{int32(2), int32(64)}), want: math.Pow(2, 64)},
		{name: "$pow negative exponent", spec: op("$pow", bson.A{int32(2), int32(-1)}), want: 0.5},
		{name: "$pow zero negative", spec: op("$pow", bson.A{int32(0), int32(-1)}), code: 28764},
		{name: "$pow bad base", spec: op("$pow", bson.A{"x", int32(1)}), code: 28762},
		{name: "$pow bad exponent", spec: op("$pow", bson.A{int32(1), "x"}), code: 28763},
		{name: "$round double", spec: op("$round", bson.A{2.5, int32(0)}), want: 2.0},
		{name: "$round half even", spec: op("$round", bson.A{3.5}), want: 4.0},
		{name: "$round places", spec: op("$round", bson.A{1.2345, int32(2)}), want: 1.23},
		{name: "$round negative places int", spec: op("$round", bson.A{int32(1250), int32(-2)}), want: int32(1200)},
		{name: "$round decimal", spec: op("$round", bson.A{dec(t, "1.255"), int32(2)}), want: dec(t, "1.26")},
		{name: "$round bad place", spec: op("$round", bson.A{1.5, 1.5}), code: 51082},
		{name: "$round place range", spec: op("$round", bson.A{1.5, int32(101)}), code: 51083},
		{name: "$round non-number", spec: op("$round", "x"), code: 51081},
		{name: "$round arity", spec: op("$round", bson.A{1, 2, 3}), code: 28667},
		{name: "$trunc", spec: op("$trunc", -2.7), want: -2.0},
		{name: "$trunc places", spec: op("$trunc", bson.A{1.289, int32(1)}), want: 1.2},
		{name: "$trunc int negative places", spec: op("$trunc", bson.A{int64(1299), int32(-2)}), want: int64(1200)},
		{name: "$sum array", spec: op("$sum", "$a"), doc: doc("a", bson.A{int32(1), int32(2), "x", 1.5}), want: 4.5},
		{name: "$sum operands", spec: op("$sum", bson.A{int32(1), int64(2)}), want: int64(3)},
		{name: "$sum nothing numeric", spec: op("$sum", "x"), want: int32(0)},
		{name: "$avg", spec: op("$avg", bson.A{int32(1), int32(2)}), want: 1.5},
		{name: "$avg none", spec: op("$avg", bson.A{"a"}), want: nil},
		{name: "$max", spec: op("$max", bson.A{int32(1), "x", nil}), want: "x"},
		{name: "$min array", spec: op("$min", "$a"), doc: doc("a", bson.A{int32(3), int32(1), nil}), want: int32(1)},
		{name: "$min all null", spec: op("$min", bson.A{nil, "$nope"}), want: nil},
	})
}

func TestComparisonAndLogic(t *testing.T) {
	runCases(t, []exprCase{
		{name: "$eq cross numeric", spec: op("$eq", bson.A{int32(1), 1.0}), want: true},
		{name: "$eq field and var", spec: op("$eq", bson.A{"$_id", "$$id"}), doc: doc("_id", int32(1)), vars: map[string]any{"id": int32(1)}, want: true},
		{name: "$eq missing vs null is false", spec: op("$eq", bson.A{"$nope", nil}), want: false},
		{name: "$lt missing below null", spec: op("$lt", bson.A{"$nope", nil}), want: true},
		{name: "$ne", spec: op("$ne", bson.A{"a", "b"}), want: true},
		{name: "$gt type order", spec: op("$gt", bson.A{"a", int32(5)}), want: true},
		{name: "$gte", spec: op("$gte", bson.A{int32(5), int64(5)}), want: true},
		{name: "$lte", spec: op("$lte", bson.A{int32(6), int64(5)}), want: false},
		{name: "$cmp", spec: op("$cmp", bson.A{"b", "a"}), want: int32(1)},
		{name: "$cmp equal", spec: op("$cmp", bson.A{bson.A{int32(1)}, bson.A{1.0}}), want: int32(0)},
		{name: "$eq arity", spec: op("$eq", bson.A{int32(1)}), code: 16020},
		{name: "$and", spec: op("$and", bson.A{int32(1), "x", true}), want: true},
		{name: "$and falsy", spec: op("$and", bson.A{int32(1), int32(0)}), want: false},
		{name: "$and short circuits", spec: op("$and", bson.A{false, op("$divide", bson.A{1, 0})}), want: false},
		{name: "$and empty", spec: op("$and", bson.A{}), want: true},
		{name: "$or", spec: op("$or", bson.A{nil, "$nope", int32(2)}), want: true},
		{name: "$or empty", spec: op("$or", bson.A{}), want: false},
		{name: "$not", spec: op("$not", bson.A{nil}), want: true},
		{name: "$not arity", spec: op("$not", bson.A{1, 2}), code: 16020},
		{name: "$cond array", spec: op("$cond", bson.A{true, "a", "b"}), want: "a"},
		{name: "$cond object", spec: op("$cond", doc("if", op("$gt", bson.A{"$x", 1}), "then", "big", "else", "small")), doc: doc("x", int32(0)), want: "small"},
		{name: "$cond lazy", spec: op("$cond", bson.A{true, "a", op("$divide", bson.A{1, 0})}), want: "a"},
		{name: "$cond missing if", spec: op("$cond", doc("then", 1, "else", 2)), code: 17080},
		{name: "$cond missing then", spec: op("$cond", doc("if", 1, "else", 2)), code: 17081},
		{name: "$cond missing else", spec: op("$cond", doc("if", 1, "then", 2)), code: 17082},
		{name: "$cond unknown", spec: op("$cond", doc("if", 1, "then", 2, "else", 3, "x", 4)), code: 17083},
		{name: "$cond arity", spec: op("$cond", bson.A{1, 2}), code: 16020},
		{name: "$ifNull", spec: op("$ifNull", bson.A{"$nope", nil, "d"}), want: "d"},
		{name: "$ifNull first", spec: op("$ifNull", bson.A{"$x", "d"}), doc: doc("x", int32(0)), want: int32(0)},
		{name: "$ifNull last may be missing", spec: op("$ifNull", bson.A{nil, "$nope"}), want: missing},
		{name: "$ifNull arity", spec: op("$ifNull", bson.A{1}), code: 1257300},
		{name: "$switch", spec: op("$switch", doc("branches", bson.A{doc("case", false, "then", 1), doc("case", true, "then", 2)})), want: int32(2)},
		{name: "$switch default", spec: op("$switch", doc("branches", bson.A{doc("case", false, "then", 1)}, "default", "d")), want: "d"},
		{name: "$switch no match", spec: op("$switch", doc("branches", bson.A{doc("case", false, "then", 1)})), code: 40066},
		{name: "$switch not object", spec: op("$switch", int32(1)), code: 40060},
		{name: "$switch branches not array", spec: op("$switch", doc("branches", int32(1))), code: 40061},
		{name: "$switch branch not object", spec: op("$switch", doc("branches", bson.A{int32(1)})), code: 40062},
		{name: "$switch branch unknown", spec: op("$switch", doc("branches", bson.A{doc("case", 1, "then", 1, "x", 1)})), code: 40063},
		{name: "$switch branch without case", spec: op("$switch", doc("branches", bson.A{doc("then", 1)})), code: 40064},
		{name: "$switch branch without then", spec: op("$switch", doc("branches", bson.A{doc("case", 1)})), code: 40065},
		{name: "$switch unknown", spec: op("$switch", doc("branches", bson.A{doc("case", 1, "then", 1)}, "x", 1)), code: 40067},
		{name: "$switch no branches", spec: op("$switch", doc("branches", bson.A{})), code: 40068},
		{name: "$type", spec: op("$type", "$x"), doc: doc("x", int64(1)), want: "long"},
		{name: "$type missing", spec: op("$type", "$nope"), want: "missing"},
		{name: "$isNumber", spec: op("$isNumber", dec(t, "1")), want: true},
		{name: "$isNumber string", spec: op("$isNumber", "1"), want: false},
	})
}

func TestRand(t *testing.T) {
	v, err := evalSpec(op("$rand", bson.D{}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := v.(float64); !ok || f < 0 || f >= 1 {
		t.Fatalf("$rand = %#v", v)
	}
	if _, err := Compile(op("$rand", doc("a", 1))); mongoerr.As(err) == nil || mongoerr.As(err).Code != 3040501 {
		t.Fatalf("$rand with arguments: %v", err)
	}
}

func TestStrings(t *testing.T) {
	runCases(t, []exprCase{
		{name: "$concat", spec: op("$concat", bson.A{"a", "$x", "c"}), doc: doc("x", "b"), want: "abc"},
		{name: "$concat null", spec: op("$concat", bson.A{"a", "$nope"}), want: nil},
		{name: "$concat non-string", spec: op("$concat", bson.A{"a", int32(1)}), code: 16702},
		{name: "$substr", spec: op("$substr", bson.A{"hello", int32(1), int32(3)}), want: "ell"},
		{name: "$substrBytes negative length takes rest", spec: op("$substrBytes", bson.A{"hello", int32(2), int32(-1)}), want: "llo"},
		{name: "$substrBytes past end", spec: op("$substrBytes", bson.A{"hi", int32(5), int32(1)}), want: ""},
		{name: "$substrBytes of number", spec: op("$substrBytes", bson.A{int32(12345), int32(1), int32(2)}), want: "23"},
		{name: "$substrBytes null input", spec: op("$substrBytes", bson.A{nil, int32(0), int32(2)}), want: ""},
		{name: "$substrBytes bad start", spec: op("$substrBytes", bson.A{"a", "x", int32(1)}), code: 16034},
		{name: "$substrBytes bad length", spec: op("$substrBytes", bson.A{"a", int32(0), "x"}), code: 16035},
		{name: "$substrBytes negative start", spec: op("$substrBytes", bson.A{"a", int32(-1), int32(1)}), code: 50752},
		{name: "$substrBytes splits code point", spec: op("$substrBytes", bson.A{"é", int32(1), int32(1)}), code: 28656},
		{name: "$substrBytes ends mid code point", spec: op("$substrBytes", bson.A{"é", int32(0), int32(1)}), code: 28657},
		{name: "$substrBytes of object", spec: op("$substrBytes", bson.A{bson.D{}, int32(0), int32(1)}), code: 16007},
		{name: "$substrBytes arity", spec: op("$substrBytes", bson.A{"a", 1}), code: 16020},
		{name: "$substrCP", spec: op("$substrCP", bson.A{"héllo", int32(1), int32(2)}), want: "él"},
		{name: "$substrCP bad start type", spec: op("$substrCP", bson.A{"a", "x", int32(1)}), code: 34450},
		{name: "$substrCP non-integral start", spec: op("$substrCP", bson.A{"a", 1.5, int32(1)}), code: 34451},
		{name: "$substrCP bad length type", spec: op("$substrCP", bson.A{"a", int32(0), "x"}), code: 34452},
		{name: "$substrCP non-integral length", spec: op("$substrCP", bson.A{"a", int32(0), 1.5}), code: 34453},
		{name: "$substrCP negative length", spec: op("$substrCP", bson.A{"a", int32(0), int32(-1)}), code: 34454},
		{name: "$substrCP negative start", spec: op("$substrCP", bson.A{"a", int32(-1), int32(1)}), code: 34455},
		{name: "$toLower", spec: op("$toLower", "AbC"), want: "abc"},
		{name: "$toUpper number", spec: op("$toUpper", int32(5)), want: "5"},
		{name: "$toUpper null", spec: op("$toUpper", nil), want: ""},
		{name: "$strLenBytes", spec: op("$strLenBytes", "é"), want: int32(2)},
		{name: "$strLenBytes non-string", spec: op("$strLenBytes", int32(1)), code: 34473},
		{name: "$strLenCP", spec: op("$strLenCP", "é"), want: int32(1)},
		{name: "$strLenCP non-string", spec: op("$strLenCP", nil), code: 34471},
		{name: "$split", spec: op("$split", bson.A{"a,b,,c", ","}), want: bson.A{"a", "b", "", "c"}},
		{name: "$split null", spec: op("$split", bson.A{nil, ","}), want: nil},
		{name: "$split first", spec: op("$split", bson.A{int32(1), ","}), code: 40085},
		{name: "$split second", spec: op("$split", bson.A{"a", int32(1)}), code: 40086},
		{name: "$split empty separator", spec: op("$split", bson.A{"a", ""}), code: 40087},
		{name: "$trim", spec: op("$trim", doc("input", "  hi \n")), want: "hi"},
		{name: "$ltrim chars", spec: op("$ltrim", doc("input", "xxhixx", "chars", "x")), want: "hixx"},
		{name: "$rtrim chars", spec: op("$rtrim", doc("input", "xxhixy", "chars", "xy")), want: "xxhi"},
		{name: "$trim null", spec: op("$trim", doc("input", nil)), want: nil},
		{name: "$trim non-string", spec: op("$trim", doc("input", int32(1))), code: 50699},
		{name: "$trim bad chars", spec: op("$trim", doc("input", "a", "chars", int32(1))), code: 50700},
		{name: "$trim unknown", spec: op("$trim", doc("input", "a", "x", 1)), code: 50694},
		{name: "$trim no input", spec: op("$trim", doc("chars", "a")), code: 50695},
		{name: "$trim not object", spec: op("$trim", "a"), code: 50696},
		{name: "$indexOfBytes", spec: op("$indexOfBytes", bson.A{"abcabc", "c", int32(3)}), want: int32(5)},
		{name: "$indexOfBytes not found", spec: op("$indexOfBytes", bson.A{"abc", "z"}), want: int32(-1)},
		{name: "$indexOfBytes end", spec: op("$indexOfBytes", bson.A{"abcabc", "c", int32(0), int32(2)}), want: int32(-1)},
		{name: "$indexOfBytes null", spec: op("$indexOfBytes", bson.A{nil, "c"}), want: nil},
		{name: "$indexOfBytes bad first", spec: op("$indexOfBytes", bson.A{int32(1), "c"}), code: 40091},
		{name: "$indexOfBytes bad second", spec: op("$indexOfBytes", bson.A{"a", int32(1)}), code: 40092},
		{name: "$indexOfBytes non-integral start", spec: op("$indexOfBytes", bson.A{"a", "a", 1.5}), code: 40096},
		{name: "$indexOfBytes negative start", spec: op("$indexOfBytes", bson.A{"a", "a", int32(-1)}), code: 40097},
		{name: "$indexOfBytes arity", spec: op("$indexOfBytes", bson.A{"a"}), code: 28667},
		{name: "$indexOfCP", spec: op("$indexOfCP", bson.A{"héllo", "l"}), want: int32(2)},
		{name: "$indexOfCP bad first", spec: op("$indexOfCP", bson.A{int32(1), "c"}), code: 40093},
		{name: "$indexOfCP bad second", spec: op("$indexOfCP", bson.A{"a", int32(1)}), code: 40094},
		{name: "$strcasecmp", spec: op("$strcasecmp", bson.A{"abc", "ABD"}), want: int32(-1)},
		{name: "$strcasecmp equal", spec: op("$strcasecmp", bson.A{"HeLLo", "hello"}), want: int32(0)},
		{name: "$regexMatch", spec: op("$regexMatch", doc("input", "Hello", "regex", "^h", "options", "i")), want: true},
		{name: "$regexMatch regex type", spec: op("$regexMatch", doc("input", "Hello", "regex", bson.Regex{Pattern: "^h", Options: "i"})), want: true},
		{name: "$regexMatch null input", spec: op("$regexMatch", doc("input", nil, "regex", "a")), want: false},
		{name: "$regexMatch extended", spec: op("$regexMatch", doc("input", "ab", "regex", "a b # comment", "options", "x")), want: true},
		{name: "$regexMatch options twice", spec: op("$regexMatch", doc("input", "a", "regex", bson.Regex{Pattern: "a", Options: "i"}, "options", "i")), code: 51107},
		{name: "$regexMatch bad input", spec: op("$regexMatch", doc("input", int32(1), "regex", "a")), code: 51104},
		{name: "$regexMatch bad regex", spec: op("$regexMatch", doc("input", "a", "regex", int32(1))), code: 51105},
		{name: "$regexMatch bad options", spec: op("$regexMatch", doc("input", "a", "regex", "a", "options", int32(1))), code: 51106},
		{name: "$regexMatch bad flag", spec: op("$regexMatch", doc("input", "a", "regex", "a", "options", "q")), code: 51108},
		{name: "$regexMatch invalid pattern", spec: op("$regexMatch", doc("input", "a", "regex", "(")), code: 51111},
		{name: "$regexMatch not object", spec: op("$regexMatch", "a"), code: 51103},
		{name: "$regexMatch unknown", spec: op("$regexMatch", doc("input", "a", "regex", "a", "x", 1)), code: 31024},
		{name: "$regexMatch no input", spec: op("$regexMatch", doc("regex", "a")), code: 31022},
		{name: "$regexMatch no regex", spec: op("$regexMatch", doc("input", "a")), code: 31023},
		{name: "$regexFind", spec: op("$regexFind", doc("input", "xéab12", "regex", "([a-z])(\\d)?b")), want: doc("match", "ab", "idx", int32(2), "captures", bson.A{"a", nil})},
		{name: "$regexFind no match", spec: op("$regexFind", doc("input", "x", "regex", "y")), want: nil},
		{name: "$regexFindAll", spec: op("$regexFindAll", doc("input", "a1b2", "regex", "\\d")), want: bson.A{
			doc("match", "1", "idx", int32(1), "captures", bson.A{}), doc("match", "2", "idx", int32(3), "captures", bson.A{}),
		}},
		{name: "$replaceOne", spec: op("$replaceOne", doc("input", "aXbX", "find", "X", "replacement", "-")), want: "a-bX"},
		{name: "$replaceAll", spec: op("$replaceAll", doc("input", "aXbX", "find", "X", "replacement", "-")), want: "a-b-"},
		{name: "$replaceAll null", spec: op("$replaceAll", doc("input", nil, "find", "X", "replacement", "-")), want: nil},
		{name: "$replaceAll bad input", spec: op("$replaceAll", doc("input", int32(1), "find", "X", "replacement", "-")), code: 51746},
		{name: "$replaceAll bad find", spec: op("$replaceAll", doc("input", "a", "find", int32(1), "replacement", "-")), code: 51745},
		{name: "$replaceAll bad replacement", spec: op("$replaceAll", doc("input", "a", "find", "a", "replacement", int32(1))), code: 51744},
		{name: "$replaceAll missing replacement", spec: op("$replaceAll", doc("input", "a", "find", "a")), code: 51747},
		{name: "$replaceAll missing find", spec: op("$replaceAll", doc("input", "a", "replacement", "a")), code: 51748},
		{name: "$replaceAll missing input", spec: op("$replaceAll", doc("find", "a", "replacement", "a")), code: 51749},
		{name: "$replaceAll unknown", spec: op("$replaceAll", doc("input", "a", "find", "a", "replacement", "a", "x", 1)), code: 51750},
	})
}

func TestArrays(t *testing.T) {
	arr := bson.A{int32(1), int32(2), int32(3), int32(4)}
	d := doc("a", arr)
	runCases(t, []exprCase{
		{name: "$size", spec: op("$size", "$a"), doc: d, want: int32(4)},
		{name: "$size non-array", spec: op("$size", "$nope"), code: 17124},
		{name: "$arrayElemAt", spec: op("$arrayElemAt", bson.A{"$a", int32(1)}), doc: d, want: int32(2)},
		{name: "$arrayElemAt negative", spec: op("$arrayElemAt", bson.A{"$a", int32(-1)}), doc: d, want: int32(4)},
		{name: "$arrayElemAt out of range", spec: op("$arrayElemAt", bson.A{"$a", int32(9)}), doc: d, want: missing},
		{name: "$arrayElemAt null", spec: op("$arrayElemAt", bson.A{nil, int32(0)}), want: nil},
		{name: "$arrayElemAt not array", spec: op("$arrayElemAt", bson.A{"x", int32(0)}), code: 28689},
		{name: "$arrayElemAt bad index", spec: op("$arrayElemAt", bson.A{"$a", "x"}), doc: d, code: 28690},
		{name: "$arrayElemAt fractional index", spec: op("$arrayElemAt", bson.A{"$a", 1.5}), doc: d, code: 28691},
		{name: "$first", spec: op("$first", "$a"), doc: d, want: int32(1)},
		{name: "$last", spec: op("$last", "$a"), doc: d, want: int32(4)},
		{name: "$first empty", spec: op("$first", bson.A{bson.A{}}), want: missing},
		{name: "$first not array", spec: op("$first", "x"), code: 28689},
		{name: "$in", spec: op("$in", bson.A{2.0, "$a"}), doc: d, want: true},
		{name: "$in not array", spec: op("$in", bson.A{1, "x"}), code: 40081},
		{name: "$slice count", spec: op("$slice", bson.A{"$a", int32(2)}), doc: d, want: bson.A{int32(1), int32(2)}},
		{name: "$slice negative count", spec: op("$slice", bson.A{"$a", int32(-2)}), doc: d, want: bson.A{int32(3), int32(4)}},
		{name: "$slice position", spec: op("$slice", bson.A{"$a", int32(1), int32(2)}), doc: d, want: bson.A{int32(2), int32(3)}},
		{name: "$slice negative position", spec: op("$slice", bson.A{"$a", int32(-10), int32(2)}), doc: d, want: bson.A{int32(1), int32(2)}},
		{name: "$slice not array", spec: op("$slice", bson.A{"x", int32(1)}), code: 28724},
		{name: "$slice bad n", spec: op("$slice", bson.A{"$a", "x"}), doc: d, code: 28725},
		{name: "$slice fractional n", spec: op("$slice", bson.A{"$a", 1.5}), doc: d, code: 28726},
		{name: "$slice bad count", spec: op("$slice", bson.A{"$a", 1, "x"}), doc: d, code: 28727},
		{name: "$slice non-positive count", spec: op("$slice", bson.A{"$a", 1, 0}), doc: d, code: 28729},
		{name: "$slice arity", spec: op("$slice", bson.A{"$a"}), doc: d, code: 28667},
		{name: "$concatArrays", spec: op("$concatArrays", bson.A{bson.A{1}, bson.A{2, 3}}), want: bson.A{int32(1), int32(2), int32(3)}},
		{name: "$concatArrays null", spec: op("$concatArrays", bson.A{bson.A{1}, nil}), want: nil},
		{name: "$concatArrays non-array", spec: op("$concatArrays", bson.A{bson.A{1}, "x"}), code: 28664},
		{name: "$filter", spec: op("$filter", doc("input", "$a", "as", "n", "cond", op("$gt", bson.A{"$$n", 2}))), doc: d, want: bson.A{int32(3), int32(4)}},
		{name: "$filter this and limit", spec: op("$filter", doc("input", "$a", "cond", op("$gt", bson.A{"$$this", 1}), "limit", 2)), doc: d, want: bson.A{int32(2), int32(3)}},
		{name: "$filter null", spec: op("$filter", doc("input", nil, "cond", true)), want: nil},
		{name: "$filter not array", spec: op("$filter", doc("input", "x", "cond", true)), code: 28651},
		{name: "$filter not object", spec: op("$filter", int32(1)), code: 28646},
		{name: "$filter unknown", spec: op("$filter", doc("input", "x", "cond", true, "x", 1)), code: 28647},
		{name: "$filter no input", spec: op("$filter", doc("cond", true)), code: 28648},
		{name: "$filter no cond", spec: op("$filter", doc("input", bson.A{})), code: 28650},
		{name: "$filter bad as", spec: op("$filter", doc("input", bson.A{}, "as", "X", "cond", true)), code: 16867},
		{name: "$filter bad limit", spec: op("$filter", doc("input", bson.A{1}, "cond", true, "limit", 0)), code: 327391},
		{name: "$map", spec: op("$map", doc("input", "$a", "as", "n", "in", op("$multiply", bson.A{"$$n", 10}))), doc: d, want: bson.A{int32(10), int32(20), int32(30), int32(40)}},
		{name: "$map missing becomes null", spec: op("$map", doc("input", bson.A{doc("x", 1), bson.D{}}, "in", "$$this.x")), want: bson.A{int32(1), nil}},
		{name: "$map not array", spec: op("$map", doc("input", "x", "in", 1)), code: 16883},
		{name: "$map not object", spec: op("$map", int32(1)), code: 16878},
		{name: "$map unknown", spec: op("$map", doc("input", "x", "in", 1, "y", 1)), code: 16879},
		{name: "$map no input", spec: op("$map", doc("in", 1)), code: 16880},
		{name: "$map no in", spec: op("$map", doc("input", bson.A{})), code: 16882},
		{name: "$reduce", spec: op("$reduce", doc("input", "$a", "initialValue", 0, "in", op("$add", bson.A{"$$value", "$$this"}))), doc: d, want: int32(10)},
		{name: "$reduce null", spec: op("$reduce", doc("input", nil, "initialValue", 0, "in", 1)), want: nil},
		{name: "$reduce not array", spec: op("$reduce", doc("input", "x", "initialValue", 0, "in", 1)), code: 40080},
		{name: "$reduce not object", spec: op("$reduce", int32(1)), code: 40075},
		{name: "$reduce unknown", spec: op("$reduce", doc("input", "x", "initialValue", 0, "in", 1, "q", 1)), code: 40076},
		{name: "$reduce no input", spec: op("$reduce", doc("initialValue", 0, "in", 1)), code: 40077},
		{name: "$reduce no initialValue", spec: op("$reduce", doc("input", bson.A{}, "in", 1)), code: 40078},
		{name: "$reduce no in", spec: op("$reduce", doc("input", bson.A{}, "initialValue", 0)), code: 40079},
		{name: "$isArray", spec: op("$isArray", bson.A{"$a"}), doc: d, want: true},
		{name: "$isArray literal array needs wrapping", spec: op("$isArray", bson.A{bson.A{1}}), want: true},
		{name: "$reverseArray", spec: op("$reverseArray", "$a"), doc: d, want: bson.A{int32(4), int32(3), int32(2), int32(1)}},
		{name: "$reverseArray not array", spec: op("$reverseArray", "x"), code: 34435},
		{name: "$range", spec: op("$range", bson.A{0, 10, 3}), want: bson.A{int32(0), int32(3), int32(6), int32(9)}},
		{name: "$range descending", spec: op("$range", bson.A{3, 0, -1}), want: bson.A{int32(3), int32(2), int32(1)}},
		{name: "$range bad start", spec: op("$range", bson.A{"x", 1}), code: 34443},
		{name: "$range fractional start", spec: op("$range", bson.A{0.5, 1}), code: 34444},
		{name: "$range bad end", spec: op("$range", bson.A{0, "x"}), code: 34445},
		{name: "$range fractional end", spec: op("$range", bson.A{0, 1.5}), code: 34446},
		{name: "$range bad step", spec: op("$range", bson.A{0, 1, "x"}), code: 34447},
		{name: "$range fractional step", spec: op("$range", bson.A{0, 1, 0.5}), code: 34448},
		{name: "$range zero step", spec: op("$range", bson.A{0, 1, 0}), code: 34449},
		{name: "$indexOfArray", spec: op("$indexOfArray", bson.A{"$a", int64(3)}), doc: d, want: int32(2)},
		{name: "$indexOfArray range", spec: op("$indexOfArray", bson.A{"$a", 1, 1, 3}), doc: d, want: int32(-1)},
		{name: "$indexOfArray null", spec: op("$indexOfArray", bson.A{nil, 1}), want: nil},
		{name: "$indexOfArray not array", spec: op("$indexOfArray", bson.A{"x", 1}), code: 40090},
		{name: "$zip", spec: op("$zip", doc("inputs", bson.A{bson.A{1, 2}, bson.A{"a"}})), want: bson.A{bson.A{int32(1), "a"}}},
		{name: "$zip longest with defaults", spec: op("$zip", doc("inputs", bson.A{bson.A{1, 2}, bson.A{"a"}}, "useLongestLength", true, "defaults", bson.A{0, "z"})), want: bson.A{bson.A{int32(1), "a"}, bson.A{int32(2), "z"}}},
		{name: "$zip not object", spec: op("$zip", int32(1)), code: 34460},
		{name: "$zip inputs not array", spec: op("$zip", doc("inputs", int32(1))), code: 34461},
		{name: "$zip defaults not array", spec: op("$zip", doc("inputs", bson.A{}, "defaults", int32(1))), code: 34462},
		{name: "$zip bad longest", spec: op("$zip", doc("inputs", bson.A{}, "useLongestLength", int32(1))), code: 34463},
		{name: "$zip unknown", spec: op("$zip", doc("x", 1)), code: 34464},
		{name: "$zip no inputs", spec: op("$zip", bson.D{}), code: 34465},
		{name: "$zip defaults without longest", spec: op("$zip", doc("inputs", bson.A{bson.A{}}, "defaults", bson.A{1})), code: 34466},
		{name: "$zip defaults length", spec: op("$zip", doc("inputs", bson.A{bson.A{}}, "defaults", bson.A{1, 2}, "useLongestLength", true)), code: 34467},
		{name: "$zip non-array input", spec: op("$zip", doc("inputs", bson.A{"x"})), code: 34468},
		{name: "$sortArray values", spec: op("$sortArray", doc("input", bson.A{3, "a", 1}, "sortBy", -1)), want: bson.A{"a", int32(3), int32(1)}},
		{name: "$sortArray by field", spec: op("$sortArray", doc("input", bson.A{doc("n", 2), doc("n", 1)}, "sortBy", doc("n", 1))), want: bson.A{doc("n", int32(1)), doc("n", int32(2))}},
		{name: "$sortArray not array", spec: op("$sortArray", doc("input", "x", "sortBy", 1)), code: 2942504},
		{name: "$sortArray no sortBy", spec: op("$sortArray", doc("input", bson.A{})), code: 2942503},
	})
}

func TestSets(t *testing.T) {
	runCases(t, []exprCase{
		{name: "$setUnion sorted and distinct", spec: op("$setUnion", bson.A{bson.A{3, 1}, bson.A{1.0, 2}}), want: bson.A{int32(1), int32(2), int32(3)}},
		{name: "$setUnion null", spec: op("$setUnion", bson.A{bson.A{1}, nil}), want: nil},
		{name: "$setUnion non-array", spec: op("$setUnion", bson.A{bson.A{1}, "x"}), code: 17043},
		{name: "$setIntersection", spec: op("$setIntersection", bson.A{bson.A{1, 2, 3}, bson.A{3, 2, 5}}), want: bson.A{int32(2), int32(3)}},
		{name: "$setIntersection non-array", spec: op("$setIntersection", bson.A{bson.A{1}, "x"}), code: 17047},
		{name: "$setDifference", spec: op("$setDifference", bson.A{bson.A{1, 2, 2, 3}, bson.A{2}}), want: bson.A{int32(1), int32(3)}},
		{name: "$setDifference first", spec: op("$setDifference", bson.A{"x", bson.A{}}), code: 17048},
		{name: "$setDifference second", spec: op("$setDifference", bson.A{bson.A{}, "x"}), code: 17049},
		{name: "$setEquals", spec: op("$setEquals", bson.A{bson.A{1, 2, 2}, bson.A{2, 1}}), want: true},
		{name: "$setEquals false", spec: op("$setEquals", bson.A{bson.A{1}, bson.A{2, 1}}), want: false},
		{name: "$setEquals arity", spec: op("$setEquals", bson.A{bson.A{1}}), code: 17045},
		{name: "$setEquals non-array", spec: op("$setEquals", bson.A{bson.A{1}, "x"}), code: 17044},
		{name: "$setIsSubset", spec: op("$setIsSubset", bson.A{bson.A{1, 1}, bson.A{1, 2}}), want: true},
		{name: "$setIsSubset first", spec: op("$setIsSubset", bson.A{"x", bson.A{}}), code: 17046},
		{name: "$setIsSubset second", spec: op("$setIsSubset", bson.A{bson.A{}, "x"}), code: 17042},
		{name: "$anyElementTrue", spec: op("$anyElementTrue", bson.A{bson.A{0, nil, 2}}), want: true},
		{name: "$anyElementTrue not array", spec: op("$anyElementTrue", bson.A{1}), code: 17041},
		{name: "$allElementsTrue", spec: op("$allElementsTrue", bson.A{bson.A{1, 0}}), want: false},
		{name: "$allElementsTrue empty", spec: op("$allElementsTrue", bson.A{bson.A{}}), want: true},
		{name: "$allElementsTrue not array", spec: op("$allElementsTrue", bson.A{1}), code: 17040},
	})
}

func TestObjects(t *testing.T) {
	root := doc("_id", int32(1), "foo", bson.D{}, "$a", int32(5))
	runCases(t, []exprCase{
		{name: "$mergeObjects", spec: op("$mergeObjects", bson.A{doc("a", 1, "b", 1), nil, doc("b", 2, "c", 3)}), want: doc("a", int32(1), "b", int32(2), "c", int32(3))},
		{name: "$mergeObjects non-object", spec: op("$mergeObjects", bson.A{doc("a", 1), int32(1)}), code: 40400},
		{name: "$setField dollar field on ROOT", spec: op("$setField", doc("field", op("$literal", "$a"), "value", 1, "input", "$$ROOT")), doc: doc("_id", int32(1), "foo", bson.D{}),
			want: doc("_id", int32(1), "foo", bson.D{}, "$a", int32(1))},
		{name: "$setField dotted field", spec: op("$setField", doc("field", op("$literal", "a.b"), "value", 1, "input", "$$ROOT")), doc: doc("_id", int32(1)),
			want: doc("_id", int32(1), "a.b", int32(1))},
		{name: "$setField replaces in place", spec: op("$setField", doc("field", "foo", "value", int32(2), "input", "$$ROOT")), doc: root,
			want: doc("_id", int32(1), "foo", int32(2), "$a", int32(5))},
		{name: "$setField on embedded", spec: op("$setField", doc("field", op("$literal", "$a"), "value", 1, "input", "$foo")), doc: root, want: doc("$a", int32(1))},
		{name: "$setField remove", spec: op("$setField", doc("field", "foo", "value", "$$REMOVE", "input", "$$ROOT")), doc: root, want: doc("_id", int32(1), "$a", int32(5))},
		{name: "$setField null input", spec: op("$setField", doc("field", "x", "value", 1, "input", "$nope")), want: nil},
		{name: "$setField input not object", spec: op("$setField", doc("field", "x", "value", 1, "input", int32(1))), code: 4161105},
		{name: "$setField field path", spec: op("$setField", doc("field", "$a", "value", 1, "input", "$$ROOT")), code: 4161108},
		{name: "$setField non-constant", spec: op("$setField", doc("field", op("$concat", bson.A{"a"}), "value", 1, "input", "$$ROOT")), code: 4161106},
		{name: "$setField non-string", spec: op("$setField", doc("field", true, "value", 1, "input", "$$ROOT")), code: 4161107},
		{name: "$setField not object", spec: op("$setField", int32(1)), code: 4161100},
		{name: "$setField unknown", spec: op("$setField", doc("field", "a", "value", 1, "input", "$$ROOT", "x", 1)), code: 4161101},
		{name: "$setField no field", spec: op("$setField", doc("value", 1, "input", "$$ROOT")), code: 4161102},
		{name: "$setField no value", spec: op("$setField", doc("field", "a", "input", "$$ROOT")), code: 4161103},
		{name: "$setField no input", spec: op("$setField", doc("field", "a", "value", 1)), code: 4161109},
		{name: "$unsetField", spec: op("$unsetField", doc("field", op("$literal", "$a"), "input", "$$ROOT")), doc: root, want: doc("_id", int32(1), "foo", bson.D{})},
		{name: "$unsetField rejects value", spec: op("$unsetField", doc("field", "a", "input", "$$ROOT", "value", 1)), code: 4161101},
		{name: "$getField", spec: op("$getField", op("$literal", "$a")), doc: root, want: int32(5)},
		{name: "$getField object form", spec: op("$getField", doc("field", "x.y", "input", op("$literal", doc("x.y", int32(7))))), want: int32(7)},
		{name: "$getField absent", spec: op("$getField", "zzz"), doc: root, want: missing},
		{name: "$getField null input", spec: op("$getField", doc("field", "x", "input", nil)), want: nil},
		{name: "$getField bad input", spec: op("$getField", doc("field", "x", "input", int32(1))), code: 3041705},
		{name: "$getField non-string", spec: op("$getField", doc("field", int32(1))), code: 5654602},
		{name: "$getField unknown", spec: op("$getField", doc("field", "a", "x", 1)), code: 3041701},
		{name: "$getField no field", spec: op("$getField", doc("input", bson.D{})), code: 3041702},
		{name: "$objectToArray", spec: op("$objectToArray", doc("a", 1, "b", "x")), want: bson.A{doc("k", "a", "v", int32(1)), doc("k", "b", "v", "x")}},
		{name: "$objectToArray null", spec: op("$objectToArray", nil), want: nil},
		{name: "$objectToArray not object", spec: op("$objectToArray", int32(1)), code: 40390},
		{name: "$arrayToObject pairs", spec: op("$arrayToObject", bson.A{bson.A{bson.A{"a", 1}, bson.A{"b", 2}, bson.A{"a", 3}}}), want: doc("a", int32(3), "b", int32(2))},
		{name: "$arrayToObject kv", spec: op("$arrayToObject", bson.A{bson.A{doc("k", "a", "v", 1)}}), want: doc("a", int32(1))},
		{name: "$arrayToObject not array", spec: op("$arrayToObject", "x"), code: 40386},
		{name: "$arrayToObject bad element", spec: op("$arrayToObject", bson.A{bson.A{int32(1)}}), code: 40398},
		{name: "$arrayToObject mixed after array", spec: op("$arrayToObject", bson.A{bson.A{bson.A{"a", 1}, doc("k", "b", "v", 1)}}), code: 40396},
		{name: "$arrayToObject mixed after object", spec: op("$arrayToObject", bson.A{bson.A{doc("k", "b", "v", 1), bson.A{"a", 1}}}), code: 40391},
		{name: "$arrayToObject pair size", spec: op("$arrayToObject", bson.A{bson.A{bson.A{"a"}}}), code: 40397},
		{name: "$arrayToObject pair key", spec: op("$arrayToObject", bson.A{bson.A{bson.A{1, 1}}}), code: 40395},
		{name: "$arrayToObject kv size", spec: op("$arrayToObject", bson.A{bson.A{doc("k", "a")}}), code: 40392},
		{name: "$arrayToObject kv names", spec: op("$arrayToObject", bson.A{bson.A{doc("k", "a", "x", 1)}}), code: 40393},
		{name: "$arrayToObject kv key type", spec: op("$arrayToObject", bson.A{bson.A{doc("k", 1, "v", 1)}}), code: 40394},
	})
}

func TestConvert(t *testing.T) {
	oid, _ := bson.ObjectIDFromHex("507f1f77bcf86cd799439011")
	runCases(t, []exprCase{
		{name: "$toString int", spec: op("$toString", int32(5)), want: "5"},
		{name: "$toString double", spec: op("$toString", 0.1), want: "0.1"},
		{name: "$toString bool", spec: op("$toString", true), want: "true"},
		{name: "$toString oid", spec: op("$toString", oid), want: "507f1f77bcf86cd799439011"},
		{name: "$toString date", spec: op("$toString", bson.DateTime(0)), want: "1970-01-01T00:00:00.000Z"},
		{name: "$toString null", spec: op("$toString", nil), want: nil},
		{name: "$toString object", spec: op("$toString", bson.A{bson.D{}}), code: ConversionFailure},
		{name: "$toInt string", spec: op("$toInt", "42"), want: int32(42)},
		{name: "$toInt double truncates", spec: op("$toInt", 2.9), want: int32(2)},
		{name: "$toInt overflow", spec: op("$toInt", int64(1)<<40), code: ConversionFailure},
		{name: "$toInt bad string", spec: op("$toInt", "4.5"), code: ConversionFailure},
		{name: "$toInt NaN", spec: op("$toInt", math.NaN()), code: ConversionFailure},
		{name: "$toInt arity", spec: op("$toInt", bson.A{1, 2}), code: 50723},
		{name: "$toLong date", spec: op("$toLong", bson.DateTime(7)), want: int64(7)},
		{name: "$toDouble string", spec: op("$toDouble", "1.5"), want: 1.5},
		{name: "$toDouble hex", spec: op("$toDouble", "0x1A"), code: ConversionFailure},
		{name: "$toDouble bool", spec: op("$toDouble", false), want: 0.0},
		{name: "$toDecimal double", spec: op("$toDecimal", 2.5), want: dec(t, "2.50000000000000")},
		{name: "$toDecimal string", spec: op("$toDecimal", "1.25"), want: dec(t, "1.25")},
		{name: "$toBool", spec: op("$toBool", int32(0)), want: false},
		{name: "$toBool string", spec: op("$toBool", ""), want: true},
		{name: "$toObjectId", spec: op("$toObjectId", "507f1f77bcf86cd799439011"), want: oid},
		{name: "$toObjectId bad", spec: op("$toObjectId", "xyz"), code: ConversionFailure},
		{name: "$toDate string", spec: op("$toDate", "2018-03-03T04:30:00Z"), want: bson.NewDateTimeFromTime(time.Date(2018, 3, 3, 4, 30, 0, 0, time.UTC))},
		{name: "$toDate long", spec: op("$toDate", int64(1000)), want: bson.DateTime(1000)},
		{name: "$toDate int unsupported", spec: op("$toDate", int32(1)), code: ConversionFailure},
		{name: "$convert onError", spec: op("$convert", doc("input", "x", "to", "int", "onError", "bad")), want: "bad"},
		{name: "$convert onNull", spec: op("$convert", doc("input", "$nope", "to", "int", "onNull", "none")), want: "none"},
		{name: "$convert numeric to", spec: op("$convert", doc("input", "7", "to", int32(16))), want: int32(7)},
		{name: "$convert null to", spec: op("$convert", doc("input", "7", "to", nil)), want: nil},
		{name: "$convert unknown type", spec: op("$convert", doc("input", "7", "to", "integer")), code: mongoerr.BadValue},
		{name: "$convert bad type code", spec: op("$convert", doc("input", "7", "to", int32(99))), code: mongoerr.FailedToParse},
		{name: "$convert missing to", spec: op("$convert", doc("input", "7")), code: mongoerr.FailedToParse},
		{name: "$convert missing input", spec: op("$convert", doc("to", "int")), code: mongoerr.FailedToParse},
		{name: "$convert unknown arg", spec: op("$convert", doc("input", 1, "to", "int", "x", 1)), code: mongoerr.FailedToParse},
		{name: "$convert not object", spec: op("$convert", int32(1)), code: mongoerr.FailedToParse},
	})
}

func TestDates(t *testing.T) {
	// Tuesday 2019-12-31 23:15:30.123 UTC.
	ts := bson.NewDateTimeFromTime(time.Date(2019, 12, 31, 23, 15, 30, 123e6, time.UTC))
	d := doc("d", ts)
	runCases(t, []exprCase{
		{name: "$year", spec: op("$year", "$d"), doc: d, want: int32(2019)},
		{name: "$month", spec: op("$month", "$d"), doc: d, want: int32(12)},
		{name: "$dayOfMonth", spec: op("$dayOfMonth", "$d"), doc: d, want: int32(31)},
		{name: "$hour", spec: op("$hour", "$d"), doc: d, want: int32(23)},
		{name: "$minute", spec: op("$minute", "$d"), doc: d, want: int32(15)},
		{name: "$second", spec: op("$second", "$d"), doc: d, want: int32(30)},
		{name: "$millisecond", spec: op("$millisecond", "$d"), doc: d, want: int32(123)},
		{name: "$dayOfWeek", spec: op("$dayOfWeek", "$d"), doc: d, want: int32(3)},
		{name: "$dayOfYear", spec: op("$dayOfYear", "$d"), doc: d, want: int32(365)},
		{name: "$week", spec: op("$week", "$d"), doc: d, want: int32(52)},
		{name: "$isoWeek", spec: op("$isoWeek", "$d"), doc: d, want: int32(1)},
		{name: "$isoWeekYear", spec: op("$isoWeekYear", "$d"), doc: d, want: int64(2020)},
		{name: "$isoDayOfWeek", spec: op("$isoDayOfWeek", "$d"), doc: d, want: int32(2)},
		{name: "$hour with timezone", spec: op("$hour", doc("date", "$d", "timezone", "+02:00")), doc: d, want: int32(1)},
		{name: "$year with olson zone", spec: op("$year", doc("date", "$d", "timezone", "Europe/Paris")), doc: d, want: int32(2020)},
		{name: "$year array form", spec: op("$year", bson.A{"$d"}), doc: d, want: int32(2019)},
		{name: "$year of timestamp", spec: op("$year", bson.Timestamp{T: 0}), want: int32(1970)},
		{name: "$year of null", spec: op("$year", nil), want: nil},
		{name: "$year of string", spec: op("$year", "x"), code: 16006},
		{name: "$year bad zone", spec: op("$year", doc("date", "$d", "timezone", "Nowhere/City")), doc: d, code: 40485},
		{name: "$year zone type", spec: op("$year", doc("date", "$d", "timezone", int32(1))), doc: d, code: 40533},
		{name: "$year unknown option", spec: op("$year", doc("date", "$d", "x", 1)), code: 40535},
		{name: "$year missing date", spec: op("$year", doc("timezone", "UTC")), code: 40539},
		{name: "$year array arity", spec: op("$year", bson.A{1, 2}), code: 40536},
		{name: "$dateToString default", spec: op("$dateToString", doc("date", "$d")), doc: d, want: "2019-12-31T23:15:30.123Z"},
		{name: "$dateToString format", spec: op("$dateToString", doc("date", "$d", "format", "%Y/%m/%d %H:%M:%S.%L %j %w %u %U %V %G %%")), doc: d, want: "2019/12/31 23:15:30.123 365 3 2 52 01 2020 %"},
		{name: "$dateToString timezone", spec: op("$dateToString", doc("date", "$d", "format", "%H:%M %z %Z", "timezone", "-0130")), doc: d, want: "21:45 -0130 -90"},
		{name: "$dateToString onNull", spec: op("$dateToString", doc("date", "$nope", "onNull", "none")), want: "none"},
		{name: "$dateToString bad format char", spec: op("$dateToString", doc("date", "$d", "format", "%q")), doc: d, code: 18536},
		{name: "$dateToString trailing percent", spec: op("$dateToString", doc("date", "$d", "format", "abc%")), doc: d, code: 18535},
		{name: "$dateToString format type", spec: op("$dateToString", doc("date", "$d", "format", int32(1))), doc: d, code: 18533},
		{name: "$dateToString unknown", spec: op("$dateToString", doc("date", "$d", "x", 1)), code: 18534},
		{name: "$dateToString missing date", spec: op("$dateToString", doc("format", "%Y")), code: 18628},
		{name: "$dateToString not object", spec: op("$dateToString", "$d"), code: 18629},
		{name: "$dateToParts", spec: op("$dateToParts", doc("date", "$d")), doc: d, want: doc("year", int32(2019), "month", int32(12), "day", int32(31), "hour", int32(23), "minute", int32(15), "second", int32(30), "millisecond", int32(123))},
		{name: "$dateFromParts", spec: op("$dateFromParts", doc("year", 2019, "month", 12, "day", 31, "hour", 23, "minute", 15, "second", 30, "millisecond", 123)), want: ts},
		{name: "$dateFromParts carries", spec: op("$dateFromParts", doc("year", 2019, "month", 13)), want: bson.NewDateTimeFromTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))},
		{name: "$dateFromParts iso", spec: op("$dateFromParts", doc("isoWeekYear", 2020, "isoWeek", 1, "isoDayOfWeek", 2, "hour", 23, "minute", 15, "second", 30, "millisecond", 123)), want: ts},
		{name: "$dateFromString", spec: op("$dateFromString", doc("dateString", "2019-12-31T23:15:30.123Z")), want: ts},
		{name: "$dateFromString format and zone", spec: op("$dateFromString", doc("dateString", "01/01/2020 00:15", "format", "%d/%m/%Y %H:%M", "timezone", "+01:00")), want: bson.NewDateTimeFromTime(time.Date(2019, 12, 31, 23, 15, 0, 0, time.UTC))},
		{name: "$dateFromString onError", spec: op("$dateFromString", doc("dateString", "garbage", "onError", "bad")), want: "bad"},
		{name: "$dateFromString onNull", spec: op("$dateFromString", doc("dateString", nil, "onNull", "none")), want: "none"},
		{name: "$dateFromString unparsable", spec: op("$dateFromString", doc("dateString", "garbage")), code: ConversionFailure},
		{name: "$dateFromString missing dateString", spec: op("$dateFromString", bson.D{}), code: 40542},
		{name: "$dateFromString unknown", spec: op("$dateFromString", doc("dateString", "x", "y", 1)), code: 40541},
		{name: "$dateFromString not object", spec: op("$dateFromString", "x"), code: 40540},
		{name: "$dateFromParts no year", spec: op("$dateFromParts", doc("month", 1)), code: 40516},
		{name: "$dateFromParts mixed", spec: op("$dateFromParts", doc("year", 1, "isoWeek", 1)), code: 40489},
		{name: "$dateFromParts bad year", spec: op("$dateFromParts", doc("year", 0)), code: 40523},
		{name: "$dateFromParts non-integer", spec: op("$dateFromParts", doc("year", "x")), code: 40515},
		{name: "$dateFromParts out of range", spec: op("$dateFromParts", doc("year", 2000, "month", 40000)), code: 31034},
	})
}

func TestMisc(t *testing.T) {
	runCases(t, []exprCase{
		{name: "$bsonSize", spec: op("$bsonSize", op("$literal", bson.D{})), want: int32(5)},
		{name: "$bsonSize null", spec: op("$bsonSize", nil), want: nil},
		{name: "$bsonSize non-object", spec: op("$bsonSize", int32(1)), code: 31393},
		{name: "$binarySize", spec: op("$binarySize", "abc"), want: int32(3)},
		{name: "$tsSecond", spec: op("$tsSecond", bson.Timestamp{T: 5, I: 6}), want: int64(5)},
		{name: "$tsIncrement", spec: op("$tsIncrement", bson.Timestamp{T: 5, I: 6}), want: int64(6)},
	})
}

func TestSortKey(t *testing.T) {
	d := doc("a", bson.A{int32(3), int32(1), int32(2)}, "b", bson.A{doc("c", int32(5)), doc("c", int32(4))}, "e", bson.A{})
	tests := []struct {
		path string
		desc bool
		want any
	}{
		{"a", false, int32(1)},
		{"a", true, int32(3)},
		{"b.c", false, int32(4)},
		{"b.c", true, int32(5)},
		{"nope", false, nil},
		{"e", false, bson.Undefined{}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := SortKey(d, tt.path, tt.desc); !same(got, tt.want) {
				t.Fatalf("SortKey(%q, %v) = %#v, want %#v", tt.path, tt.desc, got, tt.want)
			}
		})
	}
}

func TestEvalDoesNotMutate(t *testing.T) {
	root := doc("a", doc("b", int32(1)), "arr", bson.A{int32(3), int32(1)})
	before := render(root)
	vars := map[string]any{"v": int32(1)}
	for _, spec := range []any{
		op("$setField", doc("field", "a", "value", 2, "input", "$$ROOT")),
		op("$sortArray", doc("input", "$arr", "sortBy", 1)),
		op("$reverseArray", "$arr"),
		op("$let", doc("vars", doc("v", 2), "in", "$$v")),
		op("$map", doc("input", "$arr", "in", "$$this")),
	} {
		if _, err := evalSpec(spec, root, vars); err != nil {
			t.Fatal(err)
		}
	}
	if render(root) != before || len(vars) != 1 || vars["v"] != int32(1) {
		t.Fatalf("input changed: %s, vars %v", render(root), vars)
	}
}
