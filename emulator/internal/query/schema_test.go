package query

import (
	"testing"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
)

func TestJSONSchema(t *testing.T) {
	tests := []struct {
		name, schema, doc string
		want              bool
	}{
		{"required present", `{"required": ["a"]}`, `{"a": 1}`, true},
		{"required missing", `{"required": ["a"]}`, `{}`, false},
		{"required null counts", `{"required": ["a"]}`, `{"a": null}`, true},
		{"top-level object", `{"bsonType": "object"}`, `{}`, true},
		{"top-level not array", `{"bsonType": "array"}`, `{}`, false},
		{"bsonType int", `{"properties": {"a": {"bsonType": "int"}}}`, `{"a": 1}`, true},
		{"bsonType int vs string", `{"properties": {"a": {"bsonType": "int"}}}`, `{"a": "x"}`, false},
		{"properties only when present", `{"properties": {"a": {"bsonType": "int"}}}`, `{}`, true},
		{"no implicit array traversal", `{"properties": {"a": {"bsonType": "int"}}}`, `{"a": [1]}`, false},
		{"bsonType list", `{"properties": {"a": {"bsonType": ["string", "null"]}}}`, `{"a": null}`, true},
		{"bsonType number", `{"properties": {"a": {"bsonType": "number"}}}`, `{"a": {"$numberLong": "5"}}`, true},
		{"json type string", `{"properties": {"a": {"type": "string"}}}`, `{"a": "x"}`, true},
		{"json type number", `{"properties": {"a": {"type": "number"}}}`, `{"a": 1.5}`, true},
		{"json type boolean", `{"properties": {"a": {"type": "boolean"}}}`, `{"a": 1}`, false},
		{"range inside", `{"properties": {"a": {"minimum": 0, "maximum": 10}}}`, `{"a": 5}`, true},
		{"range above", `{"properties": {"a": {"minimum": 0, "maximum": 10}}}`, `{"a": 11}`, false},
		{"range below", `{"properties": {"a": {"minimum": 0, "maximum": 10}}}`, `{"a": -1}`, false},
		{"exclusive minimum", `{"properties": {"a": {"minimum": 0, "exclusiveMinimum": true}}}`, `{"a": 0}`, false},
		{"inclusive minimum", `{"properties": {"a": {"minimum": 0, "exclusiveMinimum": false}}}`, `{"a": 0}`, true},
		{"exclusive maximum", `{"properties": {"a": {"maximum": 3, "exclusiveMaximum": true}}}`, `{"a": 3.0}`, false},
		{"minimum ignores strings", `{"properties": {"a": {"minimum": 5}}}`, `{"a": "x"}`, true},
		{"enum", `{"properties": {"a": {"enum": [1, "x"]}}}`, `{"a": 1.0}`, true},
		{"enum miss", `{"properties": {"a": {"enum": [1, "x"]}}}`, `{"a": 2}`, false},
		{"string length ok", `{"properties": {"s": {"minLength": 2, "maxLength": 3}}}`, `{"s": "ab"}`, true},
		{"string too short", `{"properties": {"s": {"minLength": 2, "maxLength": 3}}}`, `{"s": "a"}`, false},
		{"string too long", `{"properties": {"s": {"minLength": 2, "maxLength": 3}}}`, `{"s": "abcd"}`, false},
		{"string length in code points", `{"properties": {"s": {"maxLength": 2}}}`, `{"s": "é€"}`, true},
		{"pattern", `{"properties": {"s": {"pattern": "^a"}}}`, `{"s": "ab"}`, true},
		{"pattern miss", `{"properties": {"s": {"pattern": "^a"}}}`, `{"s": "ba"}`, false},
		{"no additional properties", `{"properties": {"_id": {}, "a": {}}, "additionalProperties": false}`, `{"_id": 1, "a": 1}`, true},
		{"additional property refused", `{"properties": {"_id": {}, "a": {}}, "additionalProperties": false}`, `{"_id": 1, "b": 1}`, false},
		{"additional properties schema", `{"additionalProperties": {"bsonType": "int"}}`, `{"a": 1}`, true},
		{"additional properties schema miss", `{"additionalProperties": {"bsonType": "int"}}`, `{"a": "x"}`, false},
		{"pattern properties", `{"patternProperties": {"^x": {"bsonType": "string"}}}`, `{"xa": "s", "y": 1}`, true},
		{"pattern properties miss", `{"patternProperties": {"^x": {"bsonType": "string"}}}`, `{"xa": 1}`, false},
		{"items", `{"properties": {"a": {"items": {"bsonType": "int"}}}}`, `{"a": [1, 2]}`, true},
		{"items miss", `{"properties": {"a": {"items": {"bsonType": "int"}}}}`, `{"a": [1, "x"]}`, false},
		{"min items", `{"properties": {"a": {"minItems": 1}}}`, `{"a": []}`, false},
		{"max items", `{"properties": {"a": {"maxItems": 1}}}`, `{"a": [1, 2]}`, false},
		{"unique items", `{"properties": {"a": {"uniqueItems": true}}}`, `{"a": [1, 1.0]}`, false},
		{"unique items ok", `{"properties": {"a": {"uniqueItems": true}}}`, `{"a": [1, 2]}`, true},
		{"tuple items", `{"properties": {"a": {"items": [{"bsonType": "int"}], "additionalItems": false}}}`, `{"a": [1]}`, true},
		{"tuple extra refused", `{"properties": {"a": {"items": [{"bsonType": "int"}], "additionalItems": false}}}`, `{"a": [1, 2]}`, false},
		{"tuple additional schema", `{"properties": {"a": {"items": [{"bsonType": "int"}], "additionalItems": {"bsonType": "string"}}}}`, `{"a": [1, "x"]}`, true},
		{"anyOf", `{"properties": {"a": {"anyOf": [{"bsonType": "int"}, {"bsonType": "string"}]}}}`, `{"a": "x"}`, true},
		{"anyOf miss", `{"properties": {"a": {"anyOf": [{"bsonType": "int"}, {"bsonType": "string"}]}}}`, `{"a": 1.5}`, false},
		{"oneOf both", `{"properties": {"a": {"oneOf": [{"minimum": 0}, {"maximum": 10}]}}}`, `{"a": 5}`, false},
		{"oneOf one", `{"properties": {"a": {"oneOf": [{"minimum": 0}, {"maximum": 10}]}}}`, `{"a": 20}`, true},
		{"allOf", `{"properties": {"a": {"allOf": [{"minimum": 0}, {"maximum": 10}]}}}`, `{"a": 20}`, false},
		{"not", `{"properties": {"a": {"not": {"bsonType": "int"}}}}`, `{"a": "x"}`, true},
		{"multipleOf", `{"properties": {"a": {"multipleOf": 0.5}}}`, `{"a": 1.5}`, true},
		{"multipleOf miss", `{"properties": {"a": {"multipleOf": 0.5}}}`, `{"a": 1.2}`, false},
		{"dependencies array", `{"dependencies": {"a": ["b"]}}`, `{"a": 1}`, false},
		{"dependencies satisfied", `{"dependencies": {"a": ["b"]}}`, `{"a": 1, "b": 2}`, true},
		{"dependencies absent", `{"dependencies": {"a": ["b"]}}`, `{}`, true},
		{"dependencies schema", `{"dependencies": {"a": {"required": ["c"]}}}`, `{"a": 1}`, false},
		{"min properties", `{"minProperties": 2}`, `{"a": 1}`, false},
		{"max properties", `{"maxProperties": 1}`, `{"a": 1}`, true},
		{"nested properties", `{"properties": {"a": {"properties": {"b": {"bsonType": "int"}}}}}`, `{"a": {"b": "x"}}`, false},
		{"title and description", `{"title": "t", "description": "d", "required": ["a"]}`, `{"a": 1}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, `{"$jsonSchema": `+tt.schema+`}`, Options{})
			got, err := f.Match(mustDoc(t, tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("with other clauses", func(t *testing.T) {
		f := mustCompile(t, `{"$jsonSchema": {"required": ["a"]}, "a": {"$gt": 1}}`, Options{})
		if ok, _ := f.Match(mustDoc(t, `{"a": 0}`)); ok {
			t.Error("matched although a <= 1")
		}
	})
}

func TestJSONSchemaErrors(t *testing.T) {
	tests := []struct {
		name, schema string
		code         int32
	}{
		{"unknown keyword", `{"foo": 1}`, mongoerr.FailedToParse},
		{"bsonType not string", `{"bsonType": 1}`, mongoerr.TypeMismatch},
		{"bsonType unknown", `{"bsonType": "bogus"}`, mongoerr.BadValue},
		{"type integer", `{"type": "integer"}`, mongoerr.BadValue},
		{"type and bsonType", `{"type": "string", "bsonType": "string"}`, mongoerr.FailedToParse},
		{"required empty", `{"required": []}`, mongoerr.FailedToParse},
		{"required not array", `{"required": "a"}`, mongoerr.TypeMismatch},
		{"required not strings", `{"required": [1]}`, mongoerr.TypeMismatch},
		{"required duplicates", `{"required": ["a", "a"]}`, mongoerr.FailedToParse},
		{"properties not object", `{"properties": 1}`, mongoerr.TypeMismatch},
		{"property not object", `{"properties": {"a": 1}}`, mongoerr.TypeMismatch},
		{"minimum not number", `{"minimum": "x"}`, mongoerr.TypeMismatch},
		{"exclusive without minimum", `{"exclusiveMinimum": true}`, mongoerr.FailedToParse},
		{"negative length", `{"minLength": -1}`, mongoerr.FailedToParse},
		{"enum empty", `{"enum": []}`, mongoerr.FailedToParse},
		{"unsupported ref", `{"$ref": "#"}`, mongoerr.FailedToParse},
		{"multipleOf zero", `{"multipleOf": 0}`, mongoerr.FailedToParse},
		{"allOf empty", `{"allOf": []}`, mongoerr.FailedToParse},
		{"nested error", `{"properties": {"a": {"foo": 1}}}`, mongoerr.FailedToParse},
		{"encrypt", `{"properties": {"a": {"encrypt": {}}}}`, mongoerr.NotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(mustDoc(t, `{"$jsonSchema": `+tt.schema+`}`), Options{})
			assertCode(t, err, tt.code)
		})
	}
}
