package watch

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
	"github.com/mongogate/mongogate/server"
)

const aliceKey = "mg_watch_alice_key"

// first opens a Watch and returns its first message or its error.
func first(ctx context.Context, w pb.WatchServiceClient, req *pb.WatchRequest) (*pb.WatchResponse, pb.WatchService_WatchClient, error) {
	stream, err := w.Watch(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	resp, err := stream.Recv()
	return resp, stream, err
}

func collScope(db, coll string) *pb.WatchRequest_Collection {
	return &pb.WatchRequest_Collection{Collection: &pb.Namespace{Database: db, Collection: coll}}
}

func opcounter(ctx context.Context, t *testing.T, uri, name string) int64 {
	t.Helper()
	var res struct {
		Opcounters map[string]int64 `bson:"opcounters"`
	}
	if err := testbackend.Client(t, uri).Database("admin").RunCommand(ctx, bson.D{{Key: "serverStatus", Value: 1}}).Decode(&res); err != nil {
		t.Fatal(err)
	}
	return res.Opcounters[name]
}

// The answers that end a watch before or instead of events: a namespace
// the principal may not read (refused before anything is opened), tokens
// of another watch or forged (INVALID_ARGUMENT), a token whose position
// left the oplog (CHANGE_STREAM_HISTORY_LOST), and a dropped collection
// (drop, invalidate, then a clean end).
func TestRefusalsAndEnds(t *testing.T) {
	if testbackend.External() {
		t.Skip("shrinks the emulator's oplog")
	}
	dir := t.TempDir()
	keys, rules := filepath.Join(dir, "keys"), filepath.Join(dir, "authz.yaml")
	if err := os.WriteFile(keys, []byte("alice "+server.HashAPIKey(aliceKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rules, []byte("principals:\n  alice:\n    readWrite: [\"wdb.items\", \"wdb2.*\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, uri := proctest.Emulator(t, bins, "--oplog-size", "50")
	srv := proctest.StartServer(t, bins, uri, "--api-keys", keys, "--authz", rules)
	ctx := metadata.AppendToOutgoingContext(testCtx(t, time.Minute), "authorization", "Bearer "+aliceKey)
	conn := testkit.Dial(t, srv.Addr)
	w := pb.NewWatchServiceClient(conn)
	docs := testkit.NewStubs(conn).Docs

	getMores := opcounter(ctx, t, uri, "getmore")
	for name, scope := range map[string]*pb.WatchRequest{
		"another database's collection":          {Scope: collScope("secret", "items")},
		"a database with one collection allowed": {Scope: &pb.WatchRequest_Database{Database: "wdb"}},
		"the deployment":                         {Scope: &pb.WatchRequest_Deployment_{Deployment: &pb.WatchRequest_Deployment{}}},
		"mongogate's own collection":             {Scope: collScope("mongogate", "keys")},
	} {
		t.Run("forbidden "+name, func(t *testing.T) {
			_, _, err := first(ctx, w, scope)
			testkit.WantReason(t, "Watch", err, codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_NAMESPACE_FORBIDDEN)
		})
	}
	if n := metric(t, srv, "mongogate_watch_streams_open"); n != 0 {
		t.Errorf("mongogate_watch_streams_open = %v after refusals, want 0", n)
	}
	if n := opcounter(ctx, t, uri, "getmore"); n != getMores {
		t.Errorf("the backend saw %d getMores during the refusals, want none", n-getMores)
	}

	items := &pb.WatchRequest{Scope: collScope("wdb", "items")}
	if _, _, err := first(ctx, w, &pb.WatchRequest{Scope: &pb.WatchRequest_Database{Database: "wdb2"}}); err != nil {
		t.Fatalf("a database watch the rules allow: %v", err)
	}
	hb, stream, err := first(ctx, w, items)
	if err != nil {
		t.Fatal(err)
	}
	if hb.GetEvent() != nil || hb.GetResumeToken() == "" {
		t.Fatalf("first message %v, want a heartbeat with a token", hb)
	}
	if _, err := docs.InsertOne(ctx, &pb.InsertOneRequest{Namespace: &pb.Namespace{Database: "wdb", Collection: "items"},
		Document: &pb.Document{Value: &pb.Document_Json{Json: `{"_id": 1}`}}}); err != nil {
		t.Fatal(err)
	}
	var ev *pb.WatchResponse
	for ev.GetEvent() == nil {
		if ev, err = stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	if ev.GetOperationType() != "insert" || ev.GetClusterTime() == nil {
		t.Fatalf("event %v, want an insert with its cluster time", ev)
	}
	tok := ev.GetResumeToken()
	forged := []byte(tok)
	forged[len(forged)/2] ^= 1
	onlyInserts := &pb.Document{Value: &pb.Document_Json{Json: `{"$match": {"operationType": "insert"}}`}}
	for name, req := range map[string]*pb.WatchRequest{
		"another pipeline": {Scope: items.Scope, Pipeline: []*pb.Document{onlyInserts}, Start: &pb.WatchRequest_ResumeAfter{ResumeAfter: tok}},
		"another scope":    {Scope: &pb.WatchRequest_Database{Database: "wdb2"}, Start: &pb.WatchRequest_ResumeAfter{ResumeAfter: tok}},
		"other options":    {Scope: items.Scope, Options: &pb.WatchOptions{FullDocument: pb.FullDocument_FULL_DOCUMENT_UPDATE_LOOKUP}, Start: &pb.WatchRequest_ResumeAfter{ResumeAfter: tok}},
		"a forged token":   {Scope: items.Scope, Start: &pb.WatchRequest_ResumeAfter{ResumeAfter: string(forged)}},
		"not a token":      {Scope: items.Scope, Start: &pb.WatchRequest_StartAfter{StartAfter: "hello"}},
	} {
		t.Run("token for "+name, func(t *testing.T) {
			_, _, err := first(ctx, w, req)
			testkit.WantReason(t, "Watch", err, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT)
		})
	}
	resumed, rs, err := first(ctx, w, &pb.WatchRequest{Scope: items.Scope, Start: &pb.WatchRequest_ResumeAfter{ResumeAfter: hb.GetResumeToken()}})
	for err == nil && resumed.GetEvent() == nil {
		resumed, err = rs.Recv()
	}
	if err != nil || resumed.GetOperationType() != "insert" || resumed.GetResumeToken() != tok {
		t.Fatalf("resuming from the first heartbeat: %v, %v; want the insert with the same token", resumed, err)
	}

	many := make([]*pb.Document, 100)
	for i := range many {
		many[i] = &pb.Document{Value: &pb.Document_Json{Json: `{"n": 1}`}}
	}
	if _, err := docs.InsertMany(ctx, &pb.InsertManyRequest{Namespace: &pb.Namespace{Database: "wdb2", Collection: "other"}, Documents: many}); err != nil {
		t.Fatal(err)
	}
	// The resume fails, and no event comes before the failure: at once
	// when the shared stream of wdb.items has read past the lost entries
	// (a stream of its own from tok finds them gone), or, when that
	// stream has not read since tok and so stands there, with that
	// stream's own failure as soon as it reads on (its getMore waits at
	// most a second).
	m, lost, err := first(ctx, w, &pb.WatchRequest{Scope: items.Scope, Start: &pb.WatchRequest_ResumeAfter{ResumeAfter: tok}})
	for err == nil {
		if m.GetEvent() != nil {
			t.Fatalf("Watch from a token out of the oplog delivered %v", m)
		}
		m, err = lost.Recv()
	}
	testkit.WantReason(t, "Watch from a token out of the oplog", err, codes.OutOfRange, pb.ErrorReason_ERROR_REASON_CHANGE_STREAM_HISTORY_LOST)

	// The shared stream of wdb.items may have lost its history too (the
	// oplog holds 50 entries, and it may not have read between the
	// inserts); a collection watched from now on shows the drop.
	gone := &pb.Namespace{Database: "wdb2", Collection: "gone"}
	if _, err := docs.InsertOne(ctx, &pb.InsertOneRequest{Namespace: gone, Document: &pb.Document{Value: &pb.Document_Json{Json: `{"_id": 1}`}}}); err != nil {
		t.Fatal(err)
	}
	if _, stream, err = first(ctx, w, &pb.WatchRequest{Scope: collScope(gone.Database, gone.Collection)}); err != nil {
		t.Fatal(err)
	}
	if err := testbackend.Client(t, uri).Database(gone.Database).Collection(gone.Collection).Drop(ctx); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %v: %v", ops, err)
		}
		if m.GetEvent() != nil {
			ops = append(ops, m.GetOperationType())
		}
	}
	if len(ops) != 2 || ops[0] != "drop" || ops[1] != "invalidate" {
		t.Fatalf("events %v, want drop, invalidate, then the end", ops)
	}
}

// SIGTERM ends open watches at once with SHUTTING_DOWN (retryable), so
// the graceful stop does not wait for streams that never end by
// themselves, and the server exits cleanly.
func TestShutdownEndsWatches(t *testing.T) {
	_, uri := proctest.Emulator(t, bins)
	srv := proctest.StartServer(t, bins, uri)
	ctx := testCtx(t, time.Minute)
	w := pb.NewWatchServiceClient(testkit.Dial(t, srv.Addr))
	_, stream, err := first(ctx, w, &pb.WatchRequest{Scope: collScope(testbackend.DBName(t), "items")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code := srv.Terminate(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v with a watch open", d)
	}
	for {
		_, err = stream.Recv()
		if err != nil {
			break
		}
	}
	testkit.WantReason(t, "Recv during shutdown", err, codes.Unavailable, pb.ErrorReason_ERROR_REASON_SHUTTING_DOWN)
}
