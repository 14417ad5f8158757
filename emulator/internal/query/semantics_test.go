package query

import (
	"reflect"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/value"
)

// The cases below are MongoDB's own expectations from
// jstests/core/null_query_semantics.js (mongodb/mongo), run without indexes.

var nullSemanticsDocs = []string{
	`{"_id": "a_empty_subobject", "a": {}}`,
	`{"_id": "a_null", "a": null}`,
	`{"_id": "a_number", "a": 4}`,
	`{"_id": "a_subobject_b_not_null", "a": {"b": "hi"}}`,
	`{"_id": "a_subobject_b_null", "a": {"b": null}}`,
	`{"_id": "a_subobject_b_undefined", "a": {"b": {"$undefined": true}}}`,
	`{"_id": "a_undefined", "a": {"$undefined": true}}`,
	`{"_id": "no_a"}`,
	// Documents with arrays.
	`{"_id": "a_double_array", "a": [[]]}`,
	`{"_id": "a_empty_array", "a": []}`,
	`{"_id": "a_object_array_all_b_nulls", "a": [{"b": null}, {"b": {"$undefined": true}}, {"b": null}, {}]}`,
	`{"_id": "a_object_array_no_b_nulls", "a": [{"b": 1}, {"b": 3}, {"b": "string"}]}`,
	`{"_id": "a_object_array_some_b_nulls", "a": [{"b": null}, {"b": 3}, {"b": null}]}`,
	`{"_id": "a_object_array_some_b_undefined", "a": [{"b": {"$undefined": true}}, {"b": 3}]}`,
	`{"_id": "a_object_array_some_b_missing", "a": [{"b": 3}, {}]}`,
	`{"_id": "a_value_array_all_nulls", "a": [null, null]}`,
	`{"_id": "a_value_array_no_nulls", "a": [1, "string", 4]}`,
	`{"_id": "a_value_array_with_null", "a": [1, "string", null, 4]}`,
	`{"_id": "a_value_array_with_undefined", "a": [1, "string", {"$undefined": true}, 4]}`,
}

// noArrayDocs is how many of nullSemanticsDocs have no array.
const noArrayDocs = 8

func TestNullQuerySemantics(t *testing.T) {
	eqNull := []string{"a_null", "a_undefined", "no_a", "a_value_array_all_nulls", "a_value_array_with_null", "a_value_array_with_undefined"}
	dottedEqNull := []string{
		"a_empty_subobject", "a_null", "a_number", "a_subobject_b_null", "a_subobject_b_undefined", "a_undefined", "no_a",
		"a_object_array_all_b_nulls", "a_object_array_some_b_nulls", "a_object_array_some_b_undefined", "a_object_array_some_b_missing",
	}
	dottedNeNull := []string{
		"a_subobject_b_not_null", "a_double_array", "a_empty_array", "a_object_array_no_b_nulls", "a_value_array_all_nulls",
		"a_value_array_no_nulls", "a_value_array_with_null", "a_value_array_with_undefined",
	}
	tests := []struct {
		name, filter string
		onlyNoArrays bool
		want         []string
		complement   bool // want lists the documents that do NOT match
	}{
		{"eq null", `{"a": {"$eq": null}}`, false, eqNull, false},
		{"ne null", `{"a": {"$ne": null}}`, false, eqNull, true},
		{"not gte null", `{"a": {"$not": {"$gte": null}}}`, false, eqNull, true},
		{"in null", `{"a": {"$in": [null, 75]}}`, false, eqNull, false},
		{"or null", `{"$or": [{"a": null}, {"a": 75}]}`, false, eqNull, false},
		{"nin null", `{"a": {"$nin": [null, 75]}}`, false, eqNull, true},
		{"nin null and regex", `{"a": {"$nin": [null, {"$regularExpression": {"pattern": "^str.*", "options": ""}}]}}`, false,
			append([]string{"a_value_array_no_nulls"}, eqNull...), true},
		{"nin null and number without arrays", `{"a": {"$nin": [null, 4]}}`, true,
			[]string{"a_empty_subobject", "a_subobject_b_not_null", "a_subobject_b_null", "a_subobject_b_undefined"}, false},
		{"exists false", `{"a": {"$exists": false}}`, false, []string{"no_a"}, false},
		{"dotted exists false", `{"a.b": {"$exists": false}}`, true,
			[]string{"no_a", "a_empty_subobject", "a_null", "a_number", "a_undefined"}, false},
		{"elemMatch eq null", `{"a": {"$elemMatch": {"$eq": null}}}`, false,
			[]string{"a_value_array_all_nulls", "a_value_array_with_null", "a_value_array_with_undefined"}, false},
		{"elemMatch ne null", `{"a": {"$elemMatch": {"$ne": null}}}`, false, []string{
			"a_double_array", "a_object_array_all_b_nulls", "a_object_array_no_b_nulls", "a_object_array_some_b_nulls",
			"a_object_array_some_b_undefined", "a_object_array_some_b_missing", "a_value_array_no_nulls",
			"a_value_array_with_undefined", "a_value_array_with_null"}, false},
		{"dotted eq null", `{"a.b": {"$eq": null}}`, false, dottedEqNull, false},
		{"dotted ne null", `{"a.b": {"$ne": null}}`, false, dottedNeNull, false},
		{"dotted in null", `{"a.b": {"$in": [null, 75]}}`, false, dottedEqNull, false},
		{"dotted or null", `{"$or": [{"a.b": null}, {"a.b": 75}]}`, false, dottedEqNull, false},
		{"dotted nin null", `{"a.b": {"$nin": [null, 75]}}`, false, dottedNeNull, false},
		{"dotted nin null and regex", `{"a.b": {"$nin": [null, {"$regularExpression": {"pattern": "^str.*", "options": ""}}]}}`, false, []string{
			"a_subobject_b_not_null", "a_double_array", "a_empty_array", "a_value_array_all_nulls",
			"a_value_array_no_nulls", "a_value_array_with_null", "a_value_array_with_undefined"}, false},
		{"dotted elemMatch eq null", `{"a.b": {"$elemMatch": {"$eq": null}}}`, false, nil, false},
		{"dotted elemMatch ne null", `{"a.b": {"$elemMatch": {"$ne": null}}}`, false, nil, false},
		{"elemMatch object eq null", `{"a": {"$elemMatch": {"b": {"$eq": null}}}}`, false, []string{
			"a_double_array", "a_object_array_all_b_nulls", "a_object_array_some_b_nulls",
			"a_object_array_some_b_undefined", "a_object_array_some_b_missing"}, false},
		{"elemMatch object ne null", `{"a": {"$elemMatch": {"b": {"$ne": null}}}}`, false, []string{
			"a_object_array_no_b_nulls", "a_object_array_some_b_nulls",
			"a_object_array_some_b_undefined", "a_object_array_some_b_missing"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.filter, Options{})
			docs := nullSemanticsDocs
			if tt.onlyNoArrays {
				docs = docs[:noArrayDocs]
			}
			var got, want []string
			for _, s := range docs {
				d := mustDoc(t, s)
				id, _ := value.Lookup(d, "_id")
				ok, err := f.Match(d)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					got = append(got, id.(string))
				}
				if slices.Contains(tt.want, id.(string)) != tt.complement {
					want = append(want, id.(string))
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("matched %v\nwant    %v", got, want)
			}
		})
	}
}

