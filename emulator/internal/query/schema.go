package query

import (
	"math"
	"math/big"
	"regexp"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// schema is a compiled $jsonSchema (MongoDB's draft-4 dialect, see
// src/mongo/db/matcher/schema/json_schema_parser.cpp). As in MongoDB, a
// keyword that only concerns one type (minimum, properties, items, …)
// passes for values of other types, and arrays are never traversed
// implicitly.
type schema struct {
	types *typeSet // type / bsonType; nil allows any type
	enum  []any

	required       []string
	properties     []namedSchema
	patternProps   []patternSchema
	additional     *schema
	noAdditional   bool
	minProps       int
	maxProps       int
	dependencies   []dependency
	hasObjectRules bool

	minimum, maximum any
	exclMin, exclMax bool
	multipleOf       *big.Rat

	minLength, maxLength int
	pattern              *regexp.Regexp

	items           *schema
	tuple           []*schema
	additionalItems *schema
	noMoreItems     bool
	minItems        int
	maxItems        int
	uniqueItems     bool

	allOf, anyOf, oneOf []*schema
	not                 *schema
}

type namedSchema struct {
	name string
	s    *schema
}

type patternSchema struct {
	re *regexp.Regexp
	s  *schema
}

// dependency: when the object has field name, it must also have fields
// (array form) or satisfy s (schema form).
type dependency struct {
	name   string
	fields []string
	s      *schema
}

// schemaNode matches documents against a $jsonSchema.
type schemaNode struct{ s *schema }

func (n *schemaNode) match(doc bson.D, _ *details) (bool, error) { return n.s.valid(doc), nil }
func (n *schemaNode) value(any, *details) (bool, error)          { return false, nil }

func parseSchema(d bson.D) (node, error) {
	s, err := compileSchema(d)
	if err != nil {
		return nil, err
	}
	return &schemaNode{s}, nil
}

// jsonTypes are the JSON Schema "type" names MongoDB accepts.
var jsonTypes = map[string]int32{"object": 3, "array": 4, "boolean": 8, "string": 2, "null": 10}

func schemaErr(code int32, format string, args ...any) error {
	return mongoerr.New(code, format, args...)
}

func compileSchema(d bson.D) (*schema, error) {
	s := &schema{maxProps: -1, maxLength: -1, maxItems: -1}
	var hasType, hasBSONType, hasExclMin, hasExclMax bool
	var itemsArg, additionalItemsArg any
	for _, e := range d {
		var err error
		switch e.Key {
		case "type", "bsonType":
			if e.Key == "type" {
				hasType = true
			} else {
				hasBSONType = true
			}
			s.types, err = schemaTypes(e.Key, e.Value)
		case "enum":
			arr, ok := e.Value.(bson.A)
			switch {
			case !ok:
				err = schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword 'enum' must be an array")
			case len(arr) == 0:
				err = schemaErr(mongoerr.FailedToParse, "$jsonSchema keyword 'enum' cannot be an empty array")
			}
			s.enum = arr
		case "required":
			s.required, err = schemaNames("required", e.Value)
			s.hasObjectRules = true
		case "properties":
			props, ok := value.Doc(e.Value)
			if !ok {
				return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword 'properties' must be an object")
			}
			for _, p := range props {
				sub, err := subSchema("Nested schema for $jsonSchema property '"+p.Key+"'", p.Value)
				if err != nil {
					return nil, err
				}
				s.properties = append(s.properties, namedSchema{p.Key, sub})
			}
			s.hasObjectRules = true
		case "patternProperties":
			props, ok := value.Doc(e.Value)
			if !ok {
				return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword 'patternProperties' must be an object")
			}
			for _, p := range props {
				re, err := value.CompileRegex(p.Key, "")
				if err != nil {
					return nil, schemaErr(codeRegexInvalid, "Regular expression is invalid: %v", err)
				}
				sub, err := subSchema("Nested schema for $jsonSchema patternProperties '"+p.Key+"'", p.Value)
				if err != nil {
					return nil, err
				}
				s.patternProps = append(s.patternProps, patternSchema{re, sub})
			}
			s.hasObjectRules = true
		case "additionalProperties":
			s.additional, s.noAdditional, err = schemaOrBool("additionalProperties", e.Value)
			s.hasObjectRules = true
		case "minProperties", "maxProperties", "minLength", "maxLength", "minItems", "maxItems":
			var n int
			n, err = schemaCount(e.Key, e.Value)
			switch e.Key {
			case "minProperties":
				s.minProps = n
				s.hasObjectRules = true
			case "maxProperties":
				s.maxProps = n
				s.hasObjectRules = true
			case "minLength":
				s.minLength = n
			case "maxLength":
				s.maxLength = n
			case "minItems":
				s.minItems = n
			case "maxItems":
				s.maxItems = n
			}
		case "dependencies":
			s.dependencies, err = schemaDependencies(e.Value)
			s.hasObjectRules = true
		case "minimum", "maximum":
			if !value.IsNumber(e.Value) {
				return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword '%s' must be a number", e.Key)
			}
			if e.Key == "minimum" {
				s.minimum = e.Value
			} else {
				s.maximum = e.Value
			}
		case "exclusiveMinimum", "exclusiveMaximum":
			b, ok := e.Value.(bool)
			if !ok {
				return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword '%s' must be a boolean", e.Key)
			}
			if e.Key == "exclusiveMinimum" {
				s.exclMin, hasExclMin = b, true
			} else {
				s.exclMax, hasExclMax = b, true
			}
		case "multipleOf":
			r, ok := exactRat(e.Value)
			if !value.IsNumber(e.Value) {
				return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword 'multipleOf' must be a number")
			}
			if !ok || r.Sign() <= 0 {
				return nil, schemaErr(mongoerr.FailedToParse, "$jsonSchema keyword 'multipleOf' must have a positive value")
			}
			s.multipleOf = r
		case "pattern":
			p, ok := e.Value.(string)
			if !ok {
				return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword 'pattern' must be a string")
			}
			if s.pattern, err = value.CompileRegex(p, ""); err != nil {
				return nil, schemaErr(codeRegexInvalid, "Regular expression is invalid: %v", err)
			}
		case "items":
			itemsArg = e.Value
		case "additionalItems":
			additionalItemsArg = e.Value
		case "uniqueItems":
			b, ok := e.Value.(bool)
			if !ok {
				return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword 'uniqueItems' must be a boolean")
			}
			s.uniqueItems = b
		case "allOf", "anyOf", "oneOf":
			var list []*schema
			list, err = schemaList(e.Key, e.Value)
			switch e.Key {
			case "allOf":
				s.allOf = list
			case "anyOf":
				s.anyOf = list
			default:
				s.oneOf = list
			}
		case "not":
			s.not, err = subSchema("$jsonSchema keyword 'not'", e.Value)
		case "title", "description":
			if _, ok := e.Value.(string); !ok {
				return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword '%s' must be a string", e.Key)
			}
		case "$ref", "$schema", "default", "definitions", "format", "id":
			return nil, schemaErr(mongoerr.FailedToParse, "$jsonSchema keyword '%s' is not currently supported", e.Key)
		case "encrypt", "encryptMetadata":
			return nil, schemaErr(mongoerr.NotImplemented, "$jsonSchema keyword '%s' (client-side encryption) is not supported by the emulator", e.Key)
		default:
			return nil, schemaErr(mongoerr.FailedToParse, "Unknown $jsonSchema keyword: %s", e.Key)
		}
		if err != nil {
			return nil, err
		}
	}
	if hasType && hasBSONType {
		return nil, schemaErr(mongoerr.FailedToParse, "Cannot specify both $jsonSchema keywords 'type' and 'bsonType'")
	}
	if hasExclMin && s.minimum == nil {
		return nil, schemaErr(mongoerr.FailedToParse, "$jsonSchema keyword 'minimum' must be a present if exclusiveMinimum is present")
	}
	if hasExclMax && s.maximum == nil {
		return nil, schemaErr(mongoerr.FailedToParse, "$jsonSchema keyword 'maximum' must be a present if exclusiveMaximum is present")
	}
	if itemsArg != nil {
		if err := s.compileItems(itemsArg, additionalItemsArg); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *schema) compileItems(items, additional any) error {
	if arr, ok := items.(bson.A); ok {
		for _, x := range arr {
			sub, err := subSchema("$jsonSchema keyword 'items' requires that each element of the array is an object", x)
			if err != nil {
				return err
			}
			s.tuple = append(s.tuple, sub)
		}
		if additional != nil {
			var err error
			s.additionalItems, s.noMoreItems, err = schemaOrBool("additionalItems", additional)
			return err
		}
		return nil
	}
	sub, err := subSchema("$jsonSchema keyword 'items' must be an array or an object", items)
	s.items = sub
	return err
}

func schemaTypes(keyword string, arg any) (*typeSet, error) {
	names, isArr := arg.(bson.A)
	if !isArr {
		names = bson.A{arg}
	}
	ts := &typeSet{codes: map[int32]bool{}}
	for _, n := range names {
		name, ok := n.(string)
		if !ok {
			return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword '%s' must be either a string or an array of strings", keyword)
		}
		if keyword == "type" {
			if name == "number" {
				ts.numbers = true
				continue
			}
			if name == "integer" {
				return nil, schemaErr(mongoerr.BadValue, "$jsonSchema type 'integer' is not currently supported.")
			}
			code, ok := jsonTypes[name]
			if !ok {
				return nil, schemaErr(mongoerr.BadValue, "Unknown type name alias: %s", name)
			}
			ts.codes[code] = true
			continue
		}
		if name == "number" {
			ts.numbers = true
			continue
		}
		code, ok := value.AliasNumber(name)
		if !ok {
			return nil, schemaErr(mongoerr.BadValue, "Unknown type name alias: %s", name)
		}
		ts.codes[code] = true
	}
	return ts, nil
}

func schemaNames(keyword string, arg any) ([]string, error) {
	arr, ok := arg.(bson.A)
	if !ok {
		return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword '%s' must be an array", keyword)
	}
	if len(arr) == 0 {
		return nil, schemaErr(mongoerr.FailedToParse, "$jsonSchema keyword '%s' cannot be an empty array", keyword)
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		name, ok := x.(string)
		if !ok {
			return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword '%s' must contain only strings", keyword)
		}
		if seen[name] {
			return nil, schemaErr(mongoerr.FailedToParse, "$jsonSchema keyword '%s' array cannot contain duplicate values", keyword)
		}
		seen[name] = true
		out = append(out, name)
	}
	return out, nil
}

func schemaCount(keyword string, arg any) (int, error) {
	n, reason := nonNegativeIntArg(keyword, arg)
	if reason != "" {
		return 0, schemaErr(mongoerr.FailedToParse, "%s", reason)
	}
	return n, nil
}

func subSchema(what string, arg any) (*schema, error) {
	d, ok := value.Doc(arg)
	if !ok {
		return nil, schemaErr(mongoerr.TypeMismatch, "%s must be an object", what)
	}
	return compileSchema(d)
}

func schemaOrBool(keyword string, arg any) (*schema, bool, error) {
	if b, ok := arg.(bool); ok {
		return nil, !b, nil
	}
	s, err := subSchema("$jsonSchema keyword '"+keyword+"'", arg)
	return s, false, err
}

func schemaList(keyword string, arg any) ([]*schema, error) {
	arr, ok := arg.(bson.A)
	if !ok {
		return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword '%s' must be an array", keyword)
	}
	if len(arr) == 0 {
		return nil, schemaErr(mongoerr.FailedToParse, "$jsonSchema keyword '%s' must be a non-empty array", keyword)
	}
	out := make([]*schema, len(arr))
	for i, x := range arr {
		s, err := subSchema("$jsonSchema keyword '"+keyword+"' must be an array of objects, but found an element that", x)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func schemaDependencies(arg any) ([]dependency, error) {
	d, ok := value.Doc(arg)
	if !ok {
		return nil, schemaErr(mongoerr.TypeMismatch, "$jsonSchema keyword 'dependencies' must be an object")
	}
	var out []dependency
	for _, e := range d {
		if _, isArr := e.Value.(bson.A); isArr {
			names, err := schemaNames("dependencies", e.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, dependency{name: e.Key, fields: names})
			continue
		}
		s, err := subSchema("property '"+e.Key+"' in $jsonSchema keyword 'dependencies'", e.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, dependency{name: e.Key, s: s})
	}
	return out, nil
}

// exactRat is v as an exact rational; ok is false for NaN and infinities.
func exactRat(v any) (*big.Rat, bool) {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(x), true
	case bson.Decimal128:
		return new(big.Rat).SetString(x.String())
	}
	if n, ok := value.ToInt64(v); ok && value.IsNumber(v) {
		return new(big.Rat).SetInt64(n), true
	}
	return nil, false
}

// valid reports whether v satisfies the schema.
func (s *schema) valid(v any) bool {
	if s.types != nil && !s.types.matches(v) {
		return false
	}
	if s.enum != nil && !inList(v, s.enum) {
		return false
	}
	if doc, ok := value.Doc(v); ok && s.hasObjectRules && !s.validObject(doc) {
		return false
	}
	if value.IsNumber(v) && !s.validNumber(v) {
		return false
	}
	if str, ok := v.(string); ok && !s.validString(str) {
		return false
	}
	if arr, ok := v.(bson.A); ok && !s.validArray(arr) {
		return false
	}
	for _, sub := range s.allOf {
		if !sub.valid(v) {
			return false
		}
	}
	if s.anyOf != nil {
		matched := false
		for _, sub := range s.anyOf {
			if sub.valid(v) {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	if s.oneOf != nil {
		n := 0
		for _, sub := range s.oneOf {
			if sub.valid(v) {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	return s.not == nil || !s.not.valid(v)
}

func inList(v any, list []any) bool {
	for _, x := range list {
		if value.Equal(v, x) {
			return true
		}
	}
	return false
}

func (s *schema) validObject(doc bson.D) bool {
	for _, name := range s.required {
		if _, ok := value.Lookup(doc, name); !ok {
			return false
		}
	}
	if len(doc) < s.minProps || (s.maxProps >= 0 && len(doc) > s.maxProps) {
		return false
	}
	for _, p := range s.properties {
		if f, ok := value.Lookup(doc, p.name); ok && !p.s.valid(f) {
			return false
		}
	}
	for _, e := range doc {
		matched := false
		for _, p := range s.properties {
			if p.name == e.Key {
				matched = true
				break
			}
		}
		for _, pp := range s.patternProps {
			if pp.re.MatchString(e.Key) {
				matched = true
				if !pp.s.valid(e.Value) {
					return false
				}
			}
		}
		if matched {
			continue
		}
		if s.noAdditional || (s.additional != nil && !s.additional.valid(e.Value)) {
			return false
		}
	}
	for _, dep := range s.dependencies {
		if _, ok := value.Lookup(doc, dep.name); !ok {
			continue
		}
		for _, f := range dep.fields {
			if _, ok := value.Lookup(doc, f); !ok {
				return false
			}
		}
		if dep.s != nil && !dep.s.valid(doc) {
			return false
		}
	}
	return true
}

func (s *schema) validNumber(v any) bool {
	if s.minimum != nil {
		c := value.CompareNumbers(v, s.minimum)
		if c < 0 || (c == 0 && s.exclMin) || isNaN(v) {
			return false
		}
	}
	if s.maximum != nil {
		c := value.CompareNumbers(v, s.maximum)
		if c > 0 || (c == 0 && s.exclMax) || isNaN(v) {
			return false
		}
	}
	if s.multipleOf != nil {
		r, ok := exactRat(v)
		if !ok || !new(big.Rat).Quo(r, s.multipleOf).IsInt() {
			return false
		}
	}
	return true
}

func (s *schema) validString(str string) bool {
	n := utf8.RuneCountInString(str)
	if n < s.minLength || (s.maxLength >= 0 && n > s.maxLength) {
		return false
	}
	return s.pattern == nil || s.pattern.MatchString(str)
}

func (s *schema) validArray(arr bson.A) bool {
	if len(arr) < s.minItems || (s.maxItems >= 0 && len(arr) > s.maxItems) {
		return false
	}
	if s.uniqueItems {
		seen := map[string]bool{}
		for _, e := range arr {
			k := value.Key(e)
			if seen[k] {
				return false
			}
			seen[k] = true
		}
	}
	if s.items != nil {
		for _, e := range arr {
			if !s.items.valid(e) {
				return false
			}
		}
	}
	for i, e := range arr {
		switch {
		case i < len(s.tuple):
			if !s.tuple[i].valid(e) {
				return false
			}
		case s.tuple == nil:
		case s.noMoreItems:
			return false
		case s.additionalItems != nil && !s.additionalItems.valid(e):
			return false
		}
	}
	return true
}
