package crud

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// extJSONSeeds are realistic request documents: every BSON type in
// canonical and relaxed Extended JSON, filters, updates, pipeline stages,
// and nesting at the limit.
var extJSONSeeds = []string{
	`{}`,
	`{"a": 1}`,
	`{"_id": {"$oid": "64b7f0c2a1b2c3d4e5f60718"}, "name": "Ada", "age": 36, "tags": ["x", "y"]}`,
	`{"i": {"$numberInt": "1"}, "l": {"$numberLong": "9007199254740993"}, "d": {"$numberDouble": "2.5"},
	  "dec": {"$numberDecimal": "1.10"}, "nan": {"$numberDouble": "NaN"}, "inf": {"$numberDouble": "-Infinity"},
	  "negz": {"$numberDouble": "-0.0"}}`,
	`{"when": {"$date": {"$numberLong": "1577836800000"}}, "relaxed": {"$date": "2020-01-01T00:00:00Z"},
	  "far": {"$date": {"$numberLong": "-62135596800001"}}}`,
	`{"bin": {"$binary": {"base64": "AQID", "subType": "00"}}, "old": {"$binary": {"base64": "AQID", "subType": "02"}},
	  "uuid": {"$uuid": "3b241101-e2bb-4255-8caf-4136c566a962"}, "user": {"$binary": {"base64": "", "subType": "80"}}}`,
	`{"re": {"$regularExpression": {"pattern": "^ab+c$", "options": "imsx"}}, "ts": {"$timestamp": {"t": 1, "i": 2}}}`,
	`{"min": {"$minKey": 1}, "max": {"$maxKey": 1}, "u": {"$undefined": true}, "n": null, "t": true, "f": false}`,
	`{"sym": {"$symbol": "s"}, "code": {"$code": "function() { return 1 }"},
	  "cws": {"$code": "x", "$scope": {"x": 1, "nested": {"y": [1, {"z": 2}]}}}}`,
	`{"ptr": {"$dbPointer": {"$ref": "db.coll", "$id": {"$oid": "64b7f0c2a1b2c3d4e5f60718"}}},
	  "ref": {"$ref": "coll", "$id": 1, "$db": "db"}}`,
	`{"status": {"$in": ["A", "D"]}, "$or": [{"qty": {"$lt": 30}}, {"item": {"$regex": "^p"}}]}`,
	`{"$set": {"a.b": 1, "when": {"$date": "2024-05-01T12:00:00.123Z"}}, "$inc": {"n": {"$numberLong": "-1"}}}`,
	`{"$group": {"_id": "$k", "total": {"$sum": "$v"}, "docs": {"$push": "$$ROOT"}}}`,
	`{"$lookup": {"from": "b", "let": {"x": "$x"}, "pipeline": [{"$match": {"$expr": {"$eq": ["$y", "$$x"]}}}], "as": "j"}}`,
	`{"k": "value with \"quotes\" and \\ and \u00e9 and \ud83d\ude00 and brackets {[", "": 0, "dup": 1, "dup": 2}`,
	`{"a": [[[[]]], {}, [{}]]}`,
	strings.Repeat(`{"a":`, 101) + `1` + strings.Repeat(`}`, 101),
	strings.Repeat(`{"a":`, 102) + `1` + strings.Repeat(`}`, 102),
	strings.Repeat(`{"a":`, 100) + `{"$dbPointer": {"$ref": "r", "$id": {"$oid": "64b7f0c2a1b2c3d4e5f60718"}}}` + strings.Repeat(`}`, 100),
	`{"a": {"$numberLong": 7}}`,
	`{"a": 1} {"b": 2}`,
	`[1, 2]`,
	`{"$oid": "64b7f0c2a1b2c3d4e5f60718"}`,
	` {"a": 1e400}`,
}

