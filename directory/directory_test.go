package directory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

// testInterval is short so that deaths show within a test's patience.
const testInterval = 200 * time.Millisecond

func mustCollection(t *testing.T) *mongo.Collection {
	t.Helper()
	c := testbackend.Client(t, testbackend.URI(t))
	return c.Database(testbackend.DBName(t)).Collection("instances")
}

// mustStart registers id in coll; Close runs at cleanup unless the test
// killed it.
func mustStart(t *testing.T, coll *mongo.Collection, id string, cfg Config) *Directory {
	t.Helper()
	cfg.Collection, cfg.InstanceID = coll, id
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:1" + id
	}
	if cfg.Interval == 0 {
		cfg.Interval = testInterval
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatalf("Start %s: %v", id, err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

// kill stops d's heartbeats without the tombstone a Close leaves, as a
// SIGKILL would.
func (d *Directory) kill() { d.Stop() }

func waitStatus(t *testing.T, d *Directory, id string, want Status, within time.Duration) {
	t.Helper()
	testkit.WaitFor(t, within, "status of "+id, func() error {
		_, got, err := d.Lookup(context.Background(), id)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%v, want %v", got, want)
		}
		return nil
	})
}

// stored is an entry as MongoDB holds it, with what Instance leaves out.
type stored struct {
	State string    `bson:"state"`
	Seq   int64     `bson:"seq"`
	Open  []OpenTxn `bson:"open"`
	Claim struct {
		By string `bson:"by"`
	} `bson:"claim"`
}

// mustStored reads id's entry from MongoDB, not from a directory's cache.
func mustStored(t *testing.T, coll *mongo.Collection, id string) stored {
	t.Helper()
	var e stored
	if err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&e); err != nil {
		t.Fatalf("reading the entry of %s: %v", id, err)
	}
	return e
}

// waitStored waits until id's entry in MongoDB satisfies cond, which
// describes what it saw when it is not satisfied.
func waitStored(t *testing.T, coll *mongo.Collection, id string, within time.Duration, what string, cond func(stored) error) {
	t.Helper()
	testkit.WaitFor(t, within, what, func() error { return cond(mustStored(t, coll, id)) })
}

// waitStale waits until id's heartbeat is older than StaleAfter by
// MongoDB's clock, the age at which a claim on it matches.
func waitStale(t *testing.T, d *Directory, id string) {
	t.Helper()
	testkit.WaitFor(t, 3*d.cfg.StaleAfter, id+" stale", func() error {
		inst, found, err := d.fetch(context.Background(), id)
		if err != nil || !found {
			return fmt.Errorf("entry found %v, %v", found, err)
		}
		if age := time.Duration(inst.AgeMS) * time.Millisecond; age <= d.cfg.StaleAfter {
			return fmt.Errorf("heartbeat age %v, want over %v", age, d.cfg.StaleAfter)
		}
		return nil
	})
}

// pass runs one of d's directory reads by hand, with the reclaims it
// starts, so that a test knows it happened.
func (d *Directory) pass() {
	d.refresh(context.Background())
	d.reclaimDead(context.Background())
}

func TestLiveAndGone(t *testing.T) {
	coll := mustCollection(t)
	a := mustStart(t, coll, "a", Config{})
	b := mustStart(t, coll, "b", Config{})
	inst, st, err := b.Lookup(context.Background(), "a")
	if err != nil || st != Live || inst.Addr != "127.0.0.1:1a" {
		t.Fatalf("Lookup(a) from b = %+v, %v, %v; want live at its address", inst, st, err)
	}
	if _, st, _ := a.Lookup(context.Background(), "nobody"); st != Unknown {
		t.Errorf("Lookup(nobody) = %v, want unknown", st)
	}
	// Heartbeats keep it live well past StaleAfter: twice StaleAfter's
	// worth of them, each followed by b's read.
	beats := 2 * int64(a.cfg.StaleAfter/a.cfg.Interval)
	from := mustStored(t, coll, "a").Seq
	testkit.WaitFor(t, 10*a.cfg.StaleAfter, "a's heartbeats", func() error {
		if n := mustStored(t, coll, "a").Seq - from; n < beats {
			return fmt.Errorf("%d heartbeats, want %d", n, beats)
		}
		b.pass()
		if _, st, _ := b.Lookup(context.Background(), "a"); st != Live {
			t.Fatalf("a is %v while heartbeating, want live", st)
		}
		return nil
	})
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A graceful Close is seen as gone at the next read, not after
	// StaleAfter.
	b.pass()
	if _, st, _ := b.Lookup(context.Background(), "a"); st != Gone {
		t.Fatalf("a is %v at the first read after its Close, want gone", st)
	}
	if n := b.Counts(); n[Live] != 1 || n[Gone] != 1 {
		t.Errorf("Counts = %v, want 1 live (b), 1 gone (a)", n)
	}
}

