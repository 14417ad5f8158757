package update

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
)

// applyCase is one operator update applied to one document.
type applyCase struct {
	name    string
	doc     string
	update  string
	filters string // JSON array of arrayFilters
	elem    *int   // index matched by the query, for $
	insert  bool
	want    string
	changed bool
}

func runApplyCases(t *testing.T, cases []applyCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			u := mustCompile(t, mustDoc(t, tt.update), mustFilters(t, tt.filters))
			elem := -1
			if tt.elem != nil {
				elem = *tt.elem
			}
			doc := mustDoc(t, tt.doc)
			got, changed, err := u.Apply(doc, elem, tt.insert)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			assertSameDoc(t, got, mustDoc(t, tt.want))
			if changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
			assertSameDoc(t, doc, mustDoc(t, tt.doc))
		})
	}
}

func TestSet(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "new field is appended", doc: `{"_id": 1, "a": 1}`, update: `{"$set": {"b": 2}}`,
			want: `{"_id": 1, "a": 1, "b": 2}`, changed: true},
		{name: "existing field keeps its position", doc: `{"_id": 1, "a": 1, "b": 2}`, update: `{"$set": {"a": 5}}`,
			want: `{"_id": 1, "a": 5, "b": 2}`, changed: true},
		{name: "same value is a no-op", doc: `{"_id": 1, "a": 1}`, update: `{"$set": {"a": 1}}`,
			want: `{"_id": 1, "a": 1}`, changed: false},
		{name: "same number of another type changes", doc: `{"_id": 1, "a": 1}`, update: `{"$set": {"a": 1.0}}`,
			want: `{"_id": 1, "a": 1.0}`, changed: true},
		{name: "same document is a no-op", doc: `{"_id": 1, "a": {"x": 1, "y": [1, 2]}}`,
			update: `{"$set": {"a": {"x": 1, "y": [1, 2]}}}`, want: `{"_id": 1, "a": {"x": 1, "y": [1, 2]}}`},
		{name: "reordered document changes", doc: `{"_id": 1, "a": {"x": 1, "y": 2}}`,
			update: `{"$set": {"a": {"y": 2, "x": 1}}}`, want: `{"_id": 1, "a": {"y": 2, "x": 1}}`, changed: true},
		{name: "dotted path creates documents", doc: `{"_id": 1}`, update: `{"$set": {"a.b.c": 1}}`,
			want: `{"_id": 1, "a": {"b": {"c": 1}}}`, changed: true},
		{name: "dotted path into existing document", doc: `{"_id": 1, "a": {"x": 1}}`, update: `{"$set": {"a.b": 2}}`,
			want: `{"_id": 1, "a": {"x": 1, "b": 2}}`, changed: true},
		{name: "new fields are created in sorted order", doc: `{"_id": 1}`,
			update: `{"$set": {"z": 1, "b": 1, "a.y": 1}, "$inc": {"a.x": 2}}`,
			want:   `{"_id": 1, "a": {"x": 2, "y": 1}, "b": 1, "z": 1}`, changed: true},
		{name: "numeric fields sort numerically", doc: `{"_id": 1, "a": {}}`, update: `{"$set": {"a.10": 1, "a.9": 2}}`,
			want: `{"_id": 1, "a": {"9": 2, "10": 1}}`, changed: true},
		{name: "numbers before names, zero-padded as names", doc: `{"_id": 1, "a": {}}`,
			update: `{"$set": {"a.b": 1, "a.10": 1, "a.2": 1, "a.01": 1}}`,
			want:   `{"_id": 1, "a": {"01": 1, "2": 1, "10": 1, "b": 1}}`, changed: true},
		{name: "array index", doc: `{"_id": 1, "a": [1, 2, 3]}`, update: `{"$set": {"a.1": 5}}`,
			want: `{"_id": 1, "a": [1, 5, 3]}`, changed: true},
		{name: "past the end pads with nulls", doc: `{"_id": 1, "a": [1]}`, update: `{"$set": {"a.3": 5}}`,
			want: `{"_id": 1, "a": [1, null, null, 5]}`, changed: true},
		{name: "padding then a document", doc: `{"_id": 1, "a": []}`, update: `{"$set": {"a.2.b": 1}}`,
			want: `{"_id": 1, "a": [null, null, {"b": 1}]}`, changed: true},
		{name: "field of an array element", doc: `{"_id": 1, "a": [{"b": 1}, {"b": 2}]}`, update: `{"$set": {"a.1.b": 3}}`,
			want: `{"_id": 1, "a": [{"b": 1}, {"b": 3}]}`, changed: true},
		{name: "numeric part of a missing path is a field name", doc: `{"_id": 1}`, update: `{"$set": {"a.0": 1}}`,
			want: `{"_id": 1, "a": {"0": 1}}`, changed: true},
		{name: "numeric field of a document", doc: `{"_id": 1, "a": {"0": {"b": 1}}}`, update: `{"$set": {"a.0.b": 2}}`,
			want: `{"_id": 1, "a": {"0": {"b": 2}}}`, changed: true},
		{name: "siblings under a created path", doc: `{"_id": 1}`, update: `{"$set": {"a.b.c": 1, "a.b.d": 2, "a.e": 3}}`,
			want: `{"_id": 1, "a": {"b": {"c": 1, "d": 2}, "e": 3}}`, changed: true},
		{name: "nested dollar field", doc: `{"_id": 1, "a": {}}`, update: `{"$set": {"a.$b": 1}}`,
			want: `{"_id": 1, "a": {"$b": 1}}`, changed: true},
		{name: "top-level dollar field on insert", doc: `{"_id": 1}`, update: `{"$set": {"$x": 1}}`, insert: true,
			want: `{"_id": 1, "$x": 1}`, changed: true},
		{name: "empty $set", doc: `{"_id": 1, "a": 1}`, update: `{"$set": {}}`, want: `{"_id": 1, "a": 1}`},
		{name: "_id to the same value", doc: `{"_id": 1, "a": 1}`, update: `{"$set": {"_id": 1, "a": 2}}`,
			want: `{"_id": 1, "a": 2}`, changed: true},
		{name: "_id of an upsert without one", doc: `{"a": 1}`, update: `{"$set": {"_id": 7}}`, insert: true,
			want: `{"_id": 7, "a": 1}`, changed: true},
		{name: "document values are copied", doc: `{"_id": 1}`, update: `{"$set": {"a": {"b": [1, {"c": 2}]}}}`,
			want: `{"_id": 1, "a": {"b": [1, {"c": 2}]}}`, changed: true},
	})
}

func TestSetOnInsert(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "applies when inserting", doc: `{"_id": 1}`, update: `{"$setOnInsert": {"a": 1}, "$set": {"b": 2}}`,
			insert: true, want: `{"_id": 1, "a": 1, "b": 2}`, changed: true},
		{name: "ignored when updating", doc: `{"_id": 1}`, update: `{"$setOnInsert": {"a": 1}, "$set": {"b": 2}}`,
			want: `{"_id": 1, "b": 2}`, changed: true},
		{name: "alone when updating is a no-op", doc: `{"_id": 1}`, update: `{"$setOnInsert": {"a": 1}}`,
			want: `{"_id": 1}`},
	})
}

func TestUnset(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "removes a field", doc: `{"_id": 1, "a": 1, "b": 2}`, update: `{"$unset": {"a": ""}}`,
			want: `{"_id": 1, "b": 2}`, changed: true},
		{name: "missing field is a no-op", doc: `{"_id": 1, "b": 2}`, update: `{"$unset": {"a": 1}}`,
			want: `{"_id": 1, "b": 2}`},
		{name: "nested field", doc: `{"_id": 1, "a": {"b": 1, "c": 2}}`, update: `{"$unset": {"a.b": true}}`,
			want: `{"_id": 1, "a": {"c": 2}}`, changed: true},
		{name: "array element becomes null", doc: `{"_id": 1, "a": [1, 2, 3]}`, update: `{"$unset": {"a.1": 1}}`,
			want: `{"_id": 1, "a": [1, null, 3]}`, changed: true},
		{name: "through a scalar is a no-op", doc: `{"_id": 1, "a": 1}`, update: `{"$unset": {"a.b": 1}}`,
			want: `{"_id": 1, "a": 1}`},
		{name: "name of an array is a no-op", doc: `{"_id": 1, "a": [1]}`, update: `{"$unset": {"a.b": 1}}`,
			want: `{"_id": 1, "a": [1]}`},
		{name: "several fields", doc: `{"_id": 1, "a": 1, "b": 2, "c": 3}`, update: `{"$unset": {"c": 1, "a": 1}}`,
			want: `{"_id": 1, "b": 2}`, changed: true},
	})
}

