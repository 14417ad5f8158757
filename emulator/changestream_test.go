package emulator_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongogate/mongogate/emulator"
)

func mustWatch(t *testing.T, ctx context.Context, w interface {
	Watch(context.Context, any, ...options.Lister[options.ChangeStreamOptions]) (*mongo.ChangeStream, error)
}, opts ...options.Lister[options.ChangeStreamOptions]) *mongo.ChangeStream {
	t.Helper()
	cs, err := w.Watch(ctx, mongo.Pipeline{}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close(context.Background()) })
	return cs
}

// next returns the stream's next event, failing the test on an error or
// a closed stream.
func next(t *testing.T, ctx context.Context, cs *mongo.ChangeStream) bson.D {
	t.Helper()
	if !cs.Next(ctx) {
		t.Fatalf("Next: no event (err %v, id %d)", cs.Err(), cs.ID())
	}
	var ev bson.D
	if err := bson.Unmarshal(cs.Current, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func field(d bson.D, path ...string) any {
	var v any = d
	for _, p := range path {
		doc, ok := v.(bson.D)
		if !ok {
			return nil
		}
		v = nil
		for _, e := range doc {
			if e.Key == p {
				v = e.Value
			}
		}
	}
	return v
}

func has(d bson.D, key string) bool {
	for _, e := range d {
		if e.Key == key {
			return true
		}
	}
	return false
}

func wantOp(t *testing.T, ev bson.D, op string) {
	t.Helper()
	if got := field(ev, "operationType"); got != op {
		t.Fatalf("operationType = %v, want %s: %v", got, op, ev)
	}
	if _, ok := field(ev, "_id", "_data").(string); !ok {
		t.Errorf("%s event without a resume token: %v", op, ev)
	}
	if _, ok := field(ev, "clusterTime").(bson.Timestamp); !ok {
		t.Errorf("%s event without clusterTime: %v", op, ev)
	}
	if _, ok := field(ev, "wallTime").(bson.DateTime); !ok {
		t.Errorf("%s event without wallTime: %v", op, ev)
	}
}

func TestChangeStreamEventTypes(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	ctx := ctxT(t)
	db := client.Database("db")
	coll := db.Collection("c")
	cs := mustWatch(t, ctx, coll)
	dbStream := mustWatch(t, ctx, db)

	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: 1}, {Key: "arr", Value: bson.A{1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "b", Value: 2}}}, {Key: "$unset", Value: bson.D{{Key: "a", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, mongo.Pipeline{
		{{Key: "$set", Value: bson.D{{Key: "arr", Value: bson.A{1}}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "z", Value: 9}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "renameCollection", Value: "db.c"}, {Key: "to", Value: "db.d"}}).Err(); err != nil {
		t.Fatal(err)
	}

	ev := next(t, ctx, cs)
	wantOp(t, ev, "insert")
	if field(ev, "fullDocument", "a") != int32(1) || field(ev, "documentKey", "_id") != int32(1) ||
		field(ev, "ns", "db") != "db" || field(ev, "ns", "coll") != "c" {
		t.Errorf("insert event %v", ev)
	}
	ev = next(t, ctx, cs)
	wantOp(t, ev, "update")
	if field(ev, "updateDescription", "updatedFields", "b") != int32(2) {
		t.Errorf("update event %v", ev)
	}
	if removed, _ := field(ev, "updateDescription", "removedFields").(bson.A); len(removed) != 1 || removed[0] != "a" {
		t.Errorf("removedFields in %v", ev)
	}
	if has(ev, "fullDocument") {
		t.Errorf("update event with fullDocument by default: %v", ev)
	}
	ev = next(t, ctx, cs)
	wantOp(t, ev, "update")
	trunc, _ := field(ev, "updateDescription", "truncatedArrays").(bson.A)
	if len(trunc) != 1 || field(trunc[0].(bson.D), "field") != "arr" || field(trunc[0].(bson.D), "newSize") != int32(1) {
		t.Errorf("truncatedArrays in %v", ev)
	}
	ev = next(t, ctx, cs)
	wantOp(t, ev, "replace")
	if field(ev, "fullDocument", "z") != int32(9) {
		t.Errorf("replace event %v", ev)
	}
	ev = next(t, ctx, cs)
	wantOp(t, ev, "delete")
	if field(ev, "documentKey", "_id") != int32(1) || has(ev, "fullDocument") {
		t.Errorf("delete event %v", ev)
	}
	ev = next(t, ctx, cs)
	wantOp(t, ev, "rename")
	if field(ev, "to", "coll") != "d" {
		t.Errorf("rename event %v", ev)
	}
	ev = next(t, ctx, cs)
	if field(ev, "operationType") != "invalidate" {
		t.Fatalf("after rename: %v", ev)
	}
	if cs.Next(ctx) || cs.ID() != 0 {
		t.Errorf("collection stream open after invalidate (err %v)", cs.Err())
	}

	// The database stream saw the same writes and the rename, and is
	// invalidated only by dropping its database, after the drops.
	for _, op := range []string{"insert", "update", "update", "replace", "delete", "rename"} {
		wantOp(t, next(t, ctx, dbStream), op)
	}
	if err := db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	ev = next(t, ctx, dbStream)
	wantOp(t, ev, "drop")
	if field(ev, "ns", "coll") != "d" {
		t.Errorf("drop event %v", ev)
	}
	wantOp(t, next(t, ctx, dbStream), "dropDatabase")
	if ev := next(t, ctx, dbStream); field(ev, "operationType") != "invalidate" {
		t.Fatalf("after dropDatabase: %v", ev)
	}
}

func TestChangeStreamDropInvalidatesCollectionStream(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	ctx := ctxT(t)
	coll := client.Database("db").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	cs := mustWatch(t, ctx, coll)
	if err := coll.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	wantOp(t, next(t, ctx, cs), "drop")
	inv := next(t, ctx, cs)
	if field(inv, "operationType") != "invalidate" {
		t.Fatalf("after drop: %v", inv)
	}
	// Only startAfter may resume from an invalidate: it sees the
	// recreated collection.
	_, err := coll.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(field(inv, "_id")))
	if !hasCode(err, 260) {
		t.Errorf("resumeAfter an invalidate: %v, want code 260", err)
	}
	after := mustWatch(t, ctx, coll, options.ChangeStream().SetStartAfter(field(inv, "_id")))
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "x", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ctx, after); field(ev, "fullDocument", "x") != int32(2) {
		t.Errorf("startAfter invalidate: %v", ev)
	}
}

func TestChangeStreamTransactionEvents(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	ctx := ctxT(t)
	coll := client.Database("db").Collection("c")
	if err := client.Database("db").CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	cs := mustWatch(t, ctx, coll)
	sess := mustSession(t, client)
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(sctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	if cs.TryNext(ctx) {
		t.Fatalf("event before commit: %v", cs.Current)
	}
	if err := sess.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	lsid := lsidDoc(t, sess)
	var times []bson.Timestamp
	for _, op := range []string{"insert", "update", "insert"} {
		ev := next(t, ctx, cs)
		wantOp(t, ev, op)
		times = append(times, field(ev, "clusterTime").(bson.Timestamp))
		if field(ev, "txnNumber") != int64(1) || !reflect.DeepEqual(field(ev, "lsid", "id"), field(lsid, "id")) {
			t.Errorf("%s event without the transaction's lsid/txnNumber: %v", op, ev)
		}
		if _, ok := field(ev, "lsid", "uid").(bson.Binary); !ok {
			t.Errorf("lsid without uid: %v", ev)
		}
	}
	if times[0] != times[1] || times[1] != times[2] {
		t.Errorf("transaction events at different cluster times %v", times)
	}
}

func TestChangeStreamResume(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	ctx := ctxT(t)
	coll := client.Database("db").Collection("c")
	cs := mustWatch(t, ctx, coll)
	for i := range 3 {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	first := next(t, ctx, cs)
	resumed := mustWatch(t, ctx, coll, options.ChangeStream().SetResumeAfter(field(first, "_id")))
	for _, want := range []int32{1, 2} {
		if ev := next(t, ctx, resumed); field(ev, "documentKey", "_id") != want {
			t.Errorf("resumed stream: got %v, want _id %d", ev, want)
		}
	}
	// startAtOperationTime includes the events at that time.
	ts := field(first, "clusterTime").(bson.Timestamp)
	at := mustWatch(t, ctx, coll, options.ChangeStream().SetStartAtOperationTime(&ts))
	if ev := next(t, ctx, at); field(ev, "documentKey", "_id") != int32(0) {
		t.Errorf("startAtOperationTime: got %v", ev)
	}
	// A token that was never issued cannot be resumed from.
	bogus := bson.D{{Key: "_data", Value: "01" + "7FFFFFFF00000001" + "80" + "00000000" + "00"}}
	if _, err := coll.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(bogus)); !hasCode(err, 280) {
		t.Errorf("unknown token: %v, want code 280", err)
	}
}

func TestChangeStreamHistoryLost(t *testing.T) {
	srv := mustStart(t, emulator.Config{OplogSize: 4})
	client := mustConnect(t, srv.URI())
	ctx := ctxT(t)
	coll := client.Database("db").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	cs := mustWatch(t, ctx, coll)
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	tok := field(next(t, ctx, cs), "_id")
	// A stream whose next events are evicted before it reads them fails
	// rather than skipping them.
	for i := 2; i < 10; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if cs.Next(ctx) {
		t.Fatalf("stream read past evicted history: %v", cs.Current)
	}
	if err := cs.Err(); !hasCode(err, 286) || !hasLabel(err, "NonResumableChangeStreamError") {
		t.Errorf("getMore after eviction: %v, want 286 with NonResumableChangeStreamError", err)
	}
	_, err := coll.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(tok))
	if !hasCode(err, 286) || !hasLabel(err, "NonResumableChangeStreamError") {
		t.Errorf("resume from an evicted token: %v, want 286 with NonResumableChangeStreamError", err)
	}
}

// changeStreamCursor opens a change stream with raw commands in sess and
// returns its cursor id and first postBatchResumeToken.
func changeStreamCursor(t *testing.T, ctx context.Context, db *mongo.Database, coll string) (int64, string) {
	t.Helper()
	var reply struct {
		Cursor struct {
			ID   int64 `bson:"id"`
			PBRT struct {
				Data string `bson:"_data"`
			} `bson:"postBatchResumeToken"`
		} `bson:"cursor"`
	}
	err := db.RunCommand(ctx, bson.D{{Key: "aggregate", Value: coll},
		{Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{}}}}},
		{Key: "cursor", Value: bson.D{}}}).Decode(&reply)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Cursor.ID == 0 || reply.Cursor.PBRT.Data == "" {
		t.Fatalf("aggregate reply %+v", reply)
	}
	return reply.Cursor.ID, reply.Cursor.PBRT.Data
}

