package authz_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/authz"
)

// stages parses a JSON array of stages (relaxed Extended JSON).
func stages(t testing.TB, js string) []bson.Raw {
	t.Helper()
	var doc bson.Raw
	if err := bson.UnmarshalExtJSON([]byte(`{"p":`+js+`}`), false, &doc); err != nil {
		t.Fatalf("pipeline %s: %v", js, err)
	}
	vals, err := doc.Lookup("p").Array().Values()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]bson.Raw, len(vals))
	for i, v := range vals {
		out[i] = v.Document()
	}
	return out
}

func r(db, coll string) authz.Access { return access(db, coll, authz.Read) }
func w(db, coll string) authz.Access { return access(db, coll, authz.Write) }

func TestPipelineAccesses(t *testing.T) {
	tests := []struct {
		name     string
		pipeline string
		want     []authz.Access
	}{
		{"no namespaces", `[{"$match": {"a": 1}}, {"$group": {"_id": "$a"}}, {"$sort": {"_id": 1}}]`, nil},
		{"lookup", `[{"$lookup": {"from": "users", "localField": "u", "foreignField": "_id", "as": "user"}}]`,
			[]authz.Access{r("app", "users")}},
		{"lookup from db coll", `[{"$lookup": {"from": {"db": "local", "coll": "oplog.rs"}, "localField": "a", "foreignField": "b", "as": "c"}}]`,
			[]authz.Access{r("local", "oplog.rs")}},
		{"lookup from coll without db", `[{"$lookup": {"from": {"coll": "x"}, "as": "c", "localField": "a", "foreignField": "b"}}]`,
			[]authz.Access{r("app", "x")}},
		{"lookup pipeline", `[{"$lookup": {"from": "a", "pipeline": [{"$lookup": {"from": "b", "pipeline": [], "as": "bb"}}], "as": "aa"}}]`,
			[]authz.Access{r("app", "a"), r("app", "b")}},
		{"lookup pipeline runs in from's database", `[{"$lookup": {"from": {"db": "config", "coll": "cache.chunks.x"}, "pipeline": [{"$lookup": {"from": "collections", "pipeline": [], "as": "y"}}], "as": "z"}}]`,
			[]authz.Access{r("config", "cache.chunks.x"), r("config", "collections")}},
		{"lookup without from", `[{"$lookup": {"pipeline": [{"$documents": [{"a": 1}]}, {"$unionWith": "u"}], "as": "d"}}]`,
			[]authz.Access{r("app", "u")}},
		{"graphLookup", `[{"$graphLookup": {"from": "employees", "startWith": "$boss", "connectFromField": "boss", "connectToField": "name", "as": "chain"}}]`,
			[]authz.Access{r("app", "employees")}},
		{"unionWith string", `[{"$unionWith": "archive"}]`, []authz.Access{r("app", "archive")}},
		{"unionWith document", `[{"$unionWith": {"coll": "archive", "pipeline": [{"$match": {}}]}}]`, []authz.Access{r("app", "archive")}},
		{"unionWith nested", `[{"$unionWith": {"coll": "a", "pipeline": [{"$lookup": {"from": "b", "localField": "x", "foreignField": "y", "as": "z"}}, {"$unionWith": "c"}]}}]`,
			[]authz.Access{r("app", "a"), r("app", "b"), r("app", "c")}},
		{"unionWith without coll", `[{"$unionWith": {"pipeline": [{"$documents": []}, {"$graphLookup": {"from": "g", "startWith": 1, "connectFromField": "a", "connectToField": "b", "as": "c"}}]}}]`,
			[]authz.Access{r("app", "g")}},
		{"facet", `[{"$facet": {"one": [{"$lookup": {"from": "x", "localField": "a", "foreignField": "b", "as": "c"}}], "two": [{"$unionWith": "y"}], "three": []}}]`,
			[]authz.Access{r("app", "x"), r("app", "y")}},
		{"facet in lookup in facet", `[{"$facet": {"f": [{"$lookup": {"from": "a", "as": "b", "pipeline": [{"$facet": {"g": [{"$unionWith": "deep"}]}}]}}]}}]`,
			[]authz.Access{r("app", "a"), r("app", "deep")}},
		{"out string", `[{"$match": {}}, {"$out": "report"}]`, []authz.Access{w("app", "report")}},
		{"out db coll", `[{"$out": {"db": "warehouse", "coll": "report"}}]`, []authz.Access{w("warehouse", "report")}},
		{"out timeseries", `[{"$out": {"db": "w", "coll": "ts", "timeseries": {"timeField": "t"}}}]`, []authz.Access{w("w", "ts")}},
		{"merge string", `[{"$merge": "totals"}]`, []authz.Access{w("app", "totals")}},
		{"merge into string", `[{"$merge": {"into": "totals", "on": "_id", "whenMatched": "replace"}}]`, []authz.Access{w("app", "totals")}},
		{"merge into db coll", `[{"$merge": {"into": {"db": "dw", "coll": "totals"}}}]`, []authz.Access{w("dw", "totals")}},
		{"merge into coll only", `[{"$merge": {"into": {"coll": "totals"}}}]`, []authz.Access{w("app", "totals")}},
		{"merge whenMatched pipeline", `[{"$merge": {"into": {"db": "dw", "coll": "t"}, "whenMatched": [{"$set": {"n": 1}}, {"$unionWith": "odd"}]}}]`,
			[]authz.Access{w("dw", "t"), r("dw", "odd")}},
		{"read and write the same collection", `[{"$lookup": {"from": "t", "localField": "a", "foreignField": "b", "as": "c"}}, {"$merge": "t"}]`,
			[]authz.Access{r("app", "t"), w("app", "t")}},
		{"each access once", `[{"$unionWith": "a"}, {"$unionWith": "a"}, {"$lookup": {"from": "a", "as": "x", "localField": "a", "foreignField": "b"}}]`,
			[]authz.Access{r("app", "a")}},
		{"system collection in lookup", `[{"$lookup": {"from": "system.views", "localField": "a", "foreignField": "b", "as": "c"}}]`,
			[]authz.Access{r("app", "system.views")}},
		{"stage with several keys nested", `[{"$facet": {"f": [{"$match": {}, "$unionWith": "hidden"}]}}]`,
			[]authz.Access{r("app", "hidden")}},
		{"look-alike keys are not stages", `[{"$match": {"$lookup": {"from": "x"}}}, {"$project": {"from": "$a", "$out": 1}}]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := authz.PipelineAccesses("app", "pipeline", stages(t, tt.pipeline))
			if err != nil {
				t.Fatalf("PipelineAccesses: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestPipelineAccessesErrors(t *testing.T) {
	tests := []struct {
		name, pipeline, field string
	}{
		{"lookup not a document", `[{"$lookup": "users"}]`, "pipeline[0].$lookup"},
		{"lookup from number", `[{"$lookup": {"from": 5, "as": "x"}}]`, "pipeline[0].$lookup.from"},
		{"lookup from empty", `[{"$lookup": {"from": "", "as": "x"}}]`, "pipeline[0].$lookup.from"},
		{"lookup from twice", `[{"$lookup": {"from": "a", "from": "b", "as": "x"}}]`, "pipeline[0].$lookup.from"},
		{"lookup from db twice", `[{"$lookup": {"from": {"db": "a", "db": "b", "coll": "c"}, "as": "x"}}]`, "pipeline[0].$lookup.from.db"},
		{"lookup from without coll", `[{"$lookup": {"from": {"db": "a"}, "as": "x"}}]`, "pipeline[0].$lookup.from.coll"},
		{"lookup from db not a string", `[{"$lookup": {"from": {"db": 1, "coll": "c"}, "as": "x"}}]`, "pipeline[0].$lookup.from.db"},
		{"lookup pipeline not an array", `[{"$lookup": {"from": "a", "pipeline": {"$match": {}}, "as": "x"}}]`, "pipeline[0].$lookup.pipeline"},
		{"lookup pipeline twice", `[{"$lookup": {"from": "a", "pipeline": [], "pipeline": [], "as": "x"}}]`, "pipeline[0].$lookup.pipeline"},
		{"nested stage not a document", `[{"$lookup": {"from": "a", "pipeline": [1], "as": "x"}}]`, "pipeline[0].$lookup.pipeline[0]"},
		{"nested error path", `[{"$match": {}}, {"$facet": {"f": [{"$match": {}}, {"$unionWith": {"coll": 3}}]}}]`, "pipeline[1].$facet.f[1].$unionWith.coll"},
		{"graphLookup from document", `[{"$graphLookup": {"from": {"db": "a", "coll": "b"}}}]`, "pipeline[0].$graphLookup.from"},
		{"unionWith number", `[{"$unionWith": 1}]`, "pipeline[0].$unionWith"},
		{"unionWith empty", `[{"$unionWith": ""}]`, "pipeline[0].$unionWith"},
		{"facet not a document", `[{"$facet": [1]}]`, "pipeline[0].$facet"},
		{"facet value not an array", `[{"$facet": {"f": {"$match": {}}}}]`, "pipeline[0].$facet.f"},
		{"out number", `[{"$out": 1}]`, "pipeline[0].$out"},
		{"out without coll", `[{"$out": {"db": "a"}}]`, "pipeline[0].$out.coll"},
		{"merge without into", `[{"$merge": {"on": "_id"}}]`, "pipeline[0].$merge.into"},
		{"merge into twice", `[{"$merge": {"into": "a", "into": "b"}}]`, "pipeline[0].$merge.into"},
		{"merge number", `[{"$merge": 1}]`, "pipeline[0].$merge"},
		{"merge whenMatched pipeline bad", `[{"$merge": {"into": "a", "whenMatched": [{"$unionWith": 1}]}}]`, "pipeline[0].$merge.whenMatched[0].$unionWith"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := authz.PipelineAccesses("app", "pipeline", stages(t, tt.pipeline))
			var pe *authz.PipelineError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a PipelineError", err)
			}
			if pe.Field != tt.field {
				t.Fatalf("field = %q, want %q", pe.Field, tt.field)
			}
		})
	}
}

// Sub-pipelines nested deeper than any real pipeline are refused, not
// walked without bound.
func TestPipelineAccessesDepth(t *testing.T) {
	js := `[{"$unionWith": "x"}]`
	for range 70 {
		js = `[{"$facet": {"f": ` + js + `}}]`
	}
	_, err := authz.PipelineAccesses("app", "pipeline", stages(t, js))
	var pe *authz.PipelineError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "nested") {
		t.Fatalf("err = %v, want a nesting PipelineError", err)
	}
}

// The table of the issue: each stage's namespace checked against rules,
// read and write, nested included.
func TestPipelineAgainstRules(t *testing.T) {
	rules := mustParse(t, `
principals:
  analyst:
    read: ["app.*"]
    readWrite: ["app.reports"]
`)
	tests := []struct {
		name     string
		pipeline string
		denied   *authz.Access // nil: allowed
	}{
		{"lookup allowed", `[{"$lookup": {"from": "orders", "localField": "a", "foreignField": "b", "as": "c"}}]`, nil},
		{"lookup other database", `[{"$lookup": {"from": {"db": "hr", "coll": "people"}, "localField": "a", "foreignField": "b", "as": "c"}}]`, ptr(r("hr", "people"))},
		{"lookup system collection", `[{"$lookup": {"from": "system.users", "localField": "a", "foreignField": "b", "as": "c"}}]`, ptr(r("app", "system.users"))},
		{"nested lookup in lookup", `[{"$lookup": {"from": "orders", "as": "c", "pipeline": [{"$lookup": {"from": {"db": "local", "coll": "oplog.rs"}, "pipeline": [], "as": "d"}}]}}]`, ptr(r("local", "oplog.rs"))},
		{"graphLookup allowed", `[{"$graphLookup": {"from": "tree", "startWith": 1, "connectFromField": "a", "connectToField": "b", "as": "c"}}]`, nil},
		{"unionWith in facet", `[{"$facet": {"f": [{"$unionWith": {"coll": "x", "pipeline": [{"$lookup": {"from": {"db": "admin", "coll": "users"}, "pipeline": [], "as": "u"}}]}}]}}]`, ptr(r("admin", "users"))},
		{"out to readWrite collection", `[{"$out": "reports"}]`, nil},
		{"out to read-only collection", `[{"$out": "orders"}]`, ptr(w("app", "orders"))},
		{"out to another database", `[{"$out": {"db": "dw", "coll": "reports"}}]`, ptr(w("dw", "reports"))},
		{"merge to readWrite collection", `[{"$merge": {"into": "reports", "whenMatched": "merge"}}]`, nil},
		{"merge to read-only collection", `[{"$merge": "orders"}]`, ptr(w("app", "orders"))},
		{"merge into another database", `[{"$merge": {"into": {"db": "dw", "coll": "t"}}}]`, ptr(w("dw", "t"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			needs, err := authz.PipelineAccesses("app", "pipeline", stages(t, tt.pipeline))
			if err != nil {
				t.Fatal(err)
			}
			err = rules.Check("analyst", append([]authz.Access{r("app", "orders")}, needs...))
			var denied *authz.DeniedError
			switch {
			case tt.denied == nil && err != nil:
				t.Fatalf("Check = %v, want allowed", err)
			case tt.denied != nil && !errors.As(err, &denied):
				t.Fatalf("Check = %v, want %v denied", err, *tt.denied)
			case tt.denied != nil && denied.Access != *tt.denied:
				t.Fatalf("denied %v, want %v", denied.Access, *tt.denied)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