func TestIncMul(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "inc int", doc: `{"_id": 1, "a": 1}`, update: `{"$inc": {"a": 2}}`, want: `{"_id": 1, "a": 3}`, changed: true},
		{name: "inc widens int to long", doc: `{"_id": 1, "a": 2147483647}`, update: `{"$inc": {"a": 1}}`,
			want: `{"_id": 1, "a": {"$numberLong": "2147483648"}}`, changed: true},
		{name: "inc by double", doc: `{"_id": 1, "a": 1}`, update: `{"$inc": {"a": 0.5}}`,
			want: `{"_id": 1, "a": 1.5}`, changed: true},
		{name: "inc long by int", doc: `{"_id": 1, "a": {"$numberLong": "5"}}`, update: `{"$inc": {"a": 1}}`,
			want: `{"_id": 1, "a": {"$numberLong": "6"}}`, changed: true},
		{name: "inc decimal", doc: `{"_id": 1, "a": {"$numberDecimal": "1.5"}}`, update: `{"$inc": {"a": 1}}`,
			want: `{"_id": 1, "a": {"$numberDecimal": "2.5"}}`, changed: true},
		{name: "inc by zero is a no-op", doc: `{"_id": 1, "a": 5}`, update: `{"$inc": {"a": 0}}`,
			want: `{"_id": 1, "a": 5}`},
		{name: "inc by long zero changes the type", doc: `{"_id": 1, "a": 5}`, update: `{"$inc": {"a": {"$numberLong": "0"}}}`,
			want: `{"_id": 1, "a": {"$numberLong": "5"}}`, changed: true},
		{name: "inc creates the field", doc: `{"_id": 1}`, update: `{"$inc": {"a.b": 4}}`,
			want: `{"_id": 1, "a": {"b": 4}}`, changed: true},
		{name: "mul", doc: `{"_id": 1, "a": 3}`, update: `{"$mul": {"a": 4}}`, want: `{"_id": 1, "a": 12}`, changed: true},
		{name: "mul by one is a no-op", doc: `{"_id": 1, "a": 3}`, update: `{"$mul": {"a": 1}}`, want: `{"_id": 1, "a": 3}`},
		{name: "mul creates an int zero", doc: `{"_id": 1}`, update: `{"$mul": {"a": 4}}`,
			want: `{"_id": 1, "a": 0}`, changed: true},
		{name: "mul creates a double zero", doc: `{"_id": 1}`, update: `{"$mul": {"a": 2.5}}`,
			want: `{"_id": 1, "a": 0.0}`, changed: true},
		{name: "mul creates a long zero", doc: `{"_id": 1}`, update: `{"$mul": {"a": {"$numberLong": "2"}}}`,
			want: `{"_id": 1, "a": {"$numberLong": "0"}}`, changed: true},
	})
}

func TestMinMax(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "min lowers", doc: `{"_id": 1, "a": 5}`, update: `{"$min": {"a": 3}}`, want: `{"_id": 1, "a": 3}`, changed: true},
		{name: "min keeps lower", doc: `{"_id": 1, "a": 5}`, update: `{"$min": {"a": 7}}`, want: `{"_id": 1, "a": 5}`},
		{name: "min equal of another type is a no-op", doc: `{"_id": 1, "a": 5}`, update: `{"$min": {"a": 5.0}}`,
			want: `{"_id": 1, "a": 5}`},
		{name: "max raises", doc: `{"_id": 1, "a": 5}`, update: `{"$max": {"a": 9}}`, want: `{"_id": 1, "a": 9}`, changed: true},
		{name: "max keeps higher", doc: `{"_id": 1, "a": 5}`, update: `{"$max": {"a": 1}}`, want: `{"_id": 1, "a": 5}`},
		{name: "max across types", doc: `{"_id": 1, "a": 5}`, update: `{"$max": {"a": "x"}}`,
			want: `{"_id": 1, "a": "x"}`, changed: true},
		{name: "missing field is set", doc: `{"_id": 1}`, update: `{"$min": {"a": 2}}`, want: `{"_id": 1, "a": 2}`, changed: true},
	})
}

func TestCurrentDate(t *testing.T) {
	u := mustCompile(t, mustDoc(t, `{"$currentDate": {"d": true, "t": {"$type": "timestamp"}, "x": {"$type": "date"}}}`), nil)
	got, changed, err := u.Apply(mustDoc(t, `{"_id": 1, "d": 1}`), -1, false)
	if err != nil || !changed {
		t.Fatalf("Apply = %v, %v", changed, err)
	}
	if d := got[1].Value; d != bson.NewDateTimeFromTime(testNow) {
		t.Errorf("d = %v, want %v", d, testNow)
	}
	ts, ok := got[2].Value.(bson.Timestamp)
	if !ok || ts.T != uint32(testNow.Unix()) || ts.I == 0 {
		t.Errorf("t = %v, want a timestamp at %d", got[2].Value, testNow.Unix())
	}
	if got[3].Key != "x" || got[3].Value != bson.NewDateTimeFromTime(testNow) {
		t.Errorf("x = %v", got[3])
	}
	again, changed, err := u.Apply(got, -1, false)
	if err != nil || !changed {
		t.Fatalf("second Apply = %v, %v; $currentDate always modifies", changed, err)
	}
	if again[2].Value.(bson.Timestamp).I == ts.I {
		t.Errorf("timestamps repeat: %v", ts)
	}
}

func TestRename(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "to a new field at the end", doc: `{"_id": 1, "a": 1, "b": 2}`, update: `{"$rename": {"a": "z"}}`,
			want: `{"_id": 1, "b": 2, "z": 1}`, changed: true},
		{name: "over an existing field", doc: `{"_id": 1, "a": 1, "b": 2}`, update: `{"$rename": {"b": "a"}}`,
			want: `{"_id": 1, "a": 2}`, changed: true},
		{name: "out of a document", doc: `{"_id": 1, "a": {"b": 1, "c": 2}}`, update: `{"$rename": {"a.b": "d"}}`,
			want: `{"_id": 1, "a": {"c": 2}, "d": 1}`, changed: true},
		{name: "into a new document", doc: `{"_id": 1, "a": 1}`, update: `{"$rename": {"a": "b.c"}}`,
			want: `{"_id": 1, "b": {"c": 1}}`, changed: true},
		{name: "a document value", doc: `{"_id": 1, "a": {"x": [1]}}`, update: `{"$rename": {"a": "b"}}`,
			want: `{"_id": 1, "b": {"x": [1]}}`, changed: true},
		{name: "missing source is a no-op", doc: `{"_id": 1, "b": 2}`, update: `{"$rename": {"a": "c"}}`,
			want: `{"_id": 1, "b": 2}`},
		{name: "same value still changes", doc: `{"_id": 1, "a": 1, "b": 1}`, update: `{"$rename": {"a": "b"}}`,
			want: `{"_id": 1, "b": 1}`, changed: true},
		{name: "with other operators", doc: `{"_id": 1, "a": 1}`, update: `{"$rename": {"a": "b"}, "$set": {"c": 3}}`,
			want: `{"_id": 1, "b": 1, "c": 3}`, changed: true},
	})
}

