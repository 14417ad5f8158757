package emulator_test

import (
	"errors"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongogate/mongogate/emulator"
)

func names(t *testing.T, cur *mongo.Cursor) []string {
	t.Helper()
	var docs []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctxT(t), &docs); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.Name
	}
	return out
}

func TestCollationQueries(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	coll := mustConnect(t, srv.URI()).Database("db").Collection("people")
	ctx := ctxT(t)
	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "peter"}},
		bson.D{{Key: "_id", Value: 2}, {Key: "name", Value: "Zoë"}},
		bson.D{{Key: "_id", Value: 3}, {Key: "name", Value: "Peter"}},
		bson.D{{Key: "_id", Value: 4}, {Key: "name", Value: "adam"}},
		bson.D{{Key: "_id", Value: 5}, {Key: "name", Value: "item10"}},
		bson.D{{Key: "_id", Value: 6}, {Key: "name", Value: "item9"}},
	}); err != nil {
		t.Fatal(err)
	}
	en2 := &options.Collation{Locale: "en", Strength: 2}

	t.Run("find equality and sort", func(t *testing.T) {
		cur, err := coll.Find(ctx, bson.D{{Key: "name", Value: "PETER"}}, options.Find().SetCollation(en2).SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		if got := names(t, cur); !slices.Equal(got, []string{"peter", "Peter"}) {
			t.Errorf("find = %v", got)
		}
		cur, err = coll.Find(ctx, bson.D{}, options.Find().SetCollation(&options.Collation{Locale: "en"}).SetSort(bson.D{{Key: "name", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"adam", "item10", "item9", "peter", "Peter", "Zoë"}
		if got := names(t, cur); !slices.Equal(got, want) {
			t.Errorf("sorted = %v, want %v", got, want)
		}
	})
	t.Run("numericOrdering range", func(t *testing.T) {
		n, err := coll.CountDocuments(ctx, bson.D{{Key: "name", Value: bson.D{{Key: "$gt", Value: "item9"}, {Key: "$lt", Value: "item99"}}}},
			options.Count().SetCollation(&options.Collation{Locale: "en", NumericOrdering: true}))
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 { // item10
			t.Errorf("count = %d, want 1", n)
		}
	})
	t.Run("distinct", func(t *testing.T) {
		res := coll.Distinct(ctx, "name", bson.D{{Key: "_id", Value: bson.D{{Key: "$lte", Value: 3}}}}, options.Distinct().SetCollation(&options.Collation{Locale: "en", Strength: 1}))
		var got []string
		if err := res.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []string{"peter", "Zoë"}) {
			t.Errorf("distinct = %v", got)
		}
	})
	t.Run("aggregate group", func(t *testing.T) {
		cur, err := coll.Aggregate(ctx, bson.A{
			bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$name"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
			bson.D{{Key: "$match", Value: bson.D{{Key: "_id", Value: "PETER"}}}},
		}, options.Aggregate().SetCollation(en2))
		if err != nil {
			t.Fatal(err)
		}
		var got []bson.M
		if err := cur.All(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0]["n"] != int32(2) {
			t.Errorf("groups = %v", got)
		}
	})
	t.Run("update and delete", func(t *testing.T) {
		res, err := coll.UpdateMany(ctx, bson.D{{Key: "name", Value: "PETER"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "seen", Value: true}}}}, options.UpdateMany().SetCollation(en2))
		if err != nil {
			t.Fatal(err)
		}
		if res.ModifiedCount != 2 {
			t.Errorf("modified %d, want 2", res.ModifiedCount)
		}
		del, err := coll.DeleteOne(ctx, bson.D{{Key: "name", Value: "zoe"}}, options.DeleteOne().SetCollation(&options.Collation{Locale: "en", Strength: 1}))
		if err != nil {
			t.Fatal(err)
		}
		if del.DeletedCount != 1 {
			t.Errorf("deleted %d, want 1", del.DeletedCount)
		}
	})
	t.Run("bad collation", func(t *testing.T) {
		_, err := coll.Find(ctx, bson.D{}, options.Find().SetCollation(&options.Collation{Locale: "en", Strength: 9}))
		if !hasCode(err, 9) {
			t.Errorf("err = %v, want FailedToParse", err)
		}
	})
}

func TestCollectionDefaultCollationAndIndex(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	db := mustConnect(t, srv.URI()).Database("db")
	ctx := ctxT(t)
	if err := db.CreateCollection(ctx, "users", options.CreateCollection().SetCollation(&options.Collation{Locale: "en", Strength: 2})); err != nil {
		t.Fatal(err)
	}
	coll := db.Collection("users")
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "email", Value: "Ann@example.com"}}); err != nil {
		t.Fatal(err)
	}
	_, err := coll.InsertOne(ctx, bson.D{{Key: "email", Value: "ann@EXAMPLE.com"}})
	var we mongo.WriteException
	if !errors.As(err, &we) || !we.HasErrorCode(11000) {
		t.Fatalf("insert of a case variant = %v, want a duplicate key under the index's collation", err)
	}
	if n := count(t, coll, bson.D{{Key: "email", Value: "ANN@example.com"}}); n != 1 {
		t.Errorf("count under the default collation = %d, want 1", n)
	}
	n, err := coll.CountDocuments(ctx, bson.D{{Key: "email", Value: "ANN@example.com"}}, options.Count().SetCollation(&options.Collation{Locale: "simple"}))
	if err != nil || n != 0 {
		t.Errorf("count with the simple collation = %d, %v; want 0", n, err)
	}

	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var specs []struct {
		Name      string `bson:"name"`
		Collation struct {
			Locale   string `bson:"locale"`
			Strength int32  `bson:"strength"`
			Version  string `bson:"version"`
		} `bson:"collation"`
	}
	if err := cur.All(ctx, &specs); err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if c := s.Collation; c.Locale != "en" || c.Strength != 2 || c.Version != "57.1" {
			t.Errorf("index %s has collation %+v, want the collection's", s.Name, c)
		}
	}
}
