package crud

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testNS = Namespace{Database: "db", Collection: "c"}

func TestNamespaceValidate(t *testing.T) {
	tests := []struct {
		name  string
		ns    Namespace
		field string // "" = valid
	}{
		{"ok", Namespace{"shop", "orders"}, ""},
		{"dotted collection", Namespace{"shop", "orders.2024"}, ""},
		{"collection with space", Namespace{"shop", "my orders"}, ""},
		{"empty database", Namespace{"", "c"}, "namespace.database"},
		{"empty collection", Namespace{"db", ""}, "namespace.collection"},
		{"database with dot", Namespace{"a.b", "c"}, "namespace.database"},
		{"database with slash", Namespace{"a/b", "c"}, "namespace.database"},
		{"database with backslash", Namespace{`a\b`, "c"}, "namespace.database"},
		{"database with space", Namespace{"a b", "c"}, "namespace.database"},
		{"database with quote", Namespace{`a"b`, "c"}, "namespace.database"},
		{"database with dollar", Namespace{"a$b", "c"}, "namespace.database"},
		{"database with NUL", Namespace{"a\x00b", "c"}, "namespace.database"},
		{"database 64 bytes", Namespace{strings.Repeat("d", 64), "c"}, "namespace.database"},
		{"database 63 bytes", Namespace{strings.Repeat("d", 63), "c"}, ""},
		{"collection with dollar", Namespace{"db", "a$b"}, "namespace.collection"},
		{"collection with NUL", Namespace{"db", "a\x00"}, "namespace.collection"},
		{"system collection", Namespace{"db", "system.users"}, "namespace.collection"},
		{"contains .system.", Namespace{"db", "x.system.y"}, "namespace.collection"},
		{"systems is fine", Namespace{"db", "systems"}, ""},
		{"namespace too long", Namespace{"db", strings.Repeat("c", 253)}, "namespace.collection"},
		{"namespace at limit", Namespace{"db", strings.Repeat("c", 252)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ns.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			wantArgError(t, err, tt.field)
		})
	}
}

// wantForbidden asserts err is a ForbiddenError for op in field.
func wantForbidden(t testing.TB, err error, op, field string) {
	t.Helper()
	if !errors.Is(err, ErrForbiddenOperator) {
		t.Fatalf("error = %v, want ErrForbiddenOperator", err)
	}
	var fe *ForbiddenError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want *ForbiddenError", err, err)
	}
	if fe.Operator != op || fe.Field != field {
		t.Fatalf("ForbiddenError{%q, %q}, want {%q, %q}", fe.Operator, fe.Field, op, field)
	}
}