func TestPush(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "appends", doc: `{"_id": 1, "a": [1]}`, update: `{"$push": {"a": 2}}`,
			want: `{"_id": 1, "a": [1, 2]}`, changed: true},
		{name: "an array as one element", doc: `{"_id": 1, "a": [1]}`, update: `{"$push": {"a": [2, 3]}}`,
			want: `{"_id": 1, "a": [1, [2, 3]]}`, changed: true},
		{name: "creates the array", doc: `{"_id": 1}`, update: `{"$push": {"a.b": 1}}`,
			want: `{"_id": 1, "a": {"b": [1]}}`, changed: true},
		{name: "each", doc: `{"_id": 1, "a": [1]}`, update: `{"$push": {"a": {"$each": [2, 3]}}}`,
			want: `{"_id": 1, "a": [1, 2, 3]}`, changed: true},
		{name: "empty each creates an empty array", doc: `{"_id": 1}`, update: `{"$push": {"a": {"$each": []}}}`,
			want: `{"_id": 1, "a": []}`, changed: true},
		{name: "empty each on an array is a no-op", doc: `{"_id": 1, "a": [1]}`, update: `{"$push": {"a": {"$each": []}}}`,
			want: `{"_id": 1, "a": [1]}`},
		{name: "document without each is one element", doc: `{"_id": 1, "a": []}`, update: `{"$push": {"a": {"$slice": 1}}}`,
			want: `{"_id": 1, "a": [{"$slice": 1}]}`, changed: true},
		{name: "position zero", doc: `{"_id": 1, "a": [1, 2]}`, update: `{"$push": {"a": {"$each": [8, 9], "$position": 0}}}`,
			want: `{"_id": 1, "a": [8, 9, 1, 2]}`, changed: true},
		{name: "position in the middle", doc: `{"_id": 1, "a": [1, 2, 3]}`, update: `{"$push": {"a": {"$each": [9], "$position": 1}}}`,
			want: `{"_id": 1, "a": [1, 9, 2, 3]}`, changed: true},
		{name: "position past the end", doc: `{"_id": 1, "a": [1]}`, update: `{"$push": {"a": {"$each": [9], "$position": 5}}}`,
			want: `{"_id": 1, "a": [1, 9]}`, changed: true},
		{name: "negative position", doc: `{"_id": 1, "a": [1, 2, 3]}`, update: `{"$push": {"a": {"$each": [9], "$position": -1}}}`,
			want: `{"_id": 1, "a": [1, 2, 9, 3]}`, changed: true},
		{name: "negative position past the start", doc: `{"_id": 1, "a": [1, 2]}`, update: `{"$push": {"a": {"$each": [9], "$position": -5}}}`,
			want: `{"_id": 1, "a": [9, 1, 2]}`, changed: true},
		{name: "slice keeps the first", doc: `{"_id": 1, "a": [1, 2]}`, update: `{"$push": {"a": {"$each": [3, 4], "$slice": 3}}}`,
			want: `{"_id": 1, "a": [1, 2, 3]}`, changed: true},
		{name: "negative slice keeps the last", doc: `{"_id": 1, "a": [1, 2]}`, update: `{"$push": {"a": {"$each": [3, 4], "$slice": -3}}}`,
			want: `{"_id": 1, "a": [2, 3, 4]}`, changed: true},
		{name: "slice zero empties", doc: `{"_id": 1, "a": [1, 2]}`, update: `{"$push": {"a": {"$each": [3], "$slice": 0}}}`,
			want: `{"_id": 1, "a": []}`, changed: true},
		{name: "slice with empty each trims", doc: `{"_id": 1, "a": [1, 2, 3]}`, update: `{"$push": {"a": {"$each": [], "$slice": 1.0}}}`,
			want: `{"_id": 1, "a": [1]}`, changed: true},
		{name: "sort ascending", doc: `{"_id": 1, "a": [3, 1]}`, update: `{"$push": {"a": {"$each": [2], "$sort": 1}}}`,
			want: `{"_id": 1, "a": [1, 2, 3]}`, changed: true},
		{name: "sort descending across types", doc: `{"_id": 1, "a": ["x", 1]}`, update: `{"$push": {"a": {"$each": [null], "$sort": -1}}}`,
			want: `{"_id": 1, "a": ["x", 1, null]}`, changed: true},
		{name: "sort of a sorted array is a no-op", doc: `{"_id": 1, "a": [1, 2]}`, update: `{"$push": {"a": {"$each": [], "$sort": 1}}}`,
			want: `{"_id": 1, "a": [1, 2]}`},
		{name: "sort by a field", doc: `{"_id": 1, "a": [{"s": 3, "n": "c"}, {"s": 1, "n": "a"}]}`,
			update: `{"$push": {"a": {"$each": [{"s": 2, "n": "b"}], "$sort": {"s": -1}}}}`,
			want:   `{"_id": 1, "a": [{"s": 3, "n": "c"}, {"s": 2, "n": "b"}, {"s": 1, "n": "a"}]}`, changed: true},
		{name: "sort by a dotted field, missing first", doc: `{"_id": 1, "a": [{"x": {"y": 2}}, {"z": 1}, 5]}`,
			update: `{"$push": {"a": {"$each": [{"x": {"y": 1}}], "$sort": {"x.y": 1}}}}`,
			want:   `{"_id": 1, "a": [{"z": 1}, 5, {"x": {"y": 1}}, {"x": {"y": 2}}]}`, changed: true},
		{name: "sort by two fields", doc: `{"_id": 1, "a": [{"a": 1, "b": 1}, {"a": 0, "b": 5}, {"a": 1, "b": 2}]}`,
			update: `{"$push": {"a": {"$each": [], "$sort": {"a": 1, "b": -1}}}}`,
			want:   `{"_id": 1, "a": [{"a": 0, "b": 5}, {"a": 1, "b": 2}, {"a": 1, "b": 1}]}`, changed: true},
		{name: "insert, sort, then slice", doc: `{"_id": 1, "a": [5, 1]}`,
			update: `{"$push": {"a": {"$slice": 2, "$sort": 1, "$each": [3], "$position": 0}}}`,
			want:   `{"_id": 1, "a": [1, 3]}`, changed: true},
	})
}

func TestAddToSet(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "adds a new value", doc: `{"_id": 1, "a": [1]}`, update: `{"$addToSet": {"a": 2}}`,
			want: `{"_id": 1, "a": [1, 2]}`, changed: true},
		{name: "present value is a no-op", doc: `{"_id": 1, "a": [1, 2]}`, update: `{"$addToSet": {"a": 2}}`,
			want: `{"_id": 1, "a": [1, 2]}`},
		{name: "equal number of another type is present", doc: `{"_id": 1, "a": [1]}`, update: `{"$addToSet": {"a": 1.0}}`,
			want: `{"_id": 1, "a": [1]}`},
		{name: "documents compare whole", doc: `{"_id": 1, "a": [{"x": 1, "y": 2}]}`, update: `{"$addToSet": {"a": {"y": 2, "x": 1}}}`,
			want: `{"_id": 1, "a": [{"x": 1, "y": 2}, {"y": 2, "x": 1}]}`, changed: true},
		{name: "each skips duplicates", doc: `{"_id": 1, "a": [1]}`, update: `{"$addToSet": {"a": {"$each": [1, 2, 2, 3]}}}`,
			want: `{"_id": 1, "a": [1, 2, 3]}`, changed: true},
		{name: "creates the array", doc: `{"_id": 1}`, update: `{"$addToSet": {"a": {"$each": [1, 1, 2]}}}`,
			want: `{"_id": 1, "a": [1, 2]}`, changed: true},
		{name: "array value is one element", doc: `{"_id": 1, "a": []}`, update: `{"$addToSet": {"a": [1, 2]}}`,
			want: `{"_id": 1, "a": [[1, 2]]}`, changed: true},
	})
}

