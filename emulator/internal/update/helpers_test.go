package update

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// mustDoc parses relaxed extended JSON: small integers become int32, large
// ones int64, fractions float64; {"$numberLong": …}, {"$numberDecimal": …}
// etc. give the other BSON types.
func mustDoc(t *testing.T, s string) bson.D {
	t.Helper()
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(s), false, &d); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return d
}

// mustValue parses one extended-JSON value.
func mustValue(t *testing.T, s string) any {
	t.Helper()
	return mustDoc(t, `{"v": `+s+`}`)[0].Value
}

// mustFilters parses a JSON array of array filters; "" gives none.
func mustFilters(t *testing.T, s string) []bson.D {
	t.Helper()
	if s == "" {
		return nil
	}
	var out []bson.D
	for _, f := range mustValue(t, s).(bson.A) {
		out = append(out, f.(bson.D))
	}
	return out
}

func assertCode(t *testing.T, err error, code int32) {
	t.Helper()
	e := mongoerr.As(err)
	if e == nil {
		t.Fatalf("err = %v, want a mongoerr with code %d", err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %d (%s: %s), want %d", e.Code, e.Name, e.Msg, code)
	}
}

// assertSameDoc compares documents exactly: field order and Go types.
func assertSameDoc(t *testing.T, got, want bson.D) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

var testNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func testOptions() Options {
	return Options{Match: fakeMatch, Pipeline: fakePipeline, Now: func() time.Time { return testNow }}
}

func mustCompile(t *testing.T, u any, filters []bson.D) *Update {
	t.Helper()
	c, err := Compile(u, filters, testOptions())
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return c
}

// fakeMatch stands in for the query package: field equality (no array
// traversal), $eq, $ne, $gt, $gte, $lt, $lte, $in and a top-level $and.
func fakeMatch(filter bson.D) (func(bson.D) (bool, error), error) {
	for _, e := range filter {
		if strings.HasPrefix(e.Key, "$") && e.Key != "$and" {
			return nil, mongoerr.New(mongoerr.BadValue, "unknown top level operator: %s", e.Key)
		}
	}
	return func(doc bson.D) (bool, error) { return fakeMatches(filter, doc), nil }, nil
}

func fakeMatches(filter, doc bson.D) bool {
	for _, e := range filter {
		if e.Key == "$and" {
			for _, sub := range e.Value.(bson.A) {
				if !fakeMatches(sub.(bson.D), doc) {
					return false
				}
			}
			continue
		}
		var got any = value.Missing{}
		if v, ok := value.Get(doc, e.Key); ok {
			got = v
		}
		ops, isOps := e.Value.(bson.D)
		if !isOps || len(ops) == 0 || !strings.HasPrefix(ops[0].Key, "$") {
			if !value.Equal(got, e.Value) {
				return false
			}
			continue
		}
		for _, op := range ops {
			sameType := value.Rank(got) == value.Rank(op.Value)
			c := value.Compare(got, op.Value)
			var ok bool
			switch op.Key {
			case "$eq":
				ok = c == 0
			case "$ne":
				ok = c != 0
			case "$gt":
				ok = sameType && c > 0
			case "$gte":
				ok = sameType && c >= 0
			case "$lt":
				ok = sameType && c < 0
			case "$lte":
				ok = sameType && c <= 0
			case "$in":
				for _, x := range op.Value.(bson.A) {
					ok = ok || value.Equal(got, x)
				}
			}
			if !ok {
				return false
			}
		}
	}
	return true
}

// fakePipeline stands in for the agg package: it understands only $set
// stages whose values are literals or "$$var" references.
func fakePipeline(stages bson.A, doc bson.D, vars map[string]any) (bson.D, error) {
	for _, s := range stages {
		stage := s.(bson.D)
		if stage[0].Key != "$set" {
			return nil, mongoerr.New(mongoerr.NotImplemented, "fake pipeline: %s", stage[0].Key)
		}
		for _, f := range stage[0].Value.(bson.D) {
			v := f.Value
			if s, ok := v.(string); ok && strings.HasPrefix(s, "$$") {
				v = vars[s[2:]]
			}
			replaced := false
			for i := range doc {
				if doc[i].Key == f.Key {
					doc[i].Value, replaced = v, true
				}
			}
			if !replaced {
				doc = append(doc, bson.E{Key: f.Key, Value: v})
			}
		}
	}
	return doc, nil
}

func idx(i int) *int { return &i }
