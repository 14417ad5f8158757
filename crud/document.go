package crud

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// MaxDocumentSize is MongoDB's limit on a BSON document: 16 MiB
// (https://www.mongodb.com/docs/manual/reference/limits/#mongodb-limit-BSON-Document-Size).
// Every document of a request is held to it.
const MaxDocumentSize = 16 * 1024 * 1024

// MaxDepth is MongoDB's limit on nesting: no more than 100 levels of
// embedded documents and arrays
// (https://www.mongodb.com/docs/manual/reference/limits/#mongodb-limit-Nested-Depth-for-BSON-Documents).
// It is checked before anything recursive reads a document, so a deeply
// nested request cannot exhaust the stack.
const MaxDepth = 100

// Document is one BSON document as it travels on the wire: MongoDB Extended
// JSON v2 (canonical or relaxed) or BSON bytes. Exactly one of the fields
// is set; it mirrors the proto Document's oneof.
//
// Request fields hold a *Document: nil means the field is unset, which is
// different from a Document that holds nothing (an error).
type Document struct {
	JSON string
	BSON []byte
}

// Format chooses how Encode writes documents and values.
type Format int

// The formats of proto DocumentFormat; the zero value is canonical JSON,
// as DOCUMENT_FORMAT_UNSPECIFIED is.
const (
	// FormatJSONCanonical is canonical Extended JSON v2: keeps every BSON
	// type (ObjectId, int32 vs int64, dates, Decimal128) and key order.
	FormatJSONCanonical Format = iota
	// FormatJSONRelaxed is relaxed Extended JSON v2: plain JSON numbers
	// and ISO-8601 dates; int32, int64 and double look alike.
	FormatJSONRelaxed
	// FormatBSON is BSON bytes.
	FormatBSON
)

func (f Format) String() string {
	switch f {
	case FormatJSONCanonical:
		return "json-canonical"
	case FormatJSONRelaxed:
		return "json-relaxed"
	case FormatBSON:
		return "bson"
	default:
		return fmt.Sprintf("Format(%d)", int(f))
	}
}

// Decode returns d as BSON. JSON is parsed as Extended JSON v2 in either
// canonical or relaxed mode; BSON is checked for well-formedness. Both are
// held to MaxDocumentSize. Errors are *ArgError naming field.
//
// A BSON input is returned without copying.
func Decode(field string, d Document) (bson.Raw, error) {
	switch {
	case d.JSON != "" && d.BSON != nil:
		return nil, &ArgError{Field: field, Reason: "both json and bson are set; set exactly one"}
	case d.BSON != nil:
		return decodeBSON(field, d.BSON)
	case d.JSON != "":
		return decodeJSON(field, d.JSON)
	default:
		return nil, &ArgError{Field: field, Reason: "neither json nor bson is set"}
	}
}

func decodeBSON(field string, b []byte) (bson.Raw, error) {
	if len(b) < 5 {
		return nil, &ArgError{Field: field, Reason: fmt.Sprintf("bson: %d bytes is too short for a document (at least 5)", len(b))}
	}
	if n := binary.LittleEndian.Uint32(b); int64(n) != int64(len(b)) {
		return nil, &ArgError{Field: field, Reason: fmt.Sprintf("bson: length prefix says %d bytes but %d were given", n, len(b))}
	}
	if len(b) > MaxDocumentSize {
		return nil, tooLarge(field, len(b))
	}
	if !bsonDepthOK(b) {
		return nil, tooDeep(field)
	}
	if err := bsoncore.Document(b).Validate(); err != nil {
		return nil, &ArgError{Field: field, Reason: "bson: " + err.Error()}
	}
	return bson.Raw(b), nil
}

func decodeJSON(field, s string) (bson.Raw, error) {
	b := []byte(s)
	// The Extended JSON parser ignores what follows the first value and
	// reports syntax errors vaguely, so plain JSON is checked first.
	if !json.Valid(b) {
		var m json.RawMessage
		err := json.Unmarshal(b, &m)
		if err == nil {
			err = fmt.Errorf("not valid JSON")
		}
		return nil, &ArgError{Field: field, Reason: "json: " + err.Error()}
	}
	if !jsonDepthOK(b) {
		return nil, tooDeep(field)
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); t[0] != '{' {
		return nil, &ArgError{Field: field, Reason: "json: must be an object (a document), e.g. {\"a\": 1}"}
	}
	var raw bson.Raw
	// canonicalOnly=false accepts canonical and relaxed Extended JSON.
	if err := bson.UnmarshalExtJSON(b, false, &raw); err != nil {
		return nil, &ArgError{Field: field, Reason: "extended json: " + err.Error()}
	}
	if len(raw) > MaxDocumentSize {
		return nil, tooLarge(field, len(raw))
	}
	if !bsonDepthOK(raw) {
		return nil, tooDeep(field)
	}
	return raw, nil
}

