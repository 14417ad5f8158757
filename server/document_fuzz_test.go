package server

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/mongogate/mongogate/backend"
	"github.com/mongogate/mongogate/crud"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/sessions"
)

// docRPC is one DocumentService method for the fuzzer: how to make its
// request, call the handler, and run the same conversion and validation
// the handler runs before it needs the backend (the oracle).
type docRPC struct {
	name     string
	newReq   func() proto.Message
	call     func(ctx context.Context, h *documentService, req proto.Message) error
	validate func(req proto.Message) error
	seeds    []string // protojson
}

// validated is the oracle's common tail, in the handler's order: the
// conversion, then runOne's write concern and format checks, then crud's
// Validate.
func validated(convErr error, op interface{ Validate() error }, wc *pb.WriteConcern, f pb.DocumentFormat) error {
	if convErr != nil {
		return convErr
	}
	if _, err := writeConcernFromProto("write_concern", wc); err != nil {
		return err
	}
	if _, err := formatFromProto(f); err != nil {
		return err
	}
	return op.Validate()
}

// unary adapts a typed unary handler and its oracle.
func unary[Q proto.Message, P any](name string, h func(*documentService, context.Context, Q) (P, error),
	validate func(Q) error, seeds ...string,
) docRPC {
	return docRPC{
		name:   name,
		newReq: func() proto.Message { var q Q; return q.ProtoReflect().New().Interface() },
		call: func(ctx context.Context, s *documentService, req proto.Message) error {
			_, err := h(s, ctx, req.(Q))
			return err
		},
		validate: func(req proto.Message) error { return validate(req.(Q)) },
		seeds:    seeds,
	}
}

// discardStream is a server stream that accepts and drops every message.
type discardStream[T any] struct {
	grpc.ServerStream
	ctx context.Context
}

func (s discardStream[T]) Context() context.Context { return s.ctx }
func (s discardStream[T]) Send(*T) error            { return nil }

const (
	ns       = `"namespace": {"database": "shop", "collection": "orders"}`
	wcMaj    = `"writeConcern": {"wTag": "majority", "journal": true}`
	paidBSON = `{"bson": "FgAAAAJzdGF0dXMABQAAAHBhaWQAAA=="}` // {"status": "paid"}
)

