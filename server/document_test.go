package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/mongogate/mongogate/authz"
	"github.com/mongogate/mongogate/backend"
	"github.com/mongogate/mongogate/emulator"
	"github.com/mongogate/mongogate/gateway"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/server"
)

// gate is a whole mongogate instance (gateway.New: sessions, txn, the
// three services, the real interceptors with anonymous auth) over
// bufconn, in front of a test backend, with a direct driver client to
// check what it wrote.
type gate struct {
	docs    pb.DocumentServiceClient
	sess    pb.SessionServiceClient
	txns    pb.TransactionServiceClient
	mc      *mongo.Client
	metrics http.Handler
}

// gateBackend configures one backend of mustGate: one that runs
// transactions is the test deployment, one that does not a standalone
// emulator of its own.
type gateBackend struct {
	name         string
	transactions bool
}

// mustGate serves mongogate with the given backends, default {"default",
// transactions on}, and stops it at cleanup.
func mustGate(t *testing.T, backends ...gateBackend) *gate {
	t.Helper()
	return mustGateAuthz(t, nil, backends...)
}

// mustGateAuthz is mustGate with authorization rules; nil allows all.
func mustGateAuthz(t *testing.T, az *authz.Authorizer, backends ...gateBackend) *gate {
	t.Helper()
	if len(backends) == 0 {
		backends = []gateBackend{{name: backend.Default, transactions: true}}
	}
	uri := testbackend.URI(t)
	// The instance's own collections, apart from every other test's.
	own := testbackend.DBName(t)
	cfg := gateway.Config{
		InstanceID: "test", Authz: az,
		DirectoryCollection: own + ".instances", OutcomeCollection: own + ".outcomes",
	}
	for _, b := range backends {
		u := uri
		if !b.transactions {
			u = testbackend.Start(t, emulator.Config{Standalone: true}).URI()
		}
		cfg.Backends = append(cfg.Backends, gateway.DefaultBackend(b.name, u))
	}
	lis := bufconn.Listen(1 << 20)
	inst := mustServe(t, cfg, lis)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(server.DefaultMaxMessageSize)),
		// Fixed flow-control windows, so that a stream the client does not
		// read stalls the server's sends after a few batches.
		grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: the connection closes, then the
	// instance shuts down.
	t.Cleanup(func() { _ = conn.Close() })
	return &gate{
		docs:    pb.NewDocumentServiceClient(conn),
		sess:    pb.NewSessionServiceClient(conn),
		txns:    pb.NewTransactionServiceClient(conn),
		mc:      testbackend.Client(t, uri),
		metrics: inst.Metrics(),
	}
}

// mustServe builds an instance from cfg, serves it on ln until it is
// ready, and shuts it down at cleanup.
func mustServe(t testing.TB, cfg gateway.Config, ln net.Listener) *gateway.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inst, err := gateway.New(ctx, cfg)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	var serveErr error
	done := make(chan struct{})
	go func() {
		serveErr = inst.Serve(ln)
		close(done)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = inst.Shutdown(ctx)
		<-done
		if serveErr != nil {
			t.Errorf("Serve: %v", serveErr)
		}
	})
	select {
	case <-inst.Ready():
	case <-done:
		t.Fatalf("Serve: %v", serveErr)
	}
	return inst
}

// testCtx is a context for one test's calls.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustSession starts a session on client ("" for the default) and ends it
// at cleanup.
func (g *gate) mustSession(t *testing.T, client string) string {
	t.Helper()
	resp, err := g.sess.StartSession(testCtx(t), &pb.StartSessionRequest{Client: client})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	token := resp.GetSession().GetToken()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = g.sess.EndSession(ctx, &pb.EndSessionRequest{SessionToken: token})
	})
	return token
}

// collection is the test's own collection, seen directly.
func (g *gate) collection(t *testing.T) (*pb.Namespace, *mongo.Collection) {
	t.Helper()
	db := testbackend.DBName(t)
	return &pb.Namespace{Database: db, Collection: "c"}, g.mc.Database(db).Collection("c")
}

