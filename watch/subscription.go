package watch

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errStopped: the subscription is closed, cut or ended; what was being
// pushed is not wanted.
var errStopped = errors.New("watch: subscription stopped")

// Subscription is one subscriber's view of a stream: the messages queued
// for it, in stream order. Next and Close may be called from different
// goroutines; Next from one at a time.
type Subscription struct {
	hub    *Hub
	st     *stream
	limit  int
	notify chan struct{} // a message or the end was queued
	space  chan struct{} // Next took a message (for the catch-up)
	cancel context.CancelFunc

	mu     sync.Mutex
	items  []*Event
	last   string // position of the last message queued
	token  string // token of the last message Next returned
	cut    bool
	end    error // returned by Next once the queue is empty
	closed bool
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// add queues ev unless sub has had its position; a heartbeat replaces a
// heartbeat that is still queued. It reports false when the queue is full.
// The caller holds s.mu.
func (s *Subscription) add(ev *Event) bool {
	if ev.pos != "" && ev.pos <= s.last {
		return true
	}
	if n := len(s.items); ev.Heartbeat() && n > 0 && s.items[n-1].Heartbeat() {
		s.items[n-1] = ev
	} else {
		if len(s.items) >= s.limit {
			return false
		}
		s.items = append(s.items, ev)
	}
	if ev.pos > s.last {
		s.last = ev.pos
	}
	signal(s.notify)
	return true
}

// offer queues ev from the shared stream without waiting; a full queue
// cuts the subscriber (false).
func (s *Subscription) offer(ev *Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.cut || s.end != nil {
		return true
	}
	if !s.add(ev) {
		s.cut, s.items = true, nil
		signal(s.notify)
		return false
	}
	return true
}

// push queues ev from the catch-up stream, waiting for room.
func (s *Subscription) push(ctx context.Context, ev *Event) error {
	for {
		s.mu.Lock()
		if s.closed || s.cut || s.end != nil {
			s.mu.Unlock()
			return errStopped
		}
		ok := s.add(ev)
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-s.space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// finish ends the subscription with err once its queue is empty.
func (s *Subscription) finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.end == nil {
		s.end = err
	}
	signal(s.notify)
}

func (s *Subscription) closedNow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed || s.cut || s.end != nil
}

// Next returns the next message, waiting for it until ctx ends. After
// idle without one it returns a heartbeat at the last position it gave
// (none before the first message). It fails with *SlowError when the
// subscriber was cut, io.EOF after an invalidate event, and the stream's
// error when the stream failed.
func (s *Subscription) Next(ctx context.Context, idle time.Duration) (*Event, error) {
	var timer *time.Timer
	for {
		s.mu.Lock()
		if s.cut {
			tok := s.token
			s.mu.Unlock()
			return nil, &SlowError{Token: tok, Queue: s.limit}
		}
		if len(s.items) > 0 {
			ev := s.items[0]
			s.items[0] = nil
			s.items = s.items[1:]
			if len(s.items) == 0 {
				s.items = nil
			}
			s.token = ev.Token
			s.mu.Unlock()
			signal(s.space)
			if !ev.Heartbeat() {
				s.hub.obs.Delivered()
			}
			return ev, nil
		}
		if s.end != nil {
			err := s.end
			s.mu.Unlock()
			return nil, err
		}
		tok := s.token
		s.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(idle)
			defer timer.Stop()
		}
		select {
		case <-s.notify:
		case <-timer.C:
			if tok != "" {
				return &Event{Token: tok}, nil
			}
			timer.Reset(idle)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close ends the subscription and releases its stream. It is idempotent.
func (s *Subscription) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed, s.items = true, nil
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	s.st.release(s)
	s.hub.obs.Subscribers(-1)
}
