package watch

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Resume tokens. A mongogate token is
//
//	"mgw1" + base64url(MongoDB's token as BSON ‖ HMAC-SHA256(key, "mgw1" ‖ binding ‖ MongoDB's token))
//
// where binding is the Spec's digest. It carries MongoDB's token so that
// any instance can resume from it, and is bound by the MAC to the Spec, so
// a token of another backend, scope, pipeline or options fails to verify,
// as a forged one does: both are ErrBadToken. The key is shared by every
// instance (see KeyFromSecret and KeyFromCollection), so every instance
// verifies every other's tokens.

const tokenPrefix = "mgw1"

// maxTokenLen bounds what is decoded; MongoDB's tokens are a few hundred
// bytes.
const maxTokenLen = 8 << 10

// keyring signs and verifies tokens with a key it loads once.
type keyring struct {
	load func(ctx context.Context) ([]byte, error)
	mu   sync.Mutex
	key  []byte
}

// get returns the key, loading it on first use; a failed load is tried
// again by the next call.
func (k *keyring) get(ctx context.Context) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != nil {
		return k.key, nil
	}
	key, err := k.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch: resume token key: %w", err)
	}
	if len(key) < 16 {
		return nil, errors.New("watch: resume token key shorter than 16 bytes")
	}
	k.key = key
	return key, nil
}

// loaded is the key once get has succeeded.
func (k *keyring) loaded() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.key
}

func mac(key []byte, bind [32]byte, mongoToken []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tokenPrefix))
	m.Write(bind[:])
	m.Write(mongoToken)
	return m.Sum(nil)
}

func sign(key []byte, bind [32]byte, mongoToken bson.Raw) string {
	b := make([]byte, 0, len(mongoToken)+sha256.Size)
	b = append(b, mongoToken...)
	b = append(b, mac(key, bind, mongoToken)...)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// verify returns MongoDB's token inside tok, or ErrBadToken.
func verify(key []byte, bind [32]byte, tok string) (bson.Raw, error) {
	// Go's base64 decoder skips CR and LF even in strict mode; refused
	// here, a token has one spelling only.
	if !strings.HasPrefix(tok, tokenPrefix) || len(tok) > maxTokenLen || strings.ContainsAny(tok, "\r\n") {
		return nil, ErrBadToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok[len(tokenPrefix):])
	if err != nil || len(b) < sha256.Size+5 {
		return nil, ErrBadToken
	}
	mongoToken, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if !hmac.Equal(sum, mac(key, bind, mongoToken)) {
		return nil, ErrBadToken
	}
	raw := bson.Raw(mongoToken)
	if raw.Validate() != nil {
		return nil, ErrBadToken
	}
	return raw, nil
}

// KeyFromSecret derives the token key from the peers' shared secret
// (every instance has it, so every instance derives the same key); the
// secret itself signs nothing else than forwarded calls.
func KeyFromSecret(secret []byte) func(context.Context) ([]byte, error) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("mongogate watch resume tokens v1"))
	key := m.Sum(nil)
	return func(context.Context) ([]byte, error) { return key, nil }
}

// keyID is the _id of the key's document in its collection.
const keyID = "watch-resume-tokens"

// KeyFromCollection keeps a random key in coll, a collection of the
// default backend that every instance shares: the first instance to look
// inserts it (an upsert with $setOnInsert, so concurrent first instances
// agree on one), and every instance reads it back. Anyone who can read
// coll can forge tokens, which is why it must be one of mongogate's own
// collections, which no request may touch. Used when there is no peer
// secret.
func KeyFromCollection(coll *mongo.Collection) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		fresh := make([]byte, 32)
		if _, err := rand.Read(fresh); err != nil {
			return nil, err
		}
		_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: keyID}},
			bson.D{{Key: "$setOnInsert", Value: bson.D{
				{Key: "key", Value: bson.Binary{Data: fresh}},
				{Key: "created", Value: time.Now()},
			}}}, options.UpdateOne().SetUpsert(true))
		if err != nil && !mongo.IsDuplicateKeyError(err) {
			return nil, err
		}
		var doc struct {
			Key bson.Binary `bson:"key"`
		}
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: keyID}}).Decode(&doc); err != nil {
			return nil, err
		}
		return doc.Key.Data, nil
	}
}
