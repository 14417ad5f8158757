package emulator_test

import (
	"sort"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongogate/mongogate/emulator"
)

func ids(t *testing.T, coll *mongo.Collection) []string {
	t.Helper()
	cur, err := coll.Find(ctxT(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctxT(t), &docs); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	sort.Strings(out)
	return out
}

// waitFor polls cond every interval until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

func mustTTLIndex(t *testing.T, coll *mongo.Collection, field string, seconds int32) {
	t.Helper()
	_, err := coll.Indexes().CreateOne(ctxT(t), mongo.IndexModel{Keys: bson.D{{Key: field, Value: 1}}, Options: options.Index().SetExpireAfterSeconds(seconds)})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTTLIndexExpiresDocuments(t *testing.T) {
	srv := mustStart(t, emulator.Config{TTLMonitorInterval: 100 * time.Millisecond})
	coll := mustConnect(t, srv.URI()).Database("db").Collection("c")
	ctx := ctxT(t)
	now := time.Now()
	old := bson.NewDateTimeFromTime(now.Add(-2 * time.Hour))
	fresh := bson.NewDateTimeFromTime(now)
	docs := []any{
		bson.D{{Key: "_id", Value: "old"}, {Key: "at", Value: old}},
		bson.D{{Key: "_id", Value: "fresh"}, {Key: "at", Value: fresh}},
		bson.D{{Key: "_id", Value: "array with an old date"}, {Key: "at", Value: bson.A{fresh, old, "x"}}},
		bson.D{{Key: "_id", Value: "array of fresh dates"}, {Key: "at", Value: bson.A{fresh, bson.NewDateTimeFromTime(now.Add(time.Hour))}}},
		bson.D{{Key: "_id", Value: "string"}, {Key: "at", Value: "2000-01-01T00:00:00Z"}},
		bson.D{{Key: "_id", Value: "timestamp"}, {Key: "at", Value: bson.Timestamp{T: 1}}},
		bson.D{{Key: "_id", Value: "number"}, {Key: "at", Value: int64(0)}},
		bson.D{{Key: "_id", Value: "missing"}},
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	mustTTLIndex(t, coll, "at", 3600)

	want := []string{"array of fresh dates", "fresh", "missing", "number", "string", "timestamp"}
	if !waitFor(t, 5*time.Second, func() bool { return len(ids(t, coll)) == len(want) }) {
		t.Fatalf("documents after TTL passes: %v, want %v", ids(t, coll), want)
	}
	time.Sleep(300 * time.Millisecond) // a few more passes delete nothing else
	if got := ids(t, coll); !equalStrings(got, want) {
		t.Errorf("documents after TTL passes: %v, want %v", got, want)
	}

	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var specs []bson.D
	if err := cur.All(ctx, &specs); err != nil {
		t.Fatal(err)
	}
	var expire any
	for _, s := range specs {
		for _, e := range s {
			if e.Key == "expireAfterSeconds" {
				expire = e.Value
			}
		}
	}
	if expire != int32(3600) {
		t.Errorf("listIndexes expireAfterSeconds = %#v, want int32 3600", expire)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTTLExpireAfterZero: expireAfterSeconds 0 expires a document at the
// clock time in its field.
func TestTTLExpireAfterZero(t *testing.T) {
	srv := mustStart(t, emulator.Config{TTLMonitorInterval: 50 * time.Millisecond})
	coll := mustConnect(t, srv.URI()).Database("db").Collection("c")
	ctx := ctxT(t)
	mustTTLIndex(t, coll, "expireAt", 0)
	soon := time.Now().Add(400 * time.Millisecond)
	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "soon"}, {Key: "expireAt", Value: bson.NewDateTimeFromTime(soon)}},
		bson.D{{Key: "_id", Value: "later"}, {Key: "expireAt", Value: bson.NewDateTimeFromTime(time.Now().Add(time.Hour))}},
	}); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, coll); len(got) != 2 {
		t.Fatalf("documents before their expiry: %v", got)
	}
	if !waitFor(t, 5*time.Second, func() bool { return equalStrings(ids(t, coll), []string{"later"}) }) {
		t.Errorf("documents after the first expiry: %v, want [later]", ids(t, coll))
	}
	if time.Now().Before(soon) {
		t.Error("document deleted before its expiry time")
	}
}

