package mongogate_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/clients/go/options"
)

type person struct {
	ID      bson.ObjectID `bson:"_id,omitempty"`
	Name    string        `bson:"name"`
	Age     int32         `bson:"age"`
	Tags    []string      `bson:"tags,omitempty"`
	Born    time.Time     `bson:"born"`
	Balance int64         `bson:"balance"`
}

func mustCollection(t *testing.T, c *mongogate.Client) *mongogate.Collection {
	t.Helper()
	return c.Database(dbName(t)).Collection("people")
}

// Documents round-trip exactly whether given as structs or bson.D: types
// (int32 vs int64, dates, ObjectIds) and key order survive.
func TestRoundTrip(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	born := time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name   string
		insert any
		check  func(t *testing.T, id any, r *mongogate.SingleResult)
	}{
		{"struct", person{Name: "Ada", Age: 36, Tags: []string{"math"}, Born: born, Balance: 1 << 40},
			func(t *testing.T, id any, r *mongogate.SingleResult) {
				var got person
				if err := r.Decode(&got); err != nil {
					t.Fatal(err)
				}
				want := person{ID: id.(bson.ObjectID), Name: "Ada", Age: 36, Tags: []string{"math"}, Born: born, Balance: 1 << 40}
				if got.ID != want.ID || got.Name != want.Name || got.Age != want.Age || !slices.Equal(got.Tags, want.Tags) ||
					!got.Born.Equal(want.Born) || got.Balance != want.Balance {
					t.Errorf("decoded %+v, want %+v", got, want)
				}
			}},
		{"bson.D with _id", bson.D{{Key: "_id", Value: "ada"}, {Key: "z", Value: int32(1)}, {Key: "a", Value: int64(2)}, {Key: "d", Value: bson.NewDateTimeFromTime(born)}},
			func(t *testing.T, id any, r *mongogate.SingleResult) {
				if id != "ada" {
					t.Errorf("InsertedID = %#v, want \"ada\"", id)
				}
				raw, err := r.Raw()
				if err != nil {
					t.Fatal(err)
				}
				elems, _ := raw.Elements()
				var keys []string
				for _, e := range elems {
					keys = append(keys, e.Key())
				}
				if !slices.Equal(keys, []string{"_id", "z", "a", "d"}) {
					t.Errorf("key order %q", keys)
				}
				if raw.Lookup("z").Type != bson.TypeInt32 || raw.Lookup("a").Type != bson.TypeInt64 || raw.Lookup("d").Type != bson.TypeDateTime {
					t.Errorf("types changed: %v", raw)
				}
			}},
		{"bson.M", bson.M{"name": "Grace"},
			func(t *testing.T, id any, r *mongogate.SingleResult) {
				var got bson.M
				if err := r.Decode(&got); err != nil {
					t.Fatal(err)
				}
				if got["name"] != "Grace" || got["_id"] != id {
					t.Errorf("decoded %v (id %v)", got, id)
				}
			}},
		{"bson.Raw", mustMarshal(t, bson.D{{Key: "_id", Value: int32(7)}, {Key: "raw", Value: true}}),
			func(t *testing.T, id any, r *mongogate.SingleResult) {
				if id != int32(7) {
					t.Errorf("InsertedID = %#v", id)
				}
				if err := r.Err(); err != nil {
					t.Fatal(err)
				}
			}},
	}
	coll := mustCollection(t, c)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := coll.InsertOne(ctx, tt.insert)
			if err != nil {
				t.Fatalf("InsertOne: %v", err)
			}
			if !res.Acknowledged {
				t.Errorf("not acknowledged")
			}
			tt.check(t, res.InsertedID, coll.FindOne(ctx, bson.D{{Key: "_id", Value: res.InsertedID}}))
		})
	}
}