func TestPullPop(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "pull a value", doc: `{"_id": 1, "a": [1, 2, 1, 3]}`, update: `{"$pull": {"a": 1}}`,
			want: `{"_id": 1, "a": [2, 3]}`, changed: true},
		{name: "pull equal numbers of other types", doc: `{"_id": 1, "a": [1, 1.0, {"$numberLong": "1"}, 2]}`,
			update: `{"$pull": {"a": 1}}`, want: `{"_id": 1, "a": [2]}`, changed: true},
		{name: "pull an array value", doc: `{"_id": 1, "a": [[1, 2], 1, 2]}`, update: `{"$pull": {"a": [1, 2]}}`,
			want: `{"_id": 1, "a": [1, 2]}`, changed: true},
		{name: "pull nothing is a no-op", doc: `{"_id": 1, "a": [1, 2]}`, update: `{"$pull": {"a": 5}}`,
			want: `{"_id": 1, "a": [1, 2]}`},
		{name: "pull by condition", doc: `{"_id": 1, "a": [3, 6, 9, "x"]}`, update: `{"$pull": {"a": {"$gte": 6}}}`,
			want: `{"_id": 1, "a": [3, "x"]}`, changed: true},
		{name: "pull by $in", doc: `{"_id": 1, "a": [1, 2, 3]}`, update: `{"$pull": {"a": {"$in": [1, 3]}}}`,
			want: `{"_id": 1, "a": [2]}`, changed: true},
		{name: "pull documents by query", doc: `{"_id": 1, "a": [{"s": 8, "i": "B"}, {"s": 8, "i": "C"}, 8]}`,
			update: `{"$pull": {"a": {"s": 8, "i": "B"}}}`, want: `{"_id": 1, "a": [{"s": 8, "i": "C"}, 8]}`, changed: true},
		{name: "pull documents by field condition", doc: `{"_id": 1, "a": [{"s": 1}, {"s": 9}]}`,
			update: `{"$pull": {"a": {"s": {"$gt": 5}}}}`, want: `{"_id": 1, "a": [{"s": 1}]}`, changed: true},
		{name: "empty query pulls every document", doc: `{"_id": 1, "a": [{"s": 1}, 2, {}]}`,
			update: `{"$pull": {"a": {}}}`, want: `{"_id": 1, "a": [2]}`, changed: true},
		{name: "pull missing is a no-op", doc: `{"_id": 1}`, update: `{"$pull": {"a": 1}}`, want: `{"_id": 1}`},
		{name: "pull from a nested array", doc: `{"_id": 1, "a": {"b": [1, 2]}}`, update: `{"$pull": {"a.b": 2}}`,
			want: `{"_id": 1, "a": {"b": [1]}}`, changed: true},
		{name: "pullAll", doc: `{"_id": 1, "a": [1, 2, 3, 1]}`, update: `{"$pullAll": {"a": [1, 3]}}`,
			want: `{"_id": 1, "a": [2]}`, changed: true},
		{name: "pullAll nothing", doc: `{"_id": 1, "a": [1]}`, update: `{"$pullAll": {"a": [5]}}`,
			want: `{"_id": 1, "a": [1]}`},
		{name: "pop last", doc: `{"_id": 1, "a": [1, 2, 3]}`, update: `{"$pop": {"a": 1}}`,
			want: `{"_id": 1, "a": [1, 2]}`, changed: true},
		{name: "pop first", doc: `{"_id": 1, "a": [1, 2, 3]}`, update: `{"$pop": {"a": -1}}`,
			want: `{"_id": 1, "a": [2, 3]}`, changed: true},
		{name: "pop by a long", doc: `{"_id": 1, "a": [1, 2]}`, update: `{"$pop": {"a": {"$numberLong": "-1"}}}`,
			want: `{"_id": 1, "a": [2]}`, changed: true},
		{name: "pop empty is a no-op", doc: `{"_id": 1, "a": []}`, update: `{"$pop": {"a": 1}}`,
			want: `{"_id": 1, "a": []}`},
		{name: "pop missing is a no-op", doc: `{"_id": 1}`, update: `{"$pop": {"a.b": 1}}`, want: `{"_id": 1}`},
		{name: "pop past the end of an array is a no-op", doc: `{"_id": 1, "a": [1]}`, update: `{"$pop": {"a.3": 1}}`,
			want: `{"_id": 1, "a": [1]}`},
	})
}

func TestBit(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "and", doc: `{"_id": 1, "a": 13}`, update: `{"$bit": {"a": {"and": 10}}}`, want: `{"_id": 1, "a": 8}`, changed: true},
		{name: "or", doc: `{"_id": 1, "a": 13}`, update: `{"$bit": {"a": {"or": 2}}}`, want: `{"_id": 1, "a": 15}`, changed: true},
		{name: "xor", doc: `{"_id": 1, "a": 13}`, update: `{"$bit": {"a": {"xor": 5}}}`, want: `{"_id": 1, "a": 8}`, changed: true},
		{name: "several in order", doc: `{"_id": 1, "a": 12}`, update: `{"$bit": {"a": {"or": 1, "and": 5}}}`,
			want: `{"_id": 1, "a": 5}`, changed: true},
		{name: "long operand widens", doc: `{"_id": 1, "a": 1}`, update: `{"$bit": {"a": {"or": {"$numberLong": "2"}}}}`,
			want: `{"_id": 1, "a": {"$numberLong": "3"}}`, changed: true},
		{name: "no change", doc: `{"_id": 1, "a": 3}`, update: `{"$bit": {"a": {"or": 1}}}`, want: `{"_id": 1, "a": 3}`},
		{name: "missing starts from int zero", doc: `{"_id": 1}`, update: `{"$bit": {"a": {"or": 6}}}`,
			want: `{"_id": 1, "a": 6}`, changed: true},
	})
}

