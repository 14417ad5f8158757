package sessions

import (
	"math"
	"sync"
)

// never is the deadline of something that is not scheduled.
const never = math.MaxInt64

// status is where an entry stands; anything but alive is final.
type status uint8

const (
	alive status = iota
	ended
	expired
	closed
	// revoked by Registry.Renew.
	revoked
)

// err is what a caller who finds the entry in status s is told.
func (s status) err() error {
	switch s {
	case ended:
		return ErrNotFound
	case expired:
		return ErrExpired
	case closed:
		return ErrClosed
	case revoked:
		return ErrOwnerGone
	}
	return nil
}

// entryState is the registry's bookkeeping of one entry. Every field is
// guarded by the mutex of the entry's shard. Times are nanoseconds since
// the registry's epoch (see Registry.mono), which keeps them monotonic and
// small.
//
// An idle entry costs no goroutine, timer or channel: the op queue is a
// list of waiters that exists only while someone waits.
type entryState struct {
	idleAt int64 // when an unheld entry idles out
	absAt  int64 // end of the absolute lifetime
	txnAt  int64 // end of the open transaction's lifetime, or never

	// head is the oldest caller waiting for its turn; the waiters form a
	// ring, so head.prev is the newest.
	head *waiter

	idx   int32  // position in the shard's heap, -1 when not in it
	gen   uint32 // counts turns, so that a stale release func does nothing
	shard uint8
	// held is true from the moment a caller is given its turn until it
	// releases it or hands it on; the entry cannot idle out meanwhile.
	held   bool
	status status
}

// deadline is the earliest moment the reaper has something to do with the
// entry, assuming it is not held.
func (s *entryState) deadline() int64 {
	return min(s.idleAt, s.absAt, s.txnAt)
}

// waiter is one caller queued for its turn on an entry.
type waiter struct {
	ready      chan struct{} // closed when granted, or when the entry dies
	prev, next *waiter
	granted    bool // the turn was handed to this waiter
}

func (s *entryState) enqueue(w *waiter) {
	if s.head == nil {
		w.prev, w.next = w, w
		s.head = w
		return
	}
	newest := s.head.prev
	w.prev, w.next = newest, s.head
	newest.next = w
	s.head.prev = w
}

func (s *entryState) unlink(w *waiter) {
	if w.next == w {
		s.head = nil
	} else {
		w.prev.next = w.next
		w.next.prev = w.prev
		if s.head == w {
			s.head = w.next
		}
	}
	w.prev, w.next = nil, nil
}

// wakeAll empties the queue of an entry that died; each waiter finds the
// entry's status and returns its error.
func (s *entryState) wakeAll() {
	for s.head != nil {
		w := s.head
		s.unlink(w)
		close(w.ready)
	}
}

// tomb is what is left of an expired or revoked session until its TTL
// passes.
type tomb struct {
	principal string
	until     int64
	// gone: the session was revoked (Registry.Renew), not expired.
	gone bool
}

// tombRef orders tombstones for cleanup. Tombstones get the same TTL and
// are created in (nearly) time order, so a FIFO is sorted enough: one that
// is out of order is dropped a pass late, and lookups check until anyway.
type tombRef struct {
	token string
	until int64
}

// slot is one heap element: the entry is due no earlier than at. Slots go
// stale when the entry is used (its deadline moves later); the reaper
// re-queues those when they surface instead of fixing the heap on every
// release.
type slot struct {
	at int64
	e  *Entry
}

// shard holds a slice of the token space. Its mutex guards the maps, the
// heap and the entryState of every entry in it.
type shard struct {
	mu sync.Mutex
	// live holds the shard's entries by keyOf(token): a 64-bit key costs
	// 8 bytes per entry less than the token as key.
	live  map[uint64]*Entry
	tombs map[string]tomb
	heap  []slot
	tq    []tombRef
	_     [40]byte // keep neighbouring shards' mutexes off one cache line
}

func (sh *shard) push(e *Entry, at int64) {
	e.state.idx = int32(len(sh.heap))
	sh.heap = append(sh.heap, slot{at: at, e: e})
	sh.up(len(sh.heap) - 1)
}

// pop removes and returns the earliest slot.
func (sh *shard) pop() slot {
	top := sh.heap[0]
	sh.removeAt(0)
	return top
}

// lower moves e's slot earlier to at, if that is earlier.
func (sh *shard) lower(e *Entry, at int64) {
	i := int(e.state.idx)
	if at < sh.heap[i].at {
		sh.heap[i].at = at
		sh.up(i)
	}
}

func (sh *shard) removeAt(i int) {
	h := sh.heap
	last := len(h) - 1
	h[i].e.state.idx = -1
	if i != last {
		h[i] = h[last]
		h[i].e.state.idx = int32(i)
	}
	h[last] = slot{}
	sh.heap = h[:last]
	if i != last {
		sh.down(i)
		sh.up(i)
	}
}

func (sh *shard) up(i int) {
	h := sh.heap
	for i > 0 {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			break
		}
		sh.swap(i, p)
		i = p
	}
}

func (sh *shard) down(i int) {
	h := sh.heap
	n := len(h)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && h[r].at < h[c].at {
			c = r
		}
		if h[i].at <= h[c].at {
			return
		}
		sh.swap(i, c)
		i = c
	}
}

func (sh *shard) swap(i, j int) {
	h := sh.heap
	h[i], h[j] = h[j], h[i]
	h[i].e.state.idx = int32(i)
	h[j].e.state.idx = int32(j)
}

// pshard counts sessions per principal for a slice of the principals.
type pshard struct {
	mu sync.Mutex
	n  map[string]int
	_  [48]byte
}
