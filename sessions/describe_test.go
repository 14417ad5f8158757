package sessions

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestInspectIsNotActivity(t *testing.T) {
	clk := newClock()
	r := mustRegistry(t, Config{IdleTimeout: time.Minute}, clk)
	e, err := r.Create("alice", "default", nil, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	idleBefore, _ := r.Deadlines(e)
	clk.Add(40 * time.Second)
	got, release, err := r.Inspect(context.Background(), e.Token, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got != e {
		t.Fatal("Inspect returned another entry")
	}
	release()
	if idle, _ := r.Deadlines(e); !idle.Equal(idleBefore) {
		t.Errorf("idle deadline moved from %v to %v after Inspect", idleBefore, idle)
	}
	clk.Add(30 * time.Second)
	if _, _, err := r.Inspect(context.Background(), e.Token, "alice"); !errors.Is(err, ErrExpired) {
		t.Errorf("Inspect after the idle timeout: %v, want ErrExpired", err)
	}
}

func TestDescribe(t *testing.T) {
	clk := newClock()
	r := mustRegistry(t, Config{IdleTimeout: time.Minute, AbsoluteTimeout: time.Hour}, clk)
	e, err := r.Create("alice", "default", nil, Options{IdleTimeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.IdleTimeout(e); got != 10*time.Second {
		t.Errorf("IdleTimeout = %v, want the session's own 10s", got)
	}
	abs, ok := r.AbsoluteDeadline(e.Token, "alice")
	if !ok || !abs.Equal(clk.Now().Add(time.Hour)) {
		t.Errorf("AbsoluteDeadline = %v %v, want %v", abs, ok, clk.Now().Add(time.Hour))
	}
	if _, ok := r.AbsoluteDeadline(e.Token, "bob"); ok {
		t.Error("AbsoluteDeadline answered for another principal")
	}
}

// TestCreated reads a session's creation time back from its absolute
// deadline, however much time passed since.
func TestCreated(t *testing.T) {
	clk := newClock()
	r := mustRegistry(t, Config{AbsoluteTimeout: 90 * time.Minute}, clk)
	clk.Add(3*time.Second + 7*time.Nanosecond)
	want := clk.Now()
	e := mustCreate(t, r, "alice", Options{})
	clk.Add(20 * time.Minute)
	if got := r.Created(e); !got.Equal(want) {
		t.Errorf("Created = %v, want %v", got, want)
	}
	if _, err := New(Config{InstanceID: "x", AbsoluteTimeout: 101 * 365 * 24 * time.Hour}); err == nil {
		t.Error("an absolute timeout of 101 years was accepted")
	}
}

// TestChoice converts an optional bool to a Choice and back.
func TestChoice(t *testing.T) {
	yes, no := true, false
	for _, tt := range []struct {
		in      *bool
		want    Choice
		orFalse bool
		orTrue  bool
	}{{nil, Default, false, true}, {&yes, Yes, true, true}, {&no, No, false, false}} {
		c := ChoiceOf(tt.in)
		if c != tt.want || c.Or(false) != tt.orFalse || c.Or(true) != tt.orTrue {
			t.Errorf("ChoiceOf(%v) = %v, Or(false) %v, Or(true) %v", tt.in, c, c.Or(false), c.Or(true))
		}
		if p := c.Ptr(); (p == nil) != (tt.in == nil) || (p != nil && *p != *tt.in) {
			t.Errorf("%v.Ptr() = %v, want %v", c, p, tt.in)
		}
	}
}