func TestPositional(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "$ sets the matched element", doc: `{"_id": 1, "a": [1, 2, 3]}`, update: `{"$set": {"a.$": 9}}`, elem: idx(1),
			want: `{"_id": 1, "a": [1, 9, 3]}`, changed: true},
		{name: "$ field of the matched element", doc: `{"_id": 1, "a": [{"b": 1}, {"b": 2}]}`, update: `{"$inc": {"a.$.b": 5}}`,
			elem: idx(1), want: `{"_id": 1, "a": [{"b": 1}, {"b": 7}]}`, changed: true},
		{name: "$ creates a field in the matched element", doc: `{"_id": 1, "a": [{"b": 1}]}`, update: `{"$set": {"a.$.c": 5}}`,
			elem: idx(0), want: `{"_id": 1, "a": [{"b": 1, "c": 5}]}`, changed: true},
		{name: "$ unset makes null", doc: `{"_id": 1, "a": [1, 2]}`, update: `{"$unset": {"a.$": 1}}`, elem: idx(0),
			want: `{"_id": 1, "a": [null, 2]}`, changed: true},
		{name: "$ merges with the same index", doc: `{"_id": 1, "a": [{"x": 0}]}`, update: `{"$set": {"a.$.x": 1, "a.0.y": 2}}`,
			elem: idx(0), want: `{"_id": 1, "a": [{"x": 1, "y": 2}]}`, changed: true},
		{name: "$ beside another index", doc: `{"_id": 1, "a": [0, 0, 0]}`, update: `{"$set": {"a.$": 1, "a.2": 2}}`,
			elem: idx(0), want: `{"_id": 1, "a": [1, 0, 2]}`, changed: true},
		{name: "$ on a nested array", doc: `{"_id": 1, "a": {"b": [[5], [6]]}}`, update: `{"$push": {"a.b.$": 1}}`,
			elem: idx(1), want: `{"_id": 1, "a": {"b": [[5], [6, 1]]}}`, changed: true},
		{name: "$[] sets every element", doc: `{"_id": 1, "a": [1, 2, 3]}`, update: `{"$set": {"a.$[]": 0}}`,
			want: `{"_id": 1, "a": [0, 0, 0]}`, changed: true},
		{name: "$[] field of every element", doc: `{"_id": 1, "a": [{"b": 1}, {"b": 2}, {}]}`, update: `{"$inc": {"a.$[].b": 10}}`,
			want: `{"_id": 1, "a": [{"b": 11}, {"b": 12}, {"b": 10}]}`, changed: true},
		{name: "$[] of an empty array", doc: `{"_id": 1, "a": []}`, update: `{"$set": {"a.$[].b": 1}}`,
			want: `{"_id": 1, "a": []}`},
		{name: "$[] nested", doc: `{"_id": 1, "a": [[1, 2], [3]]}`, update: `{"$mul": {"a.$[].$[]": 2}}`,
			want: `{"_id": 1, "a": [[2, 4], [6]]}`, changed: true},
		{name: "$[] same values is a no-op", doc: `{"_id": 1, "a": [0, 0]}`, update: `{"$set": {"a.$[]": 0}}`,
			want: `{"_id": 1, "a": [0, 0]}`},
		{name: "$[i] by condition", doc: `{"_id": 1, "a": [1, 2, 3]}`, update: `{"$set": {"a.$[i]": 0}}`,
			filters: `[{"i": {"$gte": 2}}]`, want: `{"_id": 1, "a": [1, 0, 0]}`, changed: true},
		{name: "$[i] by field", doc: `{"_id": 1, "y": [{"b": 3}, {"b": 1}]}`, update: `{"$set": {"y.$[i].b": 2}}`,
			filters: `[{"i.b": 3}]`, want: `{"_id": 1, "y": [{"b": 2}, {"b": 1}]}`, changed: true},
		{name: "$[i] matching nothing", doc: `{"_id": 1, "y": [{"b": 3}, {"b": 1}]}`, update: `{"$set": {"y.$[i].b": 2}}`,
			filters: `[{"i.b": 4}]`, want: `{"_id": 1, "y": [{"b": 3}, {"b": 1}]}`},
		{name: "$[i] and $[j] nested", doc: `{"_id": 3, "y": [{"b": 5, "c": [{"d": 2}, {"d": 1}]}]}`,
			update: `{"$set": {"y.$[i].c.$[j].d": 0}}`, filters: `[{"i.b": 5}, {"j.d": 1}]`,
			want: `{"_id": 3, "y": [{"b": 5, "c": [{"d": 2}, {"d": 0}]}]}`, changed: true},
		{name: "$[i] and $[j] nested matching nothing", doc: `{"_id": 3, "y": [{"b": 5, "c": [{"d": 2}, {"d": 1}]}]}`,
			update: `{"$set": {"y.$[i].c.$[j].d": 0}}`, filters: `[{"i.b": 5}, {"j.d": 3}]`,
			want: `{"_id": 3, "y": [{"b": 5, "c": [{"d": 2}, {"d": 1}]}]}`},
		{name: "$[] and $[i] on one element merge", doc: `{"_id": 1, "a": [{"n": 1}, {"n": 5}]}`,
			update: `{"$set": {"a.$[].x": 1, "a.$[big].y": 2}}`, filters: `[{"big.n": {"$gt": 2}}]`,
			want: `{"_id": 1, "a": [{"n": 1, "x": 1}, {"n": 5, "x": 1, "y": 2}]}`, changed: true},
		{name: "nested array filters merge", doc: `{"_id": 1, "a": [{"c": 1, "b": [1, 2]}, {"c": 2, "b": [1, 2]}]}`,
			update: `{"$set": {"a.$[].b.$[x]": 0}, "$inc": {"a.$[i].b.$[y]": 10}}`, filters: `[{"i.c": 1}, {"x": 1}, {"y": 2}]`,
			want: `{"_id": 1, "a": [{"c": 1, "b": [0, 12]}, {"c": 2, "b": [0, 2]}]}`, changed: true},
		{name: "positionals under merged filters", doc: `{"_id": 1, "a": [[{"k": 1}], [{"k": 2}]]}`,
			update: `{"$set": {"a.$[].$.x": 1, "a.$[i].$.y": 2}}`, filters: `[{"i.0.k": 1}]`, elem: idx(0),
			want: `{"_id": 1, "a": [[{"k": 1, "x": 1, "y": 2}], [{"k": 2, "x": 1}]]}`, changed: true},
		{name: "$[i] with several operators", doc: `{"_id": 1, "a": [{"n": 1, "l": []}, {"n": 5, "l": []}]}`,
			update: `{"$inc": {"a.$[e].n": 1}, "$push": {"a.$[e].l": "x"}}`, filters: `[{"e.n": 5}]`,
			want: `{"_id": 1, "a": [{"n": 1, "l": []}, {"n": 6, "l": ["x"]}]}`, changed: true},
		{name: "$[i] with $and", doc: `{"_id": 1, "a": [1, 5, 9]}`, update: `{"$set": {"a.$[i]": 0}}`,
			filters: `[{"$and": [{"i": {"$gt": 2}}, {"i": {"$lt": 8}}]}]`, want: `{"_id": 1, "a": [1, 0, 9]}`, changed: true},
		{name: "$[i] unset", doc: `{"_id": 1, "a": [1, 5]}`, update: `{"$unset": {"a.$[i]": 1}}`,
			filters: `[{"i": 5}]`, want: `{"_id": 1, "a": [1, null]}`, changed: true},
	})
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		update  string
		filters string
		elem    *int
		insert  bool
		code    int32
	}{
		{"field in a scalar", `{"_id": 1, "a": 1}`, `{"$set": {"a.b": 2}}`, "", nil, false, mongoerr.PathNotViable},
		{"deep field in a scalar", `{"_id": 1, "a": {"b": null}}`, `{"$set": {"a.b.c.d": 2}}`, "", nil, false, mongoerr.PathNotViable},
		{"name in an array", `{"_id": 1, "a": [1, 2]}`, `{"$set": {"a.x": 2}}`, "", nil, false, mongoerr.PathNotViable},
		{"field in an array element scalar", `{"_id": 1, "a": [1]}`, `{"$inc": {"a.0.b": 1}}`, "", nil, false, mongoerr.PathNotViable},
		{"padding too far", `{"_id": 1, "a": []}`, `{"$set": {"a.1500001": 1}}`, "", nil, false, codeCannotBackfillArray},
		{"inc a string", `{"_id": 1, "a": "x"}`, `{"$inc": {"a": 1}}`, "", nil, false, mongoerr.TypeMismatch},
		{"mul a null", `{"_id": 1, "a": null}`, `{"$mul": {"a": 1}}`, "", nil, false, mongoerr.TypeMismatch},
		{"inc overflows a long", `{"_id": 1, "a": {"$numberLong": "9223372036854775807"}}`, `{"$inc": {"a": 1}}`, "", nil, false, mongoerr.BadValue},
		{"mul overflows a long", `{"_id": 1, "a": {"$numberLong": "9223372036854775807"}}`, `{"$mul": {"a": 2}}`, "", nil, false, mongoerr.BadValue},
		{"push to a scalar", `{"_id": 1, "a": 1}`, `{"$push": {"a": 1}}`, "", nil, false, mongoerr.BadValue},
		{"addToSet to a document", `{"_id": 1, "a": {}}`, `{"$addToSet": {"a": 1}}`, "", nil, false, mongoerr.BadValue},
		{"pull from a scalar", `{"_id": 1, "a": 1}`, `{"$pull": {"a": 1}}`, "", nil, false, mongoerr.BadValue},
		{"pullAll from a scalar", `{"_id": 1, "a": 1}`, `{"$pullAll": {"a": [1]}}`, "", nil, false, mongoerr.BadValue},
		{"pop a scalar", `{"_id": 1, "a": 1}`, `{"$pop": {"a": 1}}`, "", nil, false, mongoerr.TypeMismatch},
		{"pop through a scalar", `{"_id": 1, "a": 1}`, `{"$pop": {"a.b": 1}}`, "", nil, false, mongoerr.PathNotViable},
		{"pull through an array name", `{"_id": 1, "a": [1]}`, `{"$pull": {"a.b": 1}}`, "", nil, false, mongoerr.PathNotViable},
		{"bit on a double", `{"_id": 1, "a": 1.5}`, `{"$bit": {"a": {"and": 1}}}`, "", nil, false, mongoerr.BadValue},
		{"set _id", `{"_id": 1, "a": 1}`, `{"$set": {"_id": 2}}`, "", nil, false, mongoerr.ImmutableField},
		{"set _id to an equal number of another type", `{"_id": 1}`, `{"$set": {"_id": 1.0}}`, "", nil, false, mongoerr.ImmutableField},
		{"set a field of _id", `{"_id": {"a": 1}}`, `{"$set": {"_id.a": 2}}`, "", nil, false, mongoerr.ImmutableField},
		{"create a field in _id", `{"_id": {"a": 1}}`, `{"$set": {"_id.b": 2}}`, "", nil, false, mongoerr.ImmutableField},
		{"unset _id", `{"_id": 1}`, `{"$unset": {"_id": 1}}`, "", nil, false, mongoerr.ImmutableField},
		{"inc _id", `{"_id": 1}`, `{"$inc": {"_id": 1}}`, "", nil, false, mongoerr.ImmutableField},
		{"rename _id", `{"_id": 1}`, `{"$rename": {"_id": "x"}}`, "", nil, false, mongoerr.ImmutableField},
		{"rename onto _id", `{"_id": 1, "a": 2}`, `{"$rename": {"a": "_id"}}`, "", nil, false, mongoerr.ImmutableField},
		{"set _id of an upsert seeded with one", `{"_id": 1}`, `{"$set": {"_id": 2}}`, "", nil, true, mongoerr.ImmutableField},
		{"unstorable _id on insert", `{"a": 1}`, `{"$set": {"_id": [1]}}`, "", nil, true, mongoerr.InvalidIdField},
		{"top-level dollar field on update", `{"_id": 1}`, `{"$set": {"$x": 1}}`, "", nil, false, mongoerr.DollarPrefixedFieldName},
		{"inc an existing top-level dollar field", `{"_id": 1, "$x": 1}`, `{"$inc": {"$x": 1}}`, "", nil, false, mongoerr.DollarPrefixedFieldName},
		{"positional without a match", `{"_id": 1, "a": [1]}`, `{"$set": {"a.$": 1}}`, "", nil, false, mongoerr.BadValue},
		{"positional on an upsert", `{"_id": 1}`, `{"$set": {"a.$": 1}}`, "", nil, true, mongoerr.BadValue},
		{"$[] on a missing field", `{"_id": 1}`, `{"$set": {"a.$[]": 1}}`, "", nil, false, mongoerr.BadValue},
		{"$[] on a scalar", `{"_id": 1, "a": 1}`, `{"$set": {"a.$[]": 1}}`, "", nil, false, mongoerr.BadValue},
		{"$[i] on a document", `{"_id": 1, "a": {"b": 1}}`, `{"$set": {"a.$[i]": 1}}`, `[{"i": 1}]`, nil, false, mongoerr.BadValue},
		{"two filters set one element", `{"_id": 1, "a": [1, 2]}`, `{"$set": {"a.$[i]": 0, "a.$[j]": 1}}`,
			`[{"i": 2}, {"j": {"$gt": 1}}]`, nil, false, mongoerr.ConflictingUpdateOperators},
		{"filters set one field of one element twice", `{"_id": 1, "a": [{"b": [1]}]}`, `{"$set": {"a.$[i].b.$[]": 0, "a.$[j].b.$[]": 1}}`,
			`[{"i.b": [1]}, {"j.b": [1]}]`, nil, false, mongoerr.ConflictingUpdateOperators},
		{"$ and the same index both set it", `{"_id": 1, "a": [1, 2]}`, `{"$set": {"a.$": 0, "a.1": 1}}`, "", idx(1), false,
			mongoerr.ConflictingUpdateOperators},
		{"rename from inside an array", `{"_id": 1, "a": [{"b": 1}]}`, `{"$rename": {"a.0.b": "c"}}`, "", nil, false, mongoerr.BadValue},
		{"rename into an array", `{"_id": 1, "a": [{"b": 1}], "c": 1}`, `{"$rename": {"c": "a.0.d"}}`, "", nil, false, mongoerr.BadValue},
		{"rename through a scalar", `{"_id": 1, "a": 1}`, `{"$rename": {"a.b": "c"}}`, "", nil, false, mongoerr.PathNotViable},
		{"rename into a scalar", `{"_id": 1, "a": 1, "c": 1}`, `{"$rename": {"c": "a.b"}}`, "", nil, false, mongoerr.PathNotViable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustCompile(t, mustDoc(t, tt.update), mustFilters(t, tt.filters))
			elem := -1
			if tt.elem != nil {
				elem = *tt.elem
			}
			_, _, err := u.Apply(mustDoc(t, tt.doc), elem, tt.insert)
			assertCode(t, err, tt.code)
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		update  string
		filters string
		code    int32
	}{
		{"unknown operator", `{"$foo": {"a": 1}}`, "", mongoerr.FailedToParse},
		{"removed $pushAll", `{"$pushAll": {"a": [1]}}`, "", mongoerr.FailedToParse},
		{"operator mixed with a field", `{"$set": {"a": 1}, "b": 2}`, "", mongoerr.FailedToParse},
		{"operator argument not a document", `{"$set": 1}`, "", mongoerr.FailedToParse},
		{"same path twice", `{"$set": {"a": 1}, "$inc": {"a": 1}}`, "", mongoerr.ConflictingUpdateOperators},
		{"set and setOnInsert", `{"$set": {"a": 1}, "$setOnInsert": {"a": 1}}`, "", mongoerr.ConflictingUpdateOperators},
		{"path under another", `{"$set": {"a": 1, "a.b": 1}}`, "", mongoerr.ConflictingUpdateOperators},
		{"path above another", `{"$set": {"a.b.c": 1}, "$unset": {"a.b": 1}}`, "", mongoerr.ConflictingUpdateOperators},
		{"rename source conflicts", `{"$rename": {"a": "b"}, "$set": {"a": 1}}`, "", mongoerr.ConflictingUpdateOperators},
		{"rename target conflicts", `{"$rename": {"a": "b"}, "$set": {"b.c": 1}}`, "", mongoerr.ConflictingUpdateOperators},
		{"$[] and an index", `{"$set": {"a.$[]": 1, "a.0": 2}}`, "", mongoerr.ConflictingUpdateOperators},
		{"$[] twice", `{"$set": {"a.$[]": 1}, "$inc": {"a.$[]": 2}}`, "", mongoerr.ConflictingUpdateOperators},
		{"empty path", `{"$set": {"": 1}}`, "", codeEmptyFieldName},
		{"empty path part", `{"$set": {"a..b": 1}}`, "", codeEmptyFieldName},
		{"trailing dot", `{"$unset": {"a.": 1}}`, "", codeEmptyFieldName},
		{"positional first", `{"$set": {"$.a": 1}}`, "", mongoerr.BadValue},
		{"two positionals", `{"$set": {"a.$.b.$": 1}}`, "", mongoerr.BadValue},
		{"array filter first", `{"$set": {"$[].a": 1}}`, "", mongoerr.BadValue},
		{"inc by a string", `{"$inc": {"a": "1"}}`, "", mongoerr.TypeMismatch},
		{"mul by null", `{"$mul": {"a": null}}`, "", mongoerr.TypeMismatch},
		{"no filter for an identifier", `{"$set": {"a.$[i]": 1}}`, "", mongoerr.BadValue},
		{"unused filter", `{"$set": {"a.$[i]": 1}}`, `[{"i": 1}, {"j": 2}]`, mongoerr.FailedToParse},
		{"two filters for one identifier", `{"$set": {"a.$[i]": 1}}`, `[{"i": 1}, {"i": 2}]`, mongoerr.FailedToParse},
		{"filter with two identifiers", `{"$set": {"a.$[i]": 1}}`, `[{"i": 1, "j": 2}]`, mongoerr.FailedToParse},
		{"filter without an identifier", `{"$set": {"a.$[i]": 1}}`, `[{"$and": []}]`, mongoerr.FailedToParse},
		{"uppercase identifier", `{"$set": {"a.$[I]": 1}}`, `[{"I": 1}]`, mongoerr.BadValue},
		{"filter the matcher rejects", `{"$set": {"a.$[i]": 1}}`, `[{"$where": "x"}]`, mongoerr.BadValue},
		{"filters with a replacement", `{"a": 1}`, `[{"i": 1}]`, mongoerr.FailedToParse},
		{"rename to a number", `{"$rename": {"a": 1}}`, "", mongoerr.BadValue},
		{"rename to itself", `{"$rename": {"a": "a"}}`, "", mongoerr.BadValue},
		{"rename under itself", `{"$rename": {"a": "a.b"}}`, "", mongoerr.BadValue},
		{"rename from above", `{"$rename": {"a.b": "a"}}`, "", mongoerr.BadValue},
		{"rename from positional", `{"$rename": {"a.$": "b"}}`, "", mongoerr.BadValue},
		{"rename to all positional", `{"$rename": {"a": "b.$[]"}}`, "", mongoerr.BadValue},
		{"push unknown clause", `{"$push": {"a": {"$each": [1], "$foo": 1}}}`, "", mongoerr.BadValue},
		{"push each not an array", `{"$push": {"a": {"$each": 1}}}`, "", mongoerr.BadValue},
		{"push slice not an integer", `{"$push": {"a": {"$each": [], "$slice": 1.5}}}`, "", mongoerr.BadValue},
		{"push position not a number", `{"$push": {"a": {"$each": [], "$position": "1"}}}`, "", mongoerr.BadValue},
		{"push sort 2", `{"$push": {"a": {"$each": [], "$sort": 2}}}`, "", mongoerr.BadValue},
		{"push sort string", `{"$push": {"a": {"$each": [], "$sort": "a"}}}`, "", mongoerr.BadValue},
		{"push sort empty pattern", `{"$push": {"a": {"$each": [], "$sort": {}}}}`, "", mongoerr.BadValue},
		{"push sort bad direction", `{"$push": {"a": {"$each": [], "$sort": {"a": 0}}}}`, "", mongoerr.BadValue},
		{"push sort empty part", `{"$push": {"a": {"$each": [], "$sort": {"a..b": 1}}}}`, "", mongoerr.BadValue},
		{"addToSet each not an array", `{"$addToSet": {"a": {"$each": 1}}}`, "", mongoerr.TypeMismatch},
		{"addToSet fields after each", `{"$addToSet": {"a": {"$each": [1], "x": 1}}}`, "", mongoerr.BadValue},
		{"pop 2", `{"$pop": {"a": 2}}`, "", mongoerr.FailedToParse},
		{"pop a string", `{"$pop": {"a": "1"}}`, "", mongoerr.FailedToParse},
		{"pop a fraction", `{"$pop": {"a": 0.5}}`, "", mongoerr.FailedToParse},
		{"pullAll of a scalar", `{"$pullAll": {"a": 1}}`, "", mongoerr.BadValue},
		{"pull condition the matcher rejects", `{"$pull": {"a": {"$where": "x"}}}`, "", mongoerr.BadValue},
		{"bit of a number", `{"$bit": {"a": 1}}`, "", mongoerr.BadValue},
		{"bit unknown operation", `{"$bit": {"a": {"nand": 1}}}`, "", mongoerr.BadValue},
		{"bit double operand", `{"$bit": {"a": {"and": 1.0}}}`, "", mongoerr.BadValue},
		{"bit without operations", `{"$bit": {"a": {}}}`, "", mongoerr.BadValue},
		{"currentDate of a number", `{"$currentDate": {"a": 1}}`, "", mongoerr.BadValue},
		{"currentDate unknown type", `{"$currentDate": {"a": {"$type": "string"}}}`, "", mongoerr.BadValue},
		{"currentDate unknown option", `{"$currentDate": {"a": {"x": "date"}}}`, "", mongoerr.BadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(mustDoc(t, tt.update), mustFilters(t, tt.filters), testOptions())
			assertCode(t, err, tt.code)
		})
	}
}

