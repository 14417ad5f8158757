package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/grpc/codes"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/clients/go/options"
	"github.com/mongogate/mongogate/directory"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

// commitAppliesButFails makes every commitTransaction apply and then
// report a write concern error, as a primary whose majority cannot
// acknowledge would: the owner keeps retrying a commit MongoDB has
// already applied.
func commitAppliesButFails(t *testing.T, mc *mongo.Client) {
	t.Helper()
	set := func(mode any, data bson.D) {
		cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode}}
		if data != nil {
			cmd = append(cmd, bson.E{Key: "data", Value: data})
		}
		if err := mc.Database("admin").RunCommand(context.Background(), cmd).Err(); err != nil {
			t.Fatalf("configureFailPoint: %v", err)
		}
	}
	set("alwaysOn", bson.D{
		{Key: "failCommands", Value: bson.A{"commitTransaction"}},
		{Key: "writeConcernError", Value: bson.D{{Key: "code", Value: int32(64)}, {Key: "codeName", Value: "WriteConcernTimeout"}, {Key: "errmsg", Value: "waiting for replication timed out"}}},
	})
	t.Cleanup(func() { set("off", nil) })
}

// waitOutcome asks survivor until the outcome is no longer UNKNOWN, for
// up to 20 s.
func waitOutcome(t *testing.T, survivor testkit.Stubs, ctx context.Context, token string, number int64) *pb.GetTransactionOutcomeResponse {
	t.Helper()
	var resp *pb.GetTransactionOutcomeResponse
	testkit.WaitFor(t, 20*time.Second, "the outcome from a survivor after the owner died", func() error {
		var err error
		resp, err = survivor.Txns.GetTransactionOutcome(ctx, &pb.GetTransactionOutcomeRequest{SessionToken: token, TransactionNumber: number})
		if err != nil {
			t.Fatalf("GetTransactionOutcome: %v", err)
		}
		if o := resp.GetOutcome(); o == pb.TransactionOutcome_TRANSACTION_OUTCOME_UNKNOWN {
			return fmt.Errorf("%v", o)
		}
		return nil
	})
	return resp
}

// The instances' --directory-collection (the default).
const directoryDB, directoryColl = "mongogate", "instances"

// entry is instance id's directory entry as MongoDB holds it.
func entry(t *testing.T, mc *mongo.Client, id string) directory.Instance {
	t.Helper()
	var inst directory.Instance
	if err := mc.Database(directoryDB).Collection(directoryColl).FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&inst); err != nil {
		t.Fatalf("reading the directory entry of %s: %v", id, err)
	}
	return inst
}

// waitListed waits until a heartbeat of instance id has listed an open
// transaction that match accepts: what its survivors will kill.
func waitListed(t *testing.T, mc *mongo.Client, id string, match func(directory.OpenTxn) bool) {
	t.Helper()
	testkit.WaitFor(t, 5*heartbeat, "a heartbeat of "+id+" listing the transaction", func() error {
		open := entry(t, mc, id).Open
		if slices.ContainsFunc(open, match) {
			return nil
		}
		return fmt.Errorf("its entry lists %+v", open)
	})
}

// waitTombstone waits until instance id's entry is a tombstone: a
// survivor reclaimed it, and no claim can match it any more.
func waitTombstone(t *testing.T, mc *mongo.Client, id string, within time.Duration) {
	t.Helper()
	testkit.WaitFor(t, within, id+"'s entry turning into a tombstone", func() error {
		if st := entry(t, mc, id).State; st != "gone" {
			return fmt.Errorf("state %q", st)
		}
		return nil
	})
}

func reclaims(t *testing.T, servers []*proctest.Server) float64 {
	t.Helper()
	var n float64
	for _, s := range servers {
		v, _ := promtest.Scrape(t, s.MetricsURL).Value("mongogate_instances_reclaimed_total")
		n += v
	}
	return n
}