// TestTTLSkipsDocumentsLockedByTransaction: the monitor's deletes are
// ordinary writes, so a document an open transaction holds is deleted only
// once the transaction ends, and only if it then is still expired.
func TestTTLSkipsDocumentsLockedByTransaction(t *testing.T) {
	srv := mustStart(t, emulator.Config{TTLMonitorInterval: 50 * time.Millisecond})
	client := mustConnect(t, srv.URI())
	coll := client.Database("db").Collection("c")
	ctx := ctxT(t)
	old := bson.NewDateTimeFromTime(time.Now().Add(-time.Hour))
	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "kept"}, {Key: "at", Value: old}},
		bson.D{{Key: "_id", Value: "aborted"}, {Key: "at", Value: old}},
	}); err != nil {
		t.Fatal(err)
	}
	keep := mustSession(t, client)
	abort := mustSession(t, client)
	for _, s := range []*mongo.Session{keep, abort} {
		_ = s.StartTransaction()
	}
	refresh := bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: bson.NewDateTimeFromTime(time.Now())}}}}
	if _, err := coll.UpdateOne(mongo.NewSessionContext(ctx, keep), bson.D{{Key: "_id", Value: "kept"}}, refresh); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(mongo.NewSessionContext(ctx, abort), bson.D{{Key: "_id", Value: "aborted"}}, refresh); err != nil {
		t.Fatal(err)
	}
	mustTTLIndex(t, coll, "at", 60)
	time.Sleep(300 * time.Millisecond)
	if got := ids(t, coll); len(got) != 2 {
		t.Fatalf("documents locked by transactions: %v, want both kept", got)
	}
	if err := keep.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if err := abort.AbortTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if !waitFor(t, 5*time.Second, func() bool { return equalStrings(ids(t, coll), []string{"kept"}) }) {
		t.Errorf("documents after the transactions ended: %v, want [kept]", ids(t, coll))
	}
}

func TestTTLIndexRejectedSpecs(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	db := mustConnect(t, srv.URI()).Database("db")
	ctx := ctxT(t)
	if _, err := db.Collection("c").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "at", Value: 1}}, Options: options.Index().SetName("at_ttl").SetExpireAfterSeconds(10)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		spec bson.D
		code int
	}{
		{"compound", bson.D{{Key: "key", Value: bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 1}}}, {Key: "name", Value: "ab"}, {Key: "expireAfterSeconds", Value: 10}}, 67},
		{"negative", bson.D{{Key: "key", Value: bson.D{{Key: "a", Value: 1}}}, {Key: "name", Value: "a"}, {Key: "expireAfterSeconds", Value: -1}}, 67},
		{"not a number", bson.D{{Key: "key", Value: bson.D{{Key: "a", Value: 1}}}, {Key: "name", Value: "a"}, {Key: "expireAfterSeconds", Value: "10"}}, 67},
		{"beyond int32", bson.D{{Key: "key", Value: bson.D{{Key: "a", Value: 1}}}, {Key: "name", Value: "a"}, {Key: "expireAfterSeconds", Value: int64(1) << 40}}, 67},
		{"_id index", bson.D{{Key: "key", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "name", Value: "_id_ttl"}, {Key: "expireAfterSeconds", Value: 10}}, 197},
		{"same index, other expiry", bson.D{{Key: "key", Value: bson.D{{Key: "at", Value: 1}}}, {Key: "name", Value: "at_ttl"}, {Key: "expireAfterSeconds", Value: 20}}, 85},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.RunCommand(ctx, bson.D{{Key: "createIndexes", Value: "c"}, {Key: "indexes", Value: bson.A{tc.spec}}}).Err()
			if !hasCode(err, tc.code) {
				t.Errorf("createIndexes %v: %v, want code %d", tc.spec, err, tc.code)
			}
		})
	}
}

// TestTTLHashedIndexNeverExpires: the monitor only uses B-tree indexes
// ("special index can't be used as a ttl index", ttl.cpp).
func TestTTLHashedIndexNeverExpires(t *testing.T) {
	srv := mustStart(t, emulator.Config{TTLMonitorInterval: 50 * time.Millisecond})
	coll := mustConnect(t, srv.URI()).Database("db").Collection("c")
	ctx := ctxT(t)
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "old"}, {Key: "at", Value: bson.NewDateTimeFromTime(time.Now().Add(-time.Hour))}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "at", Value: "hashed"}}, Options: options.Index().SetExpireAfterSeconds(1)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if got := ids(t, coll); len(got) != 1 {
		t.Errorf("documents under a hashed TTL index: %v, want the old one kept", got)
	}
}

