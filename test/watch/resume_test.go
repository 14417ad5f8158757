package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
)

// A client watches a collection through a load balancer in front of three
// instances while another client writes through one of them (single
// writes and three-document transactions). The instance serving the
// watch is SIGKILLed mid-stream; the client resumes through another one
// from its last token, and the events it received, de-duplicated by
// token, are exactly the writes, in order.
func TestResumeAcrossInstances(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "peer-secret")
	if err := os.WriteFile(secret, []byte("watch-test-peer-secret-0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := proctest.StartCluster(t, bins, 3, "--peer-secret-file", secret)
	ctx := testCtx(t, 2*time.Minute)
	db := testbackend.DBName(t)

	watcher := mustClient(t, c.LB)
	cs, err := watcher.Database(db).Collection("items").Watch(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctx)
	r := startReader(ctx, cs, false)

	a := -1
	for i, s := range c.Servers {
		if metric(t, s, "mongogate_watch_subscribers") == 1 {
			a = i
		}
	}
	if a < 0 {
		t.Fatal("no instance reports the watch's subscriber")
	}
	b := (a + 1) % len(c.Servers)
	writer := mustClient(t, c.Servers[b].Addr)
	items := writer.Database(db).Collection("items")

	// write does writes from..to-1 and returns the events they make, or
	// the first error.
	write := func(from, to int) (want []string, _ error) {
		for i := from; i < to; i++ {
			if _, err := items.InsertOne(ctx, doc(i)); err != nil {
				return nil, err
			}
			want = append(want, fmt.Sprintf("insert %d", i))
			if i%4 == 0 {
				if _, err := items.UpdateOne(ctx, bson.D{{Key: "_id", Value: int32(i)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: i}}}}); err != nil {
					return nil, err
				}
				want = append(want, fmt.Sprintf("update %d", i))
			}
			if i%10 == 5 {
				err := writer.UseSession(ctx, func(ctx context.Context) error {
					_, err := mongogate.SessionFromContext(ctx).WithTransaction(ctx, func(ctx context.Context) (any, error) {
						for k := range 3 {
							if _, err := items.InsertOne(ctx, doc(10_000+i*3+k)); err != nil {
								return nil, err
							}
						}
						return nil, nil
					})
					return err
				})
				if err != nil {
					return nil, err
				}
				for k := range 3 {
					want = append(want, fmt.Sprintf("insert %d", 10_000+i*3+k))
				}
			}
			if i%6 == 0 {
				if _, err := items.DeleteOne(ctx, bson.D{{Key: "_id", Value: int32(i)}}); err != nil {
					return nil, err
				}
				want = append(want, fmt.Sprintf("delete %d", i))
			}
		}
		return want, nil
	}

	want, err := write(0, 40)
	if err != nil {
		t.Fatal(err)
	}
	// The second half is written while the instance serving the watch
	// dies: some of it reaches the client before, some after.
	r.waitFor(t, len(want), 30*time.Second)
	type result struct {
		want []string
		err  error
	}
	second := make(chan result, 1)
	go func() {
		w, err := write(40, 120)
		second <- result{w, err}
	}()
	r.waitFor(t, len(want)+10, 30*time.Second)
	c.Servers[a].Kill()
	t.Logf("killed instance %d (serving the watch) after %d events had arrived, while writes went on", a, r.count())
	res := <-second
	if res.err != nil {
		t.Fatal(res.err)
	}
	want = append(want, res.want...)
	r.waitFor(t, len(want), 60*time.Second)

	got, err := r.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	gotS := make([]string, len(got))
	for i, e := range got {
		gotS[i] = e.String()
	}
	if !slices.Equal(gotS, want) {
		t.Fatalf("events (de-duplicated by token) differ from the writes:\n got %v\nwant %v", gotS, want)
	}
	t.Logf("%d events in order, %d duplicates dropped, %d resumes", len(got), r.dups, cs.Resumes())
	if cs.Resumes() == 0 {
		t.Error("the stream never resumed")
	}
}