func TestNullSemanticsProjection(t *testing.T) {
	want := map[string]string{
		"a_empty_subobject":               `{"a": {}}`,
		"a_null":                          `{}`,
		"a_number":                        `{}`,
		"a_subobject_b_not_null":          `{"a": {"b": "hi"}}`,
		"a_subobject_b_null":              `{"a": {"b": null}}`,
		"a_subobject_b_undefined":         `{"a": {"b": {"$undefined": true}}}`,
		"a_undefined":                     `{}`,
		"no_a":                            `{}`,
		"a_double_array":                  `{"a": [[]]}`,
		"a_empty_array":                   `{"a": []}`,
		"a_object_array_all_b_nulls":      `{"a": [{"b": null}, {"b": {"$undefined": true}}, {"b": null}, {}]}`,
		"a_object_array_no_b_nulls":       `{"a": [{"b": 1}, {"b": 3}, {"b": "string"}]}`,
		"a_object_array_some_b_nulls":     `{"a": [{"b": null}, {"b": 3}, {"b": null}]}`,
		"a_object_array_some_b_undefined": `{"a": [{"b": {"$undefined": true}}, {"b": 3}]}`,
		"a_object_array_some_b_missing":   `{"a": [{"b": 3}, {}]}`,
		"a_value_array_all_nulls":         `{"a": []}`,
		"a_value_array_no_nulls":          `{"a": []}`,
		"a_value_array_with_null":         `{"a": []}`,
		"a_value_array_with_undefined":    `{"a": []}`,
	}
	p, err := CompileProjection(mustDoc(t, `{"_id": 0, "a.b": 1}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range nullSemanticsDocs {
		d := mustDoc(t, s)
		id, _ := value.Lookup(d, "_id")
		t.Run(id.(string), func(t *testing.T) {
			got, err := p.Apply(d, -1)
			if err != nil {
				t.Fatal(err)
			}
			w := mustDoc(t, want[id.(string)])
			if w == nil {
				w = bson.D{}
			}
			assertSameDoc(t, got, w)
		})
	}
}

// TestPositionalProjectionJSTest runs jstests/core/query/project/positional_projection.js
// (mongodb/mongo): MatchElem on the query feeds Projection.Apply.
func TestPositionalProjectionJSTest(t *testing.T) {
	xy := `{"x": [{"a": 1, "b": 2}, {"a": 2, "c": 3}, {"a": 1, "d": 5}], "y": [{"aa": 1, "bb": 2}, {"aa": 2, "cc": 3}, {"aa": 1, "dd": 5}]}`
	pq := `{"a": [{"p": [1, 2], "q": [3, 4]}, {"p": [5, 6], "q": [7, 8]}], "b": [11, 12]}`
	abc := `{"a": [1, 2, 3], "b": [4, 5, 6], "c": [7, 8, 9]}`
	tests := []struct {
		name, query, projection, doc, want string
		code                               int32 // error from Apply
	}{
		{"object match", `{"x.a": 2}`, `{"x.$": 1}`, xy, `{"x": [{"a": 2, "c": 3}]}`, 0},
		{"first of several", `{"x.a": 1}`, `{"x.$": 1}`, xy, `{"x": [{"a": 1, "b": 2}]}`, 0},
		{"other array", `{"y.dd": 5}`, `{"y.$": 1}`, xy, `{"y": [{"aa": 1, "dd": 5}]}`, 0},
		{"nested path", `{"x.y.a": 1}`, `{"x.y.$": 1}`, `{"x": {"y": [{"a": 1, "b": 1}, {"a": 1, "b": 2}]}}`, `{"x": {"y": [{"a": 1, "b": 1}]}}`, 0},
		{"non-existent field", `{}`, `{"g.$": 1}`, xy, `{}`, 0},
		{"non-existent field with match", `{"a.b": 1}`, `{"g.$": 1}`, `{"a": {"b": 1}}`, `{}`, 0},
		{"path missing no error", `{"x": 1}`, `{"a.$": 1}`, `{"x": 1}`, `{}`, 0},
		{"existing part returned", `{"x": {"$gt": 0}}`, `{"a.b.c.$": 1}`, `{"x": [-1, 1, 2], "a": {"b": {"d": [1, 2, 3], "f": 456}, "e": 123}}`, `{"a": {"b": {}}}`, 0},
		{"nested arrays", `{"x": 1}`, `{"a.b.c.$": 1}`, `{"x": [1], "a": [{"b": [[[{"c": 1, "d": 2}]]]}]}`, `{"a": [{"b": [[[{"c": 1}]]]}]}`, 0},
		{"no array on path", `{"x": {"$gt": 0}}`, `{"a.b.c.$": 1}`, `{"x": [-1, 1, 2], "a": {"b": {"c": {"d": {"e": 1}}}}}`, `{"a": {"b": {"c": {"d": {"e": 1}}}}}`, 0},
		{"scalar on path", `{"x": {"$gt": 0}}`, `{"a.b.c.$": 1}`, `{"x": [-1, 1, 2], "a": {"b": {"c": 123}}}`, `{"a": {"b": {"c": 123}}}`, 0},
		{"first array a", `{"x.y.z": 1}`, `{"a.b.c.$": 1}`, `{"x": {"y": {"z": [0, 1, 2]}}, "a": [{"b": {"c": [1, 2, 3]}}, {"b": {"c": [4, 5, 6]}}, {"b": {"c": [7, 8, 9]}}]}`, `{"a": [{"b": {"c": [4, 5, 6]}}]}`, 0},
		{"first array b", `{"x.y.z": 1}`, `{"a.b.c.$": 1}`, `{"x": {"y": {"z": [0, 1, 2]}}, "a": {"b": [{"c": [1, 2, 3]}, {"c": [4, 5, 6]}, {"c": [7, 8, 9]}]}}`, `{"a": {"b": [{"c": [4, 5, 6]}]}}`, 0},
		{"first array c", `{"x.y.z": 1}`, `{"a.b.c.$": 1}`, `{"x": {"y": {"z": [0, 1, 2]}}, "a": {"b": {"c": [1, 2, 3]}}}`, `{"a": {"b": {"c": [2]}}}`, 0},
		{"elemMatch value", `{"x": {"$elemMatch": {"$gt": 1, "$lt": 3}}}`, `{"x.$": 1}`, `{"x": [1, 2, 3]}`, `{"x": [2]}`, 0},
		{"elemMatch object", `{"x": {"$elemMatch": {"y": {"$gt": 1}}}}`, `{"x.$": 1}`, `{"x": [{"y": 1}, {"y": 2}, {"y": 3}]}`, `{"x": [{"y": 2}]}`, 0},
		{"elemMatch two fields", `{"x": {"$elemMatch": {"a": 1, "b": 2}}}`, `{"x.$": 1}`, xy, `{"x": [{"a": 1, "b": 2}]}`, 0},
		{"nested elemMatch", `{"a": {"$elemMatch": {"$elemMatch": {"$eq": 3}}}}`, `{"b.$": 1}`, `{"a": [[1, 2], [3, 4]], "b": [[5, 6], [7, 8]]}`, `{"b": [[7, 8]]}`, 0},
		{"nested elemMatch p 2", `{"a": {"$elemMatch": {"p": {"$elemMatch": {"$eq": 2}}}}}`, `{"b.$": 1}`, pq, `{"b": [11]}`, 0},
		{"nested elemMatch p 6", `{"a": {"$elemMatch": {"p": {"$elemMatch": {"$eq": 6}}}}}`, `{"b.$": 1}`, pq, `{"b": [12]}`, 0},
		{"nested elemMatch q 3", `{"a": {"$elemMatch": {"q": {"$elemMatch": {"$eq": 3}}}}}`, `{"b.$": 1}`, pq, `{"b": [11]}`, 0},
		{"nested elemMatch q 7", `{"a": {"$elemMatch": {"q": {"$elemMatch": {"$eq": 7}}}}}`, `{"b.$": 1}`, pq, `{"b": [12]}`, 0},
		{"last and child", `{"$and": [{"a": 1}, {"a": 2}, {"a": 3}]}`, `{"b.$": 1}`, abc, `{"b": [6]}`, 0},
		{"last and child reversed", `{"$and": [{"a": 3}, {"a": 2}, {"a": 1}]}`, `{"b.$": 1}`, abc, `{"b": [4]}`, 0},
		{"in first match", `{"a": {"$in": [2, 3]}}`, `{"b.$": 1}`, abc, `{"b": [5]}`, 0},
		{"or as in", `{"$or": [{"a": 2}, {"a": 3}]}`, `{"b.$": 1}`, abc, `{"b": [5]}`, 0},
		{"elemMatch exists", `{"a": {"$elemMatch": {"y": {"$exists": true}}}}`, `{"a.$": 1}`, `{"a": [{"y": 1}, {"y": 2}]}`, `{"a": [{"y": 1}]}`, 0},
		{"elemMatch type array", `{"a": {"$elemMatch": {"y": {"$type": ["array"]}}}}`, `{"a.$": 1}`, `{"a": [{"y": 1}, {"y": []}]}`, `{"a": [{"y": []}]}`, 0},
		{"elemMatch type array or double", `{"a": {"$elemMatch": {"y": {"$type": ["array", "double"]}}}}`, `{"a.$": 1}`, `{"a": [{"y": 1.0}, {"y": []}]}`, `{"a": [{"y": 1.0}]}`, 0},
		{"no recorded index", `{}`, `{"x.$": 1}`, xy, ``, 51246},
		{"whole array equality", `{"b": [4, 5, 6]}`, `{"c.$": 1}`, abc, ``, 51246},
		{"or of two fields", `{"$or": [{"a": 1}, {"b": 5}]}`, `{"a.$": 1}`, abc, ``, 51246},
		{"or of two fields second", `{"$or": [{"a": 0}, {"b": 5}]}`, `{"a.$": 1}`, abc, ``, 51246},
		{"nor", `{"$nor": [{"a": -1}, {"a": -2}]}`, `{"a.$": 1}`, abc, ``, 51246},
		{"not elemMatch", `{"a": {"$not": {"$elemMatch": {"$eq": 100}}}}`, `{"a.$": 1}`, abc, ``, 51246},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.query, Options{})
			p, err := CompileProjection(mustDoc(t, tt.projection), Options{})
			if err != nil {
				t.Fatal(err)
			}
			doc := mustDoc(t, tt.doc)
			ok, idx, err := f.MatchElem(doc)
			if err != nil || !ok {
				t.Fatalf("query does not match: %v", err)
			}
			got, err := p.Apply(doc, idx)
			if tt.code != 0 {
				assertCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := mustDoc(t, tt.want)
			if want == nil {
				want = bson.D{}
			}
			assertSameDoc(t, got, want)
		})
	}
}

// TestProjectionSemanticsJSTest runs the find cases of
// jstests/core/query/project/projection_semantics.js (mongodb/mongo).
func TestProjectionSemanticsJSTest(t *testing.T) {
	tests := []struct{ projection, input, want string }{
		// Top-level inclusion.
		{`{"a": 1}`, `{"_id": 1, "a": "demo", "b": "other", "x": "extra"}`, `{"_id": 1, "a": "demo"}`},
		{`{"a": 1}`, `{"_id": 1, "a": "demo", "aWSuffix": "other", "a.b": "extra"}`, `{"_id": 1, "a": "demo"}`},
		{`{"a": 1}`, `{"_id": 1, "b": "other", "x": "extra"}`, `{"_id": 1}`},
		{`{"a": 1}`, `{"_id": 1, "a": [[1, 2], [{}], 2]}`, `{"_id": 1, "a": [[1, 2], [{}], 2]}`},
		{`{"a": 1}`, `{"_id": 1, "a": {"$undefined": true}}`, `{"_id": 1, "a": {"$undefined": true}}`},
		{`{"a": 1, "_id": 0}`, `{"_id": 1, "a": null, "b": "other"}`, `{"a": null}`},
		{`{"a": 1, "_id": 0}`, `{"_id": 1}`, `{}`},
		// One level of nesting.
		{`{"a.b": 1}`, `{"_id": 1, "a": {"b": "demo", "y": "extra"}, "x": "extra"}`, `{"_id": 1, "a": {"b": "demo"}}`},
		{`{"a.b": 1}`, `{"_id": 1, "a": {"b": "demo"}, "a.b": "extra"}`, `{"_id": 1, "a": {"b": "demo"}}`},
		{`{"a.b": 1}`, `{"_id": 1, "a": {"b": "demo", "_id": "extra"}}`, `{"_id": 1, "a": {"b": "demo"}}`},
		{`{"a.b": 1}`, `{"_id": 1, "a": [{"b": 1, "c": 1}, {"c": 2}], "x": "extra"}`, `{"_id": 1, "a": [{"b": 1}, {}]}`},
		{`{"a.b": 1}`, `{"_id": 1, "a": "scalar"}`, `{"_id": 1}`},
		{`{"a.b": 1, "_id": 0}`, `{"_id": 1, "a": ["scalar", {}, "scalar", {"c": 1}], "x": "extra"}`, `{"a": [{}, {}]}`},
		{`{"a.b": 1, "_id": 0}`, `{"_id": 1, "a": [[1, 2, 3]]}`, `{"a": [[]]}`},
		{`{"a.b": 1, "_id": 0}`, `{"_id": 1, "a": [[1, {"b": 1}, {"b": 2, "c": 2}, "scalar"]]}`, `{"a": [[{"b": 1}, {"b": 2}]]}`},
		{`{"a.b": 1, "_id": 0}`, `{"_id": 1, "a": [["x", {"b": 1}, {"b": 2, "c": 2}, "x"], [[{"b": 1}]], [{"b": 1}, [{"b": 2}], [[{"b": [2]}]]]]}`,
			`{"a": [[{"b": 1}, {"b": 2}], [[{"b": 1}]], [{"b": 1}, [{"b": 2}], [[{"b": [2]}]]]]}`},
		{`{"a.b": 1, "_id": 0}`, `{"_id": 1, "a": [[], [[], [], [1], [{"c": 1}]], {"b": 1}]}`, `{"a": [[], [[], [], [], [{}]], {"b": 1}]}`},
		{`{"a.b": 1, "a.c": 1, "_id": 0}`, `{"_id": 1, "a": [{"c": 1, "d": 2}, {"b": 3, "d": 4}]}`, `{"a": [{"c": 1}, {"b": 3}]}`},
		{`{"a.b": 1, "a.c": 1, "_id": 0}`, `{"_id": 1, "a": [{"b": 1, "c": 2}, "extra", {"b": 3, "c": 4}]}`, `{"a": [{"b": 1, "c": 2}, {"b": 3, "c": 4}]}`},
		{`{"a.b": 1, "a.c": 1, "_id": 0}`, `{"_id": 1, "a": {"d": "extra"}}`, `{"a": {}}`},
		// Deeper nesting.
		{`{"a.b.c": 1, "_id": 0}`, `{"a": [{"bPrime": [{"c": "x"}]}, {"b": [{"cPrime": "x", "d": 1}, {"cPrime": "x", "d": 2}]}, {"b": [{"c": 3, "d": 3}, {"cPrime": "x", "d": 4}, {"c": 5}]}, {"bPrime": {"z": 1}}]}`,
			`{"a": [{}, {"b": [{}, {}]}, {"b": [{"c": 3}, {}, {"c": 5}]}, {}]}`},
		{`{"a.b.c": 1, "_id": 0}`, `{"a": {"b": "scalar"}}`, `{"a": {}}`},
		{`{"a.b.c": 1, "_id": 0}`, `{"a": {"b": {"x": 1, "y": 1}}}`, `{"a": {"b": {}}}`},
		{`{"a.b.c": 1, "_id": 0}`, `{"a": [1, {"b": [[1, 2], [{}], 2]}, 2]}`, `{"a": [{"b": [[], [{}]]}]}`},
		{`{"a.b.c": 1, "_id": 0}`, `{"a": [[1, 2], [{"b": [[1, 2], [{"c": [[1, 2], [{}], 2]}], 2]}], 2]}`, `{"a": [[], [{"b": [[], [{"c": [[1, 2], [{}], 2]}]]}]]}`},
		{`{"a.b.c": 1, "_id": 0}`, `{"a": [["x", {"b": 1}, {"b": 2, "c": 2}, "x"], [[{"b": 1}]], [{"b": 1}, [{"b": 2}], [[{"b": [2]}]]]]}`,
			`{"a": [[{}, {}], [[{}]], [{}, [{}], [[{"b": []}]]]]}`},
		{`{"a.b.c": 1, "_id": 0}`, `{"a": {"x": 1, "b": [[1, 2], [{"c": [[1, 2], [{}], 2]}], 2]}}`, `{"a": {"b": [[], [{"c": [[1, 2], [{}], 2]}]]}}`},
		// Exclusion.
		{`{"a": 0, "b": 0}`, `{"_id": 1, "a": 1, "b": 1, "c": 1}`, `{"_id": 1, "c": 1}`},
		{`{"a.b": 0}`, `{"_id": 1, "a": ["scalar", {"b": 1, "c": 1, "d": 1}, {"b": 2, "c": 2}, {"b": 3}]}`, `{"_id": 1, "a": ["scalar", {"c": 1, "d": 1}, {"c": 2}, {}]}`},
		{`{"a.b": 0, "a.c": 0}`, `{"_id": 1, "a": [{"b": 1, "c": 1, "d": 1}, {"b": 2, "c": 2}, {"b": 3}]}`, `{"_id": 1, "a": [{"d": 1}, {}, {}]}`},
		{`{"a.b.c": 0}`, `{"_id": 1, "a": [[], [{"b": [[1, 2], {"c": 1, "d": 1}]}]]}`, `{"_id": 1, "a": [[], [{"b": [[1, 2], {"d": 1}]}]]}`},
		{`{"measurements": {"humidity": 0, "time": 0}, "_id": 0}`, `{"measurements": {"temperature": 20, "pressure": 0.7, "humidity": 0.4, "time": 1}}`, `{"measurements": {"temperature": 20, "pressure": 0.7}}`},
		// Computed fields.
		{`{"a": {"$literal": 0}, "b": "string"}`, `{"_id": 1, "a": 1, "b": 1, "c": 1}`, `{"_id": 1, "a": 0, "b": "string"}`},
		{`{"a.b": "new value"}`, `{"_id": 1, "a": {"b": 1, "c": 1, "d": 1}, "x": {"y": 1}}`, `{"_id": 1, "a": {"b": "new value"}}`},
		{`{"a.b": "new value"}`, `{"_id": 1, "a": ["scalar", {"b": 1, "c": 1, "d": 1}, {"b": 2, "c": 2}, {"b": 3}]}`,
			`{"_id": 1, "a": [{"b": "new value"}, {"b": "new value"}, {"b": "new value"}, {"b": "new value"}]}`},
		{`{"a.b": "new value", "a.c": "new C"}`, `{"_id": 1, "a": [{"b": 1, "c": 1, "d": 1}, {"b": 3}]}`,
			`{"_id": 1, "a": [{"b": "new value", "c": "new C"}, {"b": "new value", "c": "new C"}]}`},
		{`{"a.b": "new value"}`, `{"_id": 1, "a": []}`, `{"_id": 1, "a": []}`},
		{`{"a.b.c": "new value"}`, `{"_id": 1, "a": [[], [{"b": [[1, 2], {"c": 1, "d": 1}]}]]}`,
			`{"_id": 1, "a": [[], [{"b": [[{"c": "new value"}, {"c": "new value"}], {"c": "new value"}]}]]}`},
		// Numeric path components are field names, never array indexes.
		{`{"_id": 0, "a.2": 1}`, `{"a": {"2": 99}, "b": 1}`, `{"a": {"2": 99}}`},
		{`{"_id": 0, "a.2": 1}`, `{"a": [0, 1, 2, 3, 4]}`, `{"a": []}`},
		{`{"_id": 0, "a.2": 1}`, `{"a": [0, 1, 2, 3, 4, {"obj": 123}, {"2": 123}]}`, `{"a": [{}, {"2": 123}]}`},
		// Miscellaneous.
		{`{"_id": 0}`, `{"_id": 1, "a": 1, "b": 1}`, `{"a": 1, "b": 1}`},
		{`{"measurements": {"temperature": 1, "pressure": 1}, "_id": 0}`, `{"measurements": {"temperature": 20, "pressure": 0.7, "humidity": 0.4}}`, `{"measurements": {"temperature": 20, "pressure": 0.7}}`},
	}
	for _, tt := range tests {
		t.Run(tt.projection+" on "+tt.input, func(t *testing.T) {
			p, err := CompileProjection(mustDoc(t, tt.projection), Options{Expr: fakeCompile})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Apply(mustDoc(t, tt.input), -1)
			if err != nil {
				t.Fatal(err)
			}
			want := mustDoc(t, tt.want)
			if want == nil {
				want = bson.D{}
			}
			assertSameDoc(t, got, want)
		})
	}
}

// TestSortJSTests runs jstests/core/query/sort/sort_dotted_paths.js,
// sort_dotted_paths_numeric.js and sort_array.js (mongodb/mongo). Every
// pattern there ends with an _id key to make the order total.
func TestSortJSTests(t *testing.T) {
	basic := []string{
		`{"_id": 1, "a": 1}`, `{"_id": 2, "a": {"$undefined": true}}`, `{"_id": 3, "a": null}`,
		`{"_id": 4, "a": {}}`, `{"_id": 5, "a": []}`, `{"_id": 6, "a": [1]}`, `{"_id": 7, "a": [[1]]}`,
		`{"_id": 8}`, `{"_id": 9, "a": [{"$undefined": true}]}`,
	}
	twoArrays := []string{
		`{"_id": 1, "a": 1, "b": [2]}`, `{"_id": 2, "a": 2, "b": []}`, `{"_id": 3, "a": [], "b": 4}`,
		`{"_id": 4, "a": [1], "b": 4}`, `{"_id": 5, "a": [2, 3], "b": 2}`, `{"_id": 6, "a": 2, "b": [3, 5]}`,
		`{"_id": 7, "a": 1, "b": [1, 3]}`, `{"_id": 8, "a": [1, 2], "b": 3}`, `{"_id": 9, "a": 2, "b": 3}`,
	}
	lengthTwo := []string{
		`{"_id": 1, "a": {"b": 2}}`, `{"_id": 2, "a": {"b": []}}`, `{"_id": 3, "a": {"b": [2, 3]}}`,
		`{"_id": 4, "a": {"c": 1}}`, `{"_id": 5, "a": []}`, `{"_id": 6, "a": [{"b": [5]}]}`,
		`{"_id": 7, "a": [{"b": [4, 5]}, {"b": 7}]}`, `{"_id": 8, "a": [{"b": [1, 3]}, {"b": [2, 5]}]}`,
		`{"_id": 9, "a": [{"b": []}, {"b": [1, 3]}]}`,
	}
	commonPrefix := []string{
		`{"_id": 1, "a": [{"b": 4, "c": 1}, {"b": 1, "c": 2}]}`, `{"_id": 2, "a": [{"b": 2, "c": 1}, {"b": 4, "c": 2}]}`,
		`{"_id": 3, "a": [{"b": 6, "c": 1}, {"b": 9, "c": 2}]}`, `{"_id": 4, "a": [{"b": 4, "c": 1}, {"b": 5, "c": 3}]}`,
		`{"_id": 5, "a": [{"b": 2, "c": 1}, {"b": 7, "c": 3}]}`, `{"_id": 6, "a": [{"b": 5, "c": 1}, {"b": 3, "c": 3}]}`,
		`{"_id": 7, "a": [{"b": 7, "c": 2}, {"b": 2, "c": 3}]}`, `{"_id": 8, "a": [{"b": 3, "c": 2}, {"b": 8, "c": 3}]}`,
		`{"_id": 9, "a": [{"b": 8, "c": 2}, {"b": 6, "c": 3}]}`,
	}
	commonPrefix2 := []string{
		`{"_id": 1, "a": [{"b": [4, 1], "c": 1}, {"b": [1, 5], "c": 2}]}`, `{"_id": 2, "a": [{"b": 2, "c": [1, 3]}, {"b": 4, "c": [2, 4]}]}`,
		`{"_id": 3, "a": [{"b": [6, 4], "c": 1}, {"b": [9, 7], "c": 2}]}`, `{"_id": 4, "a": [{"b": 4, "c": [1, 2]}, {"b": 5, "c": [3, 2]}]}`,
		`{"_id": 5, "a": [{"b": [2, 3], "c": 1}, {"b": [7, 6], "c": 3}]}`, `{"_id": 6, "a": [{"b": 5, "c": []}, {"b": 3, "c": 3}]}`,
		`{"_id": 7, "a": [{"b": [], "c": 2}, {"b": 2, "c": 3}]}`, `{"_id": 8, "a": [{"b": 3, "c": [2]}, {"b": 8, "c": [3]}]}`,
		`{"_id": 9, "a": [{"b": [8], "c": 2}, {"b": [6], "c": 3}]}`,
	}
	noCommonPrefix := []string{
		`{"_id": 1, "a": {"b": 1}, "c": [{"d": [4, 1]}, {"d": [1, 5]}]}`, `{"_id": 2, "a": [{"b": [1, 3]}, {"b": [2, 4]}], "c": {"d": 2}}`,
		`{"_id": 3, "a": {"b": 1}, "c": [{"d": [6, 4]}, {"d": [9, 7]}]}`, `{"_id": 4, "a": [{"b": [2]}, {"b": [3, 2]}], "c": {"d": 4}}`,
		`{"_id": 5, "a": {"b": 1}, "c": [{"d": [2, 3]}, {"d": [7, 6]}]}`, `{"_id": 6, "a": [{"b": []}, {"b": 3}], "c": {"d": 4}}`,
		`{"_id": 7, "a": {"b": 2}, "c": [{"d": []}, {"d": 2}]}`, `{"_id": 8, "a": [{"b": [2]}, {"b": [3]}], "c": {"d": 3}}`,
		`{"_id": 9, "a": {"b": 3}, "c": [{"d": [8]}, {"d": [6]}]}`,
	}
	lengthThree := []string{
		`{"_id": 1, "a": {"b": {"c": 2}}}`, `{"_id": 2, "a": {"b": {"c": []}}}`, `{"_id": 3, "a": [{"b": []}, {"b": {"c": []}}]}`,
		`{"_id": 4, "a": [{"b": {"c": 1}}]}`, `{"_id": 5, "a": {"b": [{"c": 3}, {"d": 1}]}}`, `{"_id": 6, "a": {"b": [{"c": [5]}]}}`,
		`{"_id": 7, "a": []}`, `{"_id": 8, "a": {"b": [{"c": [1, 3]}, {"c": [2, 5]}]}}`, `{"_id": 9, "a": [{"b": [{"c": []}, {"c": [1, 3]}]}]}`,
	}
	xyz := []string{
		`{"_id": 0, "x": [{"y": [4, 0, 1], "z": 7}, {"y": 0, "z": 9}]}`,
		`{"_id": 1, "x": [{"y": 1, "z": 7}, {"y": 0, "z": [8, 6]}]}`,
	}
	tests := []struct {
		name string
		docs []string
		spec string
		want []int32
	}{
		{"basic asc", basic, `{"a": 1, "_id": 1}`, []int32{2, 5, 9, 3, 8, 1, 6, 4, 7}},
		{"basic desc", basic, `{"a": -1, "_id": 1}`, []int32{7, 4, 1, 6, 3, 8, 2, 5, 9}},
		{"index asc", basic, `{"a.0": 1, "_id": 1}`, []int32{9, 1, 2, 3, 4, 5, 8, 6, 7}},
		{"index desc", basic, `{"a.0": -1, "_id": 1}`, []int32{7, 6, 1, 2, 3, 4, 5, 8, 9}},
		{"two arrays ++", twoArrays, `{"a": 1, "b": 1, "_id": 1}`, []int32{3, 7, 1, 8, 4, 2, 5, 6, 9}},
		{"two arrays +-", twoArrays, `{"a": 1, "b": -1, "_id": 1}`, []int32{3, 4, 7, 8, 1, 6, 9, 5, 2}},
		{"two arrays -+", twoArrays, `{"a": -1, "b": 1, "_id": 1}`, []int32{5, 2, 6, 8, 9, 7, 1, 4, 3}},
		{"two arrays --", twoArrays, `{"a": -1, "b": -1, "_id": 1}`, []int32{5, 6, 8, 9, 2, 4, 7, 1, 3}},
		{"a.b ++", lengthTwo, `{"a.b": 1, "_id": 1}`, []int32{2, 9, 4, 5, 8, 1, 3, 7, 6}},
		{"a.b +-", lengthTwo, `{"a.b": 1, "_id": -1}`, []int32{9, 2, 5, 4, 8, 3, 1, 7, 6}},
		{"a.b -+", lengthTwo, `{"a.b": -1, "_id": 1}`, []int32{7, 6, 8, 3, 9, 1, 4, 5, 2}},
		{"a.b --", lengthTwo, `{"a.b": -1, "_id": -1}`, []int32{7, 8, 6, 9, 3, 1, 5, 4, 2}},
		{"a.c a.b ++", commonPrefix, `{"a.c": 1, "a.b": 1, "_id": 1}`, []int32{2, 5, 1, 4, 6, 3, 8, 7, 9}},
		{"a.c a.b +-", commonPrefix, `{"a.c": 1, "a.b": -1, "_id": 1}`, []int32{3, 6, 1, 4, 2, 5, 9, 7, 8}},
		{"a.c a.b -+", commonPrefix, `{"a.c": -1, "a.b": 1, "_id": 1}`, []int32{7, 6, 4, 9, 5, 8, 1, 2, 3}},
		{"a.c a.b --", commonPrefix, `{"a.c": -1, "a.b": -1, "_id": 1}`, []int32{8, 5, 9, 4, 6, 7, 3, 2, 1}},
		{"a.c a ++", commonPrefix, `{"a.c": 1, "a": 1, "_id": 1}`, []int32{2, 5, 1, 4, 6, 3, 8, 7, 9}},
		{"a.c a +-", commonPrefix, `{"a.c": 1, "a": -1, "_id": 1}`, []int32{3, 6, 1, 4, 2, 5, 9, 7, 8}},
		{"a.c a -+", commonPrefix, `{"a.c": -1, "a": 1, "_id": 1}`, []int32{7, 6, 4, 9, 5, 8, 1, 2, 3}},
		{"a.c a --", commonPrefix, `{"a.c": -1, "a": -1, "_id": 1}`, []int32{8, 5, 9, 4, 6, 7, 3, 2, 1}},
		{"nested a.c a.b ++", commonPrefix2, `{"a.c": 1, "a.b": 1, "_id": 1}`, []int32{6, 1, 2, 5, 3, 4, 7, 8, 9}},
		{"nested a.c a.b +-", commonPrefix2, `{"a.c": 1, "a.b": -1, "_id": 1}`, []int32{6, 3, 1, 4, 5, 2, 9, 8, 7}},
		{"nested a.c a.b -+", commonPrefix2, `{"a.c": -1, "a.b": 1, "_id": 1}`, []int32{2, 7, 6, 4, 5, 9, 8, 1, 3}},
		{"nested a.c a.b --", commonPrefix2, `{"a.c": -1, "a.b": -1, "_id": 1}`, []int32{2, 8, 5, 9, 4, 6, 7, 3, 1}},
		{"nested a.b a ++", commonPrefix2, `{"a.b": 1, "a": 1, "_id": 1}`, []int32{7, 1, 2, 5, 6, 8, 4, 3, 9}},
		{"nested a.b a +-", commonPrefix2, `{"a.b": 1, "a": -1, "_id": 1}`, []int32{7, 1, 5, 2, 8, 6, 3, 4, 9}},
		{"nested a.b a -+", commonPrefix2, `{"a.b": -1, "a": 1, "_id": 1}`, []int32{3, 8, 9, 5, 6, 4, 1, 2, 7}},
		{"nested a.b a --", commonPrefix2, `{"a.b": -1, "a": -1, "_id": 1}`, []int32{3, 9, 8, 5, 1, 4, 6, 2, 7}},
		{"a.0.b ++", commonPrefix2, `{"a.0.b": 1, "_id": 1}`, []int32{7, 1, 2, 5, 8, 3, 4, 6, 9}},
		{"a.0.b +-", commonPrefix2, `{"a.0.b": 1, "_id": -1}`, []int32{7, 1, 5, 2, 8, 4, 3, 6, 9}},
		{"a.0.b -+", commonPrefix2, `{"a.0.b": -1, "_id": 1}`, []int32{9, 3, 6, 1, 4, 5, 8, 2, 7}},
		{"a.0.b --", commonPrefix2, `{"a.0.b": -1, "_id": -1}`, []int32{9, 3, 6, 4, 1, 8, 5, 2, 7}},
		{"a.b c.d ++", noCommonPrefix, `{"a.b": 1, "c.d": 1, "_id": 1}`, []int32{6, 1, 2, 5, 3, 7, 8, 4, 9}},
		{"a.b c.d +-", noCommonPrefix, `{"a.b": 1, "c.d": -1, "_id": 1}`, []int32{6, 3, 5, 1, 2, 4, 8, 7, 9}},
		{"a.b c.d -+", noCommonPrefix, `{"a.b": -1, "c.d": 1, "_id": 1}`, []int32{2, 8, 4, 6, 9, 7, 1, 5, 3}},
		{"a.b c.d --", noCommonPrefix, `{"a.b": -1, "c.d": -1, "_id": 1}`, []int32{2, 9, 4, 6, 8, 7, 3, 5, 1}},
		{"a.b.c ++", lengthThree, `{"a.b.c": 1, "_id": 1}`, []int32{2, 3, 9, 5, 7, 4, 8, 1, 6}},
		{"a.b.c +-", lengthThree, `{"a.b.c": 1, "_id": -1}`, []int32{9, 3, 2, 7, 5, 8, 4, 1, 6}},
		{"a.b.c -+", lengthThree, `{"a.b.c": -1, "_id": 1}`, []int32{6, 8, 5, 9, 1, 4, 3, 7, 2}},
		{"a.b.c --", lengthThree, `{"a.b.c": -1, "_id": -1}`, []int32{8, 6, 9, 5, 1, 4, 7, 3, 2}},
		{"array asc", []string{`{"_id": 0, "a": [3, 0, 1]}`, `{"_id": 1, "a": [8, 4, -1]}`}, `{"a": 1}`, []int32{1, 0}},
		{"array desc", []string{`{"_id": 0, "a": [3, 0, 1]}`, `{"_id": 1, "a": [0, 4, -1]}`}, `{"a": -1}`, []int32{1, 0}},
		{"compound mixed +-", xyz, `{"x.y": 1, "x.z": -1}`, []int32{0, 1}},
		{"compound mixed -+", xyz, `{"x.y": -1, "x.z": 1}`, []int32{0, 1}},
		{"through array", []string{`{"_id": 0, "a": [{"x": 2}, {"x": 3}]}`, `{"_id": 1, "a": [{"x": 1}, {"x": 4}]}`, `{"_id": 2, "a": [{"x": 3}, {"x": 4}]}`}, `{"a.x": 1}`, []int32{1, 0, 2}},
		{"deep array", []string{`{"_id": 0, "d": [{"e": {"f": 1, "g": [6, 5, 4]}}, {"e": {"g": [3, 2, 1]}}]}`, `{"_id": 1, "d": [{"e": {"f": 2, "g": [5, 4, 3]}}, {"e": {"g": [2, 1, 0]}}]}`}, `{"d.e.g": 1}`, []int32{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSort(t, tt.spec)
			docs := make([]bson.D, len(tt.docs))
			for i, d := range tt.docs {
				docs[i] = mustDoc(t, d)
				if err := s.Check(docs[i]); err != nil {
					t.Fatalf("Check(%s): %v", d, err)
				}
			}
			s.SortDocs(docs)
			want := make([]any, len(tt.want))
			for i, id := range tt.want {
				want[i] = id
			}
			if got := ids(docs); !reflect.DeepEqual(got, want) {
				t.Errorf("order = %v\nwant    %v", got, want)
			}
		})
	}
}

func TestSortParallelArrays(t *testing.T) {
	tests := []struct {
		spec, doc string
		fails     bool
	}{
		{`{"a": 1, "b": 1}`, `{"_id": 3, "a": [], "b": []}`, true},
		{`{"_id": 1, "a": 1, "b": 1}`, `{"_id": 3, "a": [1], "b": [2]}`, true},
		{`{"a.b": 1, "a.c": 1}`, `{"a": {"b": [1, 2], "c": [3, 4]}}`, true},
		{`{"a.b": 1, "c.d": 1}`, `{"a": {"b": [1, 2]}, "c": {"d": [3, 4]}}`, true},
		{`{"a.b": 1, "a.c": 1}`, `{"a": [{"b": [1, 2], "c": [3, 4]}]}`, true},
		{`{"a": 1, "b": 1}`, `{"_id": 1, "a": [], "b": 1}`, false},
		{`{"a.b": 1, "a.c": 1}`, `{"a": [{"b": 1, "c": 2}]}`, false},
		{`{"a": 1}`, `{"a": [[1], [2]]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.spec+" "+tt.doc, func(t *testing.T) {
			s := mustSort(t, tt.spec)
			err := s.Check(mustDoc(t, tt.doc))
			if !tt.fails {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			assertCode(t, err, 2)
			// Ordering still works.
			s.Compare(mustDoc(t, tt.doc), mustDoc(t, tt.doc))
		})
	}
}
