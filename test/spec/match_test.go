package spec

import (
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// val parses an Extended JSON value, the way test files are parsed.
func val(t *testing.T, ejson string) bson.RawValue {
	t.Helper()
	var doc bson.Raw
	if err := bson.UnmarshalExtJSON([]byte(`{"v": `+ejson+`}`), false, &doc); err != nil {
		t.Fatalf("parse %s: %v", ejson, err)
	}
	return doc.Lookup("v")
}

// fakeEntities is a hand-written entityLookup for the entity operators.
type fakeEntities struct {
	values map[string]bson.RawValue
	lsids  map[string]bson.Raw
}

func (f fakeEntities) value(name string) (bson.RawValue, error) {
	v, ok := f.values[name]
	if !ok {
		return bson.RawValue{}, fmt.Errorf("no entity %q", name)
	}
	return v, nil
}

func (f fakeEntities) lsid(name string) (bson.Raw, error) {
	l, ok := f.lsids[name]
	if !ok {
		return nil, fmt.Errorf("no session entity %q", name)
	}
	return l, nil
}

func TestMatch(t *testing.T) {
	const lsid = `{"id": {"$binary": {"base64": "AAECAwQFBgcICQoLDA0ODw==", "subType": "04"}}}`
	entities := fakeEntities{
		values: map[string]bson.RawValue{"savedId": val(t, `{"$oid": "5f4e3d2c1b0a090807060504"}`)},
		lsids:  map[string]bson.Raw{"session0": val(t, lsid).Document()},
	}
	absent := "<absent>"

	tests := []struct {
		name     string
		expected string
		actual   string // Extended JSON, or absent
		root     bool
		wantErr  string // substring of the error; "" means a match
	}{
		// Flexible numeric comparison.
		{"int32 matches int64", `1`, `{"$numberLong": "1"}`, false, ""},
		{"int32 matches double", `1`, `1.0`, false, ""},
		{"int64 matches double", `{"$numberLong": "3"}`, `3.0`, false, ""},
		{"different numeric value", `1`, `1.5`, false, `expected {"$numberInt":"1"}, got {"$numberDouble":"1.5"}`},
		{"large int64 keeps precision", `{"$numberLong": "9007199254740993"}`, `{"$numberLong": "9007199254740992"}`, false, "expected"},
		{"decimal does not match int", `{"$numberDecimal": "1"}`, `1`, false, "expected"},
		{"decimal matches decimal", `{"$numberDecimal": "1.5"}`, `{"$numberDecimal": "1.5"}`, false, ""},
		{"string vs number", `"1"`, `1`, false, `expected "1", got {"$numberInt":"1"}`},
		{"null matches null", `null`, `null`, false, ""},
		{"absent scalar", `1`, absent, false, "absent"},

		// Documents: key order, root extra keys, nested extra keys.
		{"key order is free", `{"x": 1, "y": 2}`, `{"y": 2, "x": 1}`, false, ""},
		{"root allows extra keys", `{"x": 1}`, `{"x": 1, "y": 1}`, true, ""},
		{"nested forbids extra keys", `{"x": 1}`, `{"x": 1, "y": 1}`, false, `unexpected extra key "y"`},
		{"extra keys inside a root document's field", `{"x": {"y": 1}}`, `{"x": {"y": 1, "z": 1}}`, true, `at x: unexpected extra key "z"`},
		{"missing key", `{"x": 1, "y": 1}`, `{"x": 1}`, true, "at y: key is missing"},
		{"document vs scalar", `{"x": 1}`, `5`, true, "expected a document"},

		// Arrays.
		{"arrays of equal length", `[1, 2, 3]`, `[1, 2, 3]`, false, ""},
		{"array length differs", `[1, 2, 3]`, `[1, 2, 3, 4]`, false, "expected 3 array elements, got 4"},
		{"cursor documents are root documents", `[{"x": 1}]`, `[{"x": 1, "y": 2}]`, true, ""},
		{"distinct values are not", `[{"x": 1}]`, `[{"x": 1, "y": 2}]`, false, `at 0: unexpected extra key "y"`},

		// $$exists.
		{"$$exists false on absent key", `{"a": {"$$exists": false}}`, `{}`, false, ""},
		{"$$exists false on null", `{"a": {"$$exists": false}}`, `{"a": null}`, false, "expected the key to be absent"},
		{"$$exists true on null", `{"a": {"$$exists": true}}`, `{"a": null}`, false, ""},
		{"$$exists true on absent key", `{"a": {"$$exists": true}}`, `{}`, true, "expected the key to exist"},
		{"$$exists in a nested command field", `{"insert": "c", "writeConcern": {"$$exists": false}}`, `{"insert": "c", "lsid": {}, "writeConcern": {"w": 1}}`, true, "at writeConcern"},

		// $$type.
		{"$$type single", `{"$$type": "string"}`, `"x"`, false, ""},
		{"$$type list", `{"$$type": ["int", "long"]}`, `{"$numberLong": "7"}`, false, ""},
		{"$$type mismatch", `{"$$type": "int"}`, `{"$numberLong": "7"}`, false, "expected type [int], got 64-bit integer"},
		{"$$type object", `{"a": {"$$type": "object"}}`, `{"a": {"b": 1}}`, false, ""},
		{"$$type on absent key", `{"a": {"$$type": "int"}}`, `{}`, false, "absent"},
		{"$$type does not look into arrays", `{"$$type": "array"}`, `[1]`, false, ""},

		// $$unsetOrMatches.
		{"$$unsetOrMatches absent key", `{"insertedId": {"$$unsetOrMatches": 1}}`, `{}`, true, ""},
		{"$$unsetOrMatches present key", `{"insertedId": {"$$unsetOrMatches": 1}}`, `{"insertedId": 1}`, true, ""},
		{"$$unsetOrMatches wrong value", `{"insertedId": {"$$unsetOrMatches": 1}}`, `{"insertedId": 2}`, true, "at insertedId"},
		{"$$unsetOrMatches no result", `{"$$unsetOrMatches": {"insertedId": 1}}`, absent, true, ""},
		{"$$unsetOrMatches keeps root-ness", `{"$$unsetOrMatches": {"insertedId": 1}}`, `{"insertedId": 1, "acknowledged": true}`, true, ""},
		{"$$unsetOrMatches nested operator", `{"$$unsetOrMatches": {"acknowledged": {"$$unsetOrMatches": false}}}`, `{"deletedCount": 0}`, true, ""},

		// $$sessionLsid and $$matchesEntity.
		{"$$sessionLsid", `{"lsid": {"$$sessionLsid": "session0"}}`, `{"lsid": ` + lsid + `}`, true, ""},
		{"$$sessionLsid other session", `{"lsid": {"$$sessionLsid": "session0"}}`, `{"lsid": {"id": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAA==", "subType": "04"}}}}`, true, "expected lsid of session0"},
		{"$$sessionLsid unknown session", `{"lsid": {"$$sessionLsid": "session9"}}`, `{"lsid": ` + lsid + `}`, true, "no session entity"},
		{"$$matchesEntity", `{"_id": {"$$matchesEntity": "savedId"}}`, `{"_id": {"$oid": "5f4e3d2c1b0a090807060504"}}`, true, ""},
		{"$$matchesEntity mismatch", `{"_id": {"$$matchesEntity": "savedId"}}`, `{"_id": 1}`, true, `expected {"$oid"`},

		// $$lte.
		{"$$lte below", `{"$$lte": 5}`, `3`, false, ""},
		{"$$lte equal across types", `{"$$lte": 1}`, `1.0`, false, ""},
		{"$$lte above", `{"$$lte": 1}`, `1.1`, false, `expected a number <= {"$numberInt":"1"}`},

		// $$matchesHexBytes.
		{"$$matchesHexBytes", `{"$$matchesHexBytes": "12ab"}`, `{"$binary": {"base64": "Eqs=", "subType": "00"}}`, false, ""},
		{"$$matchesHexBytes mismatch", `{"$$matchesHexBytes": "12ac"}`, `{"$binary": {"base64": "Eqs=", "subType": "00"}}`, false, "expected bytes 12ac"},

		// $$matchAsDocument and $$matchAsRoot.
		{"$$matchAsDocument", `{"$$matchAsDocument": {"x": 1}}`, `"{\"x\": {\"$numberLong\": \"1\"}}"`, false, ""},
		{"$$matchAsDocument is not root", `{"$$matchAsDocument": {"x": 1}}`, `"{\"x\": 1, \"y\": 2}"`, false, `unexpected extra key "y"`},
		{"$$matchAsRoot inside it", `{"$$matchAsDocument": {"$$matchAsRoot": {"x": 1}}}`, `"{\"x\": 1, \"y\": 2}"`, false, ""},

		// Operator errors.
		{"unknown operator", `{"$$nope": 1}`, `1`, false, "unsupported matching operator $$nope"},
		{"two keys are not an operator", `{"$$exists": true, "x": 1}`, `{"$$exists": true, "x": 1}`, false, ""},
	}
	m := matcher{entities: entities}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var actual bson.RawValue
			if tt.actual != absent {
				actual = val(t, tt.actual)
			}
			err := m.match(val(t, tt.expected), actual, tt.root)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("want a match, got %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("want an error containing %q, got a match", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("want an error containing %q, got %v", tt.wantErr, err)
			}
		})
	}
}

func TestExactMatch(t *testing.T) {
	tests := []struct {
		name             string
		expected, actual string
		wantErr          string
	}{
		{"key order is free", `{"_id": 1, "x": 2}`, `{"x": 2, "_id": 1}`, ""},
		{"numbers compare by value", `{"_id": 1, "x": 2}`, `{"_id": {"$numberLong": "1"}, "x": 2.0}`, ""},
		{"no extra keys at the root", `{"_id": 1}`, `{"_id": 1, "x": 1}`, `unexpected extra key "x"`},
		{"no extra keys nested", `{"_id": 1, "a": {"b": 1}}`, `{"_id": 1, "a": {"b": 1, "c": 1}}`, `unexpected extra key "c"`},
		{"operators are plain data", `{"_id": 1, "a": {"$$exists": false}}`, `{"_id": 1}`, "key is missing"},
		{"arrays keep order", `{"_id": 1, "a": [1, 2]}`, `{"_id": 1, "a": [2, 1]}`, "at a.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := exactMatch("", val(t, tt.expected), val(t, tt.actual))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("want a match, got %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("want an error containing %q, got %v", tt.wantErr, err)
			}
		})
	}
}