var docRPCs = []docRPC{
	unary("InsertOne", (*documentService).InsertOne, func(r *pb.InsertOneRequest) error {
		op, err := insertOneFromProto(r)
		return validated(err, op, r.GetWriteConcern(), r.GetResponseFormat())
	},
		`{`+ns+`, "document": {"json": "{\"_id\": {\"$oid\": \"64b7f0c2a1b2c3d4e5f60718\"}, \"n\": {\"$numberLong\": \"7\"}}"}, `+wcMaj+`, "responseFormat": "DOCUMENT_FORMAT_JSON_RELAXED"}`,
		`{`+ns+`, "document": `+paidBSON+`, "options": {"bypassDocumentValidation": true, "comment": "c"}, "writeConcern": {"wNodes": 0}}`,
		`{`+ns+`, "document": {"json": "{\"$where\": 1}"}}`,
		`{"namespace": {"database": "a.b", "collection": "system.x"}, "document": {"json": "{}"}}`,
		`{"sessionToken": "fuzz.AAAAAAAAAAAAAAAAAAAAAA", `+ns+`, "document": {"json": "{}"}, "writeConcern": {"wNodes": 0}}`,
		`{"client": "reporting", `+ns+`, "document": {"json": "{}"}}`,
	),
	unary("InsertMany", (*documentService).InsertMany, func(r *pb.InsertManyRequest) error {
		op, err := insertManyFromProto(r)
		return validated(err, op, r.GetWriteConcern(), r.GetResponseFormat())
	},
		`{`+ns+`, "documents": [{"json": "{\"a\": 1}"}, `+paidBSON+`], "options": {"ordered": false}, "responseFormat": "DOCUMENT_FORMAT_BSON"}`,
		`{`+ns+`, "documents": [], "writeConcern": {"wNodes": -1}}`,
	),
	unary("FindOne", (*documentService).FindOne, func(r *pb.FindOneRequest) error {
		op, err := findOneFromProto(r)
		return validated(err, op, nil, r.GetResponseFormat())
	},
		`{`+ns+`, "filter": {"json": "{\"status\": {\"$in\": [\"A\", \"D\"]}}"}, "options": {"projection": {"json": "{\"_id\": 0}"}, "sort": {"json": "{\"ts\": -1}"}, "skip": "2", "hintName": "status_1", "maxTime": "1.5s", "collation": {"json": "{\"locale\": \"fr\", \"strength\": 2}"}}}`,
		`{`+ns+`, "filter": {"json": "{\"a\": 1"}, "options": {"maxTime": "-1s"}}`,
		`{`+ns+`, "options": {"hint": {"json": "{}"}, "skip": "-1"}, "responseFormat": 9}`,
	),
	{
		name:   "Find",
		newReq: func() proto.Message { return &pb.FindRequest{} },
		call: func(ctx context.Context, h *documentService, req proto.Message) error {
			return h.Find(req.(*pb.FindRequest), discardStream[pb.FindResponse]{ctx: ctx})
		},
		validate: func(req proto.Message) error {
			r := req.(*pb.FindRequest)
			op, err := findFromProto(r)
			return validated(err, op, nil, r.GetResponseFormat())
		},
		seeds: []string{
			`{` + ns + `, "filter": {"json": "{\"$or\": [{\"qty\": {\"$lt\": 30}}, {\"item\": {\"$regex\": \"^p\"}}]}"}, "options": {"limit": "10", "batchSize": 3, "let": {"json": "{\"x\": 1}"}, "allowDiskUse": true}}`,
			`{` + ns + `, "options": {"batchSize": -1, "limit": "-5", "hint": {"json": "{\"a\": 1}"}}}`,
		},
	},
	unary("UpdateOne", (*documentService).UpdateOne, func(r *pb.UpdateOneRequest) error {
		op, err := updateOneFromProto(r)
		return validated(err, op, r.GetWriteConcern(), r.GetResponseFormat())
	},
		`{`+ns+`, "filter": {"json": "{\"_id\": 1}"}, "update": {"json": "{\"$set\": {\"a.$[e]\": 1}}"}, "options": {"upsert": true, "arrayFilters": [{"json": "{\"e\": {\"$gt\": 1}}"}]}, `+wcMaj+`}`,
		`{`+ns+`, "filter": {"json": "{}"}, "update": {"json": "{\"a\": 1}"}}`,
	),
	unary("UpdateMany", (*documentService).UpdateMany, func(r *pb.UpdateManyRequest) error {
		op, err := updateManyFromProto(r)
		return validated(err, op, r.GetWriteConcern(), r.GetResponseFormat())
	},
		`{`+ns+`, "filter": {"json": "{}"}, "updatePipeline": {"stages": [{"json": "{\"$set\": {\"total\": {\"$add\": [\"$a\", \"$b\"]}}}"}]}}`,
		`{`+ns+`, "filter": {"json": "{}"}, "updatePipeline": {"stages": [{"json": "{\"$set\": {}, \"$unset\": \"a\"}"}]}}`,
	),
	unary("ReplaceOne", (*documentService).ReplaceOne, func(r *pb.ReplaceOneRequest) error {
		op, err := replaceOneFromProto(r)
		return validated(err, op, r.GetWriteConcern(), r.GetResponseFormat())
	},
		`{`+ns+`, "filter": {"json": "{\"_id\": 1}"}, "replacement": {"json": "{\"a\": 2}"}, "options": {"upsert": true, "let": {"json": "{}"}}}`,
		`{`+ns+`, "filter": {"json": "{}"}, "replacement": {"json": "{\"$set\": {\"a\": 1}}"}}`,
	),
	unary("DeleteOne", (*documentService).DeleteOne, func(r *pb.DeleteOneRequest) error {
		op, err := deleteOneFromProto(r)
		return validated(err, op, r.GetWriteConcern(), 0)
	},
		`{`+ns+`, "filter": `+paidBSON+`, "options": {"hint": {"json": "{\"status\": 1}"}, "collation": {"json": "{\"locale\": \"en\"}"}}}`,
	),
	unary("DeleteMany", (*documentService).DeleteMany, func(r *pb.DeleteManyRequest) error {
		op, err := deleteManyFromProto(r)
		return validated(err, op, r.GetWriteConcern(), 0)
	},
		`{`+ns+`, "filter": {"json": "{\"$expr\": {\"$function\": {}}}"}}`,
		`{`+ns+`, "filter": {"json": "{}"}, "writeConcern": {"wNodes": 0, "journal": true}}`,
	),
	unary("FindOneAndUpdate", (*documentService).FindOneAndUpdate, func(r *pb.FindOneAndUpdateRequest) error {
		op, err := findOneAndUpdateFromProto(r)
		return validated(err, op, r.GetWriteConcern(), r.GetResponseFormat())
	},
		`{`+ns+`, "filter": {"json": "{\"_id\": 1}"}, "update": {"json": "{\"$inc\": {\"n\": 1}}"}, "options": {"returnDocument": "RETURN_DOCUMENT_AFTER", "upsert": true, "sort": {"json": "{\"n\": 1}"}}}`,
		`{`+ns+`, "filter": {"json": "{}"}, "update": {"json": "{\"$inc\": {\"n\": 1}}"}, "options": {"returnDocument": 7}}`,
	),
	unary("FindOneAndReplace", (*documentService).FindOneAndReplace, func(r *pb.FindOneAndReplaceRequest) error {
		op, err := findOneAndReplaceFromProto(r)
		return validated(err, op, r.GetWriteConcern(), r.GetResponseFormat())
	},
		`{`+ns+`, "filter": {"json": "{\"_id\": 1}"}, "replacement": {"json": "{\"a\": 1}"}, "options": {"projection": {"json": "{\"a\": 1}"}}}`,
	),
	unary("FindOneAndDelete", (*documentService).FindOneAndDelete, func(r *pb.FindOneAndDeleteRequest) error {
		op, err := findOneAndDeleteFromProto(r)
		return validated(err, op, r.GetWriteConcern(), r.GetResponseFormat())
	},
		`{`+ns+`, "filter": {"json": "{\"a\": {\"$elemMatch\": {\"b\": 1}}}"}, "options": {"hintName": "a_1", "comment": "x"}}`,
	),
	unary("CountDocuments", (*documentService).CountDocuments, func(r *pb.CountDocumentsRequest) error {
		op, err := countDocumentsFromProto(r)
		return validated(err, op, nil, 0)
	},
		`{`+ns+`, "filter": {"json": "{\"a\": {\"$gte\": 1}}"}, "options": {"skip": "1", "limit": "5", "maxTime": "2s"}}`,
		`{`+ns+`, "options": {"limit": "-1", "maxTime": "0s"}}`,
	),
	unary("Distinct", (*documentService).Distinct, func(r *pb.DistinctRequest) error {
		op, err := distinctFromProto(r)
		return validated(err, op, nil, r.GetResponseFormat())
	},
		`{`+ns+`, "fieldName": "status", "filter": {"json": "{}"}, "options": {"collation": {"json": "{\"locale\": \"de\", \"caseLevel\": true}"}}}`,
		`{`+ns+`, "fieldName": ""}`,
	),
	{
		name:   "Aggregate",
		newReq: func() proto.Message { return &pb.AggregateRequest{} },
		call: func(ctx context.Context, h *documentService, req proto.Message) error {
			return h.Aggregate(req.(*pb.AggregateRequest), discardStream[pb.AggregateResponse]{ctx: ctx})
		},
		validate: func(req proto.Message) error {
			r := req.(*pb.AggregateRequest)
			op, err := aggregateFromProto(r)
			return validated(err, op, r.GetWriteConcern(), r.GetResponseFormat())
		},
		seeds: []string{
			`{` + ns + `, "pipeline": [{"json": "{\"$match\": {\"a\": 1}}"}, {"json": "{\"$group\": {\"_id\": \"$k\", \"n\": {\"$sum\": 1}}}"}, {"json": "{\"$out\": \"x\"}"}], "options": {"allowDiskUse": true, "batchSize": 10}, ` + wcMaj + `}`,
			`{` + ns + `, "pipeline": [{"json": "{\"$group\": {\"_id\": 1, \"x\": {\"$accumulator\": {}}}}"}]}`,
			`{` + ns + `, "pipeline": [{"json": "{}"}]}`,
		},
	},
	unary("BulkWrite", (*documentService).BulkWrite, func(r *pb.BulkWriteRequest) error {
		op, err := bulkWriteFromProto(r)
		return validated(err, op, r.GetWriteConcern(), r.GetResponseFormat())
	},
		`{`+ns+`, "models": [{"insertOne": {"document": {"json": "{\"a\": 1}"}}}, {"updateOne": {"filter": {"json": "{}"}, "update": {"json": "{\"$set\": {\"b\": 1}}"}, "upsert": true}}, {"updateMany": {"filter": {"json": "{}"}, "updatePipeline": {"stages": [{"json": "{\"$set\": {\"c\": 1}}"}]}}}, {"replaceOne": {"filter": {"json": "{}"}, "replacement": {"json": "{}"}, "hintName": "x"}}, {"deleteOne": {"filter": {"json": "{}"}}}, {"deleteMany": {"filter": {"json": "{}"}, "collation": {"json": "{\"locale\": \"fr\"}"}}}], "options": {"ordered": false, "let": {"json": "{}"}}}`,
		`{`+ns+`, "models": [{}, {"deleteOne": {}}]}`,
		`{`+ns+`}`,
	),
}