func TestForbiddenOperators(t *testing.T) {
	tests := []struct {
		name  string
		op    interface{ Validate() error }
		oper  string
		field string
	}{
		{"$where top level", FindOne{Namespace: testNS, Filter: js(`{"$where": "this.a > 1"}`)}, "$where", "filter"},
		{"$where in $and", Find{Namespace: testNS, Filter: js(`{"$and": [{"a": 1}, {"$where": "sleep(1000)"}]}`)}, "$where", "filter"},
		{"$where in $or in $nor", CountDocuments{Namespace: testNS, Filter: js(`{"$nor": [{"$or": [{"b": {"$gt": 1}}, {"$where": "1"}]}]}`)}, "$where", "filter"},
		{"$function in $expr", DeleteMany{Namespace: testNS, Filter: js(`{"$expr": {"$function": {"body": "function(){return true}", "args": [], "lang": "js"}}}`)}, "$function", "filter"},
		{"$function deep in $expr", FindOne{Namespace: testNS, Filter: js(`{"$expr": {"$and": [{"$eq": [1, {"$function": {"body": "x", "args": [], "lang": "js"}}]}]}}`)}, "$function", "filter"},
		{
			"$accumulator in $group",
			Aggregate{Namespace: testNS, Pipeline: []Document{
				{JSON: `{"$match": {}}`},
				{JSON: `{"$group": {"_id": "$k", "x": {"$accumulator": {"init": "function(){}", "accumulate": "f", "accumulateArgs": [], "merge": "f", "lang": "js"}}}}`},
			}},
			"$accumulator", "pipeline[1]",
		},
		{
			"$function in update pipeline",
			UpdateOne{Namespace: testNS, Filter: js(`{}`), Update: Update{Pipeline: []Document{
				{JSON: `{"$set": {"a": 1}}`},
				{JSON: `{"$set": {"b": {"$function": {"body": "f", "args": [], "lang": "js"}}}}`},
			}}},
			"$function", "update_pipeline.stages[1]",
		},
		{"$where in update's filter", UpdateMany{Namespace: testNS, Filter: js(`{"$where": "1"}`), Update: Update{Document: js(`{"$set": {"a": 1}}`)}}, "$where", "filter"},
		{"$function in projection", Find{Namespace: testNS, Options: FindOptions{CommonOptions: CommonOptions{Projection: js(`{"x": {"$function": {"body": "f", "args": [], "lang": "js"}}}`)}}}, "$function", "options.projection"},
		{"$where in sort", FindOne{Namespace: testNS, Options: FindOneOptions{CommonOptions: CommonOptions{Sort: js(`{"$where": 1}`)}}}, "$where", "options.sort"},
		{"$where in let", Find{Namespace: testNS, Options: FindOptions{CommonOptions: CommonOptions{Let: js(`{"v": {"$where": "1"}}`)}}}, "$where", "options.let"},
		{"$where in inserted document", InsertOne{Namespace: testNS, Document: js(`{"a": [{"b": {"$where": "1"}}]}`)}, "$where", "document"},
		{"$where in insertMany", InsertMany{Namespace: testNS, Documents: []Document{{JSON: `{}`}, {JSON: `{"$where": 1}`}}}, "$where", "documents[1]"},
		{"$where in replacement", ReplaceOne{Namespace: testNS, Filter: js(`{}`), Replacement: js(`{"x": {"$where": 1}}`)}, "$where", "replacement"},
		{"$function in array filter", UpdateOne{Namespace: testNS, Filter: js(`{}`), Update: Update{Document: js(`{"$set": {"a.$[e]": 1}}`)}, Options: UpdateOptions{ArrayFilters: []Document{{JSON: `{"e": {"$expr": {"$function": {}}}}`}}}}, "$function", "options.array_filters[0]"},
		{"$where in hint", DeleteOne{Namespace: testNS, Filter: js(`{}`), Options: DeleteOptions{CommonOptions: CommonOptions{Hint: js(`{"$where": 1}`)}}}, "$where", "options.hint"},
		{
			"$accumulator in bulk update pipeline",
			BulkWrite{Namespace: testNS, Models: []WriteModel{
				InsertOneModel{Document: js(`{}`)},
				UpdateManyModel{Filter: js(`{}`), Update: Update{Pipeline: []Document{{JSON: `{"$set": {"a": {"$accumulator": {}}}}`}}}},
			}},
			"$accumulator", "models[1].update_many.update_pipeline.stages[0]",
		},
		{"$where in bulk delete filter", BulkWrite{Namespace: testNS, Models: []WriteModel{&DeleteOneModel{Filter: js(`{"$where": "1"}`)}}}, "$where", "models[0].delete_one.filter"},
		{"$where in findOneAndUpdate sort", FindOneAndUpdate{Namespace: testNS, Filter: js(`{}`), Update: Update{Document: js(`{"$inc": {"n": 1}}`)}, Options: FindOneAndUpdateOptions{CommonOptions: CommonOptions{Sort: js(`{"$where": 1}`)}}}, "$where", "options.sort"},
		{"$where in findOneAndDelete filter", FindOneAndDelete{Namespace: testNS, Filter: js(`{"a": {"$elemMatch": {"$where": "1"}}}`)}, "$where", "filter"},
		{"$function in findOneAndReplace let", FindOneAndReplace{Namespace: testNS, Filter: js(`{}`), Replacement: js(`{}`), Options: FindOneAndReplaceOptions{CommonOptions: CommonOptions{Let: js(`{"f": {"$function": {}}}`)}}}, "$function", "options.let"},
		{"$where in distinct filter", Distinct{Namespace: testNS, FieldName: "a", Filter: js(`{"$where": "1"}`)}, "$where", "filter"},
		{"$function in aggregate let", Aggregate{Namespace: testNS, Options: AggregateOptions{CommonOptions: CommonOptions{Let: js(`{"f": {"$function": {}}}`)}}}, "$function", "options.let"},
		{"bson input too", FindOne{Namespace: testNS, Filter: &Document{BSON: mustRaw(t, `{"a": {"b": [{"$where": "1"}]}}`)}}, "$where", "filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantForbidden(t, tt.op.Validate(), tt.oper, tt.field)
		})
	}

	t.Run("not a key is fine", func(t *testing.T) {
		ok := []interface{ Validate() error }{
			FindOne{Namespace: testNS, Filter: js(`{"note": "$where"}`)},
			FindOne{Namespace: testNS, Filter: js(`{"$whereabouts": 1}`)},
			InsertOne{Namespace: testNS, Document: js(`{"text": "use $function here", "f": {"$code": "function(){}"}}`)},
		}
		for i, op := range ok {
			if err := op.Validate(); err != nil {
				t.Errorf("%d: Validate = %v", i, err)
			}
		}
	})
}