// contents is every document of coll in _id order, as canonical Extended
// JSON, to compare a collection before and after.
func contents(t *testing.T, coll *mongo.Collection) []string {
	t.Helper()
	ctx := testCtx(t)
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatalf("find: %v", err)
	}
	defer func() { _ = cur.Close(ctx) }()
	var out []string
	for cur.Next(ctx) {
		b, err := bson.MarshalExtJSON(cur.Current, true, false)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustInsert(t *testing.T, coll *mongo.Collection, docs ...any) {
	t.Helper()
	if _, err := coll.InsertMany(testCtx(t), docs); err != nil {
		t.Fatalf("insert: %v", err)
	}
}

func bsonDoc(t *testing.T, v any) *pb.Document {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.Document{Value: &pb.Document_Bson{Bson: b}}
}

// decodeDoc reads a response document in whatever format it came.
func decodeDoc(t *testing.T, d *pb.Document) bson.Raw {
	t.Helper()
	switch v := d.GetValue().(type) {
	case *pb.Document_Bson:
		if err := bson.Raw(v.Bson).Validate(); err != nil {
			t.Fatalf("bad bson document: %v", err)
		}
		return v.Bson
	case *pb.Document_Json:
		var raw bson.Raw
		if err := bson.UnmarshalExtJSON([]byte(v.Json), false, &raw); err != nil {
			t.Fatalf("bad extended json %q: %v", v.Json, err)
		}
		return raw
	}
	t.Fatalf("empty document %v", d)
	return nil
}

// decodeValue reads a response value in whatever format it came.
func decodeValue(t *testing.T, v *pb.Value) bson.RawValue {
	t.Helper()
	var doc bson.Raw
	switch x := v.GetValue().(type) {
	case *pb.Value_Bson:
		doc = x.Bson
	case *pb.Value_Json:
		if err := bson.UnmarshalExtJSON([]byte(`{"v":`+x.Json+`}`), false, &doc); err != nil {
			t.Fatalf("bad extended json value %q: %v", x.Json, err)
		}
	default:
		t.Fatalf("empty value %v", v)
	}
	rv, err := doc.LookupErr("v")
	if err != nil {
		t.Fatalf("value %v has no v: %v", v, err)
	}
	return rv
}

// statusDetails is what a client reads from a mongogate error.
type statusDetails struct {
	code       codes.Code
	info       *errdetails.ErrorInfo
	retry      *errdetails.RetryInfo
	badRequest *errdetails.BadRequest
}

// mustDetails decodes err as a status with exactly one ErrorInfo in
// mongogate's domain.
func mustDetails(t *testing.T, err error) statusDetails {
	t.Helper()
	var d statusDetails
	d.code, d.info, d.retry, d.badRequest = server.MustDetails(t, err)
	return d
}

func jsonDoc(s string) *pb.Document { return &pb.Document{Value: &pb.Document_Json{Json: s}} }

// wantCode asserts err's code and ErrorInfo reason, and, when field is
// not empty, that BadRequest names field.
func wantCode(t *testing.T, err error, code codes.Code, reason pb.ErrorReason, field string) statusDetails {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %v %s", code, reason.Wire())
	}
	d := mustDetails(t, err)
	if d.code != code || d.info.GetReason() != reason.Wire() {
		t.Fatalf("got %v %s (%v), want %v %s", d.code, d.info.GetReason(), err, code, reason.Wire())
	}
	if field != "" {
		var fields []string
		for _, v := range d.badRequest.GetFieldViolations() {
			fields = append(fields, v.GetField())
		}
		if len(fields) != 1 || fields[0] != field {
			t.Fatalf("BadRequest fields %q, want [%q]", fields, field)
		}
	}
	return d
}

// formatCase is one response format and how its output must look.
type formatCase struct {
	name   string
	format pb.DocumentFormat
	// check asserts the wire form of a response document: canonical JSON
	// writes int64 as {"$numberLong": ...}, relaxed as a plain number.
	check func(t *testing.T, d *pb.Document)
}

var formatCases = []formatCase{
	{"canonical", pb.DocumentFormat_DOCUMENT_FORMAT_JSON_CANONICAL, func(t *testing.T, d *pb.Document) {
		if !strings.Contains(d.GetJson(), `"$numberLong"`) {
			t.Errorf("canonical document %q has no $numberLong", d.GetJson())
		}
	}},
	{"unspecified", pb.DocumentFormat_DOCUMENT_FORMAT_UNSPECIFIED, func(t *testing.T, d *pb.Document) {
		if !strings.Contains(d.GetJson(), `"$numberLong"`) {
			t.Errorf("default document %q is not canonical", d.GetJson())
		}
	}},
	{"relaxed", pb.DocumentFormat_DOCUMENT_FORMAT_JSON_RELAXED, func(t *testing.T, d *pb.Document) {
		if s := d.GetJson(); s == "" || strings.Contains(s, `"$number`) {
			t.Errorf("relaxed document %q is not relaxed JSON", s)
		}
	}},
	{"bson", pb.DocumentFormat_DOCUMENT_FORMAT_BSON, func(t *testing.T, d *pb.Document) {
		if d.GetBson() == nil {
			t.Errorf("document %v is not BSON", d)
		}
	}},
}

// wantInt asserts that v is the integer n, whatever its BSON type (relaxed
// JSON cannot keep int32 and int64 apart).
func wantInt(t *testing.T, what string, v bson.RawValue, n int64) {
	t.Helper()
	got, ok := v.AsInt64OK()
	if !ok || got != n {
		t.Errorf("%s = %v, want %d", what, v, n)
	}
}