func mustMarshal(t *testing.T, v any) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCRUD(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	coll := mustCollection(t, c)

	people := []person{{Name: "a", Age: 10}, {Name: "b", Age: 20}, {Name: "c", Age: 30}, {Name: "d", Age: 40}, {Name: "e", Age: 50}}
	ins, err := coll.InsertMany(ctx, people)
	if err != nil {
		t.Fatalf("InsertMany: %v", err)
	}
	if len(ins.InsertedIDs) != len(people) {
		t.Fatalf("InsertedIDs = %v", ins.InsertedIDs)
	}
	for _, id := range ins.InsertedIDs {
		if _, ok := id.(bson.ObjectID); !ok {
			t.Errorf("InsertedID %#v is not an ObjectID", id)
		}
	}

	t.Run("Find streams batches", func(t *testing.T) {
		cur, err := coll.Find(ctx, bson.D{{Key: "age", Value: bson.D{{Key: "$gte", Value: 20}}}},
			options.Find().SetSort(bson.D{{Key: "age", Value: -1}}).SetBatchSize(2), options.Find().SetLimit(3))
		if err != nil {
			t.Fatal(err)
		}
		defer cur.Close(ctx)
		var names []string
		for cur.Next(ctx) {
			var p person
			if err := cur.Decode(&p); err != nil {
				t.Fatal(err)
			}
			names = append(names, p.Name)
			if cur.RemainingBatchLength() > 1 {
				t.Errorf("batch larger than the batch size: %d left", cur.RemainingBatchLength())
			}
		}
		if err := cur.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names, []string{"e", "d", "c"}) {
			t.Errorf("names %q", names)
		}
	})

	t.Run("Find All with projection", func(t *testing.T) {
		cur, err := coll.Find(ctx, nil, options.Find().SetProjection(bson.D{{Key: "name", Value: 1}, {Key: "_id", Value: 0}}).SetSort(bson.D{{Key: "name", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		var got []bson.D
		if err := cur.All(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 5 || len(got[0]) != 1 || got[0][0].Key != "name" || got[0][0].Value != "a" {
			t.Errorf("All = %v", got)
		}
	})

	t.Run("Find empty", func(t *testing.T) {
		cur, err := coll.Find(ctx, bson.D{{Key: "name", Value: "nobody"}})
		if err != nil {
			t.Fatal(err)
		}
		if cur.Next(ctx) || cur.Err() != nil {
			t.Errorf("Next on empty result: err %v", cur.Err())
		}
	})

	t.Run("UpdateOne", func(t *testing.T) {
		res, err := coll.UpdateOne(ctx, bson.D{{Key: "name", Value: "a"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "age", Value: int32(1)}}}})
		if err != nil || res.MatchedCount != 1 || res.ModifiedCount != 1 {
			t.Fatalf("UpdateOne = %+v, %v", res, err)
		}
	})

	t.Run("UpdateMany", func(t *testing.T) {
		res, err := coll.UpdateMany(ctx, bson.D{{Key: "age", Value: bson.D{{Key: "$gte", Value: 30}}}}, bson.M{"$set": bson.M{"senior": true}})
		if err != nil || res.MatchedCount != 3 || res.ModifiedCount != 3 {
			t.Fatalf("UpdateMany = %+v, %v", res, err)
		}
	})

	t.Run("UpdateOne pipeline", func(t *testing.T) {
		pipeline := []bson.D{{{Key: "$set", Value: bson.D{{Key: "double", Value: bson.D{{Key: "$multiply", Value: bson.A{"$age", 2}}}}}}}}
		res, err := coll.UpdateOne(ctx, bson.D{{Key: "name", Value: "b"}}, pipeline)
		if err != nil || res.ModifiedCount != 1 {
			t.Fatalf("UpdateOne = %+v, %v", res, err)
		}
		var p bson.M
		if err := coll.FindOne(ctx, bson.D{{Key: "name", Value: "b"}}).Decode(&p); err != nil {
			t.Fatal(err)
		}
		if n, ok := p["double"].(int32); !ok || n != 40 {
			if n, ok := p["double"].(int64); !ok || n != 40 {
				t.Errorf("double = %#v", p["double"])
			}
		}
	})

	t.Run("Upsert", func(t *testing.T) {
		res, err := coll.UpdateOne(ctx, bson.D{{Key: "name", Value: "new"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "age", Value: int32(1)}}}},
			options.UpdateOne().SetUpsert(true))
		if err != nil || res.UpsertedCount != 1 || res.UpsertedID == nil {
			t.Fatalf("upsert = %+v, %v", res, err)
		}
	})

	t.Run("ReplaceOne", func(t *testing.T) {
		res, err := coll.ReplaceOne(ctx, bson.D{{Key: "name", Value: "new"}}, person{Name: "newer", Age: 2})
		if err != nil || res.MatchedCount != 1 || res.ModifiedCount != 1 {
			t.Fatalf("ReplaceOne = %+v, %v", res, err)
		}
	})

	t.Run("FindOneAndUpdate after", func(t *testing.T) {
		var p person
		err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "name", Value: "newer"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "age", Value: int32(5)}}}},
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&p)
		if err != nil || p.Age != 7 {
			t.Fatalf("FindOneAndUpdate = %+v, %v", p, err)
		}
	})

	t.Run("FindOneAndReplace before", func(t *testing.T) {
		var p person
		err := coll.FindOneAndReplace(ctx, bson.D{{Key: "name", Value: "newer"}}, person{Name: "newest", Age: 3}).Decode(&p)
		if err != nil || p.Name != "newer" {
			t.Fatalf("FindOneAndReplace = %+v, %v", p, err)
		}
	})

	t.Run("FindOneAndDelete", func(t *testing.T) {
		var p person
		if err := coll.FindOneAndDelete(ctx, bson.D{{Key: "name", Value: "newest"}}).Decode(&p); err != nil || p.Age != 3 {
			t.Fatalf("FindOneAndDelete = %+v, %v", p, err)
		}
	})

	t.Run("no documents", func(t *testing.T) {
		filter := bson.D{{Key: "name", Value: "nobody"}}
		update := bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}
		for name, r := range map[string]*mongogate.SingleResult{
			"FindOne":           coll.FindOne(ctx, filter),
			"FindOneAndUpdate":  coll.FindOneAndUpdate(ctx, filter, update),
			"FindOneAndReplace": coll.FindOneAndReplace(ctx, filter, bson.D{}),
			"FindOneAndDelete":  coll.FindOneAndDelete(ctx, filter),
		} {
			if !errors.Is(r.Err(), mongogate.ErrNoDocuments) || !errors.Is(r.Decode(&bson.D{}), mongogate.ErrNoDocuments) {
				t.Errorf("%s: Err() = %v, want ErrNoDocuments", name, r.Err())
			}
		}
	})

	t.Run("CountDocuments", func(t *testing.T) {
		n, err := coll.CountDocuments(ctx, bson.D{{Key: "senior", Value: true}})
		if err != nil || n != 3 {
			t.Fatalf("CountDocuments = %d, %v", n, err)
		}
		n, err = coll.CountDocuments(ctx, nil, options.Count().SetLimit(2))
		if err != nil || n != 2 {
			t.Fatalf("CountDocuments with limit = %d, %v", n, err)
		}
	})

	t.Run("Distinct", func(t *testing.T) {
		var names []string
		if err := coll.Distinct(ctx, "name", bson.D{{Key: "senior", Value: true}}).Decode(&names); err != nil {
			t.Fatal(err)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"c", "d", "e"}) {
			t.Errorf("Distinct = %q", names)
		}
		arr, err := coll.Distinct(ctx, "senior", nil).Raw()
		if err != nil {
			t.Fatal(err)
		}
		if vals, _ := arr.Values(); len(vals) != 1 || !vals[0].Boolean() {
			t.Errorf("Distinct raw = %v", arr)
		}
	})

	t.Run("Aggregate", func(t *testing.T) {
		cur, err := coll.Aggregate(ctx, bson.A{
			bson.D{{Key: "$match", Value: bson.D{{Key: "senior", Value: true}}}},
			bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "total", Value: bson.D{{Key: "$sum", Value: "$age"}}}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		var out []struct {
			Total int64 `bson:"total"`
		}
		if err := cur.All(ctx, &out); err != nil {
			t.Fatal(err)
		}
		if len(out) != 1 || out[0].Total != 120 {
			t.Errorf("Aggregate = %+v", out)
		}
	})

	t.Run("DeleteOne and DeleteMany", func(t *testing.T) {
		res, err := coll.DeleteOne(ctx, bson.D{{Key: "name", Value: "a"}})
		if err != nil || res.DeletedCount != 1 {
			t.Fatalf("DeleteOne = %+v, %v", res, err)
		}
		res, err = coll.DeleteMany(ctx, bson.D{{Key: "senior", Value: true}})
		if err != nil || res.DeletedCount != 3 {
			t.Fatalf("DeleteMany = %+v, %v", res, err)
		}
		if n := g.count(t, coll.Database().Name(), coll.Name(), bson.D{}); n != 1 {
			t.Errorf("%d documents left, want 1", n)
		}
	})
}

