package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// commitLease is the directory's Lease, for the transaction layer: nil
// until Serve registers the instance, and while its heartbeats confirm it
// alive; while they do not, commits are held back, since peers may be
// answering for its transactions.
func (in *Instance) commitLease() error {
	if d := in.dir.Load(); d != nil {
		return d.Lease()
	}
	return nil
}

// fenced is the directory's Fenced: the instance was declared dead while
// it was paused or cut off, its peers killed its listed transactions and
// answer SESSION_OWNER_GONE for its tokens. It renames itself, so that
// those tokens are another (gone) instance's here too, and revokes every
// session of the old name: their open transactions are aborted and never
// commit. New sessions carry the new id, which the directory registers.
func (in *Instance) fenced(ctx context.Context, old string) string {
	id := renewedID(in.id)
	in.mu.Lock()
	fwd := in.forward
	in.mu.Unlock()
	dir := in.dir.Load()
	rctx, cancel := context.WithTimeout(ctx, closeTimeout)
	defer cancel()
	// Peers must know the new id before any token carries it; if they
	// cannot yet, the directory retries with each heartbeat.
	if dir != nil {
		if err := dir.RegisterAs(rctx, id); err != nil {
			in.log.Warn("mongogate: registering the new id failed; retrying with each heartbeat", "new", id, "err", err)
		}
	}
	if fwd != nil {
		fwd.SetSelf(id)
	}
	n, err := in.reg.Renew(rctx, id)
	in.log.Error("mongogate: this instance was declared dead by its peers (paused or cut off from MongoDB); its sessions are revoked and it serves under a new id",
		"old", old, "new", id, "revoked_sessions", n, "err", err)
	return id
}

// renewedID is a new id for an instance first named base: base (cut to
// fit) and a random suffix.
func renewedID(base string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	const suffix = 1 + 8
	if len(base) > 32-suffix {
		base = base[:32-suffix]
	}
	return base + "-" + hex.EncodeToString(b)
}