// TestDocumentRoundTrip runs every DocumentService RPC in each response
// format and checks results against the collection.
func TestDocumentRoundTrip(t *testing.T) {
	g := mustGate(t)
	for _, fc := range formatCases {
		t.Run(fc.name, func(t *testing.T) {
			ctx := testCtx(t)
			ns, coll := g.collection(t)
			f := fc.format

			// Request documents in all three input forms.
			ins, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{Namespace: ns, ResponseFormat: f,
				Document: jsonDoc(`{"_id": {"$numberInt": "1"}, "n": {"$numberLong": "7"}, "s": "a"}`)})
			if err != nil {
				t.Fatalf("InsertOne: %v", err)
			}
			wantInt(t, "InsertOne inserted_id", decodeValue(t, ins.GetInsertedId()), 1)
			if !ins.GetAcknowledged() {
				t.Error("InsertOne not acknowledged")
			}
			gen, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{Namespace: ns, ResponseFormat: f,
				Document: jsonDoc(`{"s": "generated", "n": 0}`)})
			if err != nil {
				t.Fatalf("InsertOne without _id: %v", err)
			}
			if v := decodeValue(t, gen.GetInsertedId()); v.Type != bson.TypeObjectID {
				t.Errorf("generated _id %v, want an ObjectId", v)
			}
			many, err := g.docs.InsertMany(ctx, &pb.InsertManyRequest{Namespace: ns, ResponseFormat: f,
				Documents: []*pb.Document{
					bsonDoc(t, bson.D{{Key: "_id", Value: int32(2)}, {Key: "n", Value: int64(1)}, {Key: "s", Value: "b"}}),
					jsonDoc(`{"_id": 3, "n": {"$numberLong": "2"}, "s": "b"}`),
				}})
			if err != nil {
				t.Fatalf("InsertMany: %v", err)
			}
			if ids := many.GetInsertedIds(); len(ids) != 2 {
				t.Fatalf("InsertMany ids %v", ids)
			} else {
				wantInt(t, "inserted_ids[0]", decodeValue(t, ids[0]), 2)
				wantInt(t, "inserted_ids[1]", decodeValue(t, ids[1]), 3)
			}

			one, err := g.docs.FindOne(ctx, &pb.FindOneRequest{Namespace: ns, ResponseFormat: f, Filter: jsonDoc(`{"_id": 1}`)})
			if err != nil {
				t.Fatalf("FindOne: %v", err)
			}
			fc.check(t, one.GetDocument())
			doc := decodeDoc(t, one.GetDocument())
			wantInt(t, "FindOne n", doc.Lookup("n"), 7)
			if f != pb.DocumentFormat_DOCUMENT_FORMAT_JSON_RELAXED && doc.Lookup("n").Type != bson.TypeInt64 {
				t.Errorf("FindOne n has type %v, want int64", doc.Lookup("n").Type)
			}
			none, err := g.docs.FindOne(ctx, &pb.FindOneRequest{Namespace: ns, ResponseFormat: f, Filter: jsonDoc(`{"_id": 99}`)})
			if err != nil {
				t.Fatalf("FindOne absent: %v", err)
			}
			if none.Document != nil {
				t.Errorf("FindOne of nothing returned %v, want no document", none.Document)
			}

			upd, err := g.docs.UpdateOne(ctx, &pb.UpdateOneRequest{Namespace: ns, ResponseFormat: f,
				Filter: jsonDoc(`{"_id": 2}`), UpdateSpec: &pb.UpdateOneRequest_Update{Update: jsonDoc(`{"$set": {"s": "c"}}`)}})
			if err != nil {
				t.Fatalf("UpdateOne: %v", err)
			}
			if upd.GetMatchedCount() != 1 || upd.GetModifiedCount() != 1 || upd.UpsertedId != nil {
				t.Errorf("UpdateOne = %v", upd)
			}
			ups, err := g.docs.UpdateOne(ctx, &pb.UpdateOneRequest{Namespace: ns, ResponseFormat: f,
				Filter: jsonDoc(`{"_id": 10}`), UpdateSpec: &pb.UpdateOneRequest_Update{Update: jsonDoc(`{"$set": {"s": "u"}}`)},
				Options: &pb.UpdateOptions{Upsert: true}})
			if err != nil {
				t.Fatalf("UpdateOne upsert: %v", err)
			}
			if ups.GetUpsertedCount() != 1 {
				t.Errorf("UpdateOne upsert = %v", ups)
			}
			wantInt(t, "upserted_id", decodeValue(t, ups.GetUpsertedId()), 10)
			um, err := g.docs.UpdateMany(ctx, &pb.UpdateManyRequest{Namespace: ns, ResponseFormat: f,
				Filter: jsonDoc(`{}`), UpdateSpec: &pb.UpdateManyRequest_UpdatePipeline{UpdatePipeline: &pb.Pipeline{
					Stages: []*pb.Document{jsonDoc(`{"$set": {"seen": true}}`)}}}})
			if err != nil {
				t.Fatalf("UpdateMany: %v", err)
			}
			if um.GetMatchedCount() != 5 || um.GetModifiedCount() != 5 {
				t.Errorf("UpdateMany = %v, want 5 matched and modified", um)
			}
			rep, err := g.docs.ReplaceOne(ctx, &pb.ReplaceOneRequest{Namespace: ns, ResponseFormat: f,
				Filter: jsonDoc(`{"_id": 3}`), Replacement: jsonDoc(`{"s": "r", "n": {"$numberLong": "3"}}`)})
			if err != nil {
				t.Fatalf("ReplaceOne: %v", err)
			}
			if rep.GetMatchedCount() != 1 || rep.GetModifiedCount() != 1 {
				t.Errorf("ReplaceOne = %v", rep)
			}

			fau, err := g.docs.FindOneAndUpdate(ctx, &pb.FindOneAndUpdateRequest{Namespace: ns, ResponseFormat: f,
				Filter: jsonDoc(`{"_id": 1}`), UpdateSpec: &pb.FindOneAndUpdateRequest_Update{Update: jsonDoc(`{"$inc": {"n": 1}}`)},
				Options: &pb.FindOneAndUpdateOptions{ReturnDocument: pb.ReturnDocument_RETURN_DOCUMENT_AFTER}})
			if err != nil {
				t.Fatalf("FindOneAndUpdate: %v", err)
			}
			fc.check(t, fau.GetDocument())
			wantInt(t, "FindOneAndUpdate n after", decodeDoc(t, fau.GetDocument()).Lookup("n"), 8)
			far, err := g.docs.FindOneAndReplace(ctx, &pb.FindOneAndReplaceRequest{Namespace: ns, ResponseFormat: f,
				Filter: jsonDoc(`{"_id": 3}`), Replacement: jsonDoc(`{"s": "rr", "n": {"$numberLong": "4"}}`)})
			if err != nil {
				t.Fatalf("FindOneAndReplace: %v", err)
			}
			fc.check(t, far.GetDocument())
			if s := decodeDoc(t, far.GetDocument()).Lookup("s").StringValue(); s != "r" {
				t.Errorf("FindOneAndReplace returned s=%q, want the document before (r)", s)
			}
			fad, err := g.docs.FindOneAndDelete(ctx, &pb.FindOneAndDeleteRequest{Namespace: ns, ResponseFormat: f,
				Filter: jsonDoc(`{"_id": 10}`)})
			if err != nil {
				t.Fatalf("FindOneAndDelete: %v", err)
			}
			wantInt(t, "FindOneAndDelete _id", decodeDoc(t, fad.GetDocument()).Lookup("_id"), 10)
			fadNone, err := g.docs.FindOneAndDelete(ctx, &pb.FindOneAndDeleteRequest{Namespace: ns, ResponseFormat: f,
				Filter: jsonDoc(`{"_id": 10}`)})
			if err != nil {
				t.Fatalf("FindOneAndDelete absent: %v", err)
			}
			if fadNone.Document != nil {
				t.Errorf("FindOneAndDelete of nothing returned %v", fadNone.Document)
			}

			cnt, err := g.docs.CountDocuments(ctx, &pb.CountDocumentsRequest{Namespace: ns, Filter: jsonDoc(`{"seen": true}`)})
			if err != nil {
				t.Fatalf("CountDocuments: %v", err)
			}
			if cnt.GetCount() != 3 {
				t.Errorf("CountDocuments = %d, want 3 (1, 2 and the generated _id)", cnt.GetCount())
			}
			dis, err := g.docs.Distinct(ctx, &pb.DistinctRequest{Namespace: ns, ResponseFormat: f, FieldName: "n",
				Filter: jsonDoc(`{"_id": {"$in": [1, 2]}}`)})
			if err != nil {
				t.Fatalf("Distinct: %v", err)
			}
			var got []int64
			for _, v := range dis.GetValues() {
				n, _ := decodeValue(t, v).AsInt64OK()
				got = append(got, n)
			}
			if len(got) != 2 || got[0]+got[1] != 9 {
				t.Errorf("Distinct n = %v, want 1 and 8", got)
			}

			agg := mustAggregate(t, g, &pb.AggregateRequest{Namespace: ns, ResponseFormat: f, Pipeline: []*pb.Document{
				jsonDoc(`{"$match": {"_id": {"$in": [1, 2, 3]}}}`), jsonDoc(`{"$sort": {"_id": 1}}`)}})
			if len(agg) != 1 || len(agg[0]) != 3 {
				t.Fatalf("Aggregate batches %v, want one of 3 documents", agg)
			}
			for i, d := range agg[0] {
				fc.check(t, d)
				wantInt(t, "Aggregate _id", decodeDoc(t, d).Lookup("_id"), int64(i+1))
			}
			found := mustFind(t, g, &pb.FindRequest{Namespace: ns, ResponseFormat: f, Filter: jsonDoc(`{"_id": 1}`)})
			if len(found) != 1 || len(found[0]) != 1 {
				t.Fatalf("Find batches %v, want one of 1 document", found)
			}
			fc.check(t, found[0][0])

			bw, err := g.docs.BulkWrite(ctx, &pb.BulkWriteRequest{Namespace: ns, ResponseFormat: f, Models: []*pb.WriteModel{
				{Model: &pb.WriteModel_InsertOne{InsertOne: &pb.InsertOneModel{Document: jsonDoc(`{"_id": 20}`)}}},
				{Model: &pb.WriteModel_UpdateOne{UpdateOne: &pb.UpdateOneModel{Filter: jsonDoc(`{"_id": 21}`),
					UpdateSpec: &pb.UpdateOneModel_Update{Update: jsonDoc(`{"$set": {"s": "bulk"}}`)}, Upsert: true}}},
				{Model: &pb.WriteModel_UpdateMany{UpdateMany: &pb.UpdateManyModel{Filter: jsonDoc(`{"s": "bulk"}`),
					UpdateSpec: &pb.UpdateManyModel_Update{Update: jsonDoc(`{"$set": {"t": 1}}`)}}}},
				{Model: &pb.WriteModel_ReplaceOne{ReplaceOne: &pb.ReplaceOneModel{Filter: jsonDoc(`{"_id": 2}`),
					Replacement: jsonDoc(`{"s": "bulk-replaced"}`)}}},
				{Model: &pb.WriteModel_DeleteOne{DeleteOne: &pb.DeleteOneModel{Filter: jsonDoc(`{"_id": 20}`)}}},
				{Model: &pb.WriteModel_DeleteMany{DeleteMany: &pb.DeleteManyModel{Filter: jsonDoc(`{"s": "nothing"}`)}}},
			}})
			if err != nil {
				t.Fatalf("BulkWrite: %v", err)
			}
			if bw.GetInsertedCount() != 1 || bw.GetUpsertedCount() != 1 || bw.GetMatchedCount() != 2 ||
				bw.GetModifiedCount() != 2 || bw.GetDeletedCount() != 1 || !bw.GetAcknowledged() {
				t.Errorf("BulkWrite = %v", bw)
			}
			if ids := bw.GetInsertedIds(); len(ids) != 1 || ids[0].GetIndex() != 0 {
				t.Errorf("BulkWrite inserted_ids %v", ids)
			} else {
				wantInt(t, "bulk inserted id", decodeValue(t, ids[0].GetId()), 20)
			}
			if ids := bw.GetUpsertedIds(); len(ids) != 1 || ids[0].GetIndex() != 1 {
				t.Errorf("BulkWrite upserted_ids %v", ids)
			} else {
				wantInt(t, "bulk upserted id", decodeValue(t, ids[0].GetId()), 21)
			}

			del, err := g.docs.DeleteOne(ctx, &pb.DeleteOneRequest{Namespace: ns, Filter: jsonDoc(`{"_id": 2}`)})
			if err != nil {
				t.Fatalf("DeleteOne: %v", err)
			}
			if del.GetDeletedCount() != 1 {
				t.Errorf("DeleteOne = %v", del)
			}
			dm, err := g.docs.DeleteMany(ctx, &pb.DeleteManyRequest{Namespace: ns, Filter: jsonDoc(`{}`)})
			if err != nil {
				t.Fatalf("DeleteMany: %v", err)
			}
			if dm.GetDeletedCount() != 4 {
				t.Errorf("DeleteMany deleted %d, want 4", dm.GetDeletedCount())
			}
			if c := contents(t, coll); len(c) != 0 {
				t.Errorf("collection after DeleteMany: %v", c)
			}
		})
	}
}

