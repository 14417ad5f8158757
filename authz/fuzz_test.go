package authz_test

import (
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/authz"
)

// fuzzSeeds are realistic pipelines, as JSON arrays of stages.
var fuzzSeeds = []string{
	`[{"$match": {"status": "A"}}, {"$group": {"_id": "$cust", "total": {"$sum": "$amount"}}}]`,
	`[{"$lookup": {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "inv"}}]`,
	`[{"$lookup": {"from": {"db": "local", "coll": "oplog.rs"}, "localField": "a", "foreignField": "b", "as": "o"}}]`,
	`[{"$lookup": {"from": "warehouses", "let": {"item": "$item"}, "pipeline": [{"$match": {"$expr": {"$eq": ["$stock", "$$item"]}}}, {"$lookup": {"from": "bins", "pipeline": [], "as": "b"}}], "as": "w"}}]`,
	`[{"$lookup": {"pipeline": [{"$documents": [{"x": 1}]}, {"$unionWith": "extra"}], "as": "docs"}}]`,
	`[{"$graphLookup": {"from": "employees", "startWith": "$reportsTo", "connectFromField": "reportsTo", "connectToField": "name", "as": "chain", "maxDepth": 3}}]`,
	`[{"$unionWith": "sales_2023"}, {"$unionWith": {"coll": "sales_2024", "pipeline": [{"$project": {"_id": 0}}]}}]`,
	`[{"$facet": {"byPrice": [{"$bucket": {"groupBy": "$price", "boundaries": [0, 100]}}], "joined": [{"$lookup": {"from": "tags", "localField": "t", "foreignField": "_id", "as": "tt"}}]}}]`,
	`[{"$match": {}}, {"$out": "report"}]`,
	`[{"$out": {"db": "warehouse", "coll": "daily", "timeseries": {"timeField": "ts"}}}]`,
	`[{"$merge": "totals"}]`,
	`[{"$group": {"_id": "$k", "n": {"$sum": 1}}}, {"$merge": {"into": {"db": "dw", "coll": "counts"}, "on": "_id", "whenMatched": [{"$set": {"n": {"$add": ["$n", "$$new.n"]}}}], "whenNotMatched": "insert"}}]`,
	`[{"$facet": {"a": [{"$unionWith": {"coll": "x", "pipeline": [{"$facet": {"b": [{"$lookup": {"from": "deep", "pipeline": [], "as": "d"}}]}}]}}]}}]`,
	`[{"$lookup": {"from": 5, "as": "bad"}}]`,
	`[{"$lookup": {"from": "a", "from": "b", "as": "dup"}}]`,
}

// fuzzStages reads the fuzz input as a BSON array (or document) of
// stages. Bytes that are not BSON are passed as one stage, so the walker
// also meets malformed documents.
func fuzzStages(data []byte) []bson.Raw {
	doc := bson.Raw(data)
	if doc.Validate() != nil {
		return []bson.Raw{doc}
	}
	vals, err := doc.Values()
	if err != nil {
		return []bson.Raw{doc}
	}
	var out []bson.Raw
	for _, v := range vals {
		if d, ok := v.DocumentOK(); ok {
			out = append(out, d)
		}
	}
	return out
}

// FuzzPipelineNamespaces: namespace extraction never panics, is
// deterministic, and only ever returns whole namespaces with an action.
func FuzzPipelineNamespaces(f *testing.F) {
	for _, js := range fuzzSeeds {
		var doc bson.Raw
		if err := bson.UnmarshalExtJSON([]byte(`{"p":`+js+`}`), false, &doc); err != nil {
			f.Fatalf("seed %s: %v", js, err)
		}
		f.Add("app", []byte(doc.Lookup("p").Array()))
	}
	f.Fuzz(func(t *testing.T, db string, data []byte) {
		stages := fuzzStages(data)
		got, err := authz.PipelineAccesses(db, "pipeline", stages)
		again, err2 := authz.PipelineAccesses(db, "pipeline", stages)
		if !reflect.DeepEqual(got, again) || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("not deterministic: %v, %v then %v, %v", got, err, again, err2)
		}
		if err != nil && got != nil {
			t.Fatalf("accesses %v returned with error %v", got, err)
		}
		seen := map[authz.Access]bool{}
		for _, a := range got {
			if a.Namespace.Collection == "" || (a.Action != authz.Read && a.Action != authz.Write) {
				t.Fatalf("malformed access %+v", a)
			}
			if seen[a] {
				t.Fatalf("access %+v listed twice", a)
			}
			seen[a] = true
		}
	})
}