func TestCompileKinds(t *testing.T) {
	tests := []struct {
		name        string
		u           any
		replacement bool
		pipeline    bool
		positional  bool
	}{
		{name: "operators", u: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}},
		{name: "positional", u: bson.D{{Key: "$set", Value: bson.D{{Key: "a.$", Value: 1}}}}, positional: true},
		{name: "all positional is not $", u: bson.D{{Key: "$set", Value: bson.D{{Key: "a.$[]", Value: 1}}}}},
		{name: "replacement", u: bson.D{{Key: "a", Value: 1}}, replacement: true},
		{name: "empty document replaces", u: bson.D{}, replacement: true},
		{name: "first field decides", u: bson.D{{Key: "a", Value: 1}, {Key: "$set", Value: 1}}, replacement: true},
		{name: "map", u: bson.M{"$inc": bson.M{"a": 1}}},
		{name: "pipeline", u: bson.A{bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}}, pipeline: true},
		{name: "empty pipeline", u: bson.A{}, pipeline: true},
		{name: "pipeline as a slice", u: []any{bson.D{{Key: "$unset", Value: "a"}}}, pipeline: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustCompile(t, tt.u, nil)
			if u.IsReplacement() != tt.replacement || u.IsPipeline() != tt.pipeline || u.Positional() != tt.positional {
				t.Errorf("IsReplacement, IsPipeline, Positional = %v, %v, %v; want %v, %v, %v",
					u.IsReplacement(), u.IsPipeline(), u.Positional(), tt.replacement, tt.pipeline, tt.positional)
			}
		})
	}
}

