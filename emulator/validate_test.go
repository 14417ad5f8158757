package emulator_test

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongogate/mongogate/emulator"
)

type validationInfo struct {
	FailingDocumentID any `bson:"failingDocumentId"`
	Details           struct {
		OperatorName            string `bson:"operatorName"`
		Reason                  string `bson:"reason"`
		ConsideredValue         any    `bson:"consideredValue"`
		SchemaRulesNotSatisfied []struct {
			OperatorName string `bson:"operatorName"`
		} `bson:"schemaRulesNotSatisfied"`
	} `bson:"details"`
}

// errInfo returns the errInfo of a write's first write error.
func errInfo(t *testing.T, err error) validationInfo {
	t.Helper()
	var we mongo.WriteException
	if !errors.As(err, &we) || len(we.WriteErrors) == 0 || we.WriteErrors[0].Code != 121 {
		t.Fatalf("err = %v, want a DocumentValidationFailure write error", err)
	}
	var info validationInfo
	if err := bson.Unmarshal(we.WriteErrors[0].Details, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

func TestValidator(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	db := mustConnect(t, srv.URI()).Database("db")
	ctx := ctxT(t)
	schema := bson.D{{Key: "$jsonSchema", Value: bson.D{
		{Key: "bsonType", Value: "object"},
		{Key: "required", Value: bson.A{"name", "age"}},
		{Key: "properties", Value: bson.D{
			{Key: "name", Value: bson.D{{Key: "bsonType", Value: "string"}, {Key: "description", Value: "must be a string"}}},
			{Key: "age", Value: bson.D{{Key: "bsonType", Value: "int"}, {Key: "minimum", Value: 0}}},
		}},
	}}}
	if err := db.CreateCollection(ctx, "people", options.CreateCollection().SetValidator(schema)); err != nil {
		t.Fatal(err)
	}
	coll := db.Collection("people")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "ann"}, {Key: "age", Value: int32(30)}}); err != nil {
		t.Fatal(err)
	}

	t.Run("jsonSchema errInfo", func(t *testing.T) {
		_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}, {Key: "name", Value: 5}})
		info := errInfo(t, err)
		if info.FailingDocumentID != int32(2) {
			t.Errorf("failingDocumentId = %v", info.FailingDocumentID)
		}
		if info.Details.OperatorName != "$jsonSchema" {
			t.Errorf("details = %+v", info.Details)
		}
		var ops []string
		for _, r := range info.Details.SchemaRulesNotSatisfied {
			ops = append(ops, r.OperatorName)
		}
		if len(ops) != 2 || ops[0] != "required" || ops[1] != "properties" {
			t.Errorf("schemaRulesNotSatisfied operators = %v, want [required properties]", ops)
		}
	})
	t.Run("update checked", func(t *testing.T) {
		_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "age", Value: int32(-1)}}}})
		errInfo(t, err)
		err = coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "name", Value: ""}}}}).Err()
		var ce mongo.CommandError
		if !errors.As(err, &ce) || ce.Code != 121 {
			t.Errorf("findAndModify = %v, want DocumentValidationFailure", err)
		}
	})
	t.Run("bypassDocumentValidation", func(t *testing.T) {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 3}}, options.InsertOne().SetBypassDocumentValidation(true)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("moderate lets invalid documents change", func(t *testing.T) {
		if err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "people"}, {Key: "validationLevel", Value: "moderate"}}).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 3}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}); err != nil {
			t.Errorf("update of an already invalid document under moderate: %v", err)
		}
		_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "age", Value: "old"}}}})
		errInfo(t, err)
	})
	t.Run("warn and off", func(t *testing.T) {
		if err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "people"}, {Key: "validationAction", Value: "warn"}}).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 4}}); err != nil {
			t.Errorf("insert under warn: %v", err)
		}
		if err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "people"}, {Key: "validationAction", Value: "error"}, {Key: "validationLevel", Value: "off"}}).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 5}}); err != nil {
			t.Errorf("insert with validation off: %v", err)
		}
	})
	t.Run("query operator validator via collMod", func(t *testing.T) {
		if err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "people"}, {Key: "validationLevel", Value: "strict"},
			{Key: "validator", Value: bson.D{{Key: "age", Value: bson.D{{Key: "$gte", Value: 18}}}}}}).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 6}, {Key: "age", Value: 10}})
		details := errInfo(t, err).Details
		if details.OperatorName != "$gte" || details.Reason != "comparison failed" || details.ConsideredValue != int32(10) {
			t.Errorf("details = %+v", details)
		}
		cur, err := db.ListCollections(ctx, bson.D{{Key: "name", Value: "people"}})
		if err != nil {
			t.Fatal(err)
		}
		var got []struct {
			Options struct {
				Validator        bson.M `bson:"validator"`
				ValidationLevel  string `bson:"validationLevel"`
				ValidationAction string `bson:"validationAction"`
			} `bson:"options"`
		}
		if err := cur.All(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Options.ValidationLevel != "strict" || got[0].Options.ValidationAction != "error" || got[0].Options.Validator["age"] == nil {
			t.Errorf("listCollections options = %+v", got)
		}
	})
}