type getMoreReply struct {
	Cursor struct {
		ID        int64    `bson:"id"`
		NextBatch []bson.D `bson:"nextBatch"`
		PBRT      struct {
			Data string `bson:"_data"`
		} `bson:"postBatchResumeToken"`
	} `bson:"cursor"`
	OperationTime bson.Timestamp `bson:"operationTime"`
}

func getMore(ctx context.Context, db *mongo.Database, id int64, coll string, maxTimeMS int64) (getMoreReply, error) {
	var r getMoreReply
	err := db.RunCommand(ctx, bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: coll},
		{Key: "maxTimeMS", Value: maxTimeMS}}).Decode(&r)
	return r, err
}

func TestChangeStreamGetMoreAwaitsData(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	ctx := ctxT(t)
	sctx := mongo.NewSessionContext(ctx, mustSession(t, client))
	db := client.Database("db")
	id, pbrt := changeStreamCursor(t, sctx, db, "c")

	// Nothing to report: the getMore waits maxTimeMS, then answers an
	// empty batch whose token has moved past the write it skipped.
	if _, err := db.Collection("other").InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, err := getMore(sctx, db, id, "c", 300)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("empty getMore returned after %v, before maxTimeMS", waited)
	}
	if len(r.Cursor.NextBatch) != 0 || r.Cursor.ID != id {
		t.Fatalf("getMore = %+v", r)
	}
	if r.Cursor.PBRT.Data <= pbrt {
		t.Errorf("postBatchResumeToken %s did not advance from %s", r.Cursor.PBRT.Data, pbrt)
	}
	if r.OperationTime.T == 0 {
		t.Error("getMore reply without operationTime")
	}

	// An event ends the wait at once.
	done := make(chan getMoreReply, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := getMore(sctx, db, id, "c", 20000)
		errc <- err
		done <- r
	}()
	if !waitFor(t, 5*time.Second, func() bool {
		_, err := db.Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	}) {
		t.Fatal("getMore did not return when an event arrived")
	}
	if r := <-done; len(r.Cursor.NextBatch) == 0 || field(r.Cursor.NextBatch[0], "operationType") != "insert" {
		t.Errorf("getMore = %+v", r)
	}
}

