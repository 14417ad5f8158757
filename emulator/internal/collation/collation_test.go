package collation_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/collation"
	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
)

func mustParse(t *testing.T, d bson.D) *collation.Collator {
	t.Helper()
	c, err := collation.Parse(d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCompareStrings(t *testing.T) {
	loc := bson.E{Key: "locale", Value: "en_US"}
	tests := []struct {
		name string
		spec bson.D
		a, b string
		want int
	}{
		{"strength 1 ignores case", bson.D{loc, {Key: "strength", Value: 1}}, "ping", "PING", 0},
		{"strength 1 ignores diacritics", bson.D{loc, {Key: "strength", Value: 1}}, "cote", "côté", 0},
		{"strength 2 ignores case", bson.D{loc, {Key: "strength", Value: 2}}, "Ping", "pING", 0},
		{"strength 2 keeps diacritics", bson.D{loc, {Key: "strength", Value: 2}}, "cote", "côte", -1},
		{"strength 3 orders lower case first", bson.D{loc}, "a", "A", -1},
		{"caseFirst upper", bson.D{loc, {Key: "caseFirst", Value: "upper"}}, "a", "A", 1},
		{"caseLevel at strength 1 keeps case", bson.D{loc, {Key: "strength", Value: 1}, {Key: "caseLevel", Value: true}}, "a", "A", -1},
		{"numericOrdering", bson.D{loc, {Key: "numericOrdering", Value: true}}, "2", "10", -1},
		{"no numericOrdering", bson.D{loc}, "2", "10", 1},
		{"alternate shifted ignores punctuation", bson.D{loc, {Key: "strength", Value: 1}, {Key: "alternate", Value: "shifted"}}, "a-b", "ab", 0},
		{"non-ignorable punctuation", bson.D{loc, {Key: "strength", Value: 1}}, "a-b", "ab", -1},
		{"alphabetic, not code point, order", bson.D{loc}, "b", "Z", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.spec)
			if got := c.CompareStrings(tc.a, tc.b); got != tc.want {
				t.Errorf("CompareStrings(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if eq := c.StringKey(tc.a) == c.StringKey(tc.b); eq != (tc.want == 0) {
				t.Errorf("StringKey equality %v, want %v", eq, tc.want == 0)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		spec bson.D
		code int32
	}{
		{"missing locale", bson.D{{Key: "strength", Value: 1}}, mongoerr.NoSuchKey},
		{"simple with options", bson.D{{Key: "locale", Value: "simple"}, {Key: "strength", Value: 1}}, mongoerr.FailedToParse},
		{"bad strength", bson.D{{Key: "locale", Value: "en"}, {Key: "strength", Value: 6}}, mongoerr.FailedToParse},
		{"bad caseFirst", bson.D{{Key: "locale", Value: "en"}, {Key: "caseFirst", Value: "middle"}}, mongoerr.FailedToParse},
		{"unknown field", bson.D{{Key: "locale", Value: "en"}, {Key: "colour", Value: 1}}, mongoerr.FailedToParse},
		{"empty locale", bson.D{{Key: "locale", Value: ""}}, mongoerr.BadValue},
		{"malformed locale", bson.D{{Key: "locale", Value: "not a locale"}}, mongoerr.BadValue},
		{"backwards at strength 1", bson.D{{Key: "locale", Value: "fr"}, {Key: "strength", Value: 1}, {Key: "backwards", Value: true}}, mongoerr.BadValue},
		{"caseFirst at strength 2", bson.D{{Key: "locale", Value: "en"}, {Key: "strength", Value: 2}, {Key: "caseFirst", Value: "upper"}}, mongoerr.BadValue},
		{"strength not a number", bson.D{{Key: "locale", Value: "en"}, {Key: "strength", Value: "1"}}, mongoerr.TypeMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := collation.Parse(tc.spec)
			if e := mongoerr.As(err); e == nil || e.Code != tc.code {
				t.Errorf("Parse(%v) = %v, want code %d", tc.spec, err, tc.code)
			}
		})
	}
}

func TestSimpleAndDoc(t *testing.T) {
	if c := mustParse(t, bson.D{{Key: "locale", Value: "simple"}}); c != nil {
		t.Errorf("simple collation = %v, want nil", c)
	}
	c := mustParse(t, bson.D{{Key: "locale", Value: "fr"}, {Key: "strength", Value: int32(2)}})
	want := bson.D{{Key: "locale", Value: "fr"}, {Key: "caseLevel", Value: false}, {Key: "caseFirst", Value: "off"},
		{Key: "strength", Value: int32(2)}, {Key: "numericOrdering", Value: false}, {Key: "alternate", Value: "non-ignorable"},
		{Key: "maxVariable", Value: "punct"}, {Key: "normalization", Value: false}, {Key: "backwards", Value: false},
		{Key: "version", Value: "57.1"}}
	got, _ := bson.Marshal(c.Doc())
	exp, _ := bson.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("Doc = %v, want %v", c.Doc(), want)
	}
}