// bsonSeeds are the BSON forms of the seeds that decode, and a few
// malformed documents.
func bsonSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range extJSONSeeds {
		var raw bson.Raw
		if err := bson.UnmarshalExtJSON([]byte(s), false, &raw); err == nil {
			out = append(out, raw)
		}
	}
	inner := bsoncore.NewDocumentBuilder().AppendInt32("x", 1).AppendString("s", "$where").Build()
	out = append(out,
		bsoncore.NewDocumentBuilder().AppendDocument("a", inner).AppendArray("arr", bsoncore.NewArrayBuilder().AppendInt64(7).Build()).Build(),
		bsoncore.NewDocumentBuilder().AppendCodeWithScope("c", "x", inner).Build(),
		bsoncore.NewDocumentBuilder().AppendDocument("bad", []byte{7, 0, 0, 0, 0xFF, 'x', 0}).Build(),
		bsoncore.NewDocumentBuilder().AppendRegex("r", "^a", "xi").AppendDecimal128("d", 0x6C10000000000000, 0).
			AppendDocument("x", bsoncore.NewDocumentBuilder().AppendString("$date", "not a date").Build()).Build(),
		bsoncore.NewDocumentBuilder().AppendBinary("old", 2, []byte{2, 0, 0, 0, 'h', 'i'}).
			AppendDBPointer("p", "db.c", bson.NewObjectID()).AppendBoolean("t", true).Build(),
		[]byte{5, 0, 0, 0, 0},
		[]byte{5, 0, 0, 0, 1},
		[]byte{6, 0, 0, 0, 0, 0},
	)
	return out
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range extJSONSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := Decode("filter", Document{JSON: s})
		if err != nil {
			wantFuzzArgError(t, err, "filter")
			// What the driver's own parser turns into a document within
			// MongoDB's limits must not be refused.
			var ref bson.Raw
			if perr := bson.UnmarshalExtJSON([]byte(s), false, &ref); perr == nil && validJSONDocument(s) &&
				len(ref) <= MaxDocumentSize && docDepth(ref) <= MaxDepth && bytes.HasPrefix(bytes.TrimLeft([]byte(s), " \t\r\n"), []byte("{")) {
				t.Fatalf("Decode refused %q (%v), which the driver parses into a valid document %v", s, err, ref)
			}
			return
		}
		checkDecoded(t, raw)
	})
}

func FuzzDecodeBSON(f *testing.F) {
	for _, b := range bsonSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		raw, err := Decode("documents[3]", Document{BSON: b})
		if err != nil {
			wantFuzzArgError(t, err, "documents[3]")
			return
		}
		if !bytes.Equal(raw, in) {
			t.Fatalf("Decode changed the BSON it returns")
		}
		checkDecoded(t, raw)
	})
}

// checkDecoded asserts what Decode promises of a document it accepts:
// within MongoDB's limits, and encodable in every format such that it
// decodes back: BSON to the very same bytes, canonical JSON to what
// Extended JSON can keep (see extJSONKeeps and extJSONCannotKeep), relaxed
// JSON (lossy for number types) to some document.
func checkDecoded(t *testing.T, raw bson.Raw) {
	t.Helper()
	if len(raw) > MaxDocumentSize {
		t.Fatalf("accepted %d bytes, over MaxDocumentSize", len(raw))
	}
	if d := docDepth(raw); d > MaxDepth {
		t.Fatalf("accepted a document nested %d levels deep", d)
	}
	enc, err := Encode(raw, FormatBSON)
	if err != nil {
		t.Fatalf("Encode(bson): %v", err)
	}
	if back, err := Decode("x", enc); err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("bson round trip: %x, %v\ndocument: %x", []byte(back), err, []byte(raw))
	}
	for _, f := range []Format{FormatJSONCanonical, FormatJSONRelaxed} {
		enc, err := Encode(raw, f)
		if err != nil {
			t.Fatalf("Encode(%v) of an accepted document: %v\ndocument: %x", f, err, []byte(raw))
		}
		if extJSONCannotKeep(raw) {
			continue
		}
		back, err := Decode("x", enc)
		if err != nil {
			t.Fatalf("Decode of Encode(%v) %q: %v\ndocument: %x", f, enc.JSON, err, []byte(raw))
		}
		if want := extJSONKeeps(raw); f == FormatJSONCanonical && !bytes.Equal(back, want) {
			t.Fatalf("canonical JSON round trip changed the document\n in: %x\nout: %x\nvia %q", want, []byte(back), enc.JSON)
		}
	}
}

