package sessions

import "time"

// IdleTimeout is the idle timeout in force for e: its own request capped at
// MaxIdleTimeout, or the registry's default. It never changes.
func (r *Registry) IdleTimeout(e *Entry) time.Duration { return r.idleTimeout(e.Options.IdleTimeout) }

// Created is when e was registered, on the registry's clock: its absolute
// deadline less the absolute timeout, which an entry need not store.
func (r *Registry) Created(e *Entry) time.Time {
	return r.at(e.state.absAt - int64(r.cfg.AbsoluteTimeout))
}

// AbsoluteDeadline reports, without queueing behind running operations,
// when the live session named by token ends however active it is. ok is
// false for an unknown, expired or foreign token.
func (r *Registry) AbsoluteDeadline(token, principal string) (time.Time, bool) {
	sh, _ := r.shardOf(token)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := r.liveLocked(sh, token)
	if e == nil || e.Principal != principal {
		return time.Time{}, false
	}
	return r.at(e.state.absAt), true
}
