// Package cluster tests several mongogate processes on one MongoDB
// deployment behind a real load balancer (nginx, round-robin gRPC):
// forwarding to a session's owner, client routing, principal propagation,
// and what happens when an instance dies.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	mongogate "github.com/mongogate/mongogate/clients/go"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
	"github.com/mongogate/mongogate/server"
)

var bins proctest.Binaries

func TestMain(m *testing.M) { proctest.Main(m, &bins) }

const (
	aliceKey = "mg_cluster_alice_key"
	bobKey   = "mg_cluster_bob_key"
	// heartbeat is the instances' --heartbeat-interval (the default).
	heartbeat = 2 * time.Second
)

// mustCluster starts three instances with API keys for alice and bob and
// a shared peer secret, behind nginx.
func mustCluster(t *testing.T) *proctest.Cluster {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	secret := filepath.Join(dir, "peer-secret")
	if err := os.WriteFile(keys, []byte("alice "+server.HashAPIKey(aliceKey)+"\nbob "+server.HashAPIKey(bobKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("cluster-test-peer-secret-0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	return proctest.StartCluster(t, bins, 3, "--api-keys", keys, "--peer-secret-file", secret,
		"--heartbeat-interval", heartbeat.String())
}

// beginTxn starts a session on s and a transaction on it, and returns
// the session's token.
func beginTxn(ctx context.Context, t *testing.T, s testkit.Stubs) string {
	t.Helper()
	start, err := s.Sessions.StartSession(ctx, &pb.StartSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	token := start.GetSession().GetToken()
	if _, err := s.Txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token}); err != nil {
		t.Fatal(err)
	}
	return token
}

func ctxAs(t *testing.T, key string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

func doc(json string) *pb.Document { return &pb.Document{Value: &pb.Document_Json{Json: json}} }

// forwarded sums mongogate_forwarded_calls_total over the instances.
func forwarded(t *testing.T, c *proctest.Cluster) float64 {
	t.Helper()
	var n float64
	for _, s := range c.Servers {
		v, _ := promtest.Scrape(t, s.MetricsURL).Value("mongogate_forwarded_calls_total")
		n += v
	}
	return n
}

func count(t *testing.T, mc *mongo.Client, db, coll string, filter bson.D) int64 {
	t.Helper()
	n, err := mc.Database(db).Collection(coll).CountDocuments(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Through a round-robin balancer every call of a session may land on any
// instance; each is forwarded to the owner, so multi-call transactions
// work as on one instance.
func TestTransactionsThroughBalancer(t *testing.T) {
	c := mustCluster(t)
	lb := testkit.MustStubs(t, c.LB)
	db := testbackend.DBName(t)
	ns := &pb.Namespace{Database: db, Collection: "items"}
	ctx := ctxAs(t, aliceKey)
	const txns = 30
	for i := range txns {
		start, err := lb.Sessions.StartSession(ctx, &pb.StartSessionRequest{})
		if err != nil {
			t.Fatalf("transaction %d: StartSession: %v", i, err)
		}
		token := start.GetSession().GetToken()
		st, err := lb.Txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token})
		if err != nil {
			t.Fatalf("transaction %d: StartTransaction: %v", i, err)
		}
		for j := range 3 {
			id := strconv.Itoa(i*3 + j)
			if _, err := lb.Docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns, Document: doc(`{"_id": ` + id + `}`)}); err != nil {
				t.Fatalf("transaction %d: InsertOne %s: %v", i, id, err)
			}
		}
		commit, err := lb.Txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: st.GetTransactionNumber()})
		if err != nil || !commit.GetCommitted() {
			t.Fatalf("transaction %d: CommitTransaction = %v, %v", i, commit, err)
		}
		if _, err := lb.Sessions.EndSession(ctx, &pb.EndSessionRequest{SessionToken: token}); err != nil {
			t.Fatalf("transaction %d: EndSession: %v", i, err)
		}
	}
	mc := testbackend.Client(t, c.URI)
	if n := count(t, mc, db, "items", bson.D{}); n != txns*3 {
		t.Fatalf("%d documents, want %d", n, txns*3)
	}
	for id := range txns * 3 {
		if n := count(t, mc, db, "items", bson.D{{Key: "_id", Value: int32(id)}}); n != 1 {
			t.Errorf("document %d is there %d times, want once", id, n)
		}
	}
	f := forwarded(t, c)
	t.Logf("%d transactions of 6 calls through nginx; %v calls forwarded", txns, f)
	if f == 0 {
		t.Error("no call was forwarded: the balancer did not spread the calls")
	}
}

// A Find stream on a session started through another instance returns
// every document of the session's transaction.
func TestFindAcrossInstances(t *testing.T) {
	c := mustCluster(t)
	owner, other := testkit.MustStubs(t, c.Servers[0].Addr), testkit.MustStubs(t, c.Servers[1].Addr)
	db := testbackend.DBName(t)
	ns := &pb.Namespace{Database: db, Collection: "items"}
	ctx := ctxAs(t, aliceKey)
	token := beginTxn(ctx, t, owner)
	const n = 250
	docs := make([]*pb.Document, n)
	for i := range docs {
		docs[i] = doc(`{"_id": ` + strconv.Itoa(i) + `, "pad": "` + fmt.Sprintf("%0100d", i) + `"}`)
	}
	if _, err := owner.Docs.InsertMany(ctx, &pb.InsertManyRequest{SessionToken: token, Namespace: ns, Documents: docs}); err != nil {
		t.Fatal(err)
	}
	stream, err := other.Docs.Find(ctx, &pb.FindRequest{SessionToken: token, Namespace: ns, Options: &pb.FindOptions{BatchSize: 40}})
	if err != nil {
		t.Fatal(err)
	}
	got, messages := 0, 0
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Find through another instance: %v", err)
		}
		got += len(resp.GetDocuments())
		messages++
	}
	if got != n || messages < n/40 {
		t.Fatalf("Find through another instance: %d documents in %d messages, want %d in at least %d", got, messages, n, n/40)
	}
	if v, _ := promtest.Scrape(t, c.Servers[1].MetricsURL).Value("mongogate_forwarded_calls_total",
		"method", "mongogate.v1.DocumentService/Find", "outcome", "OK"); v != 1 {
		t.Errorf("the other instance forwarded %v Find calls, want 1", v)
	}
}