func TestOptionValidation(t *testing.T) {
	no := false
	tests := []struct {
		name  string
		op    interface{ Validate() error }
		field string
	}{
		{"find negative limit", Find{Namespace: testNS, Options: FindOptions{Limit: -1}}, "options.limit"},
		{"find negative skip", Find{Namespace: testNS, Options: FindOptions{Skip: -5}}, "options.skip"},
		{"find negative batch size", Find{Namespace: testNS, Options: FindOptions{BatchSize: -2}}, "options.batch_size"},
		{"find negative max time", Find{Namespace: testNS, Options: FindOptions{CommonOptions: CommonOptions{MaxTime: -time.Second}}}, "options.max_time"},
		{"findOne negative skip", FindOne{Namespace: testNS, Options: FindOneOptions{Skip: -1}}, "options.skip"},
		{"count negative limit", CountDocuments{Namespace: testNS, Options: CountOptions{Limit: -1}}, "options.limit"},
		{"count negative skip", CountDocuments{Namespace: testNS, Options: CountOptions{Skip: -1}}, "options.skip"},
		{"distinct negative max time", Distinct{Namespace: testNS, FieldName: "a", Options: DistinctOptions{CommonOptions: CommonOptions{MaxTime: -1}}}, "options.max_time"},
		{"aggregate negative batch size", Aggregate{Namespace: testNS, Options: AggregateOptions{BatchSize: -1}}, "options.batch_size"},
		{"bad namespace", FindOne{Namespace: Namespace{"a.b", "c"}}, "namespace.database"},
		{"missing namespace", InsertOne{Document: js(`{}`)}, "namespace.database"},
		{"hint and hint_name", Find{Namespace: testNS, Options: FindOptions{CommonOptions: CommonOptions{Hint: js(`{"a": 1}`), HintName: "a_1"}}}, "options.hint"},
		{"empty hint document", DeleteMany{Namespace: testNS, Filter: js(`{}`), Options: DeleteOptions{CommonOptions: CommonOptions{Hint: js(`{}`)}}}, "options.hint"},
		{"collation without locale", FindOne{Namespace: testNS, Options: FindOneOptions{CommonOptions: CommonOptions{Collation: js(`{"strength": 1}`)}}}, "options.collation"},
		{"collation bad strength", FindOne{Namespace: testNS, Options: FindOneOptions{CommonOptions: CommonOptions{Collation: js(`{"locale": "fr", "strength": 9}`)}}}, "options.collation"},
		{"collation unknown field", FindOne{Namespace: testNS, Options: FindOneOptions{CommonOptions: CommonOptions{Collation: js(`{"locale": "fr", "colour": 1}`)}}}, "options.collation"},
		{"collation wrong type", FindOne{Namespace: testNS, Options: FindOneOptions{CommonOptions: CommonOptions{Collation: js(`{"locale": 5}`)}}}, "options.collation"},
		{"bad json in let", Find{Namespace: testNS, Options: FindOptions{CommonOptions: CommonOptions{Let: js(`{"a":`)}}}, "options.let"},
		{"unset document", FindOne{Namespace: testNS, Filter: &Document{}}, "filter"},
		{"insert without document", InsertOne{Namespace: testNS}, "document"},
		{"insertMany without documents", InsertMany{Namespace: testNS, Options: InsertManyOptions{Ordered: &no}}, "documents"},
		{"insertMany bad json", InsertMany{Namespace: testNS, Documents: []Document{{JSON: `{}`}, {JSON: `{`}}}, "documents[1]"},
		{"update without filter", UpdateOne{Namespace: testNS, Update: Update{Document: js(`{"$set": {"a": 1}}`)}}, "filter"},
		{"update without update", UpdateOne{Namespace: testNS, Filter: js(`{}`)}, "update"},
		{"update with both", UpdateMany{Namespace: testNS, Filter: js(`{}`), Update: Update{Document: js(`{"$set": {"a": 1}}`), Pipeline: []Document{{JSON: `{"$set": {"a": 1}}`}}}}, "update"},
		{"update without operators", UpdateOne{Namespace: testNS, Filter: js(`{}`), Update: Update{Document: js(`{"a": 1}`)}}, "update"},
		{"update empty", UpdateOne{Namespace: testNS, Filter: js(`{}`), Update: Update{Document: js(`{}`)}}, "update"},
		{"update pipeline stage with two fields", UpdateOne{Namespace: testNS, Filter: js(`{}`), Update: Update{Pipeline: []Document{{JSON: `{"$set": {"a": 1}, "$unset": "b"}`}}}}, "update_pipeline.stages[0]"},
		{"update bad array filter", UpdateOne{Namespace: testNS, Filter: js(`{}`), Update: Update{Document: js(`{"$set": {"a": 1}}`)}, Options: UpdateOptions{ArrayFilters: []Document{{JSON: `{}`}, {JSON: `x`}}}}, "options.array_filters[1]"},
		{"replace with operators", ReplaceOne{Namespace: testNS, Filter: js(`{}`), Replacement: js(`{"$set": {"a": 1}}`)}, "replacement"},
		{"replace without replacement", ReplaceOne{Namespace: testNS, Filter: js(`{}`)}, "replacement"},
		{"delete without filter", DeleteOne{Namespace: testNS}, "filter"},
		{"findOneAndDelete without filter", FindOneAndDelete{Namespace: testNS}, "filter"},
		{"findOneAndUpdate bad return document", FindOneAndUpdate{Namespace: testNS, Filter: js(`{}`), Update: Update{Document: js(`{"$set": {"a": 1}}`)}, Options: FindOneAndUpdateOptions{ReturnDocument: 7}}, "options.return_document"},
		{"findOneAndReplace with operators", FindOneAndReplace{Namespace: testNS, Filter: js(`{}`), Replacement: js(`{"$inc": {"a": 1}}`)}, "replacement"},
		{"distinct without field", Distinct{Namespace: testNS}, "field_name"},
		{"aggregate bad stage", Aggregate{Namespace: testNS, Pipeline: []Document{{JSON: `{"match": {}}`}}}, "pipeline[0]"},
		{"bulk without models", BulkWrite{Namespace: testNS}, "models"},
		{"bulk nil model", BulkWrite{Namespace: testNS, Models: []WriteModel{InsertOneModel{Document: js(`{}`)}, nil}}, "models[1]"},
		{"bulk insert without document", BulkWrite{Namespace: testNS, Models: []WriteModel{InsertOneModel{}}}, "models[0].insert_one.document"},
		{"bulk update without filter", BulkWrite{Namespace: testNS, Models: []WriteModel{UpdateOneModel{Update: Update{Document: js(`{"$set": {"a": 1}}`)}}}}, "models[0].update_one.filter"},
		{"bulk update without operators", BulkWrite{Namespace: testNS, Models: []WriteModel{UpdateManyModel{Filter: js(`{}`), Update: Update{Document: js(`{"a": 1}`)}}}}, "models[0].update_many.update"},
		{"bulk replace with operators", BulkWrite{Namespace: testNS, Models: []WriteModel{ReplaceOneModel{Filter: js(`{}`), Replacement: js(`{"$set": {}}`)}}}, "models[0].replace_one.replacement"},
		{"bulk delete bad collation", BulkWrite{Namespace: testNS, Models: []WriteModel{DeleteManyModel{Filter: js(`{}`), CommonOptions: CommonOptions{Collation: js(`{}`)}}}}, "models[0].delete_many.collation"},
		{"bulk hint and name", BulkWrite{Namespace: testNS, Models: []WriteModel{DeleteOneModel{Filter: js(`{}`), CommonOptions: CommonOptions{Hint: js(`{"a": 1}`), HintName: "a_1"}}}}, "models[0].delete_one.hint"},
		{"bulk bad let", BulkWrite{Namespace: testNS, Models: []WriteModel{DeleteOneModel{Filter: js(`{}`)}}, Options: BulkWriteOptions{CommonOptions: CommonOptions{Let: js(`[]`)}}}, "options.let"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantArgError(t, tt.op.Validate(), tt.field)
		})
	}

	t.Run("valid options", func(t *testing.T) {
		yes := true
		ok := []interface{ Validate() error }{
			Find{Namespace: testNS, Options: FindOptions{
				Skip:          1,
				Limit:         2,
				BatchSize:     3,
				AllowDiskUse:  &yes,
				CommonOptions: CommonOptions{Projection: js(`{"a": 1}`), Sort: js(`{"a": -1}`), HintName: "a_1", Comment: "c", MaxTime: time.Second, Let: js(`{"v": 1}`), Collation: js(`{"locale": "fr", "strength": 1.0, "caseLevel": true, "numericOrdering": false}`)},
			}},
			UpdateOne{Namespace: testNS, Filter: js(`{}`), Update: Update{Pipeline: []Document{{JSON: `{"$set": {"a": 1}}`}}}},
			ReplaceOne{Namespace: testNS, Filter: js(`{}`), Replacement: js(`{}`)},
			Aggregate{Namespace: testNS},
		}
		for i, op := range ok {
			if err := op.Validate(); err != nil {
				t.Errorf("%d: Validate = %v", i, err)
			}
		}
	})
}