// An instance killed with a transaction that wrote document X: its
// survivors kill the orphan within seconds, so a write to X from another
// instance succeeds long before MongoDB's 60 s transaction lifetime, the
// orphan's writes never appear, and exactly one survivor does it.
func TestOrphanReleasedPromptly(t *testing.T) {
	c := mustCluster(t)
	owner, survivor := testkit.MustStubs(t, c.Servers[0].Addr), testkit.MustStubs(t, c.Servers[1].Addr)
	db := testbackend.DBName(t)
	ns := &pb.Namespace{Database: db, Collection: "items"}
	mc := testbackend.Client(t, c.URI)
	if _, err := mc.Database(db).Collection("items").InsertOne(context.Background(), bson.D{{Key: "_id", Value: "x"}, {Key: "by", Value: "setup"}}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxAs(t, aliceKey)
	token := beginTxn(ctx, t, owner)
	set := func(by string) *pb.UpdateOneRequest {
		return &pb.UpdateOneRequest{Namespace: ns, Filter: doc(`{"_id": "x"}`),
			UpdateSpec: &pb.UpdateOneRequest_Update{Update: doc(`{"$set": {"by": "` + by + `"}}`)}}
	}
	orphanSet := set("orphan")
	orphanSet.SessionToken = token
	if _, err := owner.Docs.UpdateOne(ctx, orphanSet); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns, Document: doc(`{"_id": "orphan"}`)}); err != nil {
		t.Fatal(err)
	}
	waitListed(t, mc, "mg-test-0", func(directory.OpenTxn) bool { return true })
	c.Servers[0].Kill()
	killed := time.Now()

	fresh, err := survivor.Sessions.StartSession(ctx, &pb.StartSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	write := set("survivor")
	write.SessionToken = fresh.GetSession().GetToken()
	for {
		_, err := survivor.Docs.UpdateOne(wctx, write)
		if err == nil {
			break
		}
		// MongoDB makes a write wait for the orphan's lock; the emulator
		// does too. A conflict answer is retried.
		if !testkit.IsReason(err, codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED) {
			t.Fatalf("write to x from a survivor: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(killed)
	t.Logf("a write to x succeeded %v after the owner's SIGKILL (MongoDB alone would hold it up to 60 s)", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the write to x took %v after the kill, want within 10 s", took)
	}
	var got bson.M
	if err := mc.Database(db).Collection("items").FindOne(context.Background(), bson.D{{Key: "_id", Value: "x"}}).Decode(&got); err != nil || got["by"] != "survivor" {
		t.Fatalf("x = %v, %v; want the survivor's write", got, err)
	}
	if n := count(t, mc, db, "items", bson.D{{Key: "_id", Value: "orphan"}}); n != 0 {
		t.Errorf("the orphan's insert is visible")
	}
	// The reclaimer counts the reclaim before it writes the tombstone,
	// and a tombstone matches no claim: once it is there, the count is
	// final.
	waitTombstone(t, mc, "mg-test-0", 4*heartbeat)
	if n := reclaims(t, c.Servers[1:]); n != 1 {
		t.Errorf("the survivors reclaimed the dead instance %v times, want exactly once", n)
	}
}

// With record_outcome, a transaction whose commit reached MongoDB before
// its owner died answers COMMITTED from a survivor; one whose owner died
// before the commit answers ABORTED; the data agrees; another principal
// gets SESSION_NOT_FOUND.
func TestRecordedOutcome(t *testing.T) {
	for _, tt := range []struct {
		name       string
		commitSent bool
		want       pb.TransactionOutcome
	}{
		{"killed after the commit reached MongoDB", true, pb.TransactionOutcome_TRANSACTION_OUTCOME_COMMITTED},
		{"killed before the commit", false, pb.TransactionOutcome_TRANSACTION_OUTCOME_ABORTED},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCluster(t)
			owner, survivor := testkit.MustStubs(t, c.Servers[0].Addr), testkit.MustStubs(t, c.Servers[1].Addr)
			db := testbackend.DBName(t)
			ns := &pb.Namespace{Database: db, Collection: "items"}
			mc := testbackend.Client(t, c.URI)
			ctx := ctxAs(t, aliceKey)
			start, err := owner.Sessions.StartSession(ctx, &pb.StartSessionRequest{})
			if err != nil {
				t.Fatal(err)
			}
			token := start.GetSession().GetToken()
			record := true
			st, err := owner.Txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token, Options: &pb.TransactionOptions{RecordOutcome: &record}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := owner.Docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns, Document: doc(`{"_id": "t"}`)}); err != nil {
				t.Fatal(err)
			}
			waitListed(t, mc, "mg-test-0", func(o directory.OpenTxn) bool { return o.Outcome != "" })
			if tt.commitSent {
				commitAppliesButFails(t, mc)
				// The owner retries the commit for its --commit-retry-limit.
				go func() {
					_, _ = owner.Txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: st.GetTransactionNumber()})
				}()
				waitCommitted(t, mc, db, "t")
			}
			c.Servers[0].Kill()

			resp := waitOutcome(t, survivor, ctx, token, st.GetTransactionNumber())
			if resp.GetOutcome() != tt.want || !resp.GetFromRecord() {
				t.Fatalf("GetTransactionOutcome from a survivor = %v (from record %v), want %v from the record", resp.GetOutcome(), resp.GetFromRecord(), tt.want)
			}
			wantDocs := int64(0)
			if tt.want == pb.TransactionOutcome_TRANSACTION_OUTCOME_COMMITTED {
				wantDocs = 1
			}
			if n := count(t, mc, db, "items", bson.D{{Key: "_id", Value: "t"}}); n != wantDocs {
				t.Errorf("%d documents of the transaction, want %d", n, wantDocs)
			}
			_, err = survivor.Txns.GetTransactionOutcome(ctxAs(t, bobKey), &pb.GetTransactionOutcomeRequest{SessionToken: token, TransactionNumber: st.GetTransactionNumber()})
			testkit.WantReason(t, "bob asking about alice's transaction", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND)
		})
	}
}

