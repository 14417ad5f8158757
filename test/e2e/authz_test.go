package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

// errorMetadata is the ErrorInfo metadata of a status.
func errorMetadata(st *status.Status) map[string]string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetMetadata()
		}
	}
	return nil
}

// dump is every document of db.coll in _id order as canonical Extended
// JSON, read with the driver.
func (b *backend) dump(t *testing.T, db, coll string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cur, err := b.driver.Database(db).Collection(coll).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatalf("driver find %s.%s: %v", db, coll, err)
	}
	defer func() { _ = cur.Close(ctx) }()
	var out []string
	for cur.Next(ctx) {
		js, err := bson.MarshalExtJSON(cur.Current, true, false)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(js))
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// drain reads a server stream to its end: nil at io.EOF, else the
// stream's error.
func drain(recv func() error) error {
	for {
		if err := recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Authorization by namespace through the real server with API keys:
// every refused read, write and pipeline stage is PERMISSION_DENIED
// NAMESPACE_FORBIDDEN naming the namespace, and writes nothing; allowed
// calls work; SIGHUP reloads the rules without ending an open session,
// and a bad file keeps the rules in force.
func TestAuthorization(t *testing.T) {
	t.Parallel()
	key := randomHex(16)
	dir := t.TempDir()
	keys := filepath.Join(dir, "api-keys")
	writeFile(t, keys, "analyst "+sha256Hex(key)+"\n")
	db := testbackend.DBName(t)
	rulesFile := filepath.Join(dir, "authz.yaml")
	rules := func(extra string) string {
		return fmt.Sprintf(`
principals:
  analyst:
    readWrite: ["%[1]s.reports"]
    read: ["%[1]s.orders"%[2]s]
`, db, extra)
	}
	writeFile(t, rulesFile, rules(""))

	b := mustBackend(t)
	b.insertDirect(t, db, "orders", bson.D{{Key: "_id", Value: 1}, {Key: "item", Value: "a"}, {Key: "boss", Value: "x"}})
	b.insertDirect(t, db, "reports", bson.D{{Key: "_id", Value: "r"}})
	b.insertDirect(t, db, "secret", bson.D{{Key: "_id", Value: "s"}})
	s := mustStartServer(t, b, "--api-keys", keys, "--authz", rulesFile)
	ctx := withKey(testCtx(t), key)

	colls := []string{"orders", "reports", "secret"}
	snapshot := func() map[string][]string {
		m := map[string][]string{}
		for _, c := range colls {
			m[c] = b.dump(t, db, c)
		}
		return m
	}
	before := snapshot()

	orders, secret := namespace(db, "orders"), namespace(db, "secret")
	aggregate := func(ns *pb.Namespace, stages ...string) func() error {
		return func() error {
			req := &pb.AggregateRequest{Namespace: ns}
			for _, st := range stages {
				req.Pipeline = append(req.Pipeline, jsonDoc(st))
			}
			stream, err := s.Docs.Aggregate(ctx, req)
			if err != nil {
				return err
			}
			return drain(func() error { _, err := stream.Recv(); return err })
		}
	}
	type denial struct {
		name           string
		call           func() error
		database, coll string
		access         string
		index          string // RunTransaction: operation_index
	}
	denials := []denial{
		{"find one", func() error {
			_, err := s.Docs.FindOne(ctx, &pb.FindOneRequest{Namespace: secret})
			return err
		}, db, "secret", "read", ""},
		{"find", func() error {
			stream, err := s.Docs.Find(ctx, &pb.FindRequest{Namespace: secret})
			if err != nil {
				return err
			}
			return drain(func() error { _, err := stream.Recv(); return err })
		}, db, "secret", "read", ""},
		{"count", func() error {
			_, err := s.Docs.CountDocuments(ctx, &pb.CountDocumentsRequest{Namespace: secret})
			return err
		}, db, "secret", "read", ""},
		{"insert into read-only", func() error {
			_, err := s.Docs.InsertOne(ctx, &pb.InsertOneRequest{Namespace: orders, Document: jsonDoc(`{"_id": 2}`)})
			return err
		}, db, "orders", "write", ""},
		{"update read-only", func() error {
			_, err := s.Docs.UpdateMany(ctx, &pb.UpdateManyRequest{Namespace: orders, Filter: jsonDoc(`{}`),
				UpdateSpec: &pb.UpdateManyRequest_Update{Update: jsonDoc(`{"$set": {"x": 1}}`)}})
			return err
		}, db, "orders", "write", ""},
		{"delete read-only", func() error {
			_, err := s.Docs.DeleteMany(ctx, &pb.DeleteManyRequest{Namespace: orders, Filter: jsonDoc(`{}`)})
			return err
		}, db, "orders", "write", ""},
		{"find one and update is a write", func() error {
			_, err := s.Docs.FindOneAndUpdate(ctx, &pb.FindOneAndUpdateRequest{Namespace: orders, Filter: jsonDoc(`{}`),
				UpdateSpec: &pb.FindOneAndUpdateRequest_Update{Update: jsonDoc(`{"$set": {"x": 1}}`)}})
			return err
		}, db, "orders", "write", ""},
		{"bulk write", func() error {
			_, err := s.Docs.BulkWrite(ctx, &pb.BulkWriteRequest{Namespace: orders, Models: []*pb.WriteModel{
				{Model: &pb.WriteModel_DeleteMany{DeleteMany: &pb.DeleteManyModel{Filter: jsonDoc(`{}`)}}}}})
			return err
		}, db, "orders", "write", ""},
		{"aggregate on a forbidden collection", aggregate(secret, `{"$match": {}}`), db, "secret", "read", ""},
		{"$lookup", aggregate(orders, `{"$lookup": {"from": "secret", "localField": "item", "foreignField": "_id", "as": "s"}}`),
			db, "secret", "read", ""},
		{"$lookup from db coll", aggregate(orders, `{"$lookup": {"from": {"db": "local", "coll": "oplog.rs"}, "localField": "item", "foreignField": "_id", "as": "s"}}`),
			"local", "oplog.rs", "read", ""},
		{"$lookup of a system collection", aggregate(orders, `{"$lookup": {"from": "system.views", "localField": "item", "foreignField": "_id", "as": "s"}}`),
			db, "system.views", "read", ""},
		{"$graphLookup", aggregate(orders, `{"$graphLookup": {"from": "secret", "startWith": "$boss", "connectFromField": "boss", "connectToField": "_id", "as": "s"}}`),
			db, "secret", "read", ""},
		{"$unionWith string", aggregate(orders, `{"$unionWith": "secret"}`), db, "secret", "read", ""},
		{"$unionWith document", aggregate(orders, `{"$unionWith": {"coll": "secret", "pipeline": [{"$match": {}}]}}`), db, "secret", "read", ""},
		{"$out", aggregate(orders, `{"$out": "secret"}`), db, "secret", "write", ""},
		{"$out to a read-only collection", aggregate(orders, `{"$out": "orders"}`), db, "orders", "write", ""},
		{"$out to another database", aggregate(orders, `{"$out": {"db": "elsewhere", "coll": "copy"}}`), "elsewhere", "copy", "write", ""},
		{"$merge string", aggregate(orders, `{"$merge": "orders"}`), db, "orders", "write", ""},
		{"$merge into db coll", aggregate(orders, `{"$merge": {"into": {"db": "admin", "coll": "x"}}}`), "admin", "x", "write", ""},
		{"$lookup pipeline, nested $lookup", aggregate(orders, `{"$lookup": {"from": "orders", "pipeline": [{"$lookup": {"from": "secret", "pipeline": [], "as": "t"}}], "as": "s"}}`),
			db, "secret", "read", ""},
		{"$unionWith pipeline, nested $lookup", aggregate(orders, `{"$unionWith": {"coll": "orders", "pipeline": [{"$lookup": {"from": "secret", "localField": "a", "foreignField": "b", "as": "t"}}]}}`),
			db, "secret", "read", ""},
		{"$facet, nested $unionWith", aggregate(orders, `{"$facet": {"ok": [{"$match": {}}], "bad": [{"$unionWith": "secret"}]}}`),
			db, "secret", "read", ""},
		{"run transaction, one forbidden operation", func() error {
			_, err := s.Txns.RunTransaction(ctx, &pb.RunTransactionRequest{Operations: []*pb.Operation{
				{Operation: &pb.Operation_InsertOne{InsertOne: &pb.InsertOneOperation{Namespace: namespace(db, "reports"), Document: jsonDoc(`{"_id": "run"}`)}}},
				{Operation: &pb.Operation_InsertOne{InsertOne: &pb.InsertOneOperation{Namespace: orders, Document: jsonDoc(`{"_id": "run"}`)}}},
			}})
			return err
		}, db, "orders", "write", "1"},
	}
	for _, d := range denials {
		t.Run(d.name, func(t *testing.T) {
			st := testkit.WantReason(t, d.name, d.call(), codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_NAMESPACE_FORBIDDEN)
			md := errorMetadata(st)
			if md["database"] != d.database || md["collection"] != d.coll || md["access"] != d.access {
				t.Errorf("metadata %v, want database %q collection %q access %q", md, d.database, d.coll, d.access)
			}
			if d.index != "" && md["operation_index"] != d.index {
				t.Errorf("operation_index %q, want %q", md["operation_index"], d.index)
			}
			for c, docs := range snapshot() {
				if !slices.Equal(docs, before[c]) {
					t.Errorf("%s changed after a refusal: %v, was %v", c, docs, before[c])
				}
			}
		})
	}

	t.Run("allowed", func(t *testing.T) {
		if got := s.findOne(ctx, t, "", orders, `{"_id": 1}`); !strings.Contains(got, `"item":"a"`) {
			t.Fatalf("FindOne orders = %q", got)
		}
		s.mustInsert(ctx, t, "", namespace(db, "reports"), `{"_id": "new"}`)
		if err := aggregate(orders, `{"$match": {}}`, `{"$out": "reports"}`)(); err != nil {
			t.Fatalf("$out to a readWrite collection: %v", err)
		}
		if got := b.dump(t, db, "reports"); len(got) != 1 || !strings.Contains(got[0], `"item":"a"`) {
			t.Fatalf("reports after $out = %v, want the orders", got)
		}
	})

	t.Run("SIGHUP reload", func(t *testing.T) {
		token := s.mustStartSession(ctx, t)
		number := s.mustStartTransaction(ctx, t, token)
		s.mustInsert(ctx, t, token, namespace(db, "reports"), `{"_id": "in-txn"}`)

		// Grant read on secret.
		writeFile(t, rulesFile, rules(fmt.Sprintf(`, "%s.secret"`, db)))
		s.hangUp(t)
		testkit.WaitFor(t, 10*time.Second, "the reload to allow reading secret", func() error {
			_, err := s.Docs.FindOne(ctx, &pb.FindOneRequest{Namespace: secret})
			return err
		})

		// A bad file is logged and keeps the rules in force.
		writeFile(t, rulesFile, "principals:\n  analyst: [\n")
		s.hangUp(t)
		testkit.WaitFor(t, 10*time.Second, "the server to log the failed reload", func() error {
			if !strings.Contains(s.Stderr(), "authorization rules not reloaded") {
				return errors.New("not in its log")
			}
			return nil
		})
		if _, err := s.Docs.FindOne(ctx, &pb.FindOneRequest{Namespace: secret}); err != nil {
			t.Fatalf("after a bad reload the rules in force must stay: %v", err)
		}

		// Revoke it again.
		writeFile(t, rulesFile, rules(""))
		s.hangUp(t)
		testkit.WaitFor(t, 10*time.Second, "the reload to refuse reading secret", func() error {
			_, err := s.Docs.FindOne(ctx, &pb.FindOneRequest{Namespace: secret})
			if status.Code(err) != codes.PermissionDenied {
				return fmt.Errorf("FindOne answers %v", err)
			}
			return nil
		})

		// The session and its transaction lived through all of it.
		s.mustInsert(ctx, t, token, namespace(db, "reports"), `{"_id": "in-txn-2"}`)
		s.mustCommit(ctx, t, token, number)
		for _, id := range []string{"in-txn", "in-txn-2"} {
			if n := b.count(t, db, "reports", bson.D{{Key: "_id", Value: id}}); n != 1 {
				t.Errorf("reports has %d documents %q after commit, want 1", n, id)
			}
		}
	})
}

// hangUp sends the server SIGHUP.
func (s *serverProc) hangUp(t *testing.T) {
	t.Helper()
	if err := s.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP: %v", err)
	}
}