func TestBulkWrite(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	coll := mustCollection(t, c)
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 1}}, bson.D{{Key: "_id", Value: 2}, {Key: "n", Value: 2}}}); err != nil {
		t.Fatal(err)
	}
	res, err := coll.BulkWrite(ctx, []mongogate.WriteModel{
		mongogate.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 3}, {Key: "n", Value: 3}}),
		mongogate.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: 1}}).SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 10}}}}),
		mongogate.NewUpdateManyModel().SetFilter(bson.D{{Key: "_id", Value: 9}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 9}}}}).SetUpsert(true),
		mongogate.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: 2}}).SetReplacement(bson.D{{Key: "n", Value: 20}}),
		mongogate.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: 3}}),
		mongogate.NewDeleteManyModel().SetFilter(bson.D{{Key: "n", Value: bson.D{{Key: "$gt", Value: 100}}}}),
	}, options.BulkWrite().SetOrdered(true))
	if err != nil {
		t.Fatalf("BulkWrite: %v", err)
	}
	if res.InsertedCount != 1 || res.MatchedCount != 2 || res.ModifiedCount != 2 || res.UpsertedCount != 1 || res.DeletedCount != 1 {
		t.Errorf("counts %+v", res)
	}
	if id, ok := res.InsertedIDs[0]; !ok || id != int32(3) {
		t.Errorf("InsertedIDs = %v", res.InsertedIDs)
	}
	if id, ok := res.UpsertedIDs[2]; !ok || id != int32(9) {
		t.Errorf("UpsertedIDs = %v", res.UpsertedIDs)
	}
}

