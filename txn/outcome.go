package txn

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// DefaultOutcomeRetention is how long outcome records are kept.
const DefaultOutcomeRetention = 24 * time.Hour

// OutcomeID is the _id of the outcome record of transaction number of
// the session named by token. Any instance can compute it from what the
// client holds, and it does not reveal the token: it is a SHA-256 of
// both, 132 bits of it in URL-safe base64.
func OutcomeID(token string, number int64) string {
	h := sha256.New()
	h.Write([]byte("mongogate-outcome-v1\x00"))
	h.Write([]byte(token))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(number, 10)))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:22]
}

// Record is an outcome record: it exists if and only if its transaction
// committed, because it is written inside the transaction.
type Record struct {
	ID        string    `bson:"_id"`
	Principal string    `bson:"p"`
	Number    int64     `bson:"n"`
	Written   time.Time `bson:"at"`
	// ExpireAt is when MongoDB's TTL monitor removes the record.
	ExpireAt time.Time `bson:"expireAt"`
}

// EnsureOutcomeIndex creates the TTL index that expires outcome records
// in coll at their expireAt.
func EnsureOutcomeIndex(ctx context.Context, coll *mongo.Collection) error {
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "expireAt", Value: 1}},
		Options: expireAtOptions(),
	})
	if err != nil {
		return fmt.Errorf("txn: outcome records' TTL index: %w", err)
	}
	return nil
}

func expireAtOptions() *options.IndexOptionsBuilder {
	return options.Index().SetExpireAfterSeconds(0).SetName("expireAt_ttl")
}

// FindRecord reads the outcome record id from coll; found is false when
// there is none (the transaction did not commit, or its record expired).
func FindRecord(ctx context.Context, coll *mongo.Collection, id string) (r Record, found bool, err error) {
	err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&r)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return Record{}, false, nil
	case err != nil:
		return Record{}, false, fmt.Errorf("txn: outcome record: %w", err)
	}
	return r, true, nil
}

// recording reports whether sub's transaction, started with the effective
// options eff, writes an outcome record: asked for (or the backend's
// default), on a session with a token (which a client can ask about),
// with a collection to write to.
func (m *Manager) recording(sub *subject, eff Options) bool {
	if sub.token == "" || m.cfg.Outcomes == nil {
		return false
	}
	if eff.RecordOutcome != nil {
		return *eff.RecordOutcome
	}
	return m.cfg.RecordByDefault != nil && m.cfg.RecordByDefault(sub.backend)
}

// writeRecord inserts sub's outcome record inside its transaction, just
// before the commit.
func (m *Manager) writeRecord(ctx context.Context, sub *subject) error {
	coll := m.cfg.Outcomes(sub.backend)
	if coll == nil {
		return fmt.Errorf("txn: no outcome collection for backend %q", sub.backend)
	}
	now := sub.now()
	_, err := coll.InsertOne(mongo.NewSessionContext(ctx, sub.sess), Record{
		ID: sub.st.outcome, Principal: sub.principal, Number: sub.st.number,
		Written: now, ExpireAt: now.Add(m.cfg.OutcomeRetention),
	})
	if err != nil {
		return fmt.Errorf("txn: writing the outcome record: %w", err)
	}
	return nil
}

// Open is a transaction this instance has open (or whose commit outcome
// it does not know): what a dead instance's survivors must kill.
type Open struct {
	Backend   string
	LSID      bson.Binary // the driver session's logical session id
	Outcome   string      // its outcome record's id, when it records one
	Principal string
}

// track records sub's transaction as open. It runs when the transaction
// begins, on the holder's goroutine; the value is immutable, so
// OpenTransactions may read it from any goroutine.
func (m *Manager) track(sub *subject) {
	_, id, ok := sub.sess.ID().Lookup("id").BinaryOK()
	if !ok {
		return
	}
	m.open.Store(sub.st, Open{
		Backend: sub.backend, Principal: sub.principal, Outcome: sub.st.outcome,
		LSID: bson.Binary{Subtype: bson.TypeBinaryUUID, Data: append([]byte(nil), id...)},
	})
}

func (m *Manager) untrack(sub *subject) { m.open.Delete(sub.st) }

// OpenTransactions lists the transactions open now, for the instance
// directory's heartbeat.
func (m *Manager) OpenTransactions() []Open {
	var out []Open
	m.open.Range(func(_, v any) bool {
		out = append(out, v.(Open))
		return true
	})
	return out
}
