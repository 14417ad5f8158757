package backend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Set is the backends of one instance, by name; one of them is Default.
type Set struct {
	byName map[string]*Backend
	names  []string // sorted
}

// NewSet checks that bs have distinct names and include Default.
func NewSet(bs ...*Backend) (*Set, error) {
	s := &Set{byName: map[string]*Backend{}}
	for _, b := range bs {
		if b == nil || b.Name == "" || b.Client == nil {
			return nil, errors.New("backend: every backend needs a name and a client")
		}
		if s.byName[b.Name] != nil {
			return nil, fmt.Errorf("backend: %q given twice", b.Name)
		}
		s.byName[b.Name] = b
		s.names = append(s.names, b.Name)
	}
	if s.byName[Default] == nil {
		return nil, fmt.Errorf("backend: no backend named %q", Default)
	}
	slices.Sort(s.names)
	return s, nil
}

// Get returns the backend named name, or nil.
func (s *Set) Get(name string) *Backend { return s.byName[name] }

// All returns the backends in name order.
func (s *Set) All() []*Backend {
	out := make([]*Backend, len(s.names))
	for i, n := range s.names {
		out[i] = s.byName[n]
	}
	return out
}

// AnyDown reports whether some backend is down.
func (s *Set) AnyDown() bool {
	for _, b := range s.byName {
		if b.Down() {
			return true
		}
	}
	return false
}

// Probe pings every backend every interval until ctx ends, so that a
// backend the driver has not noticed down (or up) is found by the next
// ping; after each round it calls round, if set.
func (s *Set) Probe(ctx context.Context, interval time.Duration, round func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, b := range s.All() {
			if !b.ping(ctx, interval) {
				return
			}
		}
		if round != nil {
			round()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Disconnect closes every backend's client.
func (s *Set) Disconnect(ctx context.Context) error {
	var errs []error
	for _, b := range s.All() {
		if err := b.Client.Disconnect(ctx); err != nil {
			errs = append(errs, fmt.Errorf("backend %q: %w", b.Name, err))
		}
	}
	return errors.Join(errs...)
}
