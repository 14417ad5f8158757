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