func TestIDInUse(t *testing.T) {
	coll := mustCollection(t)
	mustStart(t, coll, "a", Config{})
	d, err := New(Config{Collection: coll, InstanceID: "a", Interval: testInterval})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); !errors.Is(err, ErrInstanceIDInUse) {
		t.Fatalf("second Start of id a: %v, want ErrInstanceIDInUse", err)
	}
}

// A dead instance's entry is reclaimed by a survivor with its last
// heartbeat's open transactions, then becomes a tombstone that keeps them.
func TestDeadInstanceReclaimed(t *testing.T) {
	coll := mustCollection(t)
	lsid := bson.Binary{Subtype: bson.TypeBinaryUUID, Data: make([]byte, 16)}
	open := []OpenTxn{{Backend: "default", LSID: lsid, Outcome: "o1", Principal: "alice"}}
	a := mustStart(t, coll, "a", Config{Open: func() []OpenTxn { return open }})
	reclaimed := make(chan Instance, 4)
	b := mustStart(t, coll, "b", Config{Reclaim: func(_ context.Context, dead Instance) error {
		reclaimed <- dead
		return nil
	}})
	waitStored(t, coll, "a", 10*testInterval, "a's entry listing its open transaction", func(e stored) error {
		if len(e.Open) != 1 {
			return fmt.Errorf("entry lists %d open transactions, want 1", len(e.Open))
		}
		return nil
	})
	a.kill()
	start := time.Now()
	select {
	case dead := <-reclaimed:
		if dead.ID != "a" || len(dead.Open) != 1 || dead.Open[0].Outcome != "o1" || dead.Open[0].Principal != "alice" {
			t.Fatalf("reclaimed %+v, want a with its open transaction", dead)
		}
	case <-time.After(3 * a.cfg.StaleAfter):
		t.Fatal("the dead instance was not reclaimed")
	}
	waitStatus(t, b, "a", Gone, time.Second)
	t.Logf("death to tombstone: %v (StaleAfter %v)", time.Since(start), a.cfg.StaleAfter)
	inst, _, _ := b.Lookup(context.Background(), "a")
	if len(inst.Open) != 1 {
		t.Errorf("tombstone open list %+v, want the last heartbeat's", inst.Open)
	}
	// The tombstone ends the claims: reads after it reclaim nothing.
	b.pass()
	b.pass()
	select {
	case again := <-reclaimed:
		t.Errorf("reclaimed twice: %+v", again)
	default:
	}
}

// Exactly one survivor reclaims a dead instance, however many try at once.
func TestReclaimExactlyOnce(t *testing.T) {
	coll := mustCollection(t)
	a := mustStart(t, coll, "a", Config{})
	a.kill()
	var calls atomic.Int32
	reclaim := func(context.Context, Instance) error {
		calls.Add(1)
		time.Sleep(50 * time.Millisecond) // overlap the others' claims
		return nil
	}
	var survivors []*Directory
	for _, id := range []string{"b", "c", "d", "e"} {
		d := mustStart(t, coll, id, Config{Reclaim: reclaim})
		d.kill() // drive them by hand, all at the same moment
		survivors = append(survivors, d)
	}
	waitStale(t, survivors[0], "a")
	var wg sync.WaitGroup
	startLine := make(chan struct{})
	for _, d := range survivors {
		wg.Go(func() {
			<-startLine
			if err := d.claimAndReclaim(context.Background(), "a"); err != nil {
				t.Errorf("%s: %v", d.cfg.InstanceID, err)
			}
		})
	}
	close(startLine)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("Reclaim ran %d times, want exactly once", n)
	}
	if _, st, _ := survivors[0].Lookup(context.Background(), "a"); st != Gone {
		// The cached entry may predate the tombstone; read afresh.
		survivors[0].refresh(context.Background())
		if _, st, _ := survivors[0].Lookup(context.Background(), "a"); st != Gone {
			t.Fatalf("a is %v after the reclaim, want gone", st)
		}
	}
}

