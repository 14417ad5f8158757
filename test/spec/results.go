package spec

import (
	"fmt"
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// opResult is what an entity operation produced.
type opResult struct {
	// value is the result converted to BSON; Type 0 means no result.
	value bson.RawValue
	// cursor marks value as the documents of an iterated cursor (find,
	// aggregate, ...), each of which is matched as a root-level document.
	cursor bool
	// err is the operation's error, which expectError examines.
	err error
	// entity is a result that is not a BSON value (a change stream), kept
	// for saveResultAsEntity.
	entity any
}

// docResult converts a result model, built by the operation as a bson.D.
func docResult(d bson.D, err error) opResult {
	raw, merr := bson.Marshal(d)
	if merr != nil {
		// Results hold values the driver just decoded; they always marshal.
		panic(fmt.Sprintf("marshal result %v: %v", d, merr))
	}
	return opResult{value: docValue(raw), err: err}
}

func valueResult(v any, err error) opResult {
	t, data, merr := bson.MarshalValue(v)
	if merr != nil {
		panic(fmt.Sprintf("marshal result %v: %v", v, merr))
	}
	return opResult{value: bson.RawValue{Type: t, Value: data}, err: err}
}

func cursorResult(docs []bson.Raw, err error) opResult {
	if err != nil {
		return opResult{err: err}
	}
	r := valueResult(docs, nil)
	r.cursor = true
	return r
}

// ack marks the result of an unacknowledged (w:0) write, for which tests
// expect {acknowledged: false} or nothing.
func ack(d bson.D, acknowledged bool) bson.D {
	if !acknowledged {
		d = append(d, bson.E{Key: "acknowledged", Value: false})
	}
	return d
}

// sortByIndex orders a document keyed by operation index ("0", "1", ...),
// built from a Go map, so that failure messages read naturally.
func sortByIndex(d bson.D) {
	slices.SortFunc(d, func(a, b bson.E) int {
		x, _ := strconv.Atoi(a.Key)
		y, _ := strconv.Atoi(b.Key)
		return x - y
	})
}