// The Go client sends a session's calls to the instance that holds it:
// through the balancer, only StartSession goes anywhere, and nothing is
// forwarded.
func TestGoClientRoutesToOwner(t *testing.T) {
	c := mustCluster(t)
	before := forwarded(t, c)
	client, err := mongogate.New(c.LB, mongogate.WithAPIKey(aliceKey))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	db := testbackend.DBName(t)
	items := client.Database(db).Collection("items")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	owners := map[string]bool{}
	const sessions = 12
	for i := range sessions {
		err := client.UseSession(ctx, func(ctx context.Context) error {
			s := mongogate.SessionFromContext(ctx)
			owners[s.ID()[:len("mg-test-0")]] = true
			_, err := s.WithTransaction(ctx, func(ctx context.Context) (any, error) {
				for j := range 3 {
					if _, err := items.InsertOne(ctx, bson.D{{Key: "_id", Value: i*3 + j}}); err != nil {
						return nil, err
					}
				}
				return nil, nil
			})
			return err
		})
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	if n := count(t, testbackend.Client(t, c.URI), db, "items", bson.D{}); n != sessions*3 {
		t.Fatalf("%d documents, want %d", n, sessions*3)
	}
	after := forwarded(t, c)
	t.Logf("%d sessions held by instances %v; forwarded calls %v before, %v after", sessions, owners, before, after)
	if after != before {
		t.Errorf("the instances forwarded %v calls of Go client sessions, want none", after-before)
	}
	if len(owners) < 2 {
		t.Errorf("every session landed on %v: the balancer did not spread StartSession", owners)
	}
}

// Forwarding metadata sent by a client is refused, and a principal's
// token stays its own through a forwarder.
func TestForwardingPrincipals(t *testing.T) {
	c := mustCluster(t)
	owner, other := testkit.MustStubs(t, c.Servers[0].Addr), testkit.MustStubs(t, c.Servers[1].Addr)
	spoof := metadata.AppendToOutgoingContext(ctxAs(t, bobKey),
		"mongogate-forwarded", "mg-test-1 YWxpY2U "+strconv.FormatInt(time.Now().UnixMilli(), 10)+" forged")
	_, err := testkit.MustStubs(t, c.LB).Sessions.StartSession(spoof, &pb.StartSessionRequest{})
	testkit.WantReason(t, "StartSession with forwarding metadata from a client", err, codes.Unauthenticated, pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED)

	start, err := owner.Sessions.StartSession(ctxAs(t, aliceKey), &pb.StartSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	token := start.GetSession().GetToken()
	_, err = other.Sessions.GetSession(ctxAs(t, bobKey), &pb.GetSessionRequest{SessionToken: token})
	testkit.WantReason(t, "bob's GetSession of alice's token through a forwarder", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND)
	if _, err := other.Sessions.GetSession(ctxAs(t, aliceKey), &pb.GetSessionRequest{SessionToken: token}); err != nil {
		t.Fatalf("alice's GetSession of her token through a forwarder: %v", err)
	}
}

// Killing an owner mid-transaction: its token answers SESSION_OWNER_GONE
// from the survivors at once (within 3 heartbeats), and the orphaned
// writes never become visible.
func TestOwnerKilled(t *testing.T) {
	c := mustCluster(t)
	owner, survivor := testkit.MustStubs(t, c.Servers[0].Addr), testkit.MustStubs(t, c.Servers[1].Addr)
	db := testbackend.DBName(t)
	ns := &pb.Namespace{Database: db, Collection: "items"}
	ctx := ctxAs(t, aliceKey)
	token := beginTxn(ctx, t, owner)
	if _, err := owner.Docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns, Document: doc(`{"_id": "orphan"}`)}); err != nil {
		t.Fatal(err)
	}
	c.Servers[0].Kill()
	killed := time.Now()
	testkit.WaitFor(t, 3*heartbeat, "SESSION_OWNER_GONE from a survivor", func() error {
		_, err := survivor.Sessions.GetSession(ctx, &pb.GetSessionRequest{SessionToken: token})
		if _, r := testkit.Reason(err); r != pb.ErrorReason_ERROR_REASON_SESSION_OWNER_GONE.Wire() {
			return fmt.Errorf("the token answers %v", err)
		}
		return nil
	})
	t.Logf("SESSION_OWNER_GONE %v after SIGKILL", time.Since(killed).Round(time.Millisecond))
	mc := testbackend.Client(t, c.URI)
	if n := count(t, mc, db, "items", bson.D{{Key: "_id", Value: "orphan"}}); n != 0 {
		t.Fatalf("the orphaned insert is visible")
	}
}
