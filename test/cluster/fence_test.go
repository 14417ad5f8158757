package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
	"github.com/mongogate/mongogate/server"
)

// fastHeartbeat keeps the pause of TestPausedOwnerFenced short: peers
// declare an instance dead after three of them.
const fastHeartbeat = 500 * time.Millisecond

// An instance paused (SIGSTOP, as a GC pause or a VM freeze would) with
// a transaction it began just before the pause, so that no heartbeat
// listed it, and with that transaction's commit waiting in its socket:
// its peers answer for the transaction (ABORTED, from its outcome record,
// which they fence) and for its session (a retryable UNAVAILABLE while it
// is only unreachable, SESSION_OWNER_GONE once they reclaimed it). When
// it resumes, the commit it then reads does not commit, with or without
// an outcome record; it serves none of its old sessions, answering
// SESSION_OWNER_GONE for them itself, and registers under a new id, which
// its new sessions carry.
func TestPausedOwnerFenced(t *testing.T) {
	for _, record := range []bool{true, false} {
		t.Run(fmt.Sprintf("record_outcome %v", record), func(t *testing.T) {
			testPausedOwnerFenced(t, record)
		})
	}
}

func testPausedOwnerFenced(t *testing.T, record bool) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(keys, []byte("alice "+server.HashAPIKey(aliceKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := proctest.StartCluster(t, bins, 3, "--api-keys", keys, "--heartbeat-interval", fastHeartbeat.String())
	owner, peer := testkit.MustStubs(t, c.Servers[0].Addr), testkit.MustStubs(t, c.Servers[1].Addr)
	db := testbackend.DBName(t)
	ns := &pb.Namespace{Database: db, Collection: "items"}
	mc := testbackend.Client(t, c.URI)
	ctx := ctxAs(t, aliceKey)

	start, err := owner.Sessions.StartSession(ctx, &pb.StartSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	token := start.GetSession().GetToken()
	st, err := owner.Txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token, Options: &pb.TransactionOptions{RecordOutcome: &record}})
	if err != nil {
		t.Fatal(err)
	}
	number := st.GetTransactionNumber()
	if _, err := owner.Docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns, Document: doc(`{"_id": "z"}`)}); err != nil {
		t.Fatal(err)
	}
	paused := c.Servers[0]
	if err := paused.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, paused.Pid())
	stopped := time.Now()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = paused.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	// The client's commit reaches the paused instance's socket; it is read
	// when the instance resumes.
	commitDone := make(chan error, 1)
	go func() {
		_, err := owner.Txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: number})
		commitDone <- err
	}()

	// Unreachable is not gone: retry, until the peers reclaim it. (With
	// heartbeats this fast, dead turns into gone within a directory read,
	// so the first answer may already be SESSION_OWNER_GONE.)
	for {
		_, err := peer.Sessions.GetSession(ctx, &pb.GetSessionRequest{SessionToken: token})
		if testkit.IsReason(err, codes.Unavailable, pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE) {
			continue
		}
		testkit.WantReason(t, "GetSession through a peer while the owner is paused", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE)
		if st := entry(t, mc, "mg-test-0").State; st != "gone" {
			t.Fatalf("SESSION_OWNER_GONE from a peer while the owner's entry is %q, not a tombstone", st)
		}
		break
	}
	t.Logf("SESSION_OWNER_GONE from a peer %v after the pause", time.Since(stopped).Round(time.Millisecond))
	if record {
		// A peer answers without the owner, gone or not: it fences the
		// transaction's record.
		resp, err := peer.Txns.GetTransactionOutcome(ctx, &pb.GetTransactionOutcomeRequest{SessionToken: token, TransactionNumber: number})
		if err != nil || resp.GetOutcome() != pb.TransactionOutcome_TRANSACTION_OUTCOME_ABORTED || !resp.GetFromRecord() {
			t.Fatalf("GetTransactionOutcome from a peer while the owner is paused = %v, %v; want ABORTED from the record", resp, err)
		}
	}
	if open := entry(t, mc, "mg-test-0").Open; len(open) > 0 {
		t.Logf("the transaction was listed (%d open) after all: it began less than a heartbeat before the pause only by luck", len(open))
	}
	time.Sleep(fastHeartbeat) // paused well past three heartbeats
	resume()

	select {
	case err := <-commitDone:
		if err == nil {
			t.Fatal("the commit read after the resume committed, after a peer answered for its transaction")
		}
		t.Logf("the commit read after the resume answered %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the commit sent during the pause was not answered after the resume")
	}
	testkit.WaitFor(t, 10*time.Second, "the resumed instance answering SESSION_OWNER_GONE for its old session", func() error {
		_, err := owner.Sessions.GetSession(ctx, &pb.GetSessionRequest{SessionToken: token})
		if !testkit.IsReason(err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE) {
			return fmt.Errorf("GetSession answers %v", err)
		}
		return nil
	})
	_, err = owner.Txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: number})
	testkit.WantReason(t, "CommitTransaction on the resumed instance", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE)

	var renamed string
	testkit.WaitFor(t, 10*time.Second, "a session of the resumed instance under a new id", func() error {
		fresh, err := owner.Sessions.StartSession(ctx, &pb.StartSessionRequest{})
		if err != nil {
			return err
		}
		renamed, _, _ = strings.Cut(fresh.GetSession().GetToken(), ".")
		if renamed == "mg-test-0" {
			return errors.New("its new sessions still carry its old id")
		}
		return nil
	})
	if !strings.HasPrefix(renamed, "mg-test-0-") {
		t.Errorf("new id %q, want mg-test-0-<suffix>", renamed)
	}
	if st := entry(t, mc, renamed).State; st != "live" {
		t.Errorf("the new id's directory entry is %q, want live", st)
	}
	if st := entry(t, mc, "mg-test-0").State; st != "gone" {
		t.Errorf("the old id's directory entry is %q, want gone", st)
	}
	if record {
		for i, s := range c.Servers {
			resp, err := testkit.MustStubs(t, s.Addr).Txns.GetTransactionOutcome(ctx, &pb.GetTransactionOutcomeRequest{SessionToken: token, TransactionNumber: number})
			if err != nil || resp.GetOutcome() != pb.TransactionOutcome_TRANSACTION_OUTCOME_ABORTED {
				t.Errorf("GetTransactionOutcome from instance %d after the resume = %v, %v; want ABORTED", i, resp, err)
			}
		}
	}
	// Nothing of the transaction ever shows, even once MongoDB has had
	// time to apply anything still in flight.
	for range 4 {
		if n := count(t, mc, db, "items", bson.D{{Key: "_id", Value: "z"}}); n != 0 {
			t.Fatal("the paused instance's transaction committed after its peers answered for it")
		}
		time.Sleep(fastHeartbeat)
	}
}

// waitStopped waits until every thread of process pid is stopped
// (SIGSTOP is delivered asynchronously).
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	testkit.WaitFor(t, 5*time.Second, "the process stopping", func() error {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		if err != nil || len(tasks) == 0 {
			return fmt.Errorf("no threads: %v", err)
		}
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			if err != nil {
				return err
			}
			// pid (comm) state ...: comm may hold spaces, the state
			// follows the last parenthesis.
			i := strings.LastIndexByte(string(b), ')')
			if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				return fmt.Errorf("%s is not stopped", task)
			}
		}
		return nil
	})
}
