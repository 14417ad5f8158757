package query

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
)

const (
	reX   = `{"$regularExpression": {"pattern": "^x", "options": ""}}`
	reXi  = `{"$regularExpression": {"pattern": "x", "options": "i"}}`
	nan   = `{"$numberDouble": "NaN"}`
	undef = `{"$undefined": true}`
)

func mustCompile(t *testing.T, filter string, opts Options) *Filter {
	t.Helper()
	f, err := Compile(mustDoc(t, filter), opts)
	if err != nil {
		t.Fatalf("Compile(%s): %v", filter, err)
	}
	return f
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name, filter, doc string
		want              bool
	}{
		// Equality and implicit array traversal.
		{"eq int", `{"a": 1}`, `{"a": 1}`, true},
		{"eq int vs double", `{"a": 1}`, `{"a": 1.0}`, true},
		{"eq int vs long", `{"a": 1}`, `{"a": {"$numberLong": "1"}}`, true},
		{"eq int vs decimal", `{"a": 1}`, `{"a": {"$numberDecimal": "1.00"}}`, true},
		{"eq number vs string", `{"a": 1}`, `{"a": "1"}`, false},
		{"eq missing field", `{"a": 1}`, `{"b": 1}`, false},
		{"eq element of array", `{"a": 1}`, `{"a": [3, 1]}`, true},
		{"eq whole array", `{"a": [1, 2]}`, `{"a": [1, 2]}`, true},
		{"eq array order matters", `{"a": [1, 2]}`, `{"a": [2, 1]}`, false},
		{"eq array element of array", `{"a": [1, 2]}`, `{"a": [[1, 2], 3]}`, true},
		{"nested arrays are not flattened", `{"a": 1}`, `{"a": [[1]]}`, false},
		{"empty array equals empty array", `{"a": []}`, `{"a": []}`, true},
		{"empty array element", `{"a": []}`, `{"a": [[], 1]}`, true},
		{"dotted embedded", `{"a.b": 1}`, `{"a": {"b": 1}}`, true},
		{"dotted through array of docs", `{"a.b": 2}`, `{"a": [{"b": 1}, {"b": 2}]}`, true},
		{"dotted to array inside array", `{"a.b": 2}`, `{"a": [{"b": [1, 2]}]}`, true},
		{"dotted skips nested arrays", `{"a.b": 1}`, `{"a": [[{"b": 1}]]}`, false},
		{"dotted through scalar", `{"a.b": 1}`, `{"a": 1}`, false},
		{"numeric index", `{"a.0": 5}`, `{"a": [5, 6]}`, true},
		{"numeric index mismatch", `{"a.1": 5}`, `{"a": [5, 6]}`, false},
		{"numeric index then field", `{"a.0.b": 1}`, `{"a": [{"b": 1}]}`, true},
		{"numeric field name in element", `{"a.0": 1}`, `{"a": [{"0": 1}]}`, true},
		{"numeric index into nested array", `{"a.0.b": 1}`, `{"a": [[{"b": 1}]]}`, true},
		{"numeric index of nested array leaf", `{"a.0.1": 7}`, `{"a": [[6, 7]]}`, true},
		{"numeric key on document", `{"a.0": 1}`, `{"a": {"0": 1}}`, true},
		{"leading zero is not an index", `{"a.01": 5}`, `{"a": [4, 5]}`, false},
		{"deep arrays", `{"a.b.c": 1}`, `{"a": [{"b": [{"c": 2}, {"c": 1}]}]}`, true},
		{"embedded doc equality", `{"a": {"b": 1}}`, `{"a": {"b": 1}}`, true},
		{"embedded doc extra field", `{"a": {"b": 1}}`, `{"a": {"b": 1, "c": 2}}`, false},
		{"embedded doc field order", `{"a": {"b": 1, "c": 2}}`, `{"a": {"c": 2, "b": 1}}`, false},
		{"embedded doc in array", `{"a": {"b": 1}}`, `{"a": [{"b": 1}]}`, true},
		{"embedded doc numbers across types", `{"a": {"b": 1}}`, `{"a": {"b": 1.0}}`, true},
		{"dbref is equality", `{"a": {"$ref": "c", "$id": 1}}`, `{"a": {"$ref": "c", "$id": 1}}`, true},
		{"symbol equals string", `{"a": "x"}`, `{"a": {"$symbol": "x"}}`, true},
		{"minKey equality", `{"a": {"$minKey": 1}}`, `{"a": {"$minKey": 1}}`, true},
		{"empty filter", `{}`, `{"a": 1}`, true},

		// Null and missing.
		{"null matches missing", `{"a": null}`, `{}`, true},
		{"null matches null", `{"a": null}`, `{"a": null}`, true},
		{"null does not match zero", `{"a": null}`, `{"a": 0}`, false},
		{"null matches null element", `{"a": null}`, `{"a": [1, null]}`, true},
		{"null vs array without null", `{"a": null}`, `{"a": [1, 2]}`, false},
		{"null matches undefined", `{"a": null}`, `{"a": ` + undef + `}`, true},
		{"null dotted missing in element", `{"a.b": null}`, `{"a": [{"b": 1}, {"c": 1}]}`, true},
		{"null dotted scalar elements", `{"a.b": null}`, `{"a": [1, 2]}`, false},
		{"null dotted through scalar", `{"a.b": null}`, `{"a": 5}`, true},
		{"null dotted empty array", `{"a.b": null}`, `{"a": []}`, false},
		{"ne null missing", `{"a": {"$ne": null}}`, `{}`, false},
		{"ne null present", `{"a": {"$ne": null}}`, `{"a": 1}`, true},
		{"gte null missing", `{"a": {"$gte": null}}`, `{}`, true},
		{"lte null null", `{"a": {"$lte": null}}`, `{"a": null}`, true},
		{"gt null null", `{"a": {"$gt": null}}`, `{"a": null}`, false},
		{"lt null missing", `{"a": {"$lt": null}}`, `{}`, false},
		{"eq null", `{"a": {"$eq": null}}`, `{}`, true},
		{"type null", `{"_id": {"$type": "null"}}`, `{"_id": null}`, true},
		{"type null missing", `{"a": {"$type": "null"}}`, `{}`, false},

		// Comparisons with type bracketing.
		{"gt", `{"a": {"$gt": 5}}`, `{"a": 6}`, true},
		{"gt equal", `{"a": {"$gt": 5}}`, `{"a": 5}`, false},
		{"gte equal", `{"a": {"$gte": 5}}`, `{"a": 5.0}`, true},
		{"lt", `{"a": {"$lt": 5}}`, `{"a": 4}`, true},
		{"lte", `{"a": {"$lte": 5}}`, `{"a": 6}`, false},
		{"gt bracketed against string", `{"a": {"$gt": 5}}`, `{"a": "6"}`, false},
		{"lt bracketed against null", `{"a": {"$lt": 5}}`, `{"a": null}`, false},
		{"lt bracketed against missing", `{"a": {"$lt": 5}}`, `{}`, false},
		{"gt any element", `{"a": {"$gt": 5}}`, `{"a": [1, 10]}`, true},
		{"range on array elements independently", `{"a": {"$gt": 5, "$lt": 8}}`, `{"a": [1, 10]}`, true},
		{"range fails", `{"a": {"$gt": 5, "$lt": 8}}`, `{"a": [1, 2]}`, false},
		{"strings", `{"a": {"$lt": "b"}}`, `{"a": "a"}`, true},
		{"strings binary order", `{"a": {"$lt": "a"}}`, `{"a": "B"}`, true},
		{"decimal", `{"a": {"$gte": {"$numberDecimal": "1.5"}}}`, `{"a": 2}`, true},
		{"long vs double", `{"a": {"$gt": 9007199254740992.0}}`, `{"a": {"$numberLong": "9007199254740993"}}`, true},
		{"dates", `{"a": {"$gt": {"$date": "2020-01-01T00:00:00Z"}}}`, `{"a": {"$date": "2021-01-01T00:00:00Z"}}`, true},
		{"date vs number bracketed", `{"a": {"$gt": 0}}`, `{"a": {"$date": "2021-01-01T00:00:00Z"}}`, false},
		{"documents", `{"a": {"$gt": {"b": 1}}}`, `{"a": {"b": 2}}`, true},
		{"arrays compare whole array", `{"a": {"$gt": [1]}}`, `{"a": [2]}`, true},
		{"bools", `{"a": {"$gt": false}}`, `{"a": true}`, true},
		{"objectids", `{"a": {"$lt": {"$oid": "000000000000000000000002"}}}`, `{"a": {"$oid": "000000000000000000000001"}}`, true},
		{"maxKey bounds missing", `{"a": {"$lt": {"$maxKey": 1}}}`, `{}`, true},
		{"maxKey bounds strings", `{"a": {"$lte": {"$maxKey": 1}}}`, `{"a": "x"}`, true},
		{"minKey bounds", `{"a": {"$gt": {"$minKey": 1}}}`, `{"a": "x"}`, true},
		{"minKey not above", `{"a": {"$lt": {"$minKey": 1}}}`, `{"a": "x"}`, false},
		{"nan equals nan", `{"a": ` + nan + `}`, `{"a": ` + nan + `}`, true},
		{"nan lte nan", `{"a": {"$lte": ` + nan + `}}`, `{"a": ` + nan + `}`, true},
		{"nan lt nan", `{"a": {"$lt": ` + nan + `}}`, `{"a": ` + nan + `}`, false},
		{"gt nan", `{"a": {"$gt": ` + nan + `}}`, `{"a": 5}`, false},
		{"nan lt number", `{"a": {"$lt": 5}}`, `{"a": ` + nan + `}`, false},
		{"nan gte number", `{"a": {"$gte": -1e308}}`, `{"a": ` + nan + `}`, false},

		// $ne / $in / $nin.
		{"ne rejects array containing", `{"a": {"$ne": 1}}`, `{"a": [1, 2]}`, false},
		{"ne array without", `{"a": {"$ne": 1}}`, `{"a": [2, 3]}`, true},
		{"ne missing", `{"a": {"$ne": 1}}`, `{}`, true},
		{"ne other type", `{"a": {"$ne": "x"}}`, `{"a": 1}`, true},
		{"ne whole array", `{"a": {"$ne": [1, 2]}}`, `{"a": [1, 2]}`, false},
		{"in", `{"a": {"$in": [1, 2]}}`, `{"a": 2}`, true},
		{"in element", `{"a": {"$in": [1, 2]}}`, `{"a": [3, 2]}`, true},
		{"in none", `{"a": {"$in": [1, 2]}}`, `{"a": [3]}`, false},
		{"in empty", `{"a": {"$in": []}}`, `{"a": 1}`, false},
		{"in null matches missing", `{"a": {"$in": [null]}}`, `{}`, true},
		{"in null matches undefined", `{"a": {"$in": [null, 5]}}`, `{"a": ` + undef + `}`, true},
		{"in regex", `{"a": {"$in": [` + reX + `]}}`, `{"a": "xyz"}`, true},
		{"in regex or value", `{"a": {"$in": [` + reX + `, 5]}}`, `{"a": 5}`, true},
		{"in regex no match", `{"a": {"$in": [` + reX + `]}}`, `{"a": "yx"}`, false},
		{"in array value", `{"a": {"$in": [[1, 2]]}}`, `{"a": [1, 2]}`, true},
		{"in numbers across types", `{"a": {"$in": [{"$numberLong": "2"}]}}`, `{"a": 2.0}`, true},
		{"in document", `{"a": {"$in": [{"b": 1}]}}`, `{"a": [{"b": 1}]}`, true},
		{"nin", `{"a": {"$nin": [1, 2]}}`, `{"a": 3}`, true},
		{"nin array containing", `{"a": {"$nin": [1, 2]}}`, `{"a": [3, 1]}`, false},
		{"nin missing", `{"a": {"$nin": [1, 2]}}`, `{}`, true},
		{"nin null missing", `{"a": {"$nin": [null]}}`, `{}`, false},
		{"nin spec", `{"x": {"$nin": [24, 34]}}`, `{"_id": 2, "x": 22}`, true},

		// $exists.
		{"exists null", `{"a": {"$exists": true}}`, `{"a": null}`, true},
		{"exists missing", `{"a": {"$exists": true}}`, `{}`, false},
		{"not exists missing", `{"a": {"$exists": false}}`, `{}`, true},
		{"not exists present", `{"a": {"$exists": false}}`, `{"a": 1}`, false},
		{"exists zero means false", `{"a": {"$exists": 0}}`, `{}`, true},
		{"exists string means true", `{"a": {"$exists": "no"}}`, `{"a": 1}`, true},
		{"exists dotted array", `{"a.b": {"$exists": true}}`, `{"a": [{"b": 1}]}`, true},
		{"exists dotted scalar array", `{"a.b": {"$exists": true}}`, `{"a": [1]}`, false},
		{"exists index", `{"a.1": {"$exists": true}}`, `{"a": [5, 6]}`, true},
		{"exists index out of range", `{"a.2": {"$exists": true}}`, `{"a": [5, 6]}`, false},
		{"exists empty array", `{"a": {"$exists": true}}`, `{"a": []}`, true},

		// $type.
		{"type alias", `{"a": {"$type": "string"}}`, `{"a": "x"}`, true},
		{"type number code", `{"a": {"$type": 2}}`, `{"a": "x"}`, true},
		{"type double code", `{"a": {"$type": 2.0}}`, `{"a": "x"}`, true},
		{"type number alias", `{"a": {"$type": "number"}}`, `{"a": {"$numberLong": "1"}}`, true},
		{"type number alias decimal", `{"a": {"$type": "number"}}`, `{"a": {"$numberDecimal": "1"}}`, true},
		{"type array", `{"a": {"$type": "array"}}`, `{"a": []}`, true},
		{"type array scalar", `{"a": {"$type": "array"}}`, `{"a": 1}`, false},
		{"type element", `{"a": {"$type": "string"}}`, `{"a": [1, "x"]}`, true},
		{"type list", `{"a": {"$type": ["string", "int"]}}`, `{"a": 1}`, true},
		{"type int vs double", `{"a": {"$type": "double"}}`, `{"a": 1}`, false},
		{"type long", `{"a": {"$type": "long"}}`, `{"a": {"$numberLong": "1"}}`, true},
		{"type object", `{"a": {"$type": "object"}}`, `{"a": {"b": 1}}`, true},
		{"type minKey", `{"a": {"$type": -1}}`, `{"a": {"$minKey": 1}}`, true},
		{"type maxKey", `{"a": {"$type": "maxKey"}}`, `{"a": {"$maxKey": 1}}`, true},
		{"type regex", `{"a": {"$type": "regex"}}`, `{"a": ` + reX + `}`, true},
		{"type bool", `{"a": {"$type": 8}}`, `{"a": false}`, true},
		{"type date", `{"a": {"$type": "date"}}`, `{"a": {"$date": "2021-01-01T00:00:00Z"}}`, true},

		// $all.
		{"all", `{"a": {"$all": [1, 2]}}`, `{"a": [2, 3, 1]}`, true},
		{"all missing one", `{"a": {"$all": [1, 2]}}`, `{"a": [1, 3]}`, false},
		{"all scalar", `{"a": {"$all": [1]}}`, `{"a": 1}`, true},
		{"all empty", `{"a": {"$all": []}}`, `{"a": []}`, false},
		{"all nested array", `{"a": {"$all": [[1, 2]]}}`, `{"a": [1, 2]}`, true},
		{"all nested array element", `{"a": {"$all": [[1, 2]]}}`, `{"a": [[1, 2], 3]}`, true},
		{"all regex", `{"a": {"$all": [` + reX + `]}}`, `{"a": ["y", "xa"]}`, true},
		{"all elemMatch", `{"a": {"$all": [{"$elemMatch": {"b": 1}}, {"$elemMatch": {"c": 2}}]}}`, `{"a": [{"b": 1}, {"c": 2}]}`, true},
		{"all elemMatch missing", `{"a": {"$all": [{"$elemMatch": {"b": 1}}, {"$elemMatch": {"c": 3}}]}}`, `{"a": [{"b": 1}, {"c": 2}]}`, false},
		{"all documents", `{"a": {"$all": [{"b": 1}]}}`, `{"a": [{"b": 1}, {"b": 2}]}`, true},

		// $elemMatch.
		{"elemMatch same element", `{"a": {"$elemMatch": {"b": 1, "c": 2}}}`, `{"a": [{"b": 1, "c": 2}]}`, true},
		{"elemMatch different elements", `{"a": {"$elemMatch": {"b": 1, "c": 2}}}`, `{"a": [{"b": 1}, {"c": 2}]}`, false},
		{"dotted without elemMatch", `{"a.b": 1, "a.c": 2}`, `{"a": [{"b": 1}, {"c": 2}]}`, true},
		{"elemMatch needs array", `{"a": {"$elemMatch": {"b": 1}}}`, `{"a": {"b": 1}}`, false},
		{"elemMatch value range", `{"a": {"$elemMatch": {"$gt": 5, "$lt": 8}}}`, `{"a": [1, 7]}`, true},
		{"elemMatch value range fails", `{"a": {"$elemMatch": {"$gt": 5, "$lt": 8}}}`, `{"a": [1, 10]}`, false},
		{"elemMatch value no nested traversal", `{"a": {"$elemMatch": {"$gt": 1}}}`, `{"a": [[2]]}`, false},
		{"elemMatch nested", `{"a": {"$elemMatch": {"$elemMatch": {"$gt": 1}}}}`, `{"a": [[2]]}`, true},
		{"elemMatch array element as doc", `{"a": {"$elemMatch": {"0": 1}}}`, `{"a": [[1, 2]]}`, true},
		{"elemMatch dotted path", `{"a.b": {"$elemMatch": {"$eq": 1}}}`, `{"a": [{"b": [1]}]}`, true},
		{"elemMatch ne", `{"a": {"$elemMatch": {"$ne": 1}}}`, `{"a": [1, 2]}`, true},
		{"elemMatch ne only", `{"a": {"$elemMatch": {"$ne": 1}}}`, `{"a": [1]}`, false},
		{"elemMatch with or", `{"a": {"$elemMatch": {"$or": [{"b": 1}, {"c": 1}]}}}`, `{"a": [{"c": 1}]}`, true},
		{"elemMatch not", `{"a": {"$elemMatch": {"$not": {"$gt": 5}}}}`, `{"a": [10, 3]}`, true},
		{"elemMatch not fails", `{"a": {"$elemMatch": {"$not": {"$gt": 5}}}}`, `{"a": [10]}`, false},
		{"elemMatch in elemMatch", `{"a": {"$elemMatch": {"b": {"$elemMatch": {"c": 1}}}}}`, `{"a": [{"b": [{"c": 1}]}]}`, true},
		{"elemMatch empty query", `{"a": {"$elemMatch": {}}}`, `{"a": [{"b": 1}]}`, true},
		{"elemMatch empty query scalars", `{"a": {"$elemMatch": {}}}`, `{"a": [1]}`, false},
		{"elemMatch regex", `{"a": {"$elemMatch": {"$regex": "^x"}}}`, `{"a": ["y", "xz"]}`, true},
		{"elemMatch in", `{"a": {"$elemMatch": {"$in": [3, 4]}}}`, `{"a": [1, 4]}`, true},
		{"elemMatch exists", `{"a": {"$elemMatch": {"$exists": true}}}`, `{"a": [1]}`, true},
		{"elemMatch type", `{"a": {"$elemMatch": {"$type": "string"}}}`, `{"a": [1, "s"]}`, true},
		{"elemMatch all", `{"a": {"$elemMatch": {"$all": [1]}}}`, `{"a": [1]}`, true},
		{"elemMatch all empty", `{"a": {"$elemMatch": {"$all": []}}}`, `{"a": [1]}`, false},
		{"elemMatch dbref fields", `{"a": {"$elemMatch": {"$ref": "c", "$id": 1}}}`, `{"a": [{"$ref": "c", "$id": 1}]}`, true},

		// $size.
		{"size", `{"a": {"$size": 2}}`, `{"a": [1, 2]}`, true},
		{"size mismatch", `{"a": {"$size": 2}}`, `{"a": [1]}`, false},
		{"size scalar", `{"a": {"$size": 1}}`, `{"a": 2}`, false},
		{"size zero", `{"a": {"$size": 0}}`, `{"a": []}`, true},
		{"size counts outer array", `{"a": {"$size": 1}}`, `{"a": [[1, 2]]}`, true},
		{"size double", `{"a": {"$size": 2.0}}`, `{"a": [1, 2]}`, true},
		{"size dotted", `{"a.b": {"$size": 2}}`, `{"a": [{"b": [1, 2]}]}`, true},
		{"size missing", `{"a": {"$size": 0}}`, `{}`, false},

		// $mod.
		{"mod", `{"a": {"$mod": [4, 0]}}`, `{"a": 8}`, true},
		{"mod truncates double", `{"a": {"$mod": [4, 0]}}`, `{"a": 8.9}`, true},
		{"mod negative", `{"a": {"$mod": [4, -3]}}`, `{"a": -7}`, true},
		{"mod negative remainder sign", `{"a": {"$mod": [4, 1]}}`, `{"a": -7}`, false},
		{"mod string", `{"a": {"$mod": [4, 0]}}`, `{"a": "8"}`, false},
		{"mod nan", `{"a": {"$mod": [4, 0]}}`, `{"a": ` + nan + `}`, false},
		{"mod element", `{"a": {"$mod": [4, 0]}}`, `{"a": [1, 8]}`, true},
		{"mod truncated divisor", `{"a": {"$mod": [4.5, 0]}}`, `{"a": 8}`, true},
		{"mod decimal", `{"a": {"$mod": [3, 1]}}`, `{"a": {"$numberDecimal": "7.9"}}`, true},
		{"mod long", `{"a": {"$mod": [{"$numberLong": "10"}, 3]}}`, `{"a": {"$numberLong": "13"}}`, true},

		// Regular expressions.
		{"regex operator", `{"a": {"$regex": "^x"}}`, `{"a": "xy"}`, true},
		{"regex operator no match", `{"a": {"$regex": "^x"}}`, `{"a": "yx"}`, false},
		{"regex options", `{"a": {"$regex": "^X", "$options": "i"}}`, `{"a": "xy"}`, true},
		{"regex options first", `{"a": {"$options": "i", "$regex": "^X"}}`, `{"a": "xy"}`, true},
		{"regex dotall", `{"a": {"$regex": "a.c", "$options": "s"}}`, `{"a": "a\nc"}`, true},
		{"regex multiline", `{"a": {"$regex": "^c", "$options": "m"}}`, `{"a": "a\nc"}`, true},
		{"regex extended", `{"a": {"$regex": "a b # comment", "$options": "x"}}`, `{"a": "ab"}`, true},
		{"regex operator with regex value", `{"a": {"$regex": ` + reXi + `}}`, `{"a": "X"}`, true},
		{"regex literal", `{"a": ` + reX + `}`, `{"a": "xy"}`, true},
		{"regex literal element", `{"a": ` + reX + `}`, `{"a": ["a", "xb"]}`, true},
		{"regex number", `{"a": ` + reX + `}`, `{"a": 5}`, false},
		{"regex missing", `{"a": ` + reX + `}`, `{}`, false},
		{"regex symbol", `{"a": ` + reX + `}`, `{"a": {"$symbol": "xy"}}`, true},
		{"regex matches stored regex", `{"a": ` + reX + `}`, `{"a": ` + reX + `}`, true},
		{"regex stored regex other flags", `{"a": ` + reX + `}`, `{"a": {"$regularExpression": {"pattern": "^x", "options": "i"}}}`, false},
		{"eq regex is equality", `{"a": {"$eq": ` + reX + `}}`, `{"a": "x"}`, false},
		{"eq regex stored", `{"a": {"$eq": ` + reX + `}}`, `{"a": ` + reX + `}`, true},
		{"not regex", `{"a": {"$not": ` + reX + `}}`, `{"a": "y"}`, true},
		{"not regex matching", `{"a": {"$not": ` + reX + `}}`, `{"a": "x"}`, false},
		{"not regex missing", `{"a": {"$not": ` + reX + `}}`, `{}`, true},
		{"regex unicode", `{"a": {"$regex": "^é", "$options": "i"}}`, `{"a": "Éa"}`, true},
		{"spec case sensitive", `{"x": "PING"}`, `{"x": "ping"}`, false},

		// $not.
		{"not gt", `{"a": {"$not": {"$gt": 5}}}`, `{"a": 3}`, true},
		{"not gt missing", `{"a": {"$not": {"$gt": 5}}}`, `{}`, true},
		{"not gt array", `{"a": {"$not": {"$gt": 5}}}`, `{"a": [3, 10]}`, false},
		{"not gt other type", `{"a": {"$not": {"$gt": 5}}}`, `{"a": "x"}`, true},
		{"not of two", `{"a": {"$not": {"$gt": 5, "$lt": 10}}}`, `{"a": 11}`, true},
		{"not of two inside", `{"a": {"$not": {"$gt": 5, "$lt": 10}}}`, `{"a": 7}`, false},

		// Logical operators.
		{"and", `{"$and": [{"a": 1}, {"b": 2}]}`, `{"a": 1, "b": 2}`, true},
		{"and fails", `{"$and": [{"a": 1}, {"b": 2}]}`, `{"a": 1}`, false},
		{"or", `{"$or": [{"a": 1}, {"b": 2}]}`, `{"b": 2}`, true},
		{"or fails", `{"$or": [{"a": 1}, {"b": 2}]}`, `{"c": 1}`, false},
		{"nor", `{"$nor": [{"a": 1}, {"b": 2}]}`, `{"c": 1}`, true},
		{"nor fails", `{"$nor": [{"a": 1}, {"b": 2}]}`, `{"a": 1}`, false},
		{"nested logical", `{"$or": [{"$and": [{"a": 1}, {"b": 1}]}, {"c": 1}]}`, `{"a": 1, "b": 1}`, true},
		{"and range spec", `{"$and": [{"_id": {"$gt": 1}}, {"_id": {"$lte": 3}}]}`, `{"_id": 2}`, true},
		{"and range spec out", `{"$and": [{"_id": {"$gt": 1}}, {"_id": {"$lte": 3}}]}`, `{"_id": 4}`, false},
		{"implicit and", `{"a": 1, "b": 2}`, `{"a": 1, "b": 3}`, false},
		{"comment ignored", `{"$comment": "x", "a": 1}`, `{"a": 1}`, true},
		{"comment alone", `{"$comment": "x"}`, `{"a": 1}`, true},
		{"alwaysTrue", `{"$alwaysTrue": 1}`, `{}`, true},
		{"alwaysFalse", `{"$alwaysFalse": 1}`, `{}`, false},
		{"sampleRate one", `{"$sampleRate": 1}`, `{}`, true},
		{"sampleRate zero", `{"$sampleRate": 0}`, `{}`, false},

		// Bit tests.
		{"bitsAllSet positions", `{"a": {"$bitsAllSet": [0, 2]}}`, `{"a": 5}`, true},
		{"bitsAllSet positions fail", `{"a": {"$bitsAllSet": [0, 2]}}`, `{"a": 4}`, false},
		{"bitsAnySet mask", `{"a": {"$bitsAnySet": 3}}`, `{"a": 2}`, true},
		{"bitsAllClear", `{"a": {"$bitsAllClear": [1]}}`, `{"a": 5}`, true},
		{"bitsAnyClear", `{"a": {"$bitsAnyClear": [0, 1]}}`, `{"a": 3}`, false},
		{"bits binary", `{"a": {"$bitsAllSet": [1]}}`, `{"a": {"$binary": {"base64": "Ag==", "subType": "00"}}}`, true},
		{"bits binary zero extended", `{"a": {"$bitsAllClear": [20]}}`, `{"a": {"$binary": {"base64": "Ag==", "subType": "00"}}}`, true},
		{"bits sign bit", `{"a": {"$bitsAllSet": [63]}}`, `{"a": -1}`, true},
		{"bits past 63 sign extend", `{"a": {"$bitsAllSet": [100]}}`, `{"a": -1}`, true},
		{"bits fraction", `{"a": {"$bitsAllSet": [0]}}`, `{"a": 1.5}`, false},
		{"bits integral double", `{"a": {"$bitsAllSet": [0]}}`, `{"a": 1.0}`, true},
		{"bits string", `{"a": {"$bitsAllSet": [0]}}`, `{"a": "1"}`, false},
		{"bits binary mask", `{"a": {"$bitsAnySet": {"$binary": {"base64": "Aw==", "subType": "00"}}}}`, `{"a": 2}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.filter, Options{})
			doc := mustDoc(t, tt.doc)
			before := fmt.Sprintf("%#v", doc)
			got, err := f.Match(doc)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if got != tt.want {
				t.Errorf("Match(%s, %s) = %v, want %v", tt.filter, tt.doc, got, tt.want)
			}
			if fmt.Sprintf("%#v", doc) != before {
				t.Errorf("Match changed the document")
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, filter string
		code         int32
	}{
		{"unknown top level operator", `{"$foo": 1}`, mongoerr.BadValue},
		{"top level not", `{"$not": {"a": 1}}`, mongoerr.BadValue},
		{"unknown operator", `{"a": {"$foo": 1}}`, mongoerr.BadValue},
		{"field after operator", `{"a": {"$gt": 1, "b": 1}}`, mongoerr.BadValue},
		{"in needs array", `{"a": {"$in": 1}}`, mongoerr.BadValue},
		{"nin needs array", `{"a": {"$nin": {"b": 1}}}`, mongoerr.BadValue},
		{"in operator inside", `{"a": {"$in": [{"$gt": 1}]}}`, mongoerr.BadValue},
		{"in undefined", `{"a": {"$in": [` + undef + `]}}`, mongoerr.BadValue},
		{"and empty", `{"$and": []}`, mongoerr.BadValue},
		{"or not array", `{"$or": {}}`, mongoerr.BadValue},
		{"nor entry not object", `{"$nor": [1]}`, mongoerr.BadValue},
		{"regex bad option", `{"a": {"$regex": "x", "$options": "g"}}`, 51108},
		{"regex literal bad option", `{"a": {"$regularExpression": {"pattern": "x", "options": "q"}}}`, 51108},
		{"regex invalid", `{"a": {"$regex": "("}}`, 51091},
		{"regex not string", `{"a": {"$regex": 5}}`, mongoerr.BadValue},
		{"options not string", `{"a": {"$regex": "x", "$options": 1}}`, mongoerr.BadValue},
		{"options without regex", `{"a": {"$options": "i"}}`, mongoerr.BadValue},
		{"options twice regex first", `{"a": {"$regex": ` + reXi + `, "$options": "m"}}`, 51075},
		{"options twice options first", `{"a": {"$options": "m", "$regex": ` + reXi + `}}`, 51074},
		{"regex null byte", `{"a": {"$regex": "a\u0000b"}}`, mongoerr.BadValue},
		{"mod not array", `{"a": {"$mod": 4}}`, mongoerr.BadValue},
		{"mod one element", `{"a": {"$mod": [4]}}`, mongoerr.BadValue},
		{"mod three elements", `{"a": {"$mod": [4, 1, 2]}}`, mongoerr.BadValue},
		{"mod zero divisor", `{"a": {"$mod": [0, 1]}}`, mongoerr.BadValue},
		{"mod divisor not number", `{"a": {"$mod": ["a", 1]}}`, mongoerr.BadValue},
		{"mod remainder not number", `{"a": {"$mod": [1, "a"]}}`, mongoerr.BadValue},
		{"mod nan divisor", `{"a": {"$mod": [` + nan + `, 1]}}`, mongoerr.BadValue},
		{"mod huge divisor", `{"a": {"$mod": [1e300, 1]}}`, mongoerr.BadValue},
		{"size negative", `{"a": {"$size": -1}}`, mongoerr.BadValue},
		{"size string", `{"a": {"$size": "1"}}`, mongoerr.BadValue},
		{"size fraction", `{"a": {"$size": 1.5}}`, mongoerr.BadValue},
		{"type unknown alias", `{"a": {"$type": "foo"}}`, mongoerr.BadValue},
		{"type missing", `{"a": {"$type": "missing"}}`, mongoerr.BadValue},
		{"type zero", `{"a": {"$type": 0}}`, mongoerr.BadValue},
		{"type bad code", `{"a": {"$type": 100}}`, mongoerr.BadValue},
		{"type fraction", `{"a": {"$type": 2.5}}`, mongoerr.BadValue},
		{"type bool", `{"a": {"$type": true}}`, mongoerr.TypeMismatch},
		{"type empty", `{"a": {"$type": []}}`, mongoerr.FailedToParse},
		{"elemMatch not object", `{"a": {"$elemMatch": 1}}`, mongoerr.BadValue},
		{"elemMatch bad inner", `{"a": {"$elemMatch": {"$gt": 1, "b": 2}}}`, mongoerr.BadValue},
		{"all not array", `{"a": {"$all": 1}}`, mongoerr.BadValue},
		{"all inconsistent elemMatch", `{"a": {"$all": [{"$elemMatch": {"b": 1}}, 1]}}`, mongoerr.BadValue},
		{"all operator", `{"a": {"$all": [{"$gt": 1}]}}`, mongoerr.BadValue},
		{"not scalar", `{"a": {"$not": 1}}`, mongoerr.BadValue},
		{"not empty", `{"a": {"$not": {}}}`, mongoerr.BadValue},
		{"not field", `{"a": {"$not": {"b": 1}}}`, mongoerr.BadValue},
		{"ne regex", `{"a": {"$ne": ` + reX + `}}`, mongoerr.BadValue},
		{"gt regex", `{"a": {"$gt": ` + reX + `}}`, mongoerr.BadValue},
		{"eq undefined", `{"a": ` + undef + `}`, mongoerr.BadValue},
		{"eq operator undefined", `{"a": {"$eq": ` + undef + `}}`, mongoerr.BadValue},
		{"all undefined", `{"a": {"$all": [` + undef + `]}}`, mongoerr.BadValue},
		{"where", `{"$where": "this.a == 1"}`, 6108304},
		{"where on field", `{"a": {"$where": 1}}`, mongoerr.BadValue},
		{"where in elemMatch", `{"a": {"$elemMatch": {"$where": "1"}}}`, mongoerr.BadValue},
		{"text", `{"$text": {"$search": "x"}}`, mongoerr.NotImplemented},
		{"text in elemMatch", `{"a": {"$elemMatch": {"$text": {"$search": "x"}}}}`, mongoerr.BadValue},
		{"near", `{"a": {"$near": [0, 0]}}`, mongoerr.NotImplemented},
		{"nearSphere", `{"a": {"$nearSphere": [0, 0], "$maxDistance": 1}}`, mongoerr.NotImplemented},
		{"geoWithin", `{"a": {"$geoWithin": {"$center": [[0, 0], 1]}}}`, mongoerr.NotImplemented},
		{"geoIntersects", `{"a": {"$geoIntersects": {}}}`, mongoerr.NotImplemented},
		{"expr without compiler", `{"$expr": {"$eq": [1, 1]}}`, mongoerr.NotImplemented},
		{"jsonSchema not object", `{"$jsonSchema": 1}`, mongoerr.TypeMismatch},
		{"alwaysTrue not one", `{"$alwaysTrue": 2}`, mongoerr.FailedToParse},
		{"sampleRate out of range", `{"$sampleRate": 2}`, mongoerr.BadValue},
		{"sampleRate not number", `{"$sampleRate": "x"}`, mongoerr.BadValue},
		{"bits bad argument", `{"a": {"$bitsAllSet": "x"}}`, mongoerr.BadValue},
		{"bits negative mask", `{"a": {"$bitsAllSet": -1}}`, mongoerr.FailedToParse},
		{"bits negative position", `{"a": {"$bitsAllSet": [-1]}}`, mongoerr.BadValue},
		{"bits fractional mask", `{"a": {"$bitsAnySet": 1.5}}`, mongoerr.FailedToParse},
		{"error inside or", `{"$or": [{"a": {"$foo": 1}}]}`, mongoerr.BadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(mustDoc(t, tt.filter), Options{})
			assertCode(t, err, tt.code)
		})
	}
}

func TestExpr(t *testing.T) {
	opts := Options{Expr: fakeCompile, Vars: map[string]any{"id": int32(1)}}
	tests := []struct {
		name, filter, doc string
		want              bool
	}{
		{"let variable match", `{"$expr": {"$eq": ["$_id", "$$id"]}}`, `{"_id": 1}`, true},
		{"let variable no match", `{"$expr": {"$eq": ["$_id", "$$id"]}}`, `{"_id": 2}`, false},
		{"truthy literal", `{"$expr": {"$literal": "x"}}`, `{}`, true},
		{"falsy zero", `{"$expr": {"$literal": 0}}`, `{}`, false},
		{"missing field is falsy", `{"$expr": "$nope"}`, `{}`, false},
		{"with other clauses", `{"a": 1, "$expr": {"$eq": ["$b", 2]}}`, `{"a": 1, "b": 2}`, true},
		{"inside or", `{"$or": [{"a": 5}, {"$expr": {"$eq": ["$_id", "$$id"]}}]}`, `{"_id": 1}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.filter, opts)
			got, err := f.Match(mustDoc(t, tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("evaluation error propagates", func(t *testing.T) {
		f := mustCompile(t, `{"$expr": {"$fail": 1}}`, opts)
		if _, err := f.Match(bson.D{}); !errors.Is(err, errFake) {
			t.Errorf("err = %v, want errFake", err)
		}
		if _, _, err := f.MatchElem(bson.D{}); !errors.Is(err, errFake) {
			t.Errorf("MatchElem err = %v, want errFake", err)
		}
	})
	t.Run("compile error propagates", func(t *testing.T) {
		_, err := Compile(mustDoc(t, `{"$expr": {"$bogus": 1}}`), opts)
		assertCode(t, err, mongoerr.InvalidPipelineOperator)
	})
	t.Run("not allowed below elemMatch", func(t *testing.T) {
		_, err := Compile(mustDoc(t, `{"a": {"$elemMatch": {"$expr": {"$literal": 1}}}}`), opts)
		assertCode(t, err, mongoerr.BadValue)
	})
}

func TestMatchElem(t *testing.T) {
	tests := []struct {
		name, filter, doc string
		wantOK            bool
		wantIdx           int
	}{
		{"scalar element", `{"a": 2}`, `{"a": [1, 2, 3]}`, true, 1},
		{"no array", `{"a": 2}`, `{"a": 2}`, true, -1},
		{"dotted", `{"a.b": 2}`, `{"a": [{"b": 1}, {"b": 2}]}`, true, 1},
		{"outermost array wins", `{"a.b": 3}`, `{"a": [{"b": [1]}, {"b": [2, 3]}]}`, true, 1},
		{"elemMatch", `{"a": {"$elemMatch": {"b": 2}}}`, `{"a": [{"b": 1}, {"b": 2}]}`, true, 1},
		{"elemMatch value", `{"a": {"$elemMatch": {"$gte": 2}}}`, `{"a": [1, 2]}`, true, 1},
		{"comparison", `{"a": {"$gt": 1}}`, `{"a": [0, 5]}`, true, 1},
		{"whole array equality", `{"a": [1, 2]}`, `{"a": [1, 2]}`, true, -1},
		{"non-array field first", `{"x": 1, "a": 2}`, `{"x": 1, "a": [1, 2]}`, true, 1},
		{"last array clause wins", `{"a": 2, "b": 3}`, `{"a": [2], "b": [0, 3]}`, true, 1},
		{"single-child or collapses", `{"$or": [{"a": 2}]}`, `{"a": [1, 2]}`, true, 1},
		{"or of two paths records nothing", `{"$or": [{"a": 2}, {"b": 1}]}`, `{"a": [1, 2]}`, true, -1},
		{"or of one path becomes in", `{"$or": [{"a": 3}, {"a": 2}]}`, `{"a": [1, 2, 3]}`, true, 1},
		{"nested and flattened, absorbed last", `{"$and": [{"b": 2}, {"c": 1}], "a": 2}`, `{"a": [1, 2], "b": [2], "c": [0, 1]}`, true, 1},
		{"nested and flattened order", `{"$and": [{"c": 1}, {"b": 0}], "a": 2}`, `{"a": [1, 2], "b": [0], "c": [0, 1]}`, true, 0},
		{"ne records nothing", `{"a": {"$ne": 5}}`, `{"a": [1]}`, true, -1},
		{"and keeps offset", `{"$and": [{"a": 2}]}`, `{"a": [1, 2]}`, true, 1},
		{"explicit index is not traversal", `{"a.1": 5}`, `{"a": [4, 5]}`, true, -1},
		{"index then inner array", `{"a.0.b": 2}`, `{"a": [{"b": [1, 2]}]}`, true, 1},
		{"in", `{"a": {"$in": [7, 9]}}`, `{"a": [1, 9]}`, true, 1},
		{"regex", `{"a": ` + reX + `}`, `{"a": ["a", "xb"]}`, true, 1},
		{"no match", `{"a": 5}`, `{"a": [1, 2]}`, false, -1},
		{"later failing clause resets", `{"a": 2, "b": 9}`, `{"a": [1, 2], "b": 1}`, false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.filter, Options{})
			ok, idx, err := f.MatchElem(mustDoc(t, tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || idx != tt.wantIdx {
				t.Errorf("MatchElem = %v, %d; want %v, %d", ok, idx, tt.wantOK, tt.wantIdx)
			}
		})
	}
}

func TestIDValue(t *testing.T) {
	tests := []struct {
		name, filter string
		want         string // extended JSON of the value; "" when not an _id lookup
	}{
		{"int", `{"_id": 1}`, `1`},
		{"eq", `{"_id": {"$eq": 1}}`, `1`},
		{"string", `{"_id": "x"}`, `"x"`},
		{"null", `{"_id": null}`, `null`},
		{"document", `{"_id": {"a": 1}}`, `{"a": 1}`},
		{"eq document", `{"_id": {"$eq": {"a": 1}}}`, `{"a": 1}`},
		{"operator", `{"_id": {"$gt": 1}}`, ""},
		{"in", `{"_id": {"$in": [1]}}`, ""},
		{"eq and more", `{"_id": {"$eq": 1, "$ne": 2}}`, ""},
		{"extra field", `{"_id": 1, "x": 1}`, `1`},
		{"extra field first", `{"x": 1, "_id": 2}`, `2`},
		{"twice", `{"_id": 1, "_id": 2}`, ""},
		{"under or", `{"$or": [{"_id": 1}]}`, ""},
		{"under and", `{"$and": [{"_id": 1}]}`, ""},
		{"with comment", `{"_id": 1, "$comment": "c"}`, `1`},
		{"regex", `{"_id": ` + reX + `}`, ""},
		{"eq regex", `{"_id": {"$eq": ` + reX + `}}`, ""},
		{"array", `{"_id": [1]}`, ""},
		{"eq array", `{"_id": {"$eq": [1]}}`, ""},
		{"eq operator document", `{"_id": {"$eq": {"$gt": 1}}}`, ""},
		{"other field", `{"x": 1}`, ""},
		{"empty", `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.filter, Options{})
			got, ok := f.IDValue()
			if tt.want == "" {
				if ok {
					t.Errorf("IDValue = %v, true; want false", got)
				}
				return
			}
			want := mustValue(t, tt.want)
			if !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("IDValue = %#v, %v; want %#v, true", got, ok, want)
			}
		})
	}
}

func TestMatchNilFilter(t *testing.T) {
	f, err := Compile(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.Match(bson.D{{Key: "a", Value: int32(1)}}); !ok {
		t.Error("nil filter must match everything")
	}
}
