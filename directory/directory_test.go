package directory

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/internal/testbackend"
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
	deadline := time.Now().Add(within)
	for {
		_, got, err := d.Lookup(context.Background(), id)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s: %v (err %v), want %v within %v", id, got, err, want, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	// Heartbeats keep it live well past StaleAfter.
	time.Sleep(2 * a.cfg.StaleAfter)
	if _, st, _ := b.Lookup(context.Background(), "a"); st != Live {
		t.Fatalf("a is %v after heartbeating for 2×StaleAfter, want live", st)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A graceful Close is seen as gone at the next read, not after
	// StaleAfter.
	waitStatus(t, b, "a", Gone, testInterval)
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
	time.Sleep(2 * testInterval) // a heartbeat carries the open list
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
	select {
	case again := <-reclaimed:
		t.Errorf("reclaimed twice: %+v", again)
	case <-time.After(3 * testInterval):
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
	time.Sleep(a.cfg.StaleAfter + testInterval)
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

// A claim whose survivor died too expires, and another survivor takes
// over; a failing Reclaim leaves the entry for a retry.
func TestReclaimRetried(t *testing.T) {
	coll := mustCollection(t)
	a := mustStart(t, coll, "a", Config{})
	a.kill()
	var fail atomic.Bool
	fail.Store(true)
	var ok atomic.Int32
	b := mustStart(t, coll, "b", Config{Reclaim: func(context.Context, Instance) error {
		if fail.Load() {
			return errors.New("backend down")
		}
		ok.Add(1)
		return nil
	}})
	waitStatus(t, b, "a", Dead, 2*a.cfg.StaleAfter)
	time.Sleep(2 * testInterval) // b claimed and failed
	if _, st, _ := b.Lookup(context.Background(), "a"); st != Dead {
		t.Fatalf("a is %v after a failed reclaim, want still dead", st)
	}
	fail.Store(false)
	waitStatus(t, b, "a", Gone, 3*a.cfg.StaleAfter)
	if ok.Load() != 1 {
		t.Errorf("successful reclaims: %d, want 1", ok.Load())
	}
}
