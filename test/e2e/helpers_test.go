package e2e

import (
	"context"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// errorDomain is the ErrorInfo domain of every mongogate error.
const errorDomain = "mongogate.dev"

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

// wantError checks that err is a mongogate error with code and reason:
// exactly one ErrorInfo, in mongogate's domain. It returns the status for
// further checks.
func wantError(t *testing.T, err error, code codes.Code, reason pb.ErrorReason) *status.Status {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want %v %s", code, reason.Wire())
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("not a gRPC status: %v; want %v %s", err, code, reason.Wire())
	}
	var infos []*errdetails.ErrorInfo
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			infos = append(infos, info)
		}
	}
	if len(infos) != 1 {
		t.Fatalf("got %v with %d ErrorInfo details (message %q), want %v %s with exactly one", st.Code(), len(infos), st.Message(), code, reason.Wire())
	}
	if st.Code() != code || infos[0].GetReason() != reason.Wire() || infos[0].GetDomain() != errorDomain {
		t.Fatalf("got %v %s (domain %q, message %q), want %v %s", st.Code(), infos[0].GetReason(), infos[0].GetDomain(), st.Message(), code, reason.Wire())
	}
	return st
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

// retryInfo is the status's RetryInfo detail, or nil.
func retryInfo(st *status.Status) *errdetails.RetryInfo {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri
		}
	}
	return nil
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
	resp, err := s.sessions.StartSession(ctx, &pb.StartSessionRequest{})
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
	resp, err := s.txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token})
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
	_, err := s.docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns, Document: jsonDoc(doc)})
	if err != nil {
		t.Fatalf("InsertOne %s: %v", doc, err)
	}
}

// findOne runs FindOne with filter (Extended JSON), in token's session if
// token is set, and returns the canonical Extended JSON of the document
// found, or "" if none matched.
func (s *serverProc) findOne(ctx context.Context, t *testing.T, token string, ns *pb.Namespace, filter string) string {
	t.Helper()
	resp, err := s.docs.FindOne(ctx, &pb.FindOneRequest{SessionToken: token, Namespace: ns, Filter: jsonDoc(filter)})
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
	resp, err := s.txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: number})
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
	resp, err := s.sessions.GetSession(ctx, &pb.GetSessionRequest{SessionToken: token})
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	return resp.GetSession().GetLastTransaction().GetOutcome()
}