func TestChangeStreamFullDocumentModes(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	ctx := ctxT(t)
	db := client.Database("db")
	coll := db.Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	inc := func() {
		t.Helper()
		if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: 1}}}}); err != nil {
			t.Fatal(err)
		}
	}

	lookup := mustWatch(t, ctx, coll, options.ChangeStream().SetFullDocument(options.UpdateLookup))
	noImages := mustWatch(t, ctx, coll, options.ChangeStream().SetFullDocument(options.WhenAvailable).
		SetFullDocumentBeforeChange(options.WhenAvailable))
	required := mustWatch(t, ctx, coll, options.ChangeStream().SetFullDocument(options.Required))
	inc() // v: 1, without images
	inc() // v: 2
	// updateLookup reads the document as it is now, not as of the event.
	if ev := next(t, ctx, lookup); field(ev, "fullDocument", "v") != int32(2) {
		t.Errorf("updateLookup: %v", ev)
	}
	ev := next(t, ctx, noImages)
	if fd := field(ev, "fullDocument"); fd != nil || !has(ev, "fullDocument") || !has(ev, "fullDocumentBeforeChange") {
		t.Errorf("whenAvailable without images: %v", ev)
	}
	if required.Next(ctx) || !hasCode(required.Err(), 47) {
		t.Errorf("required without images: err %v, want code 47", required.Err())
	}

	if err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "c"},
		{Key: "changeStreamPreAndPostImages", Value: bson.D{{Key: "enabled", Value: true}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	images := mustWatch(t, ctx, coll, options.ChangeStream().SetFullDocument(options.Required).
		SetFullDocumentBeforeChange(options.Required))
	inc() // v: 3
	inc() // v: 4
	ev = next(t, ctx, images)
	if field(ev, "fullDocument", "v") != int32(3) || field(ev, "fullDocumentBeforeChange", "v") != int32(2) {
		t.Errorf("point-in-time images: %v", ev)
	}
}

// A getMore waiting for events must not keep Close waiting.
func TestChangeStreamCloseEndsWaitingGetMore(t *testing.T) {
	srv, err := emulator.New(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	client := mustConnect(t, srv.URI())
	ctx := ctxT(t)
	sctx := mongo.NewSessionContext(ctx, mustSession(t, client))
	db := client.Database("db")
	id, _ := changeStreamCursor(t, sctx, db, "c")
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		_, _ = getMore(sctx, db, id, "c", 60000)
	}()
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(closeCtx); err != nil {
		t.Fatalf("Close with a waiting getMore: %v", err)
	}
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("getMore still waiting after Close")
	}
}

