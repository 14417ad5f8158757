package crud

import (
	"errors"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// forbiddenSlots put a fuzzed document into one request field of one
// operation; the other fields are valid. field is where a forbidden
// operator in the document must be reported.
var forbiddenSlots = []struct {
	field string
	op    func(d *Document) interface{ Validate() error }
}{
	{"filter", func(d *Document) interface{ Validate() error } { return FindOne{Namespace: testNS, Filter: d} }},
	{"options.projection", func(d *Document) interface{ Validate() error } {
		return Find{Namespace: testNS, Options: FindOptions{CommonOptions: CommonOptions{Projection: d}}}
	}},
	{"pipeline[1]", func(d *Document) interface{ Validate() error } {
		return Aggregate{Namespace: testNS, Pipeline: []Document{{JSON: `{"$match": {}}`}, *d}}
	}},
	{"update", func(d *Document) interface{ Validate() error } {
		return UpdateOne{Namespace: testNS, Filter: js(`{}`), Update: Update{Document: d}}
	}},
	{"update_pipeline.stages[0]", func(d *Document) interface{ Validate() error } {
		return UpdateMany{Namespace: testNS, Filter: js(`{}`), Update: Update{Pipeline: []Document{*d}}}
	}},
	{"document", func(d *Document) interface{ Validate() error } { return InsertOne{Namespace: testNS, Document: d} }},
	{"replacement", func(d *Document) interface{ Validate() error } {
		return ReplaceOne{Namespace: testNS, Filter: js(`{}`), Replacement: d}
	}},
	{"options.let", func(d *Document) interface{ Validate() error } {
		return Find{Namespace: testNS, Options: FindOptions{CommonOptions: CommonOptions{Let: d}}}
	}},
	{"options.array_filters[0]", func(d *Document) interface{ Validate() error } {
		return FindOneAndUpdate{Namespace: testNS, Filter: js(`{}`), Update: Update{Document: js(`{"$set": {"a.$[e]": 1}}`)},
			Options: FindOneAndUpdateOptions{ArrayFilters: []Document{*d}}}
	}},
	{"models[1].update_many.filter", func(d *Document) interface{ Validate() error } {
		return BulkWrite{Namespace: testNS, Models: []WriteModel{
			InsertOneModel{Document: js(`{}`)},
			UpdateManyModel{Filter: d, Update: Update{Document: js(`{"$set": {"a": 1}}`)}},
		}}
	}},
	{"filter", func(d *Document) interface{ Validate() error } {
		return Distinct{Namespace: testNS, FieldName: "a", Filter: d}
	}},
	{"options.hint", func(d *Document) interface{ Validate() error } {
		return DeleteOne{Namespace: testNS, Filter: js(`{}`), Options: DeleteOptions{CommonOptions: CommonOptions{Hint: d}}}
	}},
	{"options.collation", func(d *Document) interface{ Validate() error } {
		return CountDocuments{Namespace: testNS, Options: CountOptions{CommonOptions: CommonOptions{Collation: d}}}
	}},
	{"options.let", func(d *Document) interface{ Validate() error } {
		return Aggregate{Namespace: testNS, Options: AggregateOptions{CommonOptions: CommonOptions{Let: d}}}
	}},
	{"options.sort", func(d *Document) interface{ Validate() error } {
		return FindOneAndReplace{Namespace: testNS, Filter: js(`{}`), Replacement: js(`{}`), Options: FindOneAndReplaceOptions{CommonOptions: CommonOptions{Sort: d}}}
	}},
}

// FuzzForbiddenOperators: a document refused as server-side JavaScript is
// exactly one with $where, $function or $accumulator as a key at some
// depth, in whichever field of whichever operation it is.
func FuzzForbiddenOperators(f *testing.F) {
	seeds := []string{
		`{"$where": "this.a > 1"}`,
		`{"a": 1, "$and": [{"b": 2}, {"$where": "sleep(100)"}]}`,
		`{"$expr": {"$function": {"body": "function(){return true}", "args": [], "lang": "js"}}}`,
		`{"$group": {"_id": "$k", "x": {"$accumulator": {"init": "f", "accumulate": "f", "accumulateArgs": [], "merge": "f", "lang": "js"}}}}`,
		`{"$set": {"b": [[{"c": {"$function": {}}}]]}}`,
		`{"$lookup": {"from": "o", "pipeline": [{"$match": {"$expr": {"$where": 1}}}], "as": "j"}}`,
		`{"note": "$where", "$whereabouts": 1, "fn": {"$code": "function(){}"}, "$Where": 1, "$function ": 2}`,
		`{"c": {"$code": "x", "$scope": {"$where": 1}}}`,
		`{"$set": {"a": 1}}`,
		`{"$match": {"a": {"$gt": 1}}}`,
		`{"locale": "fr", "strength": 2}`,
		`{"email": 1}`,
		`{}`,
	}
	for i, s := range seeds {
		for mode := range uint8(3) {
			f.Add(uint8(i), mode, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, slot, mode uint8, data []byte) {
		var d Document
		switch mode % 3 {
		case 0:
			d = Document{JSON: string(data)}
		case 1:
			// BSON made from the JSON, so that the BSON path meets the
			// same operators.
			var raw bson.Raw
			if err := bson.UnmarshalExtJSON(data, false, &raw); err != nil {
				return
			}
			d = Document{BSON: raw}
		default:
			d = Document{BSON: data}
		}
		s := forbiddenSlots[int(slot)%len(forbiddenSlots)]
		raw, decodeErr := Decode(s.field, d)
		var found []string
		if decodeErr == nil {
			found = forbiddenKeys(raw)
			if cerr := checkForbidden(s.field, raw); (cerr != nil) != (len(found) > 0) {
				t.Fatalf("checkForbidden = %v, but the keys found are %v", cerr, found)
			}
		}
		err := s.op(&d).Validate()
		var fe *ForbiddenError
		if len(found) == 0 {
			if errors.Is(err, ErrForbiddenOperator) {
				t.Fatalf("Validate = %v for a document without a forbidden key (decode: %v)", err, decodeErr)
			}
			return
		}
		if !errors.As(err, &fe) {
			t.Fatalf("Validate = %v, want a *ForbiddenError for one of %v", err, found)
		}
		if !slices.Contains(found, fe.Operator) || fe.Field != s.field {
			t.Fatalf("ForbiddenError{%q, %q}, want one of %v in %q", fe.Operator, fe.Field, found, s.field)
		}
	})
}

// forbiddenKeys lists the forbidden operators used as keys anywhere in
// doc's documents and arrays. The scope of a code-with-scope value is
// not searched: its keys are JavaScript variable names, not operators.
func forbiddenKeys(doc []byte) []string {
	elems, err := bsoncore.Document(doc).Elements()
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range elems {
		switch k := e.Key(); k {
		case "$where", "$function", "$accumulator":
			out = append(out, k)
		}
		if v := e.Value(); v.Type == bsoncore.TypeEmbeddedDocument || v.Type == bsoncore.TypeArray {
			out = append(out, forbiddenKeys(v.Data)...)
		}
	}
	return out
}
