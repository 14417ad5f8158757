package query

import (
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

func mustSort(t *testing.T, spec string) *Sort {
	t.Helper()
	s, err := CompileSort(mustDoc(t, spec))
	if err != nil {
		t.Fatalf("CompileSort(%s): %v", spec, err)
	}
	return s
}

func ids(docs []bson.D) []any {
	out := make([]any, len(docs))
	for i, d := range docs {
		out[i], _ = value.Lookup(d, "_id")
	}
	return out
}

func TestSortDocs(t *testing.T) {
	tests := []struct {
		name, spec string
		docs       []string
		want       []int32 // _ids in sorted order
	}{
		{"ascending", `{"x": 1}`,
			[]string{`{"_id": 1, "x": 3}`, `{"_id": 2, "x": 1}`, `{"_id": 3, "x": 2}`},
			[]int32{2, 3, 1}},
		{"descending", `{"_id": -1}`,
			[]string{`{"_id": 1}`, `{"_id": 3}`, `{"_id": 2}`},
			[]int32{3, 2, 1}},
		{"numbers across types", `{"x": 1}`,
			[]string{`{"_id": 1, "x": 1.5}`, `{"_id": 2, "x": {"$numberLong": "1"}}`, `{"_id": 3, "x": 2}`, `{"_id": 4, "x": {"$numberDecimal": "1.25"}}`},
			[]int32{2, 4, 1, 3}},
		{"compound", `{"a": 1, "b": -1}`,
			[]string{`{"_id": 1, "a": 1, "b": 1}`, `{"_id": 2, "a": 0, "b": 5}`, `{"_id": 3, "a": 1, "b": 2}`},
			[]int32{2, 3, 1}},
		{"stable on ties", `{"a": 1}`,
			[]string{`{"_id": 1, "a": 1}`, `{"_id": 2, "a": 0}`, `{"_id": 3, "a": 1}`, `{"_id": 4, "a": 1.0}`},
			[]int32{2, 1, 3, 4}},
		{"missing equals null", `{"a": 1}`,
			[]string{`{"_id": 1, "a": 1}`, `{"_id": 2}`, `{"_id": 3, "a": null}`, `{"_id": 4}`},
			[]int32{2, 3, 4, 1}},
		{"type order", `{"a": 1}`,
			[]string{
				`{"_id": 1, "a": true}`, `{"_id": 2, "a": "s"}`, `{"_id": 3, "a": {"b": 1}}`,
				`{"_id": 4, "a": 5}`, `{"_id": 5, "a": null}`, `{"_id": 6, "a": {"$date": "2020-01-01T00:00:00Z"}}`,
				`{"_id": 7, "a": {"$oid": "000000000000000000000001"}}`, `{"_id": 8, "a": {"$minKey": 1}}`,
				`{"_id": 9, "a": {"$maxKey": 1}}`, `{"_id": 10, "a": {"$binary": {"base64": "AA==", "subType": "00"}}}`,
			},
			[]int32{8, 5, 4, 2, 3, 10, 7, 1, 6, 9}},
		// DOCS-2760: an empty array sorts as undefined (before missing), and
		// an array sorts by its smallest element ascending, largest descending.
		{"arrays ascending", `{"a": 1}`,
			[]string{`{"_id": 1}`, `{"_id": 2, "a": 1}`, `{"_id": 3, "a": []}`, `{"_id": 4, "a": [1]}`, `{"_id": 5, "a": [0, 1]}`},
			[]int32{3, 1, 5, 2, 4}},
		{"arrays descending", `{"a": -1}`,
			[]string{`{"_id": 1}`, `{"_id": 2, "a": 1}`, `{"_id": 3, "a": []}`, `{"_id": 4, "a": [1]}`, `{"_id": 5, "a": [0, 1]}`},
			[]int32{2, 4, 5, 1, 3}},
		{"array min across types", `{"a": 1}`,
			[]string{`{"_id": 1, "a": [2, {"x": 1}]}`, `{"_id": 2, "a": [{"x": 3}, 1]}`},
			[]int32{2, 1}},
		{"array max descending", `{"a": -1}`,
			[]string{`{"_id": 1, "a": [1, 9]}`, `{"_id": 2, "a": [5, 6]}`, `{"_id": 3, "a": 7}`},
			[]int32{1, 3, 2}},
		{"nested arrays compare as arrays", `{"a": 1}`,
			[]string{`{"_id": 1, "a": [[0]]}`, `{"_id": 2, "a": ["z"]}`},
			[]int32{2, 1}},
		{"dotted", `{"a.b": 1}`,
			[]string{`{"_id": 1, "a": {"b": 3}}`, `{"_id": 2, "a": {"b": 1}}`, `{"_id": 3, "a": 5}`},
			[]int32{3, 2, 1}},
		{"dotted through array", `{"a.b": 1}`,
			[]string{`{"_id": 1, "a": {"b": 3}}`, `{"_id": 2, "a": [{"b": 5}, {"b": 2}]}`},
			[]int32{2, 1}},
		{"dotted array element without field is null", `{"a.b": 1}`,
			[]string{`{"_id": 1, "a": [{"b": 3}]}`, `{"_id": 2, "a": [{"b": 5}, {"c": 1}]}`},
			[]int32{2, 1}},
		{"dotted descending through array", `{"a.b": -1}`,
			[]string{`{"_id": 1, "a": {"b": 3}}`, `{"_id": 2, "a": [{"b": 5}, {"b": 2}]}`},
			[]int32{2, 1}},
		{"numeric component", `{"a.1": 1}`,
			[]string{`{"_id": 1, "a": [0, 9]}`, `{"_id": 2, "a": [9, 0]}`},
			[]int32{2, 1}},
		{"empty spec keeps order", `{}`,
			[]string{`{"_id": 2}`, `{"_id": 1}`},
			[]int32{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSort(t, tt.spec)
			docs := make([]bson.D, len(tt.docs))
			for i, d := range tt.docs {
				docs[i] = mustDoc(t, d)
			}
			s.SortDocs(docs)
			want := make([]any, len(tt.want))
			for i, id := range tt.want {
				want[i] = id
			}
			if got := ids(docs); !reflect.DeepEqual(got, want) {
				t.Errorf("order = %v, want %v", got, want)
			}
			for i := 1; i < len(docs); i++ {
				if s.Compare(docs[i-1], docs[i]) > 0 {
					t.Errorf("Compare disagrees with SortDocs at %d", i)
				}
				if c := s.CompareKeys(s.Key(docs[i-1]), s.Key(docs[i])); c != s.Compare(docs[i-1], docs[i]) {
					t.Errorf("CompareKeys = %d, disagrees with Compare at %d", c, i)
				}
			}
		})
	}
}

func TestSortCompare(t *testing.T) {
	tests := []struct {
		name, spec, a, b string
		want             int
	}{
		{"less", `{"a": 1}`, `{"a": 1}`, `{"a": 2}`, -1},
		{"greater descending", `{"a": -1}`, `{"a": 1}`, `{"a": 2}`, 1},
		{"missing vs null", `{"a": 1}`, `{}`, `{"a": null}`, 0},
		{"int vs double", `{"a": 1}`, `{"a": 2}`, `{"a": 2.0}`, 0},
		{"second key", `{"a": 1, "b": 1}`, `{"a": 1, "b": 2}`, `{"a": 1, "b": 1}`, 1},
		{"direction as double", `{"a": -1.0}`, `{"a": 1}`, `{"a": 2}`, 1},
		{"direction as long", `{"a": {"$numberLong": "-1"}}`, `{"a": 1}`, `{"a": 2}`, 1},
		{"direction truncates", `{"a": 1.5}`, `{"a": 1}`, `{"a": 2}`, -1},
		{"direction decimal", `{"a": {"$numberDecimal": "-1"}}`, `{"a": 1}`, `{"a": 2}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSort(t, tt.spec)
			if got := s.Compare(mustDoc(t, tt.a), mustDoc(t, tt.b)); got != tt.want {
				t.Errorf("Compare = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCompileSortErrors(t *testing.T) {
	tests := []struct {
		name, spec string
		code       int32
	}{
		{"zero", `{"a": 0}`, 15975},
		{"two", `{"a": 2}`, 15975},
		{"fraction toward zero", `{"a": 0.5}`, 15975},
		{"nan", `{"a": ` + nan + `}`, 15975},
		{"string", `{"a": "asc"}`, 15974},
		{"bool", `{"a": true}`, 15974},
		{"null", `{"a": null}`, 15974},
		{"meta textScore", `{"a": {"$meta": "textScore"}}`, mongoerr.NotImplemented},
		{"meta unknown", `{"a": {"$meta": "bogus"}}`, 31138},
		{"meta extra keys", `{"a": {"$meta": "textScore", "b": 1}}`, mongoerr.FailedToParse},
		{"object", `{"a": {"b": 1}}`, 17312},
		{"empty path", `{"": 1}`, 40352},
		{"empty component", `{"a..b": 1}`, 15998},
		{"trailing dot", `{"a.": 1}`, 40353},
		{"dollar field", `{"$a": 1}`, 16410},
		{"duplicate", `{"a": 1, "a": -1}`, 7472500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileSort(mustDoc(t, tt.spec))
			assertCode(t, err, tt.code)
		})
	}
}
