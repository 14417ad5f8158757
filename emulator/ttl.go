package emulator

import (
	"context"
	"math"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// TTL indexes (https://www.mongodb.com/docs/manual/core/index-ttl/): an
// index with expireAfterSeconds on one field makes a background monitor
// delete the documents whose indexed date is at least that many seconds in
// the past. "If the field is an array, and there are multiple date values
// in the index, MongoDB uses lowest (i.e. earliest) date value"; a document
// whose field is not a date, or that lacks it, never expires. The monitor
// wakes every ttlMonitorSleepSecs (default 60), and its deletes are
// ordinary writes outside any transaction (mongodb/mongo src/mongo/db/ttl.cpp).

// expireAfterSecondsField is the index option that makes an index TTL.
const expireAfterSecondsField = "expireAfterSeconds"

// parseExpireAfterSeconds validates a TTL index's expireAfterSeconds as
// createIndexes does (index_key_validate.cpp validateExpireAfterSeconds):
// a number, not NaN, within 0 and the int32 range. The value is kept as the
// int32 that listIndexes reports (the option is a safeInt in its IDL).
func parseExpireAfterSeconds(v any, spec bson.D) (int32, error) {
	f, ok := value.ToFloat(v)
	if !ok {
		return 0, mongoerr.New(mongoerr.CannotCreateIndex,
			"TTL index 'expireAfterSeconds' option must be numeric, but received a type of '%s'. Index spec: %v", value.TypeAlias(v), spec)
	}
	if math.IsNaN(f) {
		return 0, mongoerr.New(mongoerr.CannotCreateIndex, "TTL index 'expireAfterSeconds' option must not be NaN. Index spec: %v", spec)
	}
	f = math.Trunc(f)
	if f > math.MaxInt32 || f < math.MinInt32 {
		return 0, mongoerr.New(mongoerr.CannotCreateIndex, "TTL index 'expireAfterSeconds' must be within the range of a 32-bit integer. Index spec: %v", spec)
	}
	if f < 0 {
		return 0, mongoerr.New(mongoerr.CannotCreateIndex, "TTL index 'expireAfterSeconds' option cannot be less than 0. Index spec: %v", spec)
	}
	return int32(f), nil
}

// checkTTLKey refuses a TTL option on an index that cannot be TTL. The
// manual says compound indexes "ignore the expireAfterSeconds option", but
// MongoDB 7.0's createIndexes refuses them (validateIndexSpecTTL, called
// from create_indexes_cmd.cpp validateTTLOptions); the _id index takes no
// expireAfterSeconds (validateIdIndexSpec).
func checkTTLKey(key, spec bson.D) error {
	if len(key) != 1 {
		return mongoerr.New(mongoerr.CannotCreateIndex,
			"TTL indexes are single-field indexes, compound indexes do not support TTL. Index spec: %v", spec)
	}
	if isIDIndexPattern(key) {
		return mongoerr.New(mongoerr.InvalidIndexSpecificationOption,
			"The field 'expireAfterSeconds' is not valid for an _id index specification. Specification: %v", spec)
	}
	return nil
}

func isIDIndexPattern(key bson.D) bool {
	if len(key) != 1 || key[0].Key != "_id" {
		return false
	}
	n, ok := value.ToFloat(key[0].Value)
	return ok && n == 1
}

// setSpecField returns a copy of spec with key set to v; listIndexes
// replies and cursors may still share the original.
func setSpecField(spec bson.D, key string, v any) bson.D {
	out := slices.Clone(spec)
	for i := range out {
		if out[i].Key == key {
			out[i].Value = v
			return out
		}
	}
	return append(out, bson.E{Key: key, Value: v})
}

// ttlMonitor runs TTL passes until the server closes.
func (s *Server) ttlMonitor() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.TTLMonitorInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.store.mu.Lock()
			if !s.store.closed {
				s.store.expireTTL(now)
			}
			s.store.mu.Unlock()
		}
	}
}

// expireTTL deletes every document that a TTL index says has expired at
// now, and returns how many. Callers hold mu exclusively.
//
// Like ttl.cpp it deletes what matches {field: {$gte: <earliest date>,
// $lte: now - expireAfterSeconds}}, which only dates satisfy, and skips
// indexes that are not B-trees (hashed). A document locked by an open
// transaction is left for a later pass: MongoDB's delete would hit a write
// conflict and retry, and whether it then still matches depends on how the
// transaction ends.
func (st *store) expireTTL(now time.Time) int {
	n := 0
	for _, dbName := range st.databaseNames() {
		d := st.dbs[dbName]
		for _, name := range d.collectionNames() {
			c := d.colls[name]
			if c.pending != nil {
				continue // created by a transaction that has not committed
			}
			for _, ix := range c.indexes {
				if !ix.isTTL || !ix.btree() {
					continue
				}
				n += st.expireIndex(c, ix, now)
			}
		}
	}
	return n
}