// mustFind runs Find to its end and returns its messages' documents.
func mustFind(t *testing.T, g *gate, req *pb.FindRequest) [][]*pb.Document {
	t.Helper()
	stream, err := g.docs.Find(testCtx(t), req)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	var out [][]*pb.Document
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Find: %v", err)
		}
		out = append(out, resp.GetDocuments())
	}
}

// mustAggregate runs Aggregate to its end and returns its messages'
// documents.
func mustAggregate(t *testing.T, g *gate, req *pb.AggregateRequest) [][]*pb.Document {
	t.Helper()
	stream, err := g.docs.Aggregate(testCtx(t), req)
	if err != nil {
		t.Fatalf("Aggregate: %v", err)
	}
	var out [][]*pb.Document
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Aggregate: %v", err)
		}
		out = append(out, resp.GetDocuments())
	}
}

func batchSizes(batches [][]*pb.Document) []int {
	var out []int
	for _, b := range batches {
		out = append(out, len(b))
	}
	return out
}

// TestFindBatches checks that Find and Aggregate send one message per
// cursor batch, honoring batch_size and limit.
func TestFindBatches(t *testing.T) {
	g := mustGate(t)
	ns, coll := g.collection(t)
	var docs []any
	for i := range 10 {
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}})
	}
	mustInsert(t, coll, docs...)
	sorted := jsonDoc(`{"_id": 1}`)
	tests := []struct {
		name string
		opts *pb.FindOptions
		want []int
	}{
		{"default batch", nil, []int{10}},
		{"batch 3", &pb.FindOptions{BatchSize: 3, Sort: sorted}, []int{3, 3, 3, 1}},
		{"batch 5", &pb.FindOptions{BatchSize: 5}, []int{5, 5}},
		{"batch 2 limit 5", &pb.FindOptions{BatchSize: 2, Limit: 5}, []int{2, 2, 1}},
		{"no match", &pb.FindOptions{BatchSize: 2}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &pb.FindRequest{Namespace: ns, Options: tc.opts}
			if tc.want == nil {
				req.Filter = jsonDoc(`{"_id": -1}`)
			}
			got := mustFind(t, g, req)
			if sizes := batchSizes(got); !slices.Equal(sizes, tc.want) {
				t.Fatalf("batch sizes %v, want %v", sizes, tc.want)
			}
			if tc.opts.GetSort() != nil {
				n := int64(0)
				for _, b := range got {
					for _, d := range b {
						wantInt(t, "_id", decodeDoc(t, d).Lookup("_id"), n)
						n++
					}
				}
			}
		})
	}
	t.Run("aggregate batch 4", func(t *testing.T) {
		got := mustAggregate(t, g, &pb.AggregateRequest{Namespace: ns, Options: &pb.AggregateOptions{BatchSize: 4},
			Pipeline: []*pb.Document{jsonDoc(`{"$sort": {"_id": 1}}`)}})
		if sizes := batchSizes(got); !slices.Equal(sizes, []int{4, 4, 2}) {
			t.Fatalf("batch sizes %v, want [4 4 2]", sizes)
		}
	})
}