// The client refuses what it can tell is wrong before sending anything: a
// write without a filter would otherwise hit every document.
func TestClientSideArgumentErrors(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	coll := mustCollection(t, c)
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"DeleteMany nil filter", func() error { _, err := coll.DeleteMany(ctx, nil); return err }, mongogate.ErrNilDocument},
		{"UpdateMany nil filter", func() error { _, err := coll.UpdateMany(ctx, nil, bson.D{}); return err }, mongogate.ErrNilDocument},
		{"UpdateOne nil update", func() error { _, err := coll.UpdateOne(ctx, bson.D{}, nil); return err }, mongogate.ErrNilDocument},
		{"InsertOne nil", func() error { _, err := coll.InsertOne(ctx, nil); return err }, mongogate.ErrNilDocument},
		{"FindOneAndDelete nil filter", func() error { return coll.FindOneAndDelete(ctx, nil).Err() }, mongogate.ErrNilDocument},
		{"Aggregate nil pipeline", func() error { _, err := coll.Aggregate(ctx, nil); return err }, mongogate.ErrNilDocument},
		{"BulkWrite nil filter", func() error {
			_, err := coll.BulkWrite(ctx, []mongogate.WriteModel{mongogate.NewDeleteManyModel()})
			return err
		}, mongogate.ErrNilDocument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { requireIs(t, tt.call(), tt.want) })
	}
	if n := g.count(t, coll.Database().Name(), coll.Name(), bson.D{}); n != 1 {
		t.Errorf("%d documents, want the 1 inserted", n)
	}
	if _, err := coll.InsertMany(ctx, bson.D{{Key: "a", Value: 1}}); err == nil {
		t.Errorf("InsertMany of a bson.D (one document, not a slice of them) succeeded")
	}
}

// Operations that carry a session run in its transaction: their writes
// are visible inside it and invisible outside until the commit.
func TestOperationsInSession(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	coll := mustCollection(t, c)
	s := mustSession(t, c)
	if err := s.StartTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.InTransaction() {
		t.Errorf("InTransaction false after StartTransaction")
	}
	sctx := mongogate.NewSessionContext(ctx, s)
	if mongogate.SessionFromContext(sctx) != s {
		t.Fatal("SessionFromContext lost the session")
	}
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: "in-txn"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := coll.CountDocuments(sctx, nil); err != nil || n != 1 {
		t.Errorf("count inside the transaction = %d, %v; want 1", n, err)
	}
	if n, err := coll.CountDocuments(ctx, nil); err != nil || n != 0 {
		t.Errorf("count outside the transaction = %d, %v; want 0", n, err)
	}
	info, err := s.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.InTransaction || info.LastTransaction == nil || info.LastTransaction.Outcome != mongogate.OutcomeInProgress {
		t.Errorf("Describe = %+v", info)
	}
	if err := s.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if s.InTransaction() {
		t.Errorf("InTransaction true after commit")
	}
	if n := g.count(t, coll.Database().Name(), coll.Name(), bson.D{}); n != 1 {
		t.Errorf("%d documents after commit, want 1", n)
	}
	info, err = s.Describe(ctx)
	if err != nil || info.LastTransaction.Outcome != mongogate.OutcomeCommitted {
		t.Errorf("Describe after commit = %+v, %v", info, err)
	}
	// A collection write concern is not sent inside a transaction, where
	// the server would refuse it.
	wcColl := c.Database(coll.Database().Name()).Collection(coll.Name(), options.Collection().SetWriteConcern(options.Majority()))
	if err := s.StartTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := wcColl.InsertOne(sctx, bson.D{{Key: "_id", Value: "wc"}}); err != nil {
		t.Fatalf("insert with a collection write concern in a transaction: %v", err)
	}
	if err := s.AbortTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := wcColl.InsertOne(ctx, bson.D{{Key: "_id", Value: "wc"}}); err != nil {
		t.Fatalf("insert with a collection write concern: %v", err)
	}
	if n := g.count(t, coll.Database().Name(), coll.Name(), bson.D{}); n != 2 {
		t.Errorf("%d documents, want 2 (the aborted insert must not count)", n)
	}
}
