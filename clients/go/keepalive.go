package mongogate

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// keeper refreshes the client's sessions, each at its own interval, from
// one goroutine (started with the first session) and a heap of when each
// is due: a session costs an entry, not a goroutine and a ticker of its
// own. A refresh runs on a goroutine of its own, so that a slow one
// delays no other.
type keeper struct {
	mu      sync.Mutex
	due     dueHeap
	wake    chan struct{}
	stop    chan struct{}
	started bool
	wg      sync.WaitGroup // the loop and the refreshes in flight
}

// keptSession is a session's place in the heap.
type keptSession struct {
	s        *Session
	interval time.Duration
	next     time.Time
	index    int // in the heap; -1 once removed
}

type dueHeap []*keptSession

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	k := x.(*keptSession)
	k.index = len(*h)
	*h = append(*h, k)
}
func (h *dueHeap) Pop() any {
	old := *h
	k := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	k.index = -1
	return k
}

func newKeeper() *keeper {
	return &keeper{wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// add schedules s every interval; it returns the entry that remove takes.
func (k *keeper) add(s *Session, interval time.Duration) *keptSession {
	e := &keptSession{s: s, interval: interval, next: time.Now().Add(interval)}
	k.mu.Lock()
	heap.Push(&k.due, e)
	first := e.index == 0
	if !k.started {
		k.started = true
		k.wg.Add(1)
		go k.run()
	}
	k.mu.Unlock()
	if first {
		k.poke()
	}
	return e
}

// remove stops refreshing e's session; a refresh already in flight may
// still finish.
func (k *keeper) remove(e *keptSession) {
	k.mu.Lock()
	if e.index >= 0 {
		heap.Remove(&k.due, e.index)
	}
	k.mu.Unlock()
}

func (k *keeper) poke() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// close stops the loop and waits for it and the refreshes in flight.
func (k *keeper) close() {
	k.mu.Lock()
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	k.mu.Unlock()
	k.wg.Wait()
}

func (k *keeper) run() {
	defer k.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		k.mu.Lock()
		now := time.Now()
		var ready []*keptSession
		for len(k.due) > 0 && !k.due[0].next.After(now) {
			ready = append(ready, heap.Pop(&k.due).(*keptSession))
		}
		wait := time.Hour
		if len(k.due) > 0 {
			wait = k.due[0].next.Sub(now)
		}
		k.wg.Add(len(ready))
		k.mu.Unlock()
		for _, e := range ready {
			go k.refresh(e)
		}
		t.Reset(wait)
		select {
		case <-k.stop:
			return
		case <-k.wake:
		case <-t.C:
		}
	}
}

// refresh keeps e's session alive and schedules it again, unless the
// server has forgotten it (it will not come back) or it was removed
// meanwhile. A transient failure (the server restarting, a network blip)
// is retried at the next interval.
func (k *keeper) refresh(e *keptSession) {
	defer k.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), max(e.interval, time.Second))
	_, err := e.s.sessionsRPC().RefreshSession(ctx, &pb.RefreshSessionRequest{SessionToken: e.s.token})
	cancel()
	if st := fromStatus(err); errors.Is(st, ErrSessionNotFound) || errors.Is(st, ErrSessionExpired) {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	select {
	case <-k.stop:
		return
	default:
	}
	if e.s.isEnded() {
		return
	}
	e.next = time.Now().Add(e.interval)
	heap.Push(&k.due, e)
	if e.index == 0 {
		k.poke()
	}
}
