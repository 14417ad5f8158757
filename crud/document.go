package crud

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

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
	if reason := malformedBSON(b); reason != "" {
		return nil, &ArgError{Field: field, Reason: "bson: " + reason}
	}
	return bson.Raw(b), nil
}

// decimalCoefficientTooLarge reports whether a Decimal128 in its usual
// form holds a coefficient above 10^34-1, the most 34 digits hold. IEEE
// 754-2008 reads such an encoding as zero; the driver writes it as a
// 35-digit number in Extended JSON that it cannot read back, so it is
// refused. (The other form, whose coefficient has an implicit 0b100
// prefix, the driver writes as zero, as it reads; special values are
// left alone.)
func decimalCoefficientTooLarge(data []byte) bool {
	const maxHi, maxLo = 0x1ed09bead87c0, 0x378d8e63ffffffff // 10^34-1
	lo := binary.LittleEndian.Uint64(data)
	hi := binary.LittleEndian.Uint64(data[8:])
	if (hi>>61)&3 == 3 {
		return false
	}
	coeffHi := hi & (1<<49 - 1)
	return coeffHi > maxHi || (coeffHi == maxHi && lo > maxLo)
}

// malformedBSON says what is wrong with b, or "" if it is well-formed
// BSON (https://bsonspec.org/spec.html) at every level: the driver's
// Validate checks only the framing of the top level, so a document that
// passed it could still hold a broken embedded document or string, fail
// to encode as Extended JSON, change in the round trip, or be refused by
// MongoDB as InvalidBSON. Strings and keys must be UTF-8, which MongoDB's
// default check skips but Extended JSON cannot carry otherwise. b must be
// within MaxDepth, which bounds the walk's stack.
func malformedBSON(b []byte) string {
	type part struct {
		doc   []byte
		array bool
	}
	stack := []part{{doc: b}}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		d := p.doc
		// Embedded documents are sliced by their own length prefix; a
		// code-with-scope's scope is what its total length leaves over.
		if n, _, ok := bsoncore.ReadLength(d); !ok || n < 5 || int(n) != len(d) || d[n-1] != 0 {
			return "a document's length prefix or final NUL does not match its bytes"
		}
		rest := d[4 : len(d)-1]
		for i := 0; len(rest) > 0; i++ {
			elem, r, ok := bsoncore.ReadElement(rest)
			if !ok {
				return "malformed element"
			}
			rest = r
			key := elem.Key()
			if !utf8.ValidString(key) {
				return fmt.Sprintf("key %q is not valid UTF-8", key)
			}
			if p.array && key != strconv.Itoa(i) {
				return fmt.Sprintf("array element %d has key %q; array keys are 0, 1, 2, ...", i, key)
			}
			v := elem.Value()
			switch v.Type {
			case bsoncore.TypeEmbeddedDocument:
				stack = append(stack, part{doc: v.Data})
			case bsoncore.TypeArray:
				stack = append(stack, part{doc: v.Data, array: true})
			case bsoncore.TypeString, bsoncore.TypeJavaScript, bsoncore.TypeSymbol:
				if !validString(v.Data) {
					return fmt.Sprintf("%q: malformed string (length, NUL terminator or UTF-8)", key)
				}
			case bsoncore.TypeDBPointer:
				if !validString(v.Data[:len(v.Data)-12]) {
					return fmt.Sprintf("%q: malformed DBPointer namespace", key)
				}
			case bsoncore.TypeDecimal128:
				if decimalCoefficientTooLarge(v.Data) {
					return fmt.Sprintf("%q: Decimal128 coefficient above 10^34-1 (a non-canonical encoding)", key)
				}
			case bsoncore.TypeBoolean:
				if v.Data[0] > 1 {
					return fmt.Sprintf("%q: boolean byte %d is neither 0 nor 1", key, v.Data[0])
				}
			case bsoncore.TypeBinary:
				// Subtype 2 (old binary) repeats the length inside the data.
				if n := len(v.Data) - 5; v.Data[4] == 0x02 && (n < 4 || int64(binary.LittleEndian.Uint32(v.Data[5:])) != int64(n-4)) {
					return fmt.Sprintf("%q: malformed binary subtype 2 (inner length)", key)
				}
			case bsoncore.TypeRegex:
				pattern, options, _ := v.RegexOK()
				if !utf8.ValidString(pattern) || !utf8.ValidString(options) {
					return fmt.Sprintf("%q: regular expression is not valid UTF-8", key)
				}
			case bsoncore.TypeCodeWithScope:
				// int32 total length, string code, document scope.
				data := v.Data
				if len(data) < 8 {
					return fmt.Sprintf("%q: malformed code with scope", key)
				}
				n := int64(int32(binary.LittleEndian.Uint32(data[4:])))
				if n < 1 || 8+n > int64(len(data)) || !validString(data[4:8+n]) {
					return fmt.Sprintf("%q: malformed code with scope (code)", key)
				}
				stack = append(stack, part{doc: data[8+n:]})
			}
		}
	}
	return ""
}

// validString reports whether b is exactly one BSON string: int32 length
// counting the NUL, UTF-8 bytes, NUL.
func validString(b []byte) bool {
	if len(b) < 5 {
		return false
	}
	n := int64(int32(binary.LittleEndian.Uint32(b)))
	return n >= 1 && n == int64(len(b)-4) && b[len(b)-1] == 0 && utf8.Valid(b[4:len(b)-1])
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
	// json.Valid lets invalid UTF-8 through, and the Extended JSON parser
	// copies it into BSON strings that no JSON response can give back.
	if !utf8.Valid(b) {
		return nil, &ArgError{Field: field, Reason: "json: not valid UTF-8"}
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
			var sub []byte
			switch v := elem.Value(); v.Type {
			case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
				sub = v.Data
			case bsoncore.TypeCodeWithScope:
				// The scope is a document too, and MongoDB counts it.
				_, scope, ok := v.CodeWithScopeOK()
				if !ok {
					continue
				}
				sub = scope
			default:
				continue
			}
			if l.depth+1 > MaxDepth {
				return false
			}
			stack = append(stack, level{sub, l.depth + 1})
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
// the decoder's recursion bounded. A BSON level can take two JSON levels:
// a code-with-scope's scope is inside its {"$code": …, "$scope": …}.
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
			if depth > 1+2*MaxDepth+jsonWrapperDepth {
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