// TestFindCancelReleasesSession checks that a Find stream holds its
// session and gives it back when the client goes away mid-stream.
func TestFindCancelReleasesSession(t *testing.T) {
	g := mustGate(t)
	ns, coll := g.collection(t)
	// More than the flow-control window holds, one document per batch:
	// the stream stays open until the client reads or goes away.
	const n = 100
	var docs []any
	for i := range n {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: strings.Repeat("x", 4<<10)}})
	}
	mustInsert(t, coll, docs...)
	token := g.mustSession(t, "")

	ctx, cancel := context.WithCancel(testCtx(t))
	stream, err := g.docs.Find(ctx, &pb.FindRequest{SessionToken: token, Namespace: ns, Options: &pb.FindOptions{BatchSize: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first batch: %v", err)
	}
	// While the stream is open, the session is busy: a call with a short
	// deadline waits for it and times out.
	short, cancelShort := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	_, err = g.docs.CountDocuments(short, &pb.CountDocumentsRequest{SessionToken: token, Namespace: ns})
	cancelShort()
	if code := status.Code(err); code != codes.DeadlineExceeded {
		t.Fatalf("call on a session busy with a stream: %v, want DEADLINE_EXCEEDED", err)
	}
	cancel()
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}
	resp, err := g.docs.CountDocuments(testCtx(t), &pb.CountDocumentsRequest{SessionToken: token, Namespace: ns})
	if err != nil {
		t.Fatalf("session after a cancelled stream: %v", err)
	}
	if resp.GetCount() != n {
		t.Errorf("count %d, want %d", resp.GetCount(), n)
	}
}

