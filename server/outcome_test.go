package server_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mongogate/mongogate/directory"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
	"github.com/mongogate/mongogate/txn"
)

func TestTransactionOutcome(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	keys := mustKeys(t)
	a := mustInstance(t, uri, db, "inst-a", instanceConfig{secret: testPeerSecret, apiKeys: keys})
	b := mustInstance(t, uri, db, "inst-b", instanceConfig{secret: testPeerSecret, apiKeys: keys})
	ctx := as(testCtx(t), aliceKey)
	ns := &pb.Namespace{Database: db, Collection: "items"}
	record := true
	outcomeOf := func(in *instance, token string, n int64) (pb.TransactionOutcome, bool, error) {
		resp, err := in.txns.GetTransactionOutcome(ctx, &pb.GetTransactionOutcomeRequest{SessionToken: token, TransactionNumber: n})
		return resp.GetOutcome(), resp.GetFromRecord(), err
	}
	want := func(what string, in *instance, token string, n int64, o pb.TransactionOutcome, fromRecord bool) {
		t.Helper()
		got, rec, err := outcomeOf(in, token, n)
		if err != nil || got != o || rec != fromRecord {
			t.Fatalf("%s: %v (from record %v), %v; want %v (from record %v)", what, got, rec, err, o, fromRecord)
		}
	}
	start, err := a.sess.StartSession(ctx, &pb.StartSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	token := start.GetSession().GetToken()
	begin := func() int64 {
		t.Helper()
		st, err := a.txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token, Options: &pb.TransactionOptions{RecordOutcome: &record}})
		if err != nil {
			t.Fatal(err)
		}
		return st.GetTransactionNumber()
	}
	insert := func(id string) {
		t.Helper()
		if _, err := a.docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns, Document: jsonDoc(`{"_id": "` + id + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}

	n1 := begin()
	insert("one")
	want("open, on the owner", a, token, n1, pb.TransactionOutcome_TRANSACTION_OUTCOME_IN_PROGRESS, false)
	want("open, through another instance", b, token, n1, pb.TransactionOutcome_TRANSACTION_OUTCOME_IN_PROGRESS, false)
	if _, err := a.txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: n1}); err != nil {
		t.Fatal(err)
	}
	want("committed", b, token, n1, pb.TransactionOutcome_TRANSACTION_OUTCOME_COMMITTED, false)
	n2 := begin()
	insert("two")
	if _, err := a.txns.AbortTransaction(ctx, &pb.AbortTransactionRequest{SessionToken: token, TransactionNumber: n2}); err != nil {
		t.Fatal(err)
	}
	want("aborted", a, token, n2, pb.TransactionOutcome_TRANSACTION_OUTCOME_ABORTED, false)
	// An earlier transaction: only its record can tell.
	want("an earlier committed one", a, token, n1, pb.TransactionOutcome_TRANSACTION_OUTCOME_COMMITTED, true)
	_, _, err = outcomeOf(a, token, n2+1)
	wantReason(t, "a transaction not started yet", err, codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_NO_TRANSACTION)
	_, _, err = outcomeOf(a, token, 0)
	wantReason(t, "transaction 0", err, codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT)
	_, err = a.txns.GetTransactionOutcome(as(testCtx(t), bobKey), &pb.GetTransactionOutcomeRequest{SessionToken: token, TransactionNumber: n1})
	wantReason(t, "another principal", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND)

	// One that records nothing, between recording ones.
	no := false
	plain, err := a.txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token, Options: &pb.TransactionOptions{RecordOutcome: &no}})
	if err != nil {
		t.Fatal(err)
	}
	insert("plain")
	if _, err := a.txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: plain.GetTransactionNumber()}); err != nil {
		t.Fatal(err)
	}

	// Once the owner is gone (and reclaimed), the records answer.
	n3 := begin()
	insert("three")
	listed := txn.OutcomeID(token, n3)
	testkit.WaitFor(t, 10*time.Second, "a heartbeat of a listing transaction "+listed+", as b reads it", func() error {
		inst, _, err := b.dir.Lookup(ctx, "inst-a")
		if err != nil {
			return err
		}
		for _, o := range inst.Open {
			if o.Outcome == listed {
				return nil
			}
		}
		return fmt.Errorf("a's entry lists %+v", inst.Open)
	})
	a.kill()
	testkit.WaitFor(t, 10*time.Second, "a reclaimed", func() error {
		if _, st, err := b.dir.Lookup(ctx, "inst-a"); err != nil || st != directory.Gone {
			return fmt.Errorf("b sees a %v (%v), want gone", st, err)
		}
		return nil
	})
	want("committed, owner gone", b, token, n1, pb.TransactionOutcome_TRANSACTION_OUTCOME_COMMITTED, true)
	want("open when the owner died", b, token, n3, pb.TransactionOutcome_TRANSACTION_OUTCOME_ABORTED, true)
	// It has no record (the client aborted it): b fences it.
	want("aborted before, owner gone (not listed)", b, token, n2, pb.TransactionOutcome_TRANSACTION_OUTCOME_ABORTED, true)
	// Nothing recorded it, and nothing fences it.
	want("recorded none, owner gone", b, token, plain.GetTransactionNumber(), pb.TransactionOutcome_TRANSACTION_OUTCOME_UNKNOWN, false)
	_, err = b.txns.GetTransactionOutcome(as(testCtx(t), bobKey), &pb.GetTransactionOutcomeRequest{SessionToken: token, TransactionNumber: n3})
	wantReason(t, "another principal, owner gone", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND)
	_, err = b.sess.GetSession(ctx, &pb.GetSessionRequest{SessionToken: token})
	wantReason(t, "GetSession, owner gone", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE)
}

// mongogate's own collections are out of every request's reach, reads
// and writes, directly or through an aggregation stage, and with no
// authorization rules configured.
func TestInternalCollectionsRefused(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	a := mustInstance(t, uri, db, "inst-a", instanceConfig{})
	ctx := testCtx(t)
	outcomes := &pb.Namespace{Database: db, Collection: "outcomes"}
	items := &pb.Namespace{Database: db, Collection: "items"}
	_, err := a.docs.DeleteMany(ctx, &pb.DeleteManyRequest{Namespace: outcomes, Filter: jsonDoc(`{}`)})
	wantReason(t, "DeleteMany on the outcome records", err, codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_NAMESPACE_FORBIDDEN)
	_, err = a.docs.FindOne(ctx, &pb.FindOneRequest{Namespace: &pb.Namespace{Database: db, Collection: "instances"}})
	wantReason(t, "FindOne on the directory", err, codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_NAMESPACE_FORBIDDEN)
	stream, err := a.docs.Aggregate(ctx, &pb.AggregateRequest{Namespace: items, Pipeline: []*pb.Document{
		jsonDoc(`{"$lookup": {"from": "instances", "pipeline": [], "as": "x"}}`)}})
	if err == nil {
		_, err = stream.Recv()
	}
	wantReason(t, "$lookup from the directory", err, codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_NAMESPACE_FORBIDDEN)
	if _, err := a.docs.FindOne(ctx, &pb.FindOneRequest{Namespace: items}); err != nil {
		t.Fatalf("FindOne on a user collection: %v", err)
	}
}
