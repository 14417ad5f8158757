package emulator_test

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/emulator"
)

// A standalone emulator answers hello without a replica set, so the
// driver sends it no transaction numbers for retryable writes, and
// refuses a transaction's statements with IllegalOperation, as mongod
// does outside a replica set.
func TestStandalone(t *testing.T) {
	srv := mustStart(t, emulator.Config{Standalone: true})
	client := mustConnect(t, srv.URI())
	ctx := ctxT(t)

	var hello bson.M
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"setName", "hosts", "primary", "me", "secondary", "setVersion"} {
		if v, ok := hello[f]; ok {
			t.Errorf("hello has %s: %v; a standalone's has none", f, v)
		}
	}
	if hello["isWritablePrimary"] != true {
		t.Errorf("hello isWritablePrimary = %v, want true", hello["isWritablePrimary"])
	}

	// Retryable writes are on by default: had the driver taken the server
	// for a replica set member, it would send a txnNumber, refused below.
	coll := client.Database("db").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatalf("insert outside a transaction: %v", err)
	}

	sess, err := client.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	_, err = coll.InsertOne(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "_id", Value: 2}})
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 20 || ce.Name != "IllegalOperation" {
		t.Fatalf("insert in a transaction: %v, want code 20 IllegalOperation", err)
	}
	_ = sess.AbortTransaction(ctx)

	// A command carrying a transaction number by hand is refused too.
	err = client.Database("db").RunCommand(mongo.NewSessionContext(ctx, sess), bson.D{
		{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 3}}}},
		{Key: "txnNumber", Value: int64(1)},
	}).Err()
	if !errors.As(err, &ce) || ce.Code != 20 {
		t.Fatalf("insert with a txnNumber: %v, want code 20 IllegalOperation", err)
	}
	if n := count(t, coll, bson.D{}); n != 1 {
		t.Errorf("%d documents, want only the one inserted outside a transaction", n)
	}
}
