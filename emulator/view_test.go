package emulator_test

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongogate/mongogate/emulator"
)

func TestViews(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	db := mustConnect(t, srv.URI()).Database("db")
	ctx := ctxT(t)
	base := db.Collection("orders")
	if _, err := base.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: 1}, {Key: "item", Value: "apple"}, {Key: "qty", Value: 5}},
		bson.D{{Key: "_id", Value: 2}, {Key: "item", Value: "Banana"}, {Key: "qty", Value: 0}},
		bson.D{{Key: "_id", Value: 3}, {Key: "item", Value: "banana"}, {Key: "qty", Value: 7}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateView(ctx, "instock", "orders", bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: "qty", Value: bson.D{{Key: "$gt", Value: 0}}}}}},
		bson.D{{Key: "$project", Value: bson.D{{Key: "qty", Value: 0}}}},
	}, options.CreateView().SetCollation(&options.Collation{Locale: "en", Strength: 2})); err != nil {
		t.Fatal(err)
	}
	// A view on a view takes its source's collation.
	bananas := bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "item", Value: "BANANA"}}}}}
	err := db.CreateView(ctx, "bananas", "instock", bananas)
	if !hasCode(err, 167) {
		t.Errorf("view on a view with another collation = %v, want OptionNotSupportedOnView", err)
	}
	if err := db.CreateView(ctx, "bananas", "instock", bananas, options.CreateView().SetCollation(&options.Collation{Locale: "en", Strength: 2})); err != nil {
		t.Fatal(err)
	}
	view := db.Collection("instock")

	t.Run("reads", func(t *testing.T) {
		if n := count(t, view, bson.D{}); n != 2 {
			t.Errorf("CountDocuments = %d, want 2", n)
		}
		n, err := view.EstimatedDocumentCount(ctx)
		if err != nil || n != 2 {
			t.Errorf("EstimatedDocumentCount = %d, %v; want 2", n, err)
		}
		var got bson.D
		if err := view.FindOne(ctx, bson.D{{Key: "item", Value: "BANANA"}}).Decode(&got); err != nil {
			t.Fatalf("find under the view's collation: %v", err)
		}
		if len(got) != 2 {
			t.Errorf("FindOne = %v, want the projected document", got)
		}
		var vals []string
		if err := view.Distinct(ctx, "item", bson.D{}).Decode(&vals); err != nil || len(vals) != 2 {
			t.Errorf("Distinct = %v, %v", vals, err)
		}
		if n := count(t, db.Collection("bananas"), bson.D{}); n != 1 {
			t.Errorf("view on a view counts %d, want 1", n)
		}
	})
	t.Run("writes refused", func(t *testing.T) {
		_, err := view.InsertOne(ctx, bson.D{{Key: "item", Value: "cherry"}})
		if !hasCode(err, 166) {
			t.Errorf("insert = %v, want CommandNotSupportedOnView", err)
		}
		_, err = view.UpdateOne(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}})
		if !hasCode(err, 166) {
			t.Errorf("update = %v, want CommandNotSupportedOnView", err)
		}
		_, err = view.DeleteMany(ctx, bson.D{})
		if !hasCode(err, 166) {
			t.Errorf("delete = %v, want CommandNotSupportedOnView", err)
		}
		err = view.FindOneAndDelete(ctx, bson.D{}).Err()
		if !hasCode(err, 166) {
			t.Errorf("findAndModify = %v, want CommandNotSupportedOnView", err)
		}
		_, err = view.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "item", Value: 1}}})
		if !hasCode(err, 166) {
			t.Errorf("createIndexes = %v, want CommandNotSupportedOnView", err)
		}
	})
	t.Run("listCollections", func(t *testing.T) {
		cur, err := db.ListCollections(ctx, bson.D{{Key: "name", Value: "instock"}})
		if err != nil {
			t.Fatal(err)
		}
		var got []struct {
			Type    string `bson:"type"`
			Options struct {
				ViewOn   string `bson:"viewOn"`
				Pipeline bson.A `bson:"pipeline"`
			} `bson:"options"`
		}
		if err := cur.All(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Type != "view" || got[0].Options.ViewOn != "orders" || len(got[0].Options.Pipeline) != 2 {
			t.Errorf("listCollections = %+v", got)
		}
	})
	t.Run("cycle refused", func(t *testing.T) {
		err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "instock"}, {Key: "viewOn", Value: "bananas"}, {Key: "pipeline", Value: bson.A{}}}).Err()
		var ce mongo.CommandError
		if !errors.As(err, &ce) || ce.Code != 5 {
			t.Errorf("collMod into a cycle = %v, want GraphContainsCycle", err)
		}
	})
}
