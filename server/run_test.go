package server_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mongogate/mongogate/backend"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/server"
)

func insertOp(ns *pb.Namespace, doc *pb.Document) *pb.Operation {
	return &pb.Operation{Operation: &pb.Operation_InsertOne{InsertOne: &pb.InsertOneOperation{Namespace: ns, Document: doc}}}
}

// transactionsTotal reads mongogate_transactions_total{outcome}.
func (g *gate) transactionsTotal(t *testing.T, outcome string) float64 {
	t.Helper()
	v, _ := promtest.Serve(t, g.metrics).Value("mongogate_transactions_total", "outcome", outcome)
	return v
}

// TestRunTransaction runs every operation kind in one transaction, with
// and without a session, and checks each result against its operation.
func TestRunTransaction(t *testing.T) {
	g := mustGate(t)
	for _, withSession := range []bool{false, true} {
		name := "own session"
		if withSession {
			name = "caller's session"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			ns, coll := g.collection(t)
			mustInsert(t, coll, bson.D{{Key: "_id", Value: 0}, {Key: "n", Value: 0}})
			req := &pb.RunTransactionRequest{
				ResponseFormat: pb.DocumentFormat_DOCUMENT_FORMAT_JSON_RELAXED,
				Timeout:        durationpb.New(30 * time.Second),
				Operations: []*pb.Operation{
					insertOp(ns, jsonDoc(`{"_id": 1, "n": 1}`)),
					{Operation: &pb.Operation_InsertMany{InsertMany: &pb.InsertManyOperation{Namespace: ns,
						Documents: []*pb.Document{jsonDoc(`{"_id": 2, "n": 2}`), jsonDoc(`{"_id": 3, "n": 3}`)}}}},
					{Operation: &pb.Operation_UpdateOne{UpdateOne: &pb.UpdateOneOperation{Namespace: ns, Filter: jsonDoc(`{"_id": 1}`),
						UpdateSpec: &pb.UpdateOneOperation_Update{Update: jsonDoc(`{"$inc": {"n": 10}}`)}}}},
					{Operation: &pb.Operation_UpdateMany{UpdateMany: &pb.UpdateManyOperation{Namespace: ns, Filter: jsonDoc(`{}`),
						UpdateSpec: &pb.UpdateManyOperation_Update{Update: jsonDoc(`{"$set": {"t": true}}`)}}}},
					{Operation: &pb.Operation_ReplaceOne{ReplaceOne: &pb.ReplaceOneOperation{Namespace: ns, Filter: jsonDoc(`{"_id": 0}`),
						Replacement: jsonDoc(`{"n": 100}`)}}},
					{Operation: &pb.Operation_DeleteOne{DeleteOne: &pb.DeleteOneOperation{Namespace: ns, Filter: jsonDoc(`{"_id": 3}`)}}},
					{Operation: &pb.Operation_BulkWrite{BulkWrite: &pb.BulkWriteOperation{Namespace: ns, Models: []*pb.WriteModel{
						{Model: &pb.WriteModel_InsertOne{InsertOne: &pb.InsertOneModel{Document: jsonDoc(`{"_id": 4, "n": 4}`)}}}}}}},
					{Operation: &pb.Operation_FindOne{FindOne: &pb.FindOneOperation{Namespace: ns, Filter: jsonDoc(`{"_id": 1}`)}}},
					{Operation: &pb.Operation_FindOneAndUpdate{FindOneAndUpdate: &pb.FindOneAndUpdateOperation{Namespace: ns,
						Filter: jsonDoc(`{"_id": 2}`), UpdateSpec: &pb.FindOneAndUpdateOperation_Update{Update: jsonDoc(`{"$inc": {"n": 1}}`)},
						Options: &pb.FindOneAndUpdateOptions{ReturnDocument: pb.ReturnDocument_RETURN_DOCUMENT_AFTER}}}},
					{Operation: &pb.Operation_FindOneAndReplace{FindOneAndReplace: &pb.FindOneAndReplaceOperation{Namespace: ns,
						Filter: jsonDoc(`{"_id": 4}`), Replacement: jsonDoc(`{"n": 40}`)}}},
					{Operation: &pb.Operation_FindOneAndDelete{FindOneAndDelete: &pb.FindOneAndDeleteOperation{Namespace: ns,
						Filter: jsonDoc(`{"_id": 99}`)}}},
					{Operation: &pb.Operation_CountDocuments{CountDocuments: &pb.CountDocumentsOperation{Namespace: ns}}},
					{Operation: &pb.Operation_Distinct{Distinct: &pb.DistinctOperation{Namespace: ns, FieldName: "t"}}},
					{Operation: &pb.Operation_DeleteMany{DeleteMany: &pb.DeleteManyOperation{Namespace: ns, Filter: jsonDoc(`{"n": 40}`)}}},
				},
			}
			var wantNumber int64 = 1
			if withSession {
				req.SessionToken = g.mustSession(t, "")
				// An earlier transaction on the session: the run's is the next.
				if _, err := g.txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: req.SessionToken}); err != nil {
					t.Fatal(err)
				}
				if _, err := g.txns.AbortTransaction(ctx, &pb.AbortTransactionRequest{SessionToken: req.SessionToken}); err != nil {
					t.Fatal(err)
				}
				wantNumber = 2
			}
			committedBefore := g.transactionsTotal(t, server.OutcomeCommitted)
			resp, err := g.txns.RunTransaction(ctx, req)
			if err != nil {
				t.Fatalf("RunTransaction: %v", err)
			}
			if resp.GetAttempts() != 1 || resp.GetTransactionNumber() != wantNumber {
				t.Errorf("attempts %d, transaction_number %d; want 1, %d", resp.GetAttempts(), resp.GetTransactionNumber(), wantNumber)
			}
			if got := g.transactionsTotal(t, server.OutcomeCommitted) - committedBefore; got != 1 {
				t.Errorf("committed transactions counted: %v, want 1", got)
			}
			r := resp.GetResults()
			if len(r) != len(req.Operations) {
				t.Fatalf("%d results for %d operations", len(r), len(req.Operations))
			}
			wantInt(t, "insert_one id", decodeValue(t, r[0].GetInsertOne().GetInsertedId()), 1)
			if r[0].GetInsertOne().GetInsertedId().GetJson() != "1" {
				t.Errorf("insert_one id %v, want relaxed JSON 1", r[0].GetInsertOne().GetInsertedId())
			}
			if ids := r[1].GetInsertMany().GetInsertedIds(); len(ids) != 2 {
				t.Errorf("insert_many %v", r[1])
			}
			if u := r[2].GetUpdateOne(); u.GetMatchedCount() != 1 || u.GetModifiedCount() != 1 {
				t.Errorf("update_one %v", r[2])
			}
			if u := r[3].GetUpdateMany(); u.GetMatchedCount() != 4 {
				t.Errorf("update_many %v, want 4 matched (its own inserts included)", r[3])
			}
			if u := r[4].GetReplaceOne(); u.GetMatchedCount() != 1 {
				t.Errorf("replace_one %v", r[4])
			}
			if d := r[5].GetDeleteOne(); d.GetDeletedCount() != 1 {
				t.Errorf("delete_one %v", r[5])
			}
			if b := r[6].GetBulkWrite(); b.GetInsertedCount() != 1 {
				t.Errorf("bulk_write %v", r[6])
			}
			wantInt(t, "find_one n", decodeDoc(t, r[7].GetFindOne().GetDocument()).Lookup("n"), 11)
			wantInt(t, "find_one_and_update n", decodeDoc(t, r[8].GetFindOneAndUpdate().GetDocument()).Lookup("n"), 3)
			wantInt(t, "find_one_and_replace n", decodeDoc(t, r[9].GetFindOneAndReplace().GetDocument()).Lookup("n"), 4)
			if fad, ok := r[10].GetResult().(*pb.OperationResult_FindOneAndDelete); !ok || fad.FindOneAndDelete.Document != nil {
				t.Errorf("find_one_and_delete of nothing: %v", r[10])
			}
			if c := r[11].GetCountDocuments().GetCount(); c != 4 {
				t.Errorf("count_documents %d, want 4", c)
			}
			if v := r[12].GetDistinct().GetValues(); len(v) != 1 || v[0].GetJson() != "true" {
				t.Errorf("distinct %v", r[12])
			}
			if d := r[13].GetDeleteMany(); d.GetDeletedCount() != 1 {
				t.Errorf("delete_many %v", r[13])
			}
			want := []string{
				`{"_id":{"$numberInt":"0"},"n":{"$numberInt":"100"}}`,
				`{"_id":{"$numberInt":"1"},"n":{"$numberInt":"11"},"t":true}`,
				`{"_id":{"$numberInt":"2"},"n":{"$numberInt":"3"},"t":true}`,
			}
			if got := contents(t, coll); !slices.Equal(got, want) {
				t.Errorf("collection after commit:\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// mustFailCommand arms MongoDB's failCommand fail point through the
// direct client, and turns it off at cleanup.
func (g *gate) mustFailCommand(t *testing.T, data bson.D) {
	t.Helper()
	admin := g.mc.Database("admin")
	if err := admin.RunCommand(testCtx(t), bson.D{
		{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: data},
	}).Err(); err != nil {
		t.Fatalf("configureFailPoint: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = admin.RunCommand(ctx, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}).Err()
	})
}

// TestRunTransactionRetriesWriteConflict injects one WriteConflict (a
// TransientTransactionError): the whole transaction reruns and the
// document is written exactly once.
func TestRunTransactionRetriesWriteConflict(t *testing.T) {
	g := mustGate(t)
	ns, coll := g.collection(t)
	for _, withSession := range []bool{false, true} {
		t.Run(map[bool]string{false: "own session", true: "caller's session"}[withSession], func(t *testing.T) {
			id := 1
			req := &pb.RunTransactionRequest{}
			if withSession {
				id = 2
				req.SessionToken = g.mustSession(t, "")
			}
			req.Operations = []*pb.Operation{
				{Operation: &pb.Operation_CountDocuments{CountDocuments: &pb.CountDocumentsOperation{Namespace: ns}}},
				insertOp(ns, bsonDoc(t, bson.D{{Key: "_id", Value: id}})),
			}
			abortedBefore := g.transactionsTotal(t, server.OutcomeAborted)
			committedBefore := g.transactionsTotal(t, server.OutcomeCommitted)
			g.mustFailCommand(t, bson.D{
				{Key: "failCommands", Value: bson.A{"insert"}},
				{Key: "errorCode", Value: 112},
			})
			resp, err := g.txns.RunTransaction(testCtx(t), req)
			if err != nil {
				t.Fatalf("RunTransaction: %v", err)
			}
			if resp.GetAttempts() != 2 {
				t.Errorf("attempts %d, want 2", resp.GetAttempts())
			}
			if withSession && resp.GetTransactionNumber() != 2 {
				t.Errorf("transaction_number %d, want 2 (one per attempt)", resp.GetTransactionNumber())
			}
			if len(resp.GetResults()) != 2 || resp.GetResults()[1].GetInsertOne() == nil {
				t.Errorf("results %v, want the last attempt's two", resp.GetResults())
			}
			n, err := coll.CountDocuments(testCtx(t), bson.D{{Key: "_id", Value: id}})
			if err != nil || n != 1 {
				t.Errorf("documents with _id %d: %d (%v), want exactly 1", id, n, err)
			}
			if got := g.transactionsTotal(t, server.OutcomeAborted) - abortedBefore; got != 1 {
				t.Errorf("aborted transactions counted: %v, want 1", got)
			}
			if got := g.transactionsTotal(t, server.OutcomeCommitted) - committedBefore; got != 1 {
				t.Errorf("committed transactions counted: %v, want 1", got)
			}
		})
	}
}

// TestRunTransactionRefused checks requests that must run nothing: a bad
// operation list, a backend without transactions, a session with an open
// transaction, an operation that fails for good.
func TestRunTransactionRefused(t *testing.T) {
	g := mustGate(t, gateBackend{name: backend.Default, transactions: true}, gateBackend{name: "standalone"})
	ns, coll := g.collection(t)
	mustInsert(t, coll, bson.D{{Key: "_id", Value: 0}})
	before := contents(t, coll)
	good := insertOp(ns, jsonDoc(`{"_id": 1}`))
	busy := g.mustSession(t, "")
	if _, err := g.txns.StartTransaction(testCtx(t), &pb.StartTransactionRequest{SessionToken: busy}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		req    *pb.RunTransactionRequest
		code   codes.Code
		reason pb.ErrorReason
		field  string
		index  string // want ErrorInfo operation_index; "" for none
	}{
		{"no operations", &pb.RunTransactionRequest{},
			codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "operations", ""},
		{"operation not set", &pb.RunTransactionRequest{Operations: []*pb.Operation{good, {}}},
			codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "operations[1]", "1"},
		{"bad document", &pb.RunTransactionRequest{Operations: []*pb.Operation{good, good,
			insertOp(ns, jsonDoc(`{"a": {"$oid": "nope"}}`))}},
			codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "operations[2].insert_one.document", "2"},
		{"missing namespace", &pb.RunTransactionRequest{Operations: []*pb.Operation{
			{Operation: &pb.Operation_UpdateOne{UpdateOne: &pb.UpdateOneOperation{Filter: jsonDoc(`{}`),
				UpdateSpec: &pb.UpdateOneOperation_Update{Update: jsonDoc(`{"$set": {"a": 1}}`)}}}}, good}},
			codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "operations[0].update_one.namespace", "0"},
		{"bad option", &pb.RunTransactionRequest{Operations: []*pb.Operation{good,
			{Operation: &pb.Operation_CountDocuments{CountDocuments: &pb.CountDocumentsOperation{Namespace: ns,
				Options: &pb.CountDocumentsOptions{Skip: -1}}}}}},
			codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "operations[1].count_documents.options.skip", "1"},
		{"bad bulk model", &pb.RunTransactionRequest{Operations: []*pb.Operation{
			{Operation: &pb.Operation_BulkWrite{BulkWrite: &pb.BulkWriteOperation{Namespace: ns, Models: []*pb.WriteModel{{}}}}}}},
			codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "operations[0].bulk_write.models[0]", "0"},
		{"forbidden operator", &pb.RunTransactionRequest{Operations: []*pb.Operation{good,
			{Operation: &pb.Operation_DeleteMany{DeleteMany: &pb.DeleteManyOperation{Namespace: ns,
				Filter: jsonDoc(`{"$where": "sleep(100)"}`)}}}}},
			codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR, "operations[1].delete_many.filter", "1"},
		{"bad timeout", &pb.RunTransactionRequest{Operations: []*pb.Operation{good}, Timeout: durationpb.New(-time.Second)},
			codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "timeout", ""},
		{"w:0 transaction", &pb.RunTransactionRequest{Operations: []*pb.Operation{good},
			Options: &pb.TransactionOptions{WriteConcern: &pb.WriteConcern{W: &pb.WriteConcern_WNodes{WNodes: 0}}}},
			codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "options.write_concern.w_nodes", ""},
		{"no transaction support", &pb.RunTransactionRequest{Client: "standalone", Operations: []*pb.Operation{good}},
			codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_TRANSACTIONS_NOT_SUPPORTED, "", ""},
		{"transaction open on the session", &pb.RunTransactionRequest{SessionToken: busy, Operations: []*pb.Operation{good}},
			codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_TRANSACTION_IN_PROGRESS, "", ""},
		{"unknown session", &pb.RunTransactionRequest{SessionToken: "test-nope", Operations: []*pb.Operation{good}},
			codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND, "", ""},
		{"duplicate key", &pb.RunTransactionRequest{Operations: []*pb.Operation{good, insertOp(ns, jsonDoc(`{"_id": 0}`))}},
			codes.AlreadyExists, pb.ErrorReason_ERROR_REASON_DUPLICATE_KEY, "", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := wantCode(t, callRun(t, g, tc.req), tc.code, tc.reason, tc.field)
			if got, ok := d.info.GetMetadata()[server.MetaOperationIndex]; got != tc.index || ok != (tc.index != "") {
				t.Errorf("operation_index %q (set %v), want %q", got, ok, tc.index)
			}
			if after := contents(t, coll); !slices.Equal(after, before) {
				t.Fatalf("collection changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func callRun(t *testing.T, g *gate, req *pb.RunTransactionRequest) error {
	t.Helper()
	_, err := g.txns.RunTransaction(testCtx(t), req)
	return err
}