// TestDocumentInTransaction checks that writes in a session's transaction
// are visible in the session at once and outside it only after commit,
// and never after abort.
func TestDocumentInTransaction(t *testing.T) {
	g := mustGate(t)
	ns, coll := g.collection(t)
	mustInsert(t, coll, bson.D{{Key: "_id", Value: 0}})
	token := g.mustSession(t, "")
	ctx := testCtx(t)

	find := func(token string, id int) bool {
		t.Helper()
		resp, err := g.docs.FindOne(ctx, &pb.FindOneRequest{SessionToken: token, Namespace: ns,
			Filter: bsonDoc(t, bson.D{{Key: "_id", Value: id}})})
		if err != nil {
			t.Fatalf("FindOne: %v", err)
		}
		return resp.Document != nil
	}
	for _, commit := range []bool{true, false} {
		id := 1
		if !commit {
			id = 2
		}
		st, err := g.txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token})
		if err != nil {
			t.Fatalf("StartTransaction: %v", err)
		}
		if _, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns,
			Document: bsonDoc(t, bson.D{{Key: "_id", Value: id}})}); err != nil {
			t.Fatalf("InsertOne in transaction: %v", err)
		}
		if !find(token, id) {
			t.Errorf("own write %d invisible inside the transaction", id)
		}
		if find("", id) {
			t.Errorf("write %d visible outside before commit", id)
		}
		if commit {
			_, err = g.txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: st.GetTransactionNumber()})
		} else {
			_, err = g.txns.AbortTransaction(ctx, &pb.AbortTransactionRequest{SessionToken: token, TransactionNumber: st.GetTransactionNumber()})
		}
		if err != nil {
			t.Fatalf("end transaction: %v", err)
		}
		if got := find("", id); got != commit {
			t.Errorf("write %d visible outside after commit=%v: %v", id, commit, got)
		}
	}

	// A write concern is refused inside a transaction.
	if _, err := g.txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token}); err != nil {
		t.Fatal(err)
	}
	_, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns, Document: jsonDoc(`{"_id": 3}`),
		WriteConcern: &pb.WriteConcern{W: &pb.WriteConcern_WTag{WTag: "majority"}}})
	wantCode(t, err, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "write_concern")
}