func wantFuzzArgError(t *testing.T, err error, field string) {
	t.Helper()
	var ae *ArgError
	if !errors.As(err, &ae) || ae.Field != field || ae.Reason == "" {
		t.Fatalf("error = %v (%T), want *ArgError for %q with a reason", err, err, field)
	}
}

// validJSONDocument is the plain-JSON half of what decodeJSON requires:
// JSON (RFC 8259: in UTF-8).
func validJSONDocument(s string) bool { return json.Valid([]byte(s)) && utf8.ValidString(s) }

// docDepth is how deeply doc, already known to be well-formed as far as
// the caller trusts it, nests documents and arrays below the top level,
// counting the scope of a code-with-scope value as a document. It recurses:
// the documents it is given are small or already depth-checked by the
// driver's parser.
func docDepth(doc []byte) int {
	elems, err := bsoncore.Document(doc).Elements()
	if err != nil {
		return 0
	}
	deepest := 0
	for _, e := range elems {
		v := e.Value()
		var sub []byte
		switch v.Type {
		case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
			sub = v.Data
		case bsoncore.TypeCodeWithScope:
			if _, scope, ok := v.CodeWithScopeOK(); ok {
				sub = scope
			}
		default:
			continue
		}
		deepest = max(deepest, 1+docDepth(sub))
	}
	return deepest
}

// extJSONKeeps is doc as canonical Extended JSON can give it back: NaN
// doubles become the NaN that "NaN" decodes to, Decimal128 values their
// canonical encoding (a NaN payload or an out-of-range coefficient is
// not kept), regular expression options sorted (as the parser stores
// them). Everything else must survive the round trip byte for byte.
func extJSONKeeps(doc []byte) []byte {
	out := append([]byte(nil), doc...)
	var walk func(d []byte)
	walk = func(d []byte) {
		elems, err := bsoncore.Document(d).Elements()
		if err != nil {
			return
		}
		for _, e := range elems {
			// Values share out's bytes, so they are patched in place.
			switch v := e.Value(); v.Type {
			case bsoncore.TypeDouble:
				if math.IsNaN(v.Double()) {
					binary.LittleEndian.PutUint64(v.Data, extJSONNaN)
				}
			case bsoncore.TypeDecimal128:
				if d, err := bson.ParseDecimal128(bson.NewDecimal128(v.Decimal128()).String()); err == nil {
					hi, lo := d.GetBytes()
					binary.LittleEndian.PutUint64(v.Data, lo)
					binary.LittleEndian.PutUint64(v.Data[8:], hi)
				}
			case bsoncore.TypeRegex:
				pattern, options := v.Regex()
				sorted := []byte(options)
				slices.Sort(sorted)
				copy(v.Data[len(pattern)+1:], sorted)
			case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
				walk(v.Data)
			case bsoncore.TypeCodeWithScope:
				if _, scope, ok := v.CodeWithScopeOK(); ok {
					walk(scope)
				}
			}
		}
	}
	walk(out)
	return out
}

// extJSONNaN is the bit pattern of {"$numberDouble": "NaN"} decoded.
var extJSONNaN = func() uint64 {
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON([]byte(`{"v": {"$numberDouble": "NaN"}}`), true, &raw); err != nil {
		panic(err)
	}
	return binary.LittleEndian.Uint64(raw.Lookup("v").Value)
}()