// Every op that RunTransaction can run implements Op.
var _ = []Op{
	InsertOne{}, InsertMany{}, UpdateOne{}, UpdateMany{}, ReplaceOne{}, DeleteOne{}, DeleteMany{},
	FindOne{}, FindOneAndUpdate{}, FindOneAndReplace{}, FindOneAndDelete{}, CountDocuments{}, Distinct{}, BulkWrite{},
}

// An operation refuses a common option its command does not take, rather
// than dropping it.
func TestCommonOptionNotTaken(t *testing.T) {
	tests := []struct {
		name  string
		op    interface{ Validate() error }
		field string
	}{
		{"insertOne hint", InsertOne{Namespace: testNS, Document: js(`{}`), Options: InsertOneOptions{CommonOptions: CommonOptions{HintName: "a_1"}}}, "options.hint"},
		{"updateOne max time", UpdateOne{Namespace: testNS, Filter: js(`{}`), Update: Update{Document: js(`{"$set": {"a": 1}}`)}, Options: UpdateOptions{CommonOptions: CommonOptions{MaxTime: time.Second}}}, "options.max_time"},
		{"count let", CountDocuments{Namespace: testNS, Options: CountOptions{CommonOptions: CommonOptions{Let: js(`{"v": 1}`)}}}, "options.let"},
		{"findOneAndDelete bypass", FindOneAndDelete{Namespace: testNS, Filter: js(`{}`), Options: FindOneAndDeleteOptions{CommonOptions: CommonOptions{BypassDocumentValidation: true}}}, "options.bypass_document_validation"},
		{"bulk model comment", BulkWrite{Namespace: testNS, Models: []WriteModel{DeleteOneModel{Filter: js(`{}`), CommonOptions: CommonOptions{Comment: "c"}}}}, "models[0].delete_one.comment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantArgError(t, tt.op.Validate(), tt.field)
		})
	}
}