func tooLarge(field string, n int) error {
	return &ArgError{Field: field, Reason: fmt.Sprintf("document is %d bytes of BSON, more than MongoDB's limit of %d (16 MiB)", n, MaxDocumentSize)}
}

func tooDeep(field string) error {
	return &ArgError{Field: field, Reason: fmt.Sprintf("nested more than %d levels deep, MongoDB's limit", MaxDepth)}
}

// bsonDepthOK reports whether b, not yet validated, nests at most
// MaxDepth levels below the top. Malformed parts are left to Validate.
func bsonDepthOK(b []byte) bool {
	type level struct {
		doc   []byte
		depth int
	}
	stack := []level{{b, 0}}
	for len(stack) > 0 {
		l := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n, _, ok := bsoncore.ReadLength(l.doc)
		if !ok || n < 5 || int(n) > len(l.doc) {
			continue
		}
		rest := l.doc[4 : n-1]
		for len(rest) > 0 {
			elem, r, ok := bsoncore.ReadElement(rest)
			if !ok {
				break
			}
			rest = r
			if t := bsoncore.Type(elem[0]); t == bsoncore.TypeEmbeddedDocument || t == bsoncore.TypeArray {
				if l.depth+1 > MaxDepth {
					return false
				}
				stack = append(stack, level{elem.Value().Data, l.depth + 1})
			}
		}
	}
	return true
}

// jsonWrapperDepth is how many JSON levels an Extended JSON value can add
// to its BSON depth, as {"$dbPointer": {"$ref": …, "$id": {"$oid": …}}}
// does.
const jsonWrapperDepth = 3

// jsonDepthOK reports whether the valid JSON b can be within MaxDepth
// once decoded: the exact check is made on the BSON; this one only keeps
// the decoder's recursion bounded.
func jsonDepthOK(b []byte) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > 1+MaxDepth+jsonWrapperDepth {
				return false
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return true
}

// Encode writes doc in format f. For FormatBSON the returned Document
// shares doc's bytes.
func Encode(doc bson.Raw, f Format) (Document, error) {
	switch f {
	case FormatBSON:
		return Document{BSON: doc}, nil
	case FormatJSONCanonical, FormatJSONRelaxed:
		b, err := bson.MarshalExtJSON(doc, f == FormatJSONCanonical, false)
		if err != nil {
			return Document{}, fmt.Errorf("crud: encode document as %v: %w", f, err)
		}
		return Document{JSON: string(b)}, nil
	default:
		return Document{}, &ArgError{Field: "response_format", Reason: fmt.Sprintf("unknown format %d", int(f))}
	}
}

// valuePrefix is how a one-element document {"v": ...} starts in Extended
// JSON as the driver writes it (no spaces).
const valuePrefix = `{"v":`

// EncodeValue writes one BSON value as the proto Value convention wants:
// JSON formats hold the Extended JSON of the bare value ({"$oid": "…"},
// {"$numberInt": "42"} or 42, "text", [1, 2], null); FormatBSON holds the
// document {"v": value}, since BSON cannot encode a value on its own.
func EncodeValue(v bson.RawValue, f Format) (Document, error) {
	if err := v.Validate(); err != nil {
		return Document{}, fmt.Errorf("crud: encode value: %w", err)
	}
	idx, doc := bsoncore.AppendDocumentStart(nil)
	doc = bsoncore.AppendValueElement(doc, "v", bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
	doc, err := bsoncore.AppendDocumentEnd(doc, idx)
	if err != nil {
		return Document{}, fmt.Errorf("crud: encode value: %w", err)
	}
	if f == FormatBSON {
		return Document{BSON: doc}, nil
	}
	d, err := Encode(bson.Raw(doc), f)
	if err != nil {
		return Document{}, err
	}
	// The driver's Extended JSON writer cannot write a bare value, so the
	// value is cut out of its one-element document.
	if len(d.JSON) < len(valuePrefix)+2 || d.JSON[:len(valuePrefix)] != valuePrefix || d.JSON[len(d.JSON)-1] != '}' {
		return Document{}, fmt.Errorf("crud: encode value: unexpected extended json %.40q", d.JSON)
	}
	return Document{JSON: d.JSON[len(valuePrefix) : len(d.JSON)-1]}, nil
}