// A cluster-wide stream reports every database but admin, config and local.
func TestChangeStreamClusterScope(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	ctx := ctxT(t)
	cs := mustWatch(t, ctx, client)
	for _, ns := range [][2]string{{"admin", "c"}, {"config", "c"}, {"local", "c"}, {"db1", "a"}, {"db2", "b"}} {
		if _, err := client.Database(ns[0]).Collection(ns[1]).InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"db1", "db2"} {
		if ev := next(t, ctx, cs); field(ev, "ns", "db") != want {
			t.Errorf("cluster stream: got %v, want an event on %s", ev, want)
		}
	}
	// Database streams cannot be opened on the internal databases.
	if _, err := client.Database("admin").Watch(ctx, mongo.Pipeline{}); !hasCode(err, 73) {
		t.Errorf("watch admin: %v, want InvalidNamespace", err)
	}
}

func TestChangeStreamOpenErrors(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	ctx := ctxT(t)
	db := client.Database("db")
	tok := mustWatch(t, ctx, db.Collection("c")).ResumeToken()
	for _, tc := range []struct {
		name  string
		stage bson.D
		more  bson.A
		code  int
	}{
		{"stage not allowed", bson.D{}, bson.A{bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}}}}}, 20},
		{"unknown stage", bson.D{}, bson.A{bson.D{{Key: "$unsupported", Value: "foo"}}}, 40324},
		{"resumeAfter and startAfter", bson.D{{Key: "resumeAfter", Value: tok}, {Key: "startAfter", Value: tok}}, nil, 50865},
		{"token and startAtOperationTime", bson.D{{Key: "resumeAfter", Value: tok}, {Key: "startAtOperationTime", Value: bson.Timestamp{T: 1}}}, nil, 40674},
		{"bad fullDocument", bson.D{{Key: "fullDocument", Value: "sometimes"}}, nil, 2},
		{"unknown option", bson.D{{Key: "bogus", Value: 1}}, nil, 40415},
		{"malformed token", bson.D{{Key: "resumeAfter", Value: bson.D{{Key: "_data", Value: "zz"}}}}, nil, 260},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pipeline := append(bson.A{bson.D{{Key: "$changeStream", Value: tc.stage}}}, tc.more...)
			err := db.RunCommand(ctx, bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: pipeline},
				{Key: "cursor", Value: bson.D{}}}).Err()
			if !hasCode(err, tc.code) {
				t.Errorf("got %v, want code %d", err, tc.code)
			}
		})
	}
}