// TestDocumentClientMismatch checks that a session is bound to its
// backend: naming another one fails and writes nothing.
func TestDocumentClientMismatch(t *testing.T) {
	g := mustGate(t, gateBackend{name: backend.Default, transactions: true}, gateBackend{name: "other", transactions: true})
	ns, coll := g.collection(t)
	token := g.mustSession(t, "other")
	ctx := testCtx(t)

	_, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Client: backend.Default, Namespace: ns,
		Document: jsonDoc(`{"_id": 1}`)})
	d := wantCode(t, err, codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_SESSION_CLIENT_MISMATCH, "")
	if md := d.info.GetMetadata(); md[server.MetaClient] != backend.Default || md[server.MetaBoundClient] != "other" {
		t.Errorf("metadata %v", md)
	}
	stream, err := g.docs.Find(ctx, &pb.FindRequest{SessionToken: token, Client: backend.Default, Namespace: ns})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_SESSION_CLIENT_MISMATCH, "")
	if c := contents(t, coll); len(c) != 0 {
		t.Fatalf("collection after refused writes: %v", c)
	}
	for _, client := range []string{"", "other"} {
		if _, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Client: client, Namespace: ns,
			Document: jsonDoc(`{}`)}); err != nil {
			t.Errorf("InsertOne naming client %q: %v", client, err)
		}
	}
}

