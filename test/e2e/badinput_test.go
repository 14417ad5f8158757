package e2e

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

// Requests the server must refuse, each with its code and reason, and
// without touching the data.
func TestBadInput(t *testing.T) {
	t.Parallel()
	b := mustBackend(t)
	s := mustStartServer(t, b, "--backend", "other="+b.serverURI())
	db := testbackend.DBName(t)
	ns := namespace(db, "items")
	ctx := testCtx(t)

	seed, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.driver.Database(db).Collection("items").InsertOne(seed, bson.D{{Key: "_id", Value: "seed"}}); err != nil {
		t.Fatalf("seed: %v", err)
	}
	token := s.mustStartSession(ctx, t)
	// The backend "other" exists, so a mismatch below is about the session.
	if resp, err := s.Docs.CountDocuments(ctx, &pb.CountDocumentsRequest{Client: "other", Namespace: ns}); err != nil || resp.GetCount() != 1 {
		t.Fatalf("CountDocuments on client other = %v, %v; want 1", resp, err)
	}
	unknownToken := forgeToken(t, token)
	endedToken := s.mustStartSession(ctx, t)
	if _, err := s.Sessions.EndSession(ctx, &pb.EndSessionRequest{SessionToken: endedToken}); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	// More than 16 MiB of BSON, less than the server's 32 MiB messages.
	oversize := `{"_id": "big", "s": "` + strings.Repeat("x", 17<<20) + `"}`
	jsFunction := `{"body": "function() { return true; }", "args": [], "lang": "js"}`
	accumulator := `{"init": "function() { return 0; }", "accumulate": "function(s) { return s; }", "accumulateArgs": [],` +
		` "merge": "function(a, b) { return a; }", "lang": "js"}`

	insert := func(req *pb.InsertOneRequest) func() error {
		return func() error {
			req.Namespace = ns
			_, err := s.Docs.InsertOne(ctx, req)
			return err
		}
	}
	tests := []struct {
		name   string
		call   func() error
		code   codes.Code
		reason pb.ErrorReason
		field  string // the BadRequest field, for INVALID_ARGUMENT
	}{
		{
			name: "malformed JSON",
			call: insert(&pb.InsertOneRequest{Document: jsonDoc(`{"_id": "bad", "n": }`)}),
			code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, field: "document",
		},
		{
			name: "bad Extended JSON value",
			call: insert(&pb.InsertOneRequest{Document: jsonDoc(`{"_id": {"$oid": "not-an-object-id"}}`)}),
			code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, field: "document",
		},
		{
			name: "missing namespace",
			call: func() error {
				_, err := s.Docs.InsertOne(ctx, &pb.InsertOneRequest{Document: jsonDoc(`{"_id": "nowhere"}`)})
				return err
			},
			code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, field: "namespace",
		},
		{
			name: "$where",
			call: func() error {
				_, err := s.Docs.DeleteMany(ctx, &pb.DeleteManyRequest{Namespace: ns, Filter: jsonDoc(`{"$where": "true"}`)})
				return err
			},
			code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR,
		},
		{
			name: "$function",
			call: func() error {
				_, err := s.Docs.UpdateMany(ctx, &pb.UpdateManyRequest{Namespace: ns,
					Filter:     jsonDoc(`{"$expr": {"$function": ` + jsFunction + `}}`),
					UpdateSpec: &pb.UpdateManyRequest_Update{Update: jsonDoc(`{"$set": {"js": true}}`)}})
				return err
			},
			code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR,
		},
		{
			name: "$accumulator",
			call: func() error {
				stream, err := s.Docs.Aggregate(ctx, &pb.AggregateRequest{Namespace: ns, Pipeline: []*pb.Document{
					jsonDoc(`{"$group": {"_id": null, "x": {"$accumulator": ` + accumulator + `}}}`),
				}})
				if err != nil {
					return err
				}
				for {
					if _, err := stream.Recv(); err != nil {
						if errors.Is(err, io.EOF) {
							return nil
						}
						return err
					}
				}
			},
			code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_FORBIDDEN_OPERATOR,
		},
		{
			name: "w:0 with a session",
			call: insert(&pb.InsertOneRequest{SessionToken: token, Document: jsonDoc(`{"_id": "unacknowledged"}`),
				WriteConcern: &pb.WriteConcern{W: &pb.WriteConcern_WNodes{WNodes: 0}}}),
			code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, field: "write_concern",
		},
		{
			name: "session of another backend",
			call: insert(&pb.InsertOneRequest{SessionToken: token, Client: "other", Document: jsonDoc(`{"_id": "elsewhere"}`)}),
			code: codes.FailedPrecondition, reason: pb.ErrorReason_ERROR_REASON_SESSION_CLIENT_MISMATCH,
		},
		{
			name: "document over 16 MiB",
			call: insert(&pb.InsertOneRequest{Document: jsonDoc(oversize)}),
			code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, field: "document",
		},
		{
			name: "unknown token",
			call: insert(&pb.InsertOneRequest{SessionToken: unknownToken, Document: jsonDoc(`{"_id": "stranger"}`)}),
			code: codes.NotFound, reason: pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND,
		},
		{
			name: "ended session's token",
			call: insert(&pb.InsertOneRequest{SessionToken: endedToken, Document: jsonDoc(`{"_id": "late"}`)}),
			code: codes.NotFound, reason: pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := testkit.WantReason(t, tt.name, tt.call(), tt.code, tt.reason)
			if tt.field != "" {
				if fields := badRequestFields(st); !slices.Contains(fields, tt.field) {
					t.Errorf("BadRequest fields %q, want %q among them", fields, tt.field)
				}
			}
			if n := b.count(t, db, "items", nil); n != 1 {
				t.Fatalf("MongoDB has %d documents after the refused request, want the 1 seeded", n)
			}
		})
	}
}

// forgeToken returns a well-formed token of the same instance as token
// whose secret part no session has.
func forgeToken(t *testing.T, token string) string {
	t.Helper()
	instance, secret, ok := strings.Cut(token, ".")
	if !ok {
		t.Fatalf("token %q has no instance prefix", token)
	}
	forged := strings.Repeat("A", len(secret))
	if forged == secret {
		forged = strings.Repeat("B", len(secret))
	}
	return instance + "." + forged
}
