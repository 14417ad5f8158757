package sessions

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStress runs every operation concurrently with the reaper and a
// moving clock, checking that a session never has two holders, that every
// error is one of the registry's, and that the books balance at the end.
func TestStress(t *testing.T) {
	const (
		workers = 32
		rounds  = 400
	)
	clk := newClock()
	r := mustRegistry(t, Config{
		IdleTimeout:     time.Second,
		AbsoluteTimeout: 5 * time.Second,
		TxnLifetime:     500 * time.Millisecond,
		TombstoneTTL:    2 * time.Second,
		MaxSessions:     200,
		MaxPerPrincipal: 60,
	}, clk)

	var (
		mu      sync.Mutex
		tokens  []string
		owners  sync.Map // token → principal
		holders sync.Map // token → *atomic.Int32
	)
	principals := []string{"a", "b", "c", "d"}

	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			clk.Add(50 * time.Millisecond)
			r.reapNow()
			time.Sleep(100 * time.Microsecond)
		}
	})

	allowed := func(err error) bool {
		return err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrExpired) ||
			errors.Is(err, ErrLimit) || errors.Is(err, context.DeadlineExceeded)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				p := principals[rng.IntN(len(principals))]
				mu.Lock()
				var token string
				if len(tokens) > 0 {
					token = tokens[rng.IntN(len(tokens))]
				}
				mu.Unlock()
				switch op := rng.IntN(10); {
				case op < 2 || token == "":
					e, err := r.Create(p, "default", nil, Options{}, nil)
					if !allowed(err) {
						t.Errorf("Create: %v", err)
					}
					if err == nil {
						owners.Store(e.Token, p)
						holders.Store(e.Token, new(atomic.Int32))
						mu.Lock()
						tokens = append(tokens, e.Token)
						mu.Unlock()
					}
				case op < 7:
					v, _ := owners.Load(token)
					if rng.IntN(8) == 0 {
						v = "intruder"
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(2000))*time.Microsecond)
					e, release, err := r.Acquire(ctx, token, v.(string))
					cancel()
					if !allowed(err) {
						t.Errorf("Acquire: %v", err)
					}
					if err != nil {
						continue
					}
					h, _ := holders.Load(token)
					if n := h.(*atomic.Int32).Add(1); n != 1 {
						t.Errorf("session has %d holders", n)
					}
					if f := txnOf(e); (f == nil || f.State != txnInProgress) && rng.IntN(3) == 0 {
						var n int64
						if f != nil {
							n = f.N
						}
						e.Txn = &fakeTxn{N: n + 1, State: txnInProgress, Depth: 1, Started: r.Now()}
					}
					time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
					h.(*atomic.Int32).Add(-1)
					release()
					if rng.IntN(10) == 0 {
						release()
					}
				case op < 8:
					v, _ := owners.Load(token)
					if _, err := r.Refresh(token, v.(string)); !allowed(err) {
						t.Errorf("Refresh: %v", err)
					}
				default:
					v, _ := owners.Load(token)
					ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
					_, err := r.End(ctx, token, v.(string))
					cancel()
					if !allowed(err) {
						t.Errorf("End: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()

	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s := r.Stats()
	if s.Active != 0 {
		t.Fatalf("active after Close: %+v", s)
	}
	for i := range r.principals {
		if n := len(r.principals[i].n); n != 0 {
			t.Fatalf("principal counts left after Close: %v", r.principals[i].n)
		}
	}
	t.Logf("stats %+v", s)
}