// Session.WithTransaction learns from the outcome record that its commit
// went through when the instance holding its session died during it.
func TestGoClientOwnerDiesDuringCommit(t *testing.T) {
	c := mustCluster(t)
	client, err := mongogate.New(c.LB, mongogate.WithAPIKey(aliceKey))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	db := testbackend.DBName(t)
	items := client.Database(db).Collection("items")
	mc := testbackend.Client(t, c.URI)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := client.StartSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.End(context.Background()) }()
	owner := ownerOf(t, c, s)
	commitAppliesButFails(t, mc)
	done := make(chan error, 1)
	go func() {
		_, err := s.WithTransaction(ctx, func(ctx context.Context) (any, error) {
			return items.InsertOne(ctx, bson.D{{Key: "_id", Value: "g"}})
		}, options.Transaction().SetRecordOutcome(true))
		done <- err
	}()
	waitCommitted(t, mc, db, "g")
	owner.Kill()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WithTransaction after its owner died during the commit: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("WithTransaction did not return")
	}
	if _, err := s.Describe(ctx); !errors.Is(err, mongogate.ErrSessionOwnerGone) {
		t.Errorf("Describe after the owner died: %v, want ErrSessionOwnerGone", err)
	}
}

// waitCommitted waits until the document of id in db.items is visible:
// a commit that wrote it reached MongoDB.
func waitCommitted(t *testing.T, mc *mongo.Client, db, id string) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "the commit reaching MongoDB", func() error {
		if count(t, mc, db, "items", bson.D{{Key: "_id", Value: id}}) == 0 {
			return errors.New("its document is not visible")
		}
		return nil
	})
}

// ownerOf is the instance holding s.
func ownerOf(t *testing.T, c *proctest.Cluster, s *mongogate.Session) *proctest.Server {
	t.Helper()
	id := s.ID()
	for i, srv := range c.Servers {
		if len(id) > len("mg-test-0") && id[:len("mg-test-0")] == "mg-test-"+string(rune('0'+i)) {
			return srv
		}
	}
	t.Fatalf("no instance holds %s", id)
	return nil
}
