package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/mongogate/mongogate/authz"
	"github.com/mongogate/mongogate/crud"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
)

func acc(db, coll string, a authz.Action) authz.Access {
	return authz.Access{Namespace: authz.Namespace{Database: db, Collection: coll}, Action: a}
}

// Every RunTransaction operation kind has an access list, so a new kind
// cannot run before someone decides whether it reads or writes.
func TestAccessesEveryOperation(t *testing.T) {
	want := map[string]authz.Action{
		"insert_one": authz.Write, "insert_many": authz.Write, "update_one": authz.Write, "update_many": authz.Write,
		"replace_one": authz.Write, "delete_one": authz.Write, "delete_many": authz.Write, "bulk_write": authz.Write,
		"find_one_and_update": authz.Write, "find_one_and_replace": authz.Write, "find_one_and_delete": authz.Write,
		"find_one": authz.Read, "count_documents": authz.Read, "distinct": authz.Read,
	}
	oneof := (&pb.Operation{}).ProtoReflect().Descriptor().Oneofs().ByName("operation")
	for i := range oneof.Fields().Len() {
		fd := oneof.Fields().Get(i)
		t.Run(string(fd.Name()), func(t *testing.T) {
			action, ok := want[string(fd.Name())]
			if !ok {
				t.Fatalf("operation %s: say here whether it reads or writes", fd.Name())
			}
			m := (&pb.Operation{}).ProtoReflect()
			sub := m.NewField(fd).Message()
			ns := (&pb.Namespace{Database: "d", Collection: "c"}).ProtoReflect()
			sub.Set(sub.Descriptor().Fields().ByName("namespace"), protoreflect.ValueOfMessage(ns))
			m.Set(fd, protoreflect.ValueOfMessage(sub))
			op, err := operationFromProto(m.Interface().(*pb.Operation))
			if err != nil {
				t.Fatal(err)
			}
			got, err := accesses(op.op)
			if err != nil {
				t.Fatalf("accesses: %v", err)
			}
			if w := []authz.Access{acc("d", "c", action)}; !reflect.DeepEqual(got, w) {
				t.Fatalf("accesses = %v, want %v", got, w)
			}
		})
	}
}

func TestAccesses(t *testing.T) {
	ns := crud.Namespace{Database: "app", Collection: "orders"}
	doc := func(js string) crud.Document { return crud.Document{JSON: js} }
	pipeline := []crud.Document{
		doc(`{"$lookup": {"from": "users", "localField": "u", "foreignField": "_id", "as": "user"}}`),
		doc(`{"$merge": {"into": {"db": "dw", "coll": "totals"}}}`),
	}
	odd := []crud.Document{doc(`{"$set": {"a": 1}}`), doc(`{"$unionWith": "sneaky"}`)}
	tests := []struct {
		name string
		op   any
		want []authz.Access
	}{
		{"find", crud.Find{Namespace: ns}, []authz.Access{acc("app", "orders", authz.Read)}},
		{"aggregate", crud.Aggregate{Namespace: ns, Pipeline: pipeline},
			[]authz.Access{acc("app", "orders", authz.Read), acc("app", "users", authz.Read), acc("dw", "totals", authz.Write)}},
		{"aggregate without stages", crud.Aggregate{Namespace: ns}, []authz.Access{acc("app", "orders", authz.Read)}},
		{"update pipeline", crud.UpdateOne{Namespace: ns, Update: crud.Update{Pipeline: odd}},
			[]authz.Access{acc("app", "orders", authz.Write), acc("app", "sneaky", authz.Read)}},
		{"find one and update pipeline", crud.FindOneAndUpdate{Namespace: ns, Update: crud.Update{Pipeline: odd}},
			[]authz.Access{acc("app", "orders", authz.Write), acc("app", "sneaky", authz.Read)}},
		{"bulk write pipelines", crud.BulkWrite{Namespace: ns, Models: []crud.WriteModel{
			crud.InsertOneModel{}, &crud.UpdateManyModel{Update: crud.Update{Pipeline: odd}}}},
			[]authz.Access{acc("app", "orders", authz.Write), acc("app", "sneaky", authz.Read)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := accesses(tt.op)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("accesses = %v\nwant %v", got, tt.want)
			}
		})
	}

	t.Run("bad pipeline names its field", func(t *testing.T) {
		_, err := accesses(crud.BulkWrite{Namespace: ns, Models: []crud.WriteModel{
			crud.DeleteOneModel{}, crud.UpdateOneModel{Update: crud.Update{Pipeline: []crud.Document{doc(`{"$unionWith": 1}`)}}}}})
		var pe *authz.PipelineError
		if !errors.As(err, &pe) || pe.Field != "models[1].update_one.update_pipeline.stages[0].$unionWith" {
			t.Fatalf("err = %v, want a PipelineError on models[1]…", err)
		}
	})
	t.Run("bad stage document", func(t *testing.T) {
		_, err := accesses(crud.Aggregate{Namespace: ns, Pipeline: []crud.Document{doc(`{"$match": `)}})
		var ae *crud.ArgError
		if !errors.As(err, &ae) || ae.Field != "pipeline[0]" {
			t.Fatalf("err = %v, want an ArgError on pipeline[0]", err)
		}
	})
	t.Run("unknown operation fails closed", func(t *testing.T) {
		if _, err := accesses(struct{}{}); err == nil {
			t.Fatal("accesses of an unknown operation succeeded")
		}
	})
}

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
	if md[metaDatabase] != db || md[metaCollection] != coll || md[metaAccess] != access {
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
	if d := wantForbidden(t, err, db, "ro", "write"); d.info.GetMetadata()[metaOperationIndex] != "1" {
		t.Fatalf("operation_index = %q, want 1", d.info.GetMetadata()[metaOperationIndex])
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