// extJSONKeywords are the keys by which Extended JSON tells a typed value
// from a document. A document that has one of them as a key of its own,
// e.g. {"x": {"$date": "not a date"}}, cannot be written in Extended JSON
// so that it reads back the same (the format has no escape).
var extJSONKeywords = map[string]bool{
	"$oid": true, "$symbol": true, "$numberInt": true, "$numberLong": true, "$numberDouble": true,
	"$numberDecimal": true, "$binary": true, "$uuid": true, "$code": true, "$scope": true,
	"$timestamp": true, "$regularExpression": true, "$dbPointer": true, "$date": true,
	"$minKey": true, "$maxKey": true, "$undefined": true, "$regex": true, "$options": true, "$type": true,
}

// extJSONCannotKeep reports whether doc holds what no Extended JSON round
// trip gives back, so that only its encoding is asserted: a key in
// extJSONKeywords, or an empty old-style binary (subtype 2), whose inner
// length the driver writes as data but, on reading, strips only from a
// longer one (driver v2.9.3 bson/value_reader.go, ReadBinary: length > 4).
func extJSONCannotKeep(doc []byte) bool {
	elems, err := bsoncore.Document(doc).Elements()
	if err != nil {
		return false
	}
	for _, e := range elems {
		if extJSONKeywords[e.Key()] {
			return true
		}
		switch v := e.Value(); v.Type {
		case bsoncore.TypeBinary:
			if len(v.Data) == 4+1+4 && v.Data[4] == 0x02 {
				return true
			}
		case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
			if extJSONCannotKeep(v.Data) {
				return true
			}
		case bsoncore.TypeCodeWithScope:
			if _, scope, ok := v.CodeWithScopeOK(); ok && extJSONCannotKeep(scope) {
				return true
			}
		}
	}
	return false
}

// The round-trip property found that decodeBSON checked only the top
// level's framing (the driver's Validate does no more), so nested damage
// passed Decode and failed later in Encode or at MongoDB; and that
// invalid UTF-8 in Extended JSON passed json.Valid. These are refused now.
func TestDecodeRefusesMalformedNestedBSON(t *testing.T) {
	doc := func(b *bsoncore.DocumentBuilder) []byte { return b.Build() }
	sub := func(inner []byte) []byte { return doc(bsoncore.NewDocumentBuilder().AppendDocument("a", inner)) }
	str := func(s string) []byte { return doc(bsoncore.NewDocumentBuilder().AppendString("s", s)) }
	// patch returns b with b[i] = v.
	patch := func(b []byte, i int, v byte) []byte { b = append([]byte(nil), b...); b[i] = v; return b }

	zeroLenString := []byte{12, 0, 0, 0, 0x02, 's', 0, 0, 0, 0, 0, 0}
	tests := []struct {
		name string
		b    []byte
	}{
		{"unknown type in an embedded document", sub([]byte{7, 0, 0, 0, 0xFF, 'x', 0})},
		{"truncated element in an embedded document", sub([]byte{8, 0, 0, 0, 0x10, 'x', 0, 0})},
		{"embedded document without its NUL", sub(patch(doc(bsoncore.NewDocumentBuilder().AppendInt32("x", 1)), 11, 1))},
		{"string without its NUL", sub(patch(str("ab"), 13, 'c'))},
		{"string of length 0", sub(zeroLenString)},
		{"string not UTF-8", sub(str("a\xffb"))},
		{"key not UTF-8", sub(doc(bsoncore.NewDocumentBuilder().AppendInt32("k\xff", 1)))},
		{"top-level key not UTF-8", doc(bsoncore.NewDocumentBuilder().AppendInt32("k\xc3", 1))},
		{"boolean 2", patch(doc(bsoncore.NewDocumentBuilder().AppendBoolean("t", true)), 7, 2)},
		{"array keys out of order", doc(bsoncore.NewDocumentBuilder().AppendArray("a",
			doc(bsoncore.NewDocumentBuilder().AppendInt32("1", 1).AppendInt32("0", 2))))},
		{"array key not an index", doc(bsoncore.NewDocumentBuilder().AppendArray("a",
			doc(bsoncore.NewDocumentBuilder().AppendInt32("x", 1))))},
		{"old binary with a wrong inner length", oldBinary([]byte{9, 0, 0, 0, 'h', 'i'})},
		{"code with scope whose code overruns", patch(doc(bsoncore.NewDocumentBuilder().AppendCodeWithScope("c", "x",
			doc(bsoncore.NewDocumentBuilder()))), 11, 40)},
		{"code with scope with a broken scope", doc(bsoncore.NewDocumentBuilder().AppendCodeWithScope("c", "x",
			[]byte{7, 0, 0, 0, 0xFF, 'x', 0}))},
		{"regex not UTF-8", doc(bsoncore.NewDocumentBuilder().AppendRegex("r", "\xfe", ""))},
		{"DBPointer namespace not UTF-8", doc(bsoncore.NewDocumentBuilder().AppendDBPointer("p", "d\xff", bson.NewObjectID()))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode("filter", Document{BSON: tt.b})
			wantArgError(t, err, "filter")
		})
	}
	t.Run("json not UTF-8", func(t *testing.T) {
		_, err := Decode("filter", Document{JSON: "{\"k\": \"a\xffb\"}"})
		wantArgError(t, err, "filter")
	})
	t.Run("well-formed nesting of every kind passes", func(t *testing.T) {
		b := doc(bsoncore.NewDocumentBuilder().
			AppendArray("a", bsoncore.NewArrayBuilder().AppendString("x").AppendDocument(str("y")).Build()).
			AppendCodeWithScope("c", "x", sub(str("z"))).
			AppendString("nul", "a\x00b").AppendBoolean("f", false))
		for _, b := range [][]byte{b, oldBinary([]byte{2, 0, 0, 0, 'h', 'i'})} {
			if _, err := Decode("filter", Document{BSON: b}); err != nil {
				t.Fatalf("Decode(%x) = %v", b, err)
			}
		}
	})
}