// TestDocumentBadInput checks refused requests: code, reason and field,
// and that the collection is unchanged.
func TestDocumentBadInput(t *testing.T) {
	g := mustGate(t)
	ns, coll := g.collection(t)
	mustInsert(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 1}}, bson.D{{Key: "_id", Value: 2}, {Key: "n", Value: 2}})
	before := contents(t, coll)
	token := g.mustSession(t, "")
	huge := `{"s": "` + strings.Repeat("x", 17<<20) + `"}`
	upd := func(s string) *pb.UpdateManyRequest_Update {
		return &pb.UpdateManyRequest_Update{Update: jsonDoc(s)}
	}
	w0 := &pb.WriteConcern{W: &pb.WriteConcern_WNodes{WNodes: 0}}

	tests := []struct {
		name   string
		call   func(ctx context.Context) error
		code   codes.Code
		reason pb.ErrorReason
		field  string
	}{
		{"invalid extended json", func(ctx context.Context) error {
			_, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{Namespace: ns, Document: jsonDoc(`{"a": {"$numberInt": "x"}}`)})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "document"},
		{"json syntax", func(ctx context.Context) error {
			_, err := g.docs.InsertMany(ctx, &pb.InsertManyRequest{Namespace: ns, Documents: []*pb.Document{jsonDoc(`{}`), jsonDoc(`{}`), jsonDoc(`{"a":`)}})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "documents[2]"},
		{"bad bson", func(ctx context.Context) error {
			_, err := g.docs.DeleteMany(ctx, &pb.DeleteManyRequest{Namespace: ns, Filter: &pb.Document{Value: &pb.Document_Bson{Bson: []byte{9, 0, 0, 0, 0}}}})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "filter"},
		{"empty document", func(ctx context.Context) error {
			_, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{Namespace: ns, Document: &pb.Document{}})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "document"},
		{"missing namespace", func(ctx context.Context) error {
			_, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{Document: jsonDoc(`{}`)})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "namespace"},
		{"missing collection", func(ctx context.Context) error {
			_, err := g.docs.DeleteMany(ctx, &pb.DeleteManyRequest{Namespace: &pb.Namespace{Database: ns.GetDatabase()}, Filter: jsonDoc(`{}`)})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "namespace.collection"},
		{"missing filter", func(ctx context.Context) error {
			_, err := g.docs.DeleteMany(ctx, &pb.DeleteManyRequest{Namespace: ns})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "filter"},
		{"update without operators", func(ctx context.Context) error {
			_, err := g.docs.UpdateMany(ctx, &pb.UpdateManyRequest{Namespace: ns, Filter: jsonDoc(`{}`), UpdateSpec: upd(`{"n": 5}`)})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "update"},
		{"negative limit", func(ctx context.Context) error {
			_, err := g.docs.CountDocuments(ctx, &pb.CountDocumentsRequest{Namespace: ns, Options: &pb.CountDocumentsOptions{Limit: -1}})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "options.limit"},
		{"unknown return document", func(ctx context.Context) error {
			_, err := g.docs.FindOneAndUpdate(ctx, &pb.FindOneAndUpdateRequest{Namespace: ns, Filter: jsonDoc(`{}`),
				UpdateSpec: &pb.FindOneAndUpdateRequest_Update{Update: jsonDoc(`{"$set": {"n": 0}}`)},
				Options:    &pb.FindOneAndUpdateOptions{ReturnDocument: 7}})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "options.return_document"},
		{"bad bulk model", func(ctx context.Context) error {
			_, err := g.docs.BulkWrite(ctx, &pb.BulkWriteRequest{Namespace: ns, Models: []*pb.WriteModel{
				{Model: &pb.WriteModel_InsertOne{InsertOne: &pb.InsertOneModel{Document: jsonDoc(`{}`)}}},
				{Model: &pb.WriteModel_UpdateOne{UpdateOne: &pb.UpdateOneModel{Filter: jsonDoc(`{}`),
					UpdateSpec: &pb.UpdateOneModel_Update{Update: jsonDoc(`{"n": 0}`)}}}},
			}})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "models[1].update_one.update"},
		{"unknown response format", func(ctx context.Context) error {
			_, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{Namespace: ns, Document: jsonDoc(`{}`), ResponseFormat: 9})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "response_format"},
		{"unknown client", func(ctx context.Context) error {
			_, err := g.docs.InsertOne(ctx, &pb.InsertOneRequest{Client: "nope", Namespace: ns, Document: jsonDoc(`{}`)})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "client"},
		{"$where", func(ctx context.Context) error {
			_, err := g.docs.DeleteMany(ctx, &pb.DeleteManyRequest{Namespace: ns, Filter: jsonDoc(`{"$where": "true"}`)})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR, "filter"},
		{"$function in update pipeline", func(ctx context.Context) error {
			_, err := g.docs.UpdateMany(ctx, &pb.UpdateManyRequest{Namespace: ns, Filter: jsonDoc(`{}`),
				UpdateSpec: &pb.UpdateManyRequest_UpdatePipeline{UpdatePipeline: &pb.Pipeline{Stages: []*pb.Document{
					jsonDoc(`{"$set": {"n": {"$function": {"body": "function() { return 1 }", "args": [], "lang": "js"}}}}`)}}}})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR, "update_pipeline.stages[0]"},
		{"$accumulator in aggregate", func(ctx context.Context) error {
			stream, err := g.docs.Aggregate(ctx, &pb.AggregateRequest{Namespace: ns, Pipeline: []*pb.Document{
				jsonDoc(`{"$match": {}}`),
				jsonDoc(`{"$group": {"_id": null, "x": {"$accumulator": {"init": "function() {}", "accumulate": "", "accumulateArgs": [], "merge": "", "lang": "js"}}}}`),
				jsonDoc(`{"$out": "c"}`)}})
			if err == nil {
				_, err = stream.Recv()
			}
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR, "pipeline[1]"},
		{"w:0 with a session", func(ctx context.Context) error {
			_, err := g.docs.DeleteMany(ctx, &pb.DeleteManyRequest{SessionToken: token, Namespace: ns, Filter: jsonDoc(`{}`), WriteConcern: w0})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "write_concern"},
		{"w:0 with journal", func(ctx context.Context) error {
			j := true
			_, err := g.docs.DeleteMany(ctx, &pb.DeleteManyRequest{Namespace: ns, Filter: jsonDoc(`{}`),
				WriteConcern: &pb.WriteConcern{W: &pb.WriteConcern_WNodes{WNodes: 0}, Journal: &j}})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "write_concern"},
		{"unknown token", func(ctx context.Context) error {
			_, err := g.docs.DeleteMany(ctx, &pb.DeleteManyRequest{SessionToken: "test-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Namespace: ns, Filter: jsonDoc(`{}`)})
			return err
		}, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND, ""},
		{"unknown token on a stream", func(ctx context.Context) error {
			stream, err := g.docs.Aggregate(ctx, &pb.AggregateRequest{SessionToken: "nope", Namespace: ns,
				Pipeline: []*pb.Document{jsonDoc(`{"$out": "c"}`)}})
			if err == nil {
				_, err = stream.Recv()
			}
			return err
		}, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND, ""},
		{"oversize document", func(ctx context.Context) error {
			_, err := g.docs.ReplaceOne(ctx, &pb.ReplaceOneRequest{Namespace: ns, Filter: jsonDoc(`{"_id": 1}`), Replacement: jsonDoc(huge)})
			return err
		}, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "replacement"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.call(testCtx(t)), tc.code, tc.reason, tc.field)
			if after := contents(t, coll); !slices.Equal(after, before) {
				t.Fatalf("collection changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestSplitMessages(t *testing.T) {
	doc := func(n int) *pb.Document { return &pb.Document{Value: &pb.Document_Json{Json: strings.Repeat("x", n)}} }
	tests := []struct {
		name  string
		sizes []int
		want  []int // documents per message
	}{
		{"empty batch is one empty message", nil, []int{0}},
		{"small batch stays whole", []int{10, 10, 10}, []int{3}},
		{"splits at the budget", []int{60, 60, 60}, []int{1, 1, 1}},
		{"two fit, third does not", []int{40, 40, 40}, []int{2, 1}},
		{"oversize document alone", []int{10, 500, 10}, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var docs []*pb.Document
			for _, n := range tt.sizes {
				docs = append(docs, doc(n))
			}
			var got []int
			for _, part := range server.SplitMessages(docs, 100) {
				got = append(got, len(part))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("message sizes %v, want %v", got, tt.want)
			}
		})
	}
}