func TestCompileOtherErrors(t *testing.T) {
	tests := []struct {
		name    string
		u       any
		filters []bson.D
		opts    Options
		code    int32
	}{
		{"update of a string", "x", nil, testOptions(), mongoerr.FailedToParse},
		{"stage not allowed", bson.A{bson.D{{Key: "$match", Value: bson.D{}}}}, nil, testOptions(), mongoerr.InvalidOptions},
		{"stage not a document", bson.A{1}, nil, testOptions(), mongoerr.TypeMismatch},
		{"stage with two fields", bson.A{bson.D{{Key: "$set", Value: bson.D{}}, {Key: "$unset", Value: "a"}}}, nil, testOptions(), 40323},
		{"filters with a pipeline", bson.A{}, []bson.D{{{Key: "i", Value: 1}}}, testOptions(), mongoerr.FailedToParse},
		{"pipeline without a runner", bson.A{}, nil, Options{}, mongoerr.NotImplemented},
		{"filters without a matcher", bson.D{{Key: "$set", Value: bson.D{{Key: "a.$[i]", Value: 1}}}},
			[]bson.D{{{Key: "i", Value: 1}}}, Options{}, mongoerr.NotImplemented},
		{"pull condition without a matcher", bson.D{{Key: "$pull", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$gt", Value: 1}}}}}},
			nil, Options{}, mongoerr.NotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.u, tt.filters, tt.opts)
			assertCode(t, err, tt.code)
		})
	}
}