// oldBinary is {"b": binary subtype 2 with data as its bytes}; the
// driver's builder would add the inner length itself.
func oldBinary(data []byte) []byte {
	elem := append([]byte{0x05, 'b', 0}, binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	elem = append(append(elem, 0x02), data...)
	return bsoncore.BuildDocument(nil, elem)
}

// A code-with-scope's scope is a document, and MongoDB's nesting limit
// counts it; the depth check did not look inside it, so a scope could
// nest without bound.
func TestDecodeDepthCountsCodeWithScope(t *testing.T) {
	// scoped is {"c": code with scope {"a": {"a": ... {}}}}, the scope
	// nesting levels-1 documents below itself: levels in all.
	scoped := func(levels int) []byte {
		inner := bsoncore.NewDocumentBuilder().Build()
		for range levels - 1 {
			inner = bsoncore.NewDocumentBuilder().AppendDocument("a", inner).Build()
		}
		return bsoncore.NewDocumentBuilder().AppendCodeWithScope("c", "x", inner).Build()
	}
	if _, err := Decode("filter", Document{BSON: scoped(MaxDepth)}); err != nil {
		t.Fatalf("%d levels through a scope: Decode = %v", MaxDepth, err)
	}
	_, err := Decode("filter", Document{BSON: scoped(MaxDepth + 1)})
	wantArgError(t, err, "filter")

	// Nested scopes take two JSON levels per BSON level, so the JSON
	// pre-check allows for that (the driver's parser stops at 200).
	nestedScopes := func(n int) string {
		return strings.Repeat(`{"c": {"$code": "x", "$scope": `, n) + `{}` + strings.Repeat(`}}`, n)
	}
	if _, err := Decode("filter", Document{JSON: nestedScopes(90)}); err != nil {
		t.Fatalf("90 nested scopes: Decode = %v", err)
	}
	_, err = Decode("filter", Document{JSON: nestedScopes(MaxDepth + 1)})
	wantArgError(t, err, "filter")
}
