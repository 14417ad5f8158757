package e2e

import (
	"context"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// testCtx bounds one test's RPCs.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// withKey sends an API key as "authorization: Bearer <key>".
func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// badRequestFields lists the fields a BadRequest detail names.
func badRequestFields(st *status.Status) []string {
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

// jsonDoc is a Document given as Extended JSON.
func jsonDoc(s string) *pb.Document {
	return &pb.Document{Value: &pb.Document_Json{Json: s}}
}

func namespace(db, coll string) *pb.Namespace {
	return &pb.Namespace{Database: db, Collection: coll}
}

// mustStartSession starts a session with default options and returns its
// token.
func (s *serverProc) mustStartSession(ctx context.Context, t *testing.T) string {
	t.Helper()
	resp, err := s.Sessions.StartSession(ctx, &pb.StartSessionRequest{})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	if resp.GetSession().GetToken() == "" {
		t.Fatalf("StartSession returned no token: %v", resp)
	}
	return resp.GetSession().GetToken()
}

// mustStartTransaction opens a transaction on token and returns its
// number.
func (s *serverProc) mustStartTransaction(ctx context.Context, t *testing.T, token string) int64 {
	t.Helper()
	resp, err := s.Txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token})
	if err != nil {
		t.Fatalf("StartTransaction: %v", err)
	}
	if resp.GetDepth() != 1 || resp.GetTransactionNumber() < 1 {
		t.Fatalf("StartTransaction = number %d depth %d, want a new transaction at depth 1", resp.GetTransactionNumber(), resp.GetDepth())
	}
	return resp.GetTransactionNumber()
}

// mustInsert inserts doc (Extended JSON) into ns, in token's session if
// token is set.
func (s *serverProc) mustInsert(ctx context.Context, t *testing.T, token string, ns *pb.Namespace, doc string) {
	t.Helper()
	_, err := s.Docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns, Document: jsonDoc(doc)})
	if err != nil {
		t.Fatalf("InsertOne %s: %v", doc, err)
	}
}

// findOne runs FindOne with filter (Extended JSON), in token's session if
// token is set, and returns the canonical Extended JSON of the document
// found, or "" if none matched.
func (s *serverProc) findOne(ctx context.Context, t *testing.T, token string, ns *pb.Namespace, filter string) string {
	t.Helper()
	resp, err := s.Docs.FindOne(ctx, &pb.FindOneRequest{SessionToken: token, Namespace: ns, Filter: jsonDoc(filter)})
	if err != nil {
		t.Fatalf("FindOne %s: %v", filter, err)
	}
	if resp.GetDocument() == nil {
		return ""
	}
	return resp.GetDocument().GetJson()
}

// mustCommit commits transaction number on token and checks that it is
// committed.
func (s *serverProc) mustCommit(ctx context.Context, t *testing.T, token string, number int64) {
	t.Helper()
	resp, err := s.Txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: number})
	if err != nil {
		t.Fatalf("CommitTransaction %d: %v", number, err)
	}
	if !resp.GetCommitted() || resp.GetDepth() != 0 || resp.GetTransactionNumber() != number {
		t.Fatalf("CommitTransaction = %v, want transaction %d committed at depth 0", resp, number)
	}
}

// lastOutcome is GetSession's outcome of token's last transaction.
func (s *serverProc) lastOutcome(ctx context.Context, t *testing.T, token string) pb.TransactionOutcome {
	t.Helper()
	resp, err := s.Sessions.GetSession(ctx, &pb.GetSessionRequest{SessionToken: token})
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	return resp.GetSession().GetLastTransaction().GetOutcome()
}