// A failing Reclaim leaves the entry for a retry: the claimer tries
// again once its own claim is StaleAfter old. A claim whose survivor died
// too expires, and another survivor takes over.
func TestReclaimRetried(t *testing.T) {
	coll := mustCollection(t)
	a := mustStart(t, coll, "a", Config{})
	a.kill()
	var failures atomic.Int32
	b := mustStart(t, coll, "b", Config{Reclaim: func(_ context.Context, dead Instance) error {
		if dead.ID == "a" {
			failures.Add(1)
		}
		return errors.New("backend down")
	}})
	testkit.WaitFor(t, 10*b.cfg.StaleAfter, "b's failing reclaim of a, and its retry", func() error {
		if n := failures.Load(); n < 2 {
			return fmt.Errorf("%d attempts", n)
		}
		return nil
	})
	b.kill()
	if e := mustStored(t, coll, "a"); e.State != stateLive || e.Claim.By != "b" {
		t.Fatalf("a after b's failed reclaims: state %q, claimed by %q; want still live, claimed by b", e.State, e.Claim.By)
	}
	tried := failures.Load()

	var mu sync.Mutex
	var byC []string
	c := mustStart(t, coll, "c", Config{Reclaim: func(_ context.Context, dead Instance) error {
		mu.Lock()
		defer mu.Unlock()
		byC = append(byC, dead.ID)
		return nil
	}})
	waitStatus(t, c, "a", Gone, 4*c.cfg.StaleAfter)
	if e := mustStored(t, coll, "a"); e.State != stateGone {
		t.Fatalf("a's entry is %q after c's reclaim, want a tombstone", e.State)
	}
	mu.Lock()
	defer mu.Unlock()
	reclaimedA := 0
	for _, id := range byC {
		if id == "a" {
			reclaimedA++
		}
	}
	if reclaimedA != 1 {
		t.Errorf("c reclaimed a %d times (reclaims %v), want once", reclaimedA, byC)
	}
	if n := failures.Load(); n != tried {
		t.Errorf("b tried %d more times after it died", n-tried)
	}
}

// An instance whose entry a peer claimed or tombstoned while it did not
// heartbeat (paused, cut off) learns it at its next heartbeat: it calls
// Fenced, which stops serving its sessions, and registers under the id
// Fenced returns. Until it has, its Lease is refused.
func TestFencedRegistersAgain(t *testing.T) {
	for _, tt := range []struct {
		name   string
		update bson.D
	}{
		{"tombstoned", bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: stateGone}}}}},
		{"claimed", bson.D{{Key: "$set", Value: bson.D{{Key: "claim.by", Value: "b"}}}, {Key: "$currentDate", Value: bson.D{{Key: "claim.at", Value: true}}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			coll := mustCollection(t)
			fenced := make(chan string, 1)
			release := make(chan struct{})
			var a *Directory
			a = mustStart(t, coll, "a", Config{Fenced: func(_ context.Context, old string) string {
				if err := a.Lease(); !errors.Is(err, ErrUnconfirmed) {
					t.Errorf("Lease while fenced: %v, want ErrUnconfirmed", err)
				}
				fenced <- old
				<-release
				return "a-2"
			}})
			if err := a.Lease(); err != nil {
				t.Fatalf("Lease of a registered instance: %v", err)
			}
			if _, err := coll.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: "a"}}, tt.update); err != nil {
				t.Fatal(err)
			}
			select {
			case old := <-fenced:
				if old != "a" {
					t.Errorf("Fenced(%q), want a", old)
				}
			case <-time.After(5 * testInterval):
				t.Fatal("Fenced not called within a few heartbeats")
			}
			close(release)
			testkit.WaitFor(t, 5*testInterval, "a-2 registered", func() error {
				n, err := coll.CountDocuments(context.Background(), bson.D{{Key: "_id", Value: "a-2"}, {Key: "state", Value: stateLive}})
				if err != nil || n != 1 {
					return fmt.Errorf("%d live entries, %v", n, err)
				}
				return nil
			})
			testkit.WaitFor(t, 5*testInterval, "the lease back under the new id", func() error { return a.Lease() })
			if a.ID() != "a-2" {
				t.Errorf("ID %q after Fenced, want a-2", a.ID())
			}
		})
	}
}

// The lease ends StaleAfter − Interval/2 after the last heartbeat that
// went through, before any peer may claim the entry.
func TestLeaseEnds(t *testing.T) {
	coll := mustCollection(t)
	a := mustStart(t, coll, "a", Config{})
	if err := a.Lease(); err != nil {
		t.Fatalf("Lease: %v", err)
	}
	a.kill()
	stopped := time.Now()
	testkit.WaitFor(t, 2*a.cfg.StaleAfter, "the lease ending", func() error {
		if err := a.Lease(); !errors.Is(err, ErrUnconfirmed) {
			return fmt.Errorf("Lease %v", err)
		}
		return nil
	})
	if took := time.Since(stopped); took >= a.cfg.StaleAfter {
		t.Errorf("the lease ended %v after the last heartbeat, want before StaleAfter (%v)", took, a.cfg.StaleAfter)
	}
}
