package mongogate_test

import (
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/clients/go/options"
)

type changeEvent struct {
	OperationType string `bson:"operationType"`
	NS            struct {
		DB   string `bson:"db"`
		Coll string `bson:"coll"`
	} `bson:"ns"`
}

func nextEvent(t *testing.T, cs *mongogate.ChangeStream) changeEvent {
	t.Helper()
	if !cs.Next(testCtx(t)) {
		t.Fatalf("Next = false, Err %v", cs.Err())
	}
	var ev changeEvent
	if err := cs.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// A database watch and a deployment watch see the collections in scope;
// TryNext reports a heartbeat as false with no error.
func TestWatchScopes(t *testing.T) {
	ctx := testCtx(t)
	c, err := mongogate.New(target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	db := dbName(t)
	onlyDB := bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "ns.db", Value: db}}}}}
	dbCS, err := c.Database(db).Watch(ctx, nil, options.ChangeStream().SetMaxAwaitTime(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer dbCS.Close(ctx)
	allCS, err := c.Watch(ctx, onlyDB)
	if err != nil {
		t.Fatal(err)
	}
	defer allCS.Close(ctx)
	if dbCS.TryNext(ctx) || dbCS.Err() != nil || dbCS.ResumeToken() == "" {
		t.Fatalf("TryNext on a quiet stream = true or Err %v or no token", dbCS.Err())
	}
	for _, coll := range []string{"a", "b"} {
		if _, err := c.Database(db).Collection(coll).InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, cs := range []*mongogate.ChangeStream{dbCS, allCS} {
		for _, coll := range []string{"a", "b"} {
			if ev := nextEvent(t, cs); ev.OperationType != "insert" || ev.NS.DB != db || ev.NS.Coll != coll {
				t.Fatalf("event %+v, want an insert into %s.%s", ev, db, coll)
			}
		}
	}
}

// Dropping the collection ends its stream after drop and invalidate.
func TestWatchInvalidate(t *testing.T) {
	ctx := testCtx(t)
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	db := dbName(t)
	coll := c.Database(db).Collection("gone")
	if _, err := coll.InsertOne(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	cs, err := coll.Watch(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctx)
	if err := g.direct(t).Database(db).Collection("gone").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"drop", "invalidate"} {
		if ev := nextEvent(t, cs); ev.OperationType != want {
			t.Fatalf("event %q, want %q", ev.OperationType, want)
		}
	}
	if cs.Next(ctx) || cs.Err() != nil {
		t.Fatalf("Next after invalidate = true or Err %v, want the end", cs.Err())
	}
}

// Refusals come from Watch itself.
func TestWatchRefused(t *testing.T) {
	ctx := testCtx(t)
	c, err := mongogate.New(target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	coll := c.Database(dbName(t)).Collection("c")
	if _, err := coll.Watch(ctx, nil, options.ChangeStream().SetResumeAfter("mgw1-not-a-token")); !errors.Is(err, mongogate.ErrInvalidArgument) {
		t.Errorf("Watch with a bad token = %v, want ErrInvalidArgument", err)
	}
	if _, err := coll.Watch(ctx, nil, options.ChangeStream().SetResumeAfter("a").SetStartAfter("b")); err == nil {
		t.Error("Watch with two start positions succeeded")
	}
	if _, err := coll.Watch(ctx, bson.A{bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}}}}}); !errors.Is(err, mongogate.ErrMongo) {
		t.Errorf("Watch with $group = %v, want ErrMongo", err)
	}
}
