package query

import (
	"reflect"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
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
				id, _ := lookup(d, "_id")
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
		id, _ := lookup(d, "_id")
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
