package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"

	"github.com/mongogate/mongogate/authz"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/server"
)

// mustAuthorizer writes rules to a file and loads it.
func mustAuthorizer(t *testing.T, rules string) *authz.Authorizer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authz.yaml")
	if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := authz.New(authz.Config{File: path})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// wantForbidden asserts PERMISSION_DENIED NAMESPACE_FORBIDDEN naming
// db.coll and the access refused.
func wantForbidden(t *testing.T, err error, db, coll, access string) statusDetails {
	t.Helper()
	d := wantCode(t, err, codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_NAMESPACE_FORBIDDEN, "")
	md := d.info.GetMetadata()
	if md[server.MetaDatabase] != db || md[server.MetaCollection] != coll || md[server.MetaAccess] != access {
		t.Fatalf("metadata %v, want database %q collection %q access %q", md, db, coll, access)
	}
	return d
}

// Through the services (anonymous principal): refusals come before
// MongoDB, run nothing, and leave an open transaction alone.
func TestAuthorizeServices(t *testing.T) {
	db := testbackend.DBName(t)
	g := mustGateAuthz(t, mustAuthorizer(t, fmt.Sprintf(`
principals:
  anonymous:
    readWrite: ["%[1]s.rw"]
    read: ["%[1]s.ro"]
`, db)))
	ctx := testCtx(t)
	rw, ro := namespaceOf(db, "rw"), namespaceOf(db, "ro")
	rwColl, roColl := g.mc.Database(db).Collection("rw"), g.mc.Database(db).Collection("ro")
	mustInsert(t, roColl, bson.D{{Key: "_id", Value: "seed"}})

	if _, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{Namespace: rw, Document: jsonDoc(`{"_id": 1}`)}); err != nil {
		t.Fatalf("allowed insert: %v", err)
	}
	_, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{Namespace: ro, Document: jsonDoc(`{"_id": 2}`)})
	wantForbidden(t, err, db, "ro", "write")
	if _, err := g.docs.FindOne(ctx, &pb.FindOneRequest{Namespace: ro}); err != nil {
		t.Fatalf("allowed read: %v", err)
	}
	_, err = g.docs.FindOne(ctx, &pb.FindOneRequest{Namespace: namespaceOf(db, "other")})
	wantForbidden(t, err, db, "other", "read")

	stream, err := g.docs.Aggregate(ctx, &pb.AggregateRequest{Namespace: ro, Pipeline: []*pb.Document{
		jsonDoc(`{"$lookup": {"from": "secret", "localField": "a", "foreignField": "b", "as": "c"}}`)}})
	if err == nil {
		_, err = stream.Recv()
	}
	wantForbidden(t, err, db, "secret", "read")

	_, err = g.txns.RunTransaction(ctx, &pb.RunTransactionRequest{Operations: []*pb.Operation{
		insertOp(rw, jsonDoc(`{"_id": "run"}`)),
		insertOp(ro, jsonDoc(`{"_id": "run"}`)),
	}})
	if d := wantForbidden(t, err, db, "ro", "write"); d.info.GetMetadata()[server.MetaOperationIndex] != "1" {
		t.Fatalf("operation_index = %q, want 1", d.info.GetMetadata()[server.MetaOperationIndex])
	}

	token := g.mustSession(t, "")
	start, err := g.txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: rw, Document: jsonDoc(`{"_id": "txn"}`)}); err != nil {
		t.Fatal(err)
	}
	_, err = g.docs.DeleteMany(ctx, &pb.DeleteManyRequest{SessionToken: token, Namespace: ro, Filter: jsonDoc(`{}`)})
	wantForbidden(t, err, db, "ro", "write")
	if _, err := g.txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: start.GetTransactionNumber()}); err != nil {
		t.Fatalf("commit after a refused operation: %v", err)
	}

	if got, want := contents(t, rwColl), []string{`{"_id":{"$numberInt":"1"}}`, `{"_id":"txn"}`}; !slices.Equal(got, want) {
		t.Errorf("rw = %v, want %v (nothing of the refused RunTransaction)", got, want)
	}
	if got, want := contents(t, roColl), []string{`{"_id":"seed"}`}; !slices.Equal(got, want) {
		t.Errorf("ro = %v, want %v", got, want)
	}
}

func namespaceOf(db, coll string) *pb.Namespace { return &pb.Namespace{Database: db, Collection: coll} }
