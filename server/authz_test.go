package server

import (
	"errors"
	"reflect"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/mongogate/mongogate/authz"
	"github.com/mongogate/mongogate/crud"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
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