func (st *store) expireIndex(c *collection, ix *index, now time.Time) int {
	cutoff := now.UnixMilli() - int64(ix.expireAfter)*1000
	f, err := compileFilter(bson.D{{Key: ix.key[0].Key, Value: bson.D{
		{Key: "$gte", Value: bson.DateTime(math.MinInt64)},
		{Key: "$lte", Value: bson.DateTime(cutoff)},
	}}}, nil)
	if err != nil {
		return 0
	}
	latest := &view{st: st, ctx: context.Background()}
	var expired []*record
	latest.scan(c, func(r *record, doc bson.D) bool {
		if r.owner != nil {
			return true
		}
		if ok, err := f.Match(doc); err == nil && ok {
			expired = append(expired, r)
		}
		return true
	})
	for _, r := range expired {
		// One write, and one cluster time, per document, as each TTL
		// delete is its own operation.
		w := &view{st: st, ctx: context.Background()}
		w.put(c, r, nil)
	}
	return len(expired)
}

// btree reports whether the index is an ordinary (not hashed) one.
func (ix *index) btree() bool {
	for _, k := range ix.key {
		if _, special := k.Value.(string); special {
			return false
		}
	}
	return true
}

// collModIndex applies collMod's {index: {name | keyPattern,
// expireAfterSeconds}}: it changes a TTL index's expiry, or, since MongoDB
// 5.1, makes a single-field index TTL
// (https://www.mongodb.com/docs/manual/reference/command/collMod/). The
// errors follow jstests/core/collmod_convert_to_ttl.js: a non-number is a
// TypeMismatch; a negative value, a compound index or the _id index are
// InvalidOptions. The other index options (hidden, unique, prepareUnique)
// are not supported. The reply carries expireAfterSeconds_old and _new
// when the value changed (coll_mod.cpp), only _new when the index was not TTL.
func (x *exec) collModIndex(c *collection, spec bson.D) (bson.D, error) {
	var name string
	var keyPattern bson.D
	var hasName, hasKey, hasExpire bool
	var expireV any
	for _, e := range spec {
		switch e.Key {
		case "name":
			s, ok := e.Value.(string)
			if !ok {
				return nil, wrongType(x.name, "index.name", e.Value, "string")
			}
			name, hasName = s, true
		case "keyPattern":
			d, ok := e.Value.(bson.D)
			if !ok {
				return nil, wrongType(x.name, "index.keyPattern", e.Value, "object")
			}
			keyPattern, hasKey = d, true
		case expireAfterSecondsField:
			expireV, hasExpire = e.Value, true
		case "hidden", "unique", "prepareUnique", "forceNonUnique":
			return nil, mongoerr.New(mongoerr.NotImplemented, "the emulator does not support collMod index option '%s'", e.Key)
		default:
			return nil, mongoerr.New(40415, "BSON field 'collMod.index.%s' is an unknown field.", e.Key)
		}
	}
	if hasName && hasKey {
		return nil, mongoerr.New(mongoerr.InvalidOptions, "Cannot specify both key pattern and name.")
	}
	if !hasName && !hasKey {
		return nil, mongoerr.New(mongoerr.InvalidOptions, "Must specify either index name or key pattern.")
	}
	if !hasExpire {
		return nil, mongoerr.New(mongoerr.InvalidOptions, "no expireAfterSeconds or hidden or unique field")
	}
	if !value.IsNumber(expireV) {
		return nil, wrongType(x.name, "index.expireAfterSeconds", expireV, "int")
	}
	f, _ := value.ToFloat(expireV)
	if math.IsNaN(f) || f < 0 || math.Trunc(f) > math.MaxInt32 {
		return nil, mongoerr.New(mongoerr.InvalidOptions, "TTL index 'expireAfterSeconds' option must be within 0 and %d", math.MaxInt32)
	}
	expire := int32(math.Trunc(f))

	var ix *index
	for _, cand := range c.indexes {
		if (hasName && cand.name == name) || (hasKey && value.Equal(cand.key, keyPattern)) {
			if ix != nil {
				return nil, mongoerr.New(mongoerr.AmbiguousIndexKeyPattern,
					"index keyPattern %v matches 2 indexes, must use index name.", keyPattern)
			}
			ix = cand
		}
	}
	if ix == nil {
		target := any(name)
		if hasKey {
			target = keyPattern
		}
		return nil, mongoerr.New(mongoerr.IndexNotFound, "cannot find index %v for ns %s", target, x.ns(c.name))
	}
	if !ix.isTTL {
		if isIDIndexPattern(ix.key) {
			return nil, mongoerr.New(mongoerr.InvalidOptions, "the _id field does not support TTL indexes")
		}
		if len(ix.key) != 1 {
			return nil, mongoerr.New(mongoerr.InvalidOptions, "TTL indexes are single-field indexes, compound indexes do not support TTL")
		}
	}
	var out []bson.E
	switch {
	case !ix.isTTL:
		out = append(out, bson.E{Key: "expireAfterSeconds_new", Value: expire})
	case ix.expireAfter != expire:
		out = append(out, bson.E{Key: "expireAfterSeconds_old", Value: ix.expireAfter},
			bson.E{Key: "expireAfterSeconds_new", Value: expire})
	}
	ix.isTTL, ix.expireAfter = true, expire
	ix.spec = setSpecField(ix.spec, expireAfterSecondsField, expire)
	return out, nil
}