func TestCollModExpireAfterSeconds(t *testing.T) {
	srv := mustStart(t, emulator.Config{TTLMonitorInterval: 50 * time.Millisecond})
	db := mustConnect(t, srv.URI()).Database("db")
	coll := db.Collection("c")
	ctx := ctxT(t)
	recent := bson.NewDateTimeFromTime(time.Now().Add(-time.Minute))
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "recent"}, {Key: "at", Value: recent}, {Key: "b", Value: recent}}); err != nil {
		t.Fatal(err)
	}
	mustTTLIndex(t, coll, "at", 3600)
	for _, keys := range []bson.D{{{Key: "b", Value: 1}}, {{Key: "a", Value: 1}, {Key: "b", Value: 1}}} {
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys}); err != nil {
			t.Fatal(err)
		}
	}
	collMod := func(index bson.D) (bson.M, error) {
		var out bson.M
		err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "c"}, {Key: "index", Value: index}}).Decode(&out)
		return out, err
	}

	for _, tc := range []struct {
		name  string
		index bson.D
		code  int
	}{
		{"not a number", bson.D{{Key: "keyPattern", Value: bson.D{{Key: "at", Value: 1}}}, {Key: "expireAfterSeconds", Value: "10"}}, 14},
		{"negative", bson.D{{Key: "keyPattern", Value: bson.D{{Key: "at", Value: 1}}}, {Key: "expireAfterSeconds", Value: -1}}, 72},
		{"compound", bson.D{{Key: "keyPattern", Value: bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 1}}}, {Key: "expireAfterSeconds", Value: 10}}, 72},
		{"_id", bson.D{{Key: "keyPattern", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "expireAfterSeconds", Value: 10}}, 72},
		{"no such index", bson.D{{Key: "name", Value: "nope"}, {Key: "expireAfterSeconds", Value: 10}}, 27},
		{"name and keyPattern", bson.D{{Key: "name", Value: "at_1"}, {Key: "keyPattern", Value: bson.D{{Key: "at", Value: 1}}}, {Key: "expireAfterSeconds", Value: 10}}, 72},
		{"hidden", bson.D{{Key: "name", Value: "at_1"}, {Key: "hidden", Value: true}}, 238},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := collMod(tc.index); !hasCode(err, tc.code) {
				t.Errorf("collMod index %v: %v, want code %d", tc.index, err, tc.code)
			}
		})
	}

	time.Sleep(200 * time.Millisecond)
	if got := ids(t, coll); len(got) != 1 {
		t.Fatalf("document expired under a one-hour TTL: %v", got)
	}
	out, err := collMod(bson.D{{Key: "name", Value: "at_1"}, {Key: "expireAfterSeconds", Value: 3600}})
	if err != nil || out["expireAfterSeconds_old"] != nil {
		t.Errorf("collMod to the same value = %v, %v; want ok without changes", out, err)
	}
	// Turning the plain index on b into a TTL index reports only the new value.
	out, err = collMod(bson.D{{Key: "keyPattern", Value: bson.D{{Key: "b", Value: 1}}}, {Key: "expireAfterSeconds", Value: 7200}})
	if err != nil || out["expireAfterSeconds_new"] != int32(7200) || out["expireAfterSeconds_old"] != nil {
		t.Errorf("collMod converting an index = %v, %v; want expireAfterSeconds_new 7200 only", out, err)
	}
	out, err = collMod(bson.D{{Key: "keyPattern", Value: bson.D{{Key: "at", Value: 1}}}, {Key: "expireAfterSeconds", Value: 30}})
	if err != nil || out["expireAfterSeconds_old"] != int32(3600) || out["expireAfterSeconds_new"] != int32(30) {
		t.Errorf("collMod = %v, %v; want expireAfterSeconds_old 3600, _new 30", out, err)
	}
	if !waitFor(t, 5*time.Second, func() bool { return len(ids(t, coll)) == 0 }) {
		t.Errorf("documents after lowering expireAfterSeconds to 30: %v, want none", ids(t, coll))
	}
}