// offlineGate is the part of a Server that validation needs: its only
// backend cannot be reached, so that a request that passes validation
// fails fast (its context is already cancelled) instead of running, and
// its registry holds no session, so that every token is unknown. No
// transaction can start, so there is no transaction manager; a whole
// server is gateway's to build.
func offlineGate(t testing.TB) *documentService {
	t.Helper()
	reg, err := sessions.New(sessions.Config{InstanceID: "fuzz"})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1").
		SetServerSelectionTimeout(time.Second).SetConnectTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = reg.Close(ctx)
		_ = mc.Disconnect(ctx)
	})
	s := &Server{
		backends: mustBackends(t, &backend.Backend{Name: backend.Default, Client: mc, Transactions: true}),
		reg:      reg,
		log:      slog.New(slog.DiscardHandler),
	}
	return &documentService{s: s}
}

// FuzzDocumentRequests decodes fuzz bytes as a DocumentService request
// and calls its handler. Whatever the request, the handler does not
// panic and fails with an error that the status guard turns into a
// status carrying exactly one ErrorInfo (domain
// mongogate.dev, a reason); a request the conversion and crud validation
// refuse is INVALID_ARGUMENT (reason INVALID_ARGUMENT, or
// FORBIDDEN_OPERATOR for server-side JavaScript), and one they accept is
// not refused as invalid: it got as far as the (unreachable) backend.
func FuzzDocumentRequests(f *testing.F) {
	for i, rpc := range docRPCs {
		for _, s := range rpc.seeds {
			req := rpc.newReq()
			if err := protojson.Unmarshal([]byte(s), req); err != nil {
				f.Fatalf("%s seed %s: %v", rpc.name, s, err)
			}
			b, err := proto.Marshal(req)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), b)
		}
	}
	h := offlineGate(f)
	ctx, cancel := context.WithCancel(withPrincipal(context.Background(), AnonymousPrincipal))
	cancel()
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		rpc := docRPCs[int(kind)%len(docRPCs)]
		req := rpc.newReq()
		if proto.Unmarshal(data, req) != nil {
			return
		}
		err := mapErr(t, rpc.call(ctx, h, req)) // as the status guard sends it
		if err == nil {
			t.Fatalf("%s succeeded with a cancelled context and no backend: %v", rpc.name, req)
		}
		code, reason := wantOneErrorInfo(t, err)
		if code == codes.InvalidArgument && reason != pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT.Wire() && reason != pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR.Wire() {
			t.Fatalf("%s: INVALID_ARGUMENT with reason %s", rpc.name, reason)
		}
		// The oracle applies when nothing before validation can fail:
		// no session to look up, the default backend.
		sr := req.(sessionRequest)
		if sr.GetSessionToken() != "" || (sr.GetClient() != "" && sr.GetClient() != backend.Default) {
			return
		}
		verr := rpc.validate(req)
		switch {
		case verr == nil && code == codes.InvalidArgument:
			t.Fatalf("%s: validation accepts the request but the handler refused it: %v\nrequest: %v", rpc.name, err, req)
		case verr != nil && code != codes.InvalidArgument:
			t.Fatalf("%s: validation refuses the request (%v) but the handler said %v", rpc.name, verr, err)
		case errors.Is(verr, crud.ErrForbiddenOperator) != (reason == pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR.Wire()):
			t.Fatalf("%s: validation says %v, the handler %v", rpc.name, verr, err)
		}
	})
}

// wantOneErrorInfo asserts err is a non-OK gRPC status with exactly one
// ErrorInfo, in mongogate's domain with a reason, and returns the code
// and reason.
func wantOneErrorInfo(t *testing.T, err error) (codes.Code, string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		t.Fatalf("error %v (%T) is not a gRPC status", err, err)
	}
	var infos []*errdetails.ErrorInfo
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			infos = append(infos, ei)
		}
	}
	if len(infos) != 1 {
		t.Fatalf("status %v has %d ErrorInfo details, want 1", st.Proto(), len(infos))
	}
	if infos[0].GetDomain() != errorDomain || infos[0].GetReason() == "" {
		t.Fatalf("ErrorInfo %v: want domain %s and a reason", infos[0], errorDomain)
	}
	return st.Code(), infos[0].GetReason()
}

func mustBackends(t testing.TB, bs ...*backend.Backend) *backend.Set {
	t.Helper()
	set, err := backend.NewSet(bs...)
	if err != nil {
		t.Fatal(err)
	}
	return set
}
