package sessions

import (
	"context"
	"math"
	"time"
)

const (
	// reapWorkers bounds the driver calls (abortTransaction, endSession)
	// the reaper has in flight, so one slow backend delays expiry a little
	// rather than all of it.
	reapWorkers = 16
	// minReapInterval batches deadlines that fall close together into one
	// pass. Acquire and Refresh check deadlines themselves, so clients never
	// see a session outlive its deadline by this much.
	minReapInterval = 10 * time.Millisecond
)

// reapJob is one thing the reaper holds an entry for: its expiry (why is
// "idle" or "absolute"; the entry is already killed) or, with why empty,
// the abort of its overlong transaction.
type reapJob struct {
	e   *Entry
	why string
	gen uint32
}

// poke wakes the reaper if at is earlier than what it sleeps until.
func (r *Registry) poke(at int64) {
	if at < r.nextWake.Load() {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// run is the reaper: it sleeps until the earliest deadline of any shard
// (or a poke), and then reaps.
func (r *Registry) run() {
	defer close(r.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := r.reap(r.cfg.Now())
		if next == never {
			timer.Stop()
		} else {
			timer.Reset(max(time.Duration(next-r.monoNow()), minReapInterval))
		}
		select {
		case <-r.stop:
			return
		case <-r.wake:
		case <-timer.C:
		}
	}
}

// reap does what is due at now and returns the next deadline. Its cost is
// one lock per shard plus the slots that surface: those of sessions that
// expire, of transactions that outlive their lifetime, of sessions whose
// slot went stale (re-queued once per idle period at most), and of
// tombstones whose TTL passed. Sessions that are not due are not visited.
func (r *Registry) reap(now time.Time) int64 {
	r.reapMu.Lock()
	defer r.reapMu.Unlock()
	// Until the pass ends any new deadline must poke, since the shard it
	// lands in may already have been passed.
	r.nextWake.Store(math.MinInt64)
	n := r.mono(now)
	next := int64(never)
	var jobs []reapJob
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		jobs = r.reapShardLocked(sh, n, jobs[:0])
		if len(sh.heap) > 0 {
			next = min(next, sh.heap[0].at)
		}
		if len(sh.tq) > 0 {
			next = min(next, sh.tq[0].until)
		}
		sh.mu.Unlock()
		for _, j := range jobs {
			r.dispatch(j)
		}
	}
	r.nextWake.Store(next)
	return next
}

func (r *Registry) reapShardLocked(sh *shard, n int64, jobs []reapJob) []reapJob {
	for len(sh.heap) > 0 && sh.heap[0].at <= n {
		e := sh.pop().e
		r.reapPops++
		if e.state.held {
			// Its release puts it back with fresh deadlines.
			continue
		}
		if at := e.state.deadline(); at > n {
			// Used or refreshed since the slot was queued.
			sh.push(e, at)
			continue
		}
		e.state.held = true
		if why := dueLocked(e, n, true); why != "" {
			r.killLocked(sh, e, expired, n)
			jobs = append(jobs, reapJob{e: e, why: why})
			continue
		}
		e.state.gen++
		jobs = append(jobs, reapJob{e: e, gen: e.state.gen})
	}
	for len(sh.tq) > 0 && sh.tq[0].until <= n {
		t := sh.tq[0]
		sh.tq[0] = tombRef{}
		sh.tq = sh.tq[1:]
		r.reapPops++
		delete(sh.tombs, t.token)
	}
	if len(sh.tq) == 0 {
		sh.tq = nil
	}
	return jobs
}

// dispatch runs a job inline when it needs no driver call, and otherwise
// on one of at most reapWorkers goroutines.
func (r *Registry) dispatch(j reapJob) {
	if j.e.Session == nil {
		r.runJob(j)
		return
	}
	r.workers <- struct{}{}
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		defer func() { <-r.workers }()
		r.runJob(j)
	}()
}

func (r *Registry) runJob(j reapJob) {
	ctx := context.Background()
	if j.why != "" {
		r.finish(ctx, j.e, CauseExpired, j.why)
		return
	}
	r.expireTxn(ctx, j.e)
	r.release(j.e, j.gen, false)
}