func TestReplacement(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		repl    string
		insert  bool
		want    string
		changed bool
	}{
		{"replaces all but _id", `{"_id": 1, "a": 1, "b": 2}`, `{"c": 3}`, false, `{"_id": 1, "c": 3}`, true},
		{"same _id", `{"_id": 1, "a": 1}`, `{"_id": 1, "x": 111}`, false, `{"_id": 1, "x": 111}`, true},
		{"_id moves first", `{"_id": 1, "a": 1}`, `{"x": 1, "_id": 1}`, false, `{"_id": 1, "x": 1}`, true},
		{"equal _id of another type", `{"_id": 1, "a": 1}`, `{"_id": 1.0}`, false, `{"_id": 1.0}`, true},
		{"empty replacement", `{"_id": 1, "a": 1}`, `{}`, false, `{"_id": 1}`, true},
		{"identical document is a no-op", `{"_id": 1, "a": 1}`, `{"_id": 1, "a": 1}`, false, `{"_id": 1, "a": 1}`, false},
		// MongoDB's no-op test compares the replacement as given, _id included.
		{"same fields without _id still write", `{"_id": 1, "a": 1}`, `{"a": 1}`, false, `{"_id": 1, "a": 1}`, true},
		{"dotted and dollar names inside", `{"_id": 1}`, `{"_id": 1, "a.b": 1, "c": {"$d": 1}}`, false,
			`{"_id": 1, "a.b": 1, "c": {"$d": 1}}`, true},
		{"DBRef at the top level", `{"_id": 1}`, `{"x": 1, "$ref": "c", "$id": 2, "$db": "d"}`, false,
			`{"_id": 1, "x": 1, "$ref": "c", "$id": 2, "$db": "d"}`, true},
		{"upsert takes _id from the seed only", `{"_id": 4, "a": 1}`, `{"x": 1}`, true, `{"_id": 4, "x": 1}`, true},
		{"upsert without _id", `{}`, `{"x": 1}`, true, `{"x": 1}`, true},
		{"upsert with the seed's _id", `{"_id": 4}`, `{"x": 1, "_id": 4}`, true, `{"_id": 4, "x": 1}`, true},
		{"upsert allows top-level dollar names", `{"_id": 4}`, `{"x": 1, "$y": 1}`, true, `{"_id": 4, "x": 1, "$y": 1}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustCompile(t, mustDoc(t, tt.repl), nil)
			doc := mustDoc(t, tt.doc)
			got, changed, err := u.Apply(doc, -1, tt.insert)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			assertSameDoc(t, got, mustDoc(t, tt.want))
			if changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
			assertSameDoc(t, doc, mustDoc(t, tt.doc))
		})
	}
}

func TestReplacementErrors(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		repl   string
		insert bool
		code   int32
	}{
		{"different _id", `{"_id": 1, "a": 1}`, `{"_id": 2}`, false, mongoerr.ImmutableField},
		{"different _id on upsert", `{"_id": 1}`, `{"_id": 2}`, true, mongoerr.ImmutableField},
		{"top-level dollar name", `{"_id": 1}`, `{"a": 1, "$b": 1}`, false, mongoerr.DollarPrefixedFieldName},
		{"DBRef out of order", `{"_id": 1}`, `{"a": 1, "$id": 1, "$ref": "c"}`, false, codeInvalidDBRef},
		{"array _id", `{"a": 1}`, `{"_id": [1]}`, false, mongoerr.InvalidIdField},
		{"regex _id on upsert", `{}`, `{"_id": {"$regularExpression": {"pattern": "a", "options": ""}}}`, true, mongoerr.InvalidIdField},
		{"array _id on upsert", `{}`, `{"_id": [1]}`, true, mongoerr.NotSingleValueField},
		{"dollar field in _id", `{}`, `{"a": 1, "_id": {"$x": 1}}`, false, mongoerr.DollarPrefixedFieldName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustCompile(t, mustDoc(t, tt.repl), nil)
			_, _, err := u.Apply(mustDoc(t, tt.doc), -1, tt.insert)
			assertCode(t, err, tt.code)
		})
	}
}

func TestReplacementZeroTimestamp(t *testing.T) {
	u := mustCompile(t, bson.D{{Key: "_id", Value: bson.Timestamp{}}, {Key: "t", Value: bson.Timestamp{}}}, nil)
	got, _, err := u.Apply(bson.D{}, -1, true)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Value != (bson.Timestamp{}) {
		t.Errorf("_id = %v, want the zero timestamp kept", got[0].Value)
	}
	if ts := got[1].Value.(bson.Timestamp); ts.T != uint32(testNow.Unix()) {
		t.Errorf("t = %v, want the current time", ts)
	}
}

func TestPipeline(t *testing.T) {
	stages := mustValue(t, `[{"$set": {"a": 2}}, {"$set": {"v": "$$v"}}]`)
	opts := testOptions()
	opts.Vars = map[string]any{"v": "x"}
	u, err := Compile(stages, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	doc := mustDoc(t, `{"_id": 1, "a": 1}`)
	got, changed, err := u.Apply(doc, -1, false)
	if err != nil || !changed {
		t.Fatalf("Apply = %v, %v", changed, err)
	}
	assertSameDoc(t, got, mustDoc(t, `{"_id": 1, "a": 2, "v": "x"}`))
	assertSameDoc(t, doc, mustDoc(t, `{"_id": 1, "a": 1}`))

	same := mustDoc(t, `{"_id": 1, "a": 2, "v": "x"}`)
	if _, changed, err := u.Apply(same, -1, false); err != nil || changed {
		t.Errorf("Apply to the result = %v, %v; want no change", changed, err)
	}

	idChange := mustCompile(t, mustValue(t, `[{"$set": {"_id": 5}}]`), nil)
	_, _, err = idChange.Apply(doc, -1, false)
	assertCode(t, err, mongoerr.ImmutableField)

	topDollar := mustCompile(t, mustValue(t, `[{"$set": {"$x": 5}}]`), nil)
	if got, _, err := topDollar.Apply(doc, -1, false); err != nil {
		t.Errorf("pipelines may write top-level $ fields: %v", err)
	} else {
		assertSameDoc(t, got, mustDoc(t, `{"_id": 1, "a": 1, "$x": 5}`))
	}

	failing := mustCompile(t, mustValue(t, `[{"$project": {"a": 1}}]`), nil)
	_, _, err = failing.Apply(doc, -1, false)
	assertCode(t, err, mongoerr.NotImplemented)
}

func TestPipelineKeepsID(t *testing.T) {
	opts := testOptions()
	opts.Pipeline = func(bson.A, bson.D, map[string]any) (bson.D, error) { return bson.D{{Key: "x", Value: int32(1)}}, nil }
	u, err := Compile(bson.A{}, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := u.Apply(mustDoc(t, `{"_id": 1, "a": 1}`), -1, false)
	if err != nil {
		t.Fatal(err)
	}
	assertSameDoc(t, got, mustDoc(t, `{"_id": 1, "x": 1}`))
}

// TestApplyDoesNotShare checks that results share nothing with the input,
// the compiled update, or each other.
func TestApplyDoesNotShare(t *testing.T) {
	u := mustCompile(t, mustDoc(t, `{"$set": {"s": {"x": [1]}}, "$push": {"p": {"$each": [{"y": 1}]}}}`), nil)
	doc := mustDoc(t, `{"_id": 1, "keep": {"z": [1, 2]}, "p": []}`)
	first, _, err := u.Apply(doc, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	first[1].Value.(bson.D)[0].Value.(bson.A)[0] = "changed"
	first[2].Value.(bson.A)[0].(bson.D)[0].Value = "changed"
	first[3].Value.(bson.D)[0].Value.(bson.A)[0] = "changed"
	second, _, err := u.Apply(doc, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	assertSameDoc(t, second, mustDoc(t, `{"_id": 1, "keep": {"z": [1, 2]}, "p": [{"y": 1}], "s": {"x": [1]}}`))
	assertSameDoc(t, doc, mustDoc(t, `{"_id": 1, "keep": {"z": [1, 2]}, "p": []}`))
	unchanged, changed, err := mustCompile(t, mustDoc(t, `{"$set": {"keep": {"z": [1, 2]}}}`), nil).Apply(doc, -1, false)
	if err != nil || changed {
		t.Fatalf("Apply = %v, %v", changed, err)
	}
	unchanged[1].Value.(bson.D)[0].Value.(bson.A)[0] = "changed"
	assertSameDoc(t, doc, mustDoc(t, `{"_id": 1, "keep": {"z": [1, 2]}, "p": []}`))
}

func TestUpsertSeed(t *testing.T) {
	tests := []struct {
		name   string
		filter string
		want   string
	}{
		{"empty", `{}`, `{}`},
		{"equalities", `{"_id": 1, "a": 2}`, `{"_id": 1, "a": 2}`},
		{"_id first, the rest by path", `{"b": 1, "a": 2, "_id": 5}`, `{"_id": 5, "a": 2, "b": 1}`},
		{"dotted paths nest", `{"a.c": 2, "a.b": 1}`, `{"a": {"b": 1, "c": 2}}`},
		{"dotted _id", `{"_id.x": 1}`, `{"_id": {"x": 1}}`},
		{"numeric parts are field names", `{"a.0": 1}`, `{"a": {"0": 1}}`},
		{"$eq", `{"a": {"$eq": 5}}`, `{"a": 5}`},
		{"$eq beside other operators", `{"a": {"$gt": 1, "$eq": 5}}`, `{"a": 5}`},
		{"other operators are ignored", `{"a": {"$gt": 5}, "b": {"$exists": true}}`, `{}`},
		{"one-value $in", `{"a": {"$in": [3]}}`, `{"a": 3}`},
		{"several-value $in is ignored", `{"a": {"$in": [1, 2]}}`, `{}`},
		{"one-value $all", `{"a": {"$all": [3]}}`, `{"a": 3}`},
		{"$and", `{"$and": [{"a": 1}, {"$and": [{"b": 2}]}]}`, `{"a": 1, "b": 2}`},
		{"$or is ignored", `{"$or": [{"a": 1}, {"b": 2}], "c": 3}`, `{"c": 3}`},
		{"one-clause $or", `{"$or": [{"a": 1}]}`, `{"a": 1}`},
		{"$nor and $expr are ignored", `{"$nor": [{"a": 1}], "$expr": {"$eq": [1, 1]}}`, `{}`},
		{"regex is ignored", `{"a": {"$regularExpression": {"pattern": "x", "options": ""}}}`, `{}`},
		{"$eq regex is kept", `{"a": {"$eq": {"$regularExpression": {"pattern": "x", "options": ""}}}}`,
			`{"a": {"$regularExpression": {"pattern": "x", "options": ""}}}`},
		{"document value", `{"a": {"b": 1, "c": {"$gt": 1}}}`, `{"a": {"b": 1, "c": {"$gt": 1}}}`},
		{"DBRef value", `{"a": {"$ref": "c", "$id": 1}}`, `{"a": {"$ref": "c", "$id": 1}}`},
		{"null", `{"a": null}`, `{"a": null}`},
		{"array", `{"a": [1, 2]}`, `{"a": [1, 2]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UpsertSeed(mustDoc(t, tt.filter))
			if err != nil {
				t.Fatal(err)
			}
			assertSameDoc(t, got, mustDoc(t, tt.want))
		})
	}
}

func TestUpsertSeedConflicts(t *testing.T) {
	for _, filter := range []string{
		`{"a": 1, "a.b": 2}`,
		`{"a.b": 2, "a": 1}`,
		`{"a": 1, "$and": [{"a": 1}]}`,
		`{"a": {"$all": [1, 2]}}`,
		`{"_id": {"x": 1}, "_id.y": 1}`,
	} {
		t.Run(filter, func(t *testing.T) {
			_, err := UpsertSeed(mustDoc(t, filter))
			assertCode(t, err, mongoerr.NotSingleValueField)
		})
	}
}

// TestUpsert runs an update over the seed of its query, as the update
// command does when nothing matches.
func TestUpsert(t *testing.T) {
	tests := []struct {
		name   string
		filter string
		update string
		want   string
	}{
		{"set", `{"_id": 3}`, `{"$set": {"x": 33}}`, `{"_id": 3, "x": 33}`},
		{"inc on a query field", `{"_id": 1, "n": 5}`, `{"$inc": {"n": 1}}`, `{"_id": 1, "n": 6}`},
		{"setOnInsert", `{"a.b": 1}`, `{"$setOnInsert": {"a.c": 2}, "$set": {"d": 3}}`, `{"a": {"b": 1, "c": 2}, "d": 3}`},
		{"_id set by the update moves first", `{"a": 1}`, `{"$set": {"_id": 9}}`, `{"_id": 9, "a": 1}`},
		{"replacement keeps the query _id", `{"_id": 4, "a": 1}`, `{"x": 1}`, `{"_id": 4, "x": 1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed, err := UpsertSeed(mustDoc(t, tt.filter))
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := mustCompile(t, mustDoc(t, tt.update), nil).Apply(seed, -1, true)
			if err != nil {
				t.Fatal(err)
			}
			assertSameDoc(t, got, mustDoc(t, tt.want))
		})
	}
}
