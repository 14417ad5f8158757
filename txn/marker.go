package txn

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A session's recording marker tells an instance answering without the
// session's owner which of the session's transactions insert their
// outcome record inside themselves, with nothing written before (see
// Record). It is what lets such a transaction record its outcome with one
// insert: one that has no record yet (it has not reached its commit, or
// it aborted) is fenced by inserting its record aborted, which only a
// transaction known to record this way may get.
//
// The owner writes the marker, outside any transaction, before it starts
// the first transaction whose way differs from what the marker says (no
// marker says: none inserts), so a client never holds the number of a
// transaction the marker does not describe. A session that keeps one way
// writes it once, and again only to keep it from expiring.

// markerFlips bounds the choices a marker keeps; a transaction older than
// the oldest kept is not described (its outcome is then UNKNOWN without
// its owner, never wrong).
const markerFlips = 32

// MarkerID is the _id of the recording marker of the session named by
// token, in the collection of its outcome records. Like OutcomeID it is a
// SHA-256 that does not reveal the token.
func MarkerID(token string) string {
	h := sha256.New()
	h.Write([]byte("mongogate-recording-v1\x00"))
	h.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:22]
}

// marker is a session's recording marker.
type marker struct {
	ID        string `bson:"_id"`
	Principal string `bson:"p"`
	// Flips are the session's ways: from transaction From on, its
	// transactions insert their record (Inserts) or not, until the next
	// flip. At most markerFlips, the latest.
	Flips    []flip    `bson:"r"`
	ExpireAt time.Time `bson:"expireAt"`
}

type flip struct {
	From    int64 `bson:"n"`
	Inserts bool  `bson:"on"`
}

// inserts reports whether transaction number inserts its outcome record
// (with nothing written before it started); known is false for a number
// older than every flip kept.
func (m marker) inserts(number int64) (inserts, known bool) {
	best := int64(-1)
	for _, f := range m.Flips {
		// A later flip from the same number wins: a start that wrote
		// its flip and then failed left its number to the next one.
		if f.From <= number && f.From >= best {
			best, inserts = f.From, f.Inserts
		}
	}
	return inserts, best >= 0
}

// markState is what the owner remembers of its session's marker
// (State.marked).
type markState uint8

const (
	markNone markState = iota // no marker written: no transaction inserts its record
	markOn                    // the marker says: transactions insert their record
	markOff                   // the marker says: transactions do not
)

// mark makes sub's marker describe transaction number, which inserts its
// outcome record or not as inserts says, before the transaction starts:
// it writes only when the session's way changes, or to renew a marker
// that would expire within 1.5 retention periods (a marker is written to
// last two, so that it outlives the records of the transactions it
// describes).
func (o *Outcomes) mark(ctx context.Context, sub *subject, number int64, inserts bool) error {
	t := sub.st
	now := sub.now()
	var push []flip
	switch {
	case t.marked == markNone && inserts:
		push = []flip{{From: 0}, {From: number, Inserts: true}}
	case t.marked == markOn && !inserts, t.marked == markOff && inserts:
		push = []flip{{From: number, Inserts: inserts}}
	case t.marked == markOn && time.Unix(t.markedUntil, 0).Sub(now) < o.retention*3/2:
		// Renewal only: the way stands.
	default:
		return nil
	}
	coll := o.Collection(sub.backend)
	if coll == nil {
		return fmt.Errorf("txn: no outcome collection for backend %q", sub.backend)
	}
	until := now.Add(2 * o.retention)
	update := bson.D{
		{Key: "$setOnInsert", Value: bson.D{{Key: "p", Value: sub.principal}}},
		{Key: "$set", Value: bson.D{{Key: "expireAt", Value: until}}},
	}
	if len(push) > 0 {
		update = append(update, bson.E{Key: "$push", Value: bson.D{{Key: "r", Value: bson.D{
			{Key: "$each", Value: push}, {Key: "$slice", Value: -markerFlips},
		}}}})
	}
	_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: MarkerID(sub.token)}}, update, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("txn: writing the session's recording marker: %w", err)
	}
	t.marked, t.markedUntil = markOff, until.Unix()
	if inserts {
		t.marked = markOn
	}
	return nil
}

// findMarker reads the marker of the session named by token on backend,
// or on every backend when backend is "", and returns it with the backend
// it is on; found is false when there is none.
func (o *Outcomes) findMarker(ctx context.Context, backend, token string) (m marker, on string, found bool, err error) {
	on, found, err = o.lookup(ctx, backend, MarkerID(token), &m)
	if err != nil {
		return marker{}, "", false, fmt.Errorf("txn: recording marker: %w", err)
	}
	return m, on, found, nil
}
