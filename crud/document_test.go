package crud

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// js is a JSON Document for tests.
func js(s string) *Document { return &Document{JSON: s} }

// mustRaw decodes Extended JSON or fails the test.
func mustRaw(t testing.TB, s string) bson.Raw {
	t.Helper()
	raw, err := Decode("test", Document{JSON: s})
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return raw
}

// wantArgError asserts err is an *ArgError for field.
func wantArgError(t testing.TB, err error, field string) {
	t.Helper()
	var ae *ArgError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want *ArgError for %q", err, err, field)
	}
	if ae.Field != field {
		t.Fatalf("ArgError.Field = %q, want %q (reason %q)", ae.Field, field, ae.Reason)
	}
	if ae.Reason == "" {
		t.Fatalf("ArgError for %q has no reason", field)
	}
}

func TestDecodeEncodeRoundTrip(t *testing.T) {
	const canonical = `{"b":{"$numberLong":"7"},"a":{"$numberInt":"1"},` +
		`"_id":{"$oid":"64b7f0c2a1b2c3d4e5f60718"},` +
		`"d":{"$date":{"$numberLong":"1577836800000"}},` +
		`"x":{"$numberDecimal":"1.5"},"f":{"$numberDouble":"2.5"},` +
		`"arr":[{"$numberInt":"1"},"s",null,true],"sub":{"z":{"$numberInt":"1"},"y":{"$numberInt":"2"}}}`
	tests := []struct {
		name   string
		in     string
		format Format
		want   string
	}{
		{"canonical in, canonical out", canonical, FormatJSONCanonical, canonical},
		{
			"relaxed in, canonical out",
			`{"b": 7, "a": 1, "big": 3000000000, "f": 2.5, "d": {"$date": "2020-01-01T00:00:00Z"}}`,
			FormatJSONCanonical,
			`{"b":{"$numberInt":"7"},"a":{"$numberInt":"1"},"big":{"$numberLong":"3000000000"},"f":{"$numberDouble":"2.5"},"d":{"$date":{"$numberLong":"1577836800000"}}}`,
		},
		{
			"canonical in, relaxed out",
			`{"n":{"$numberLong":"7"},"d":{"$date":{"$numberLong":"1577836800000"}},"x":{"$numberDecimal":"1.5"},"_id":{"$oid":"64b7f0c2a1b2c3d4e5f60718"}}`,
			FormatJSONRelaxed,
			`{"n":7,"d":{"$date":"2020-01-01T00:00:00Z"},"x":{"$numberDecimal":"1.5"},"_id":{"$oid":"64b7f0c2a1b2c3d4e5f60718"}}`,
		},
		{"empty document", `{}`, FormatJSONCanonical, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := mustRaw(t, tt.in)
			out, err := Encode(raw, tt.format)
			if err != nil {
				t.Fatal(err)
			}
			if out.JSON != tt.want {
				t.Errorf("Encode =\n %s\nwant\n %s", out.JSON, tt.want)
			}
			if out.BSON != nil {
				t.Errorf("JSON format also set BSON")
			}
		})
	}

	t.Run("bson in, bson out, canonical json equal", func(t *testing.T) {
		raw := mustRaw(t, canonical)
		back, err := Decode("document", Document{BSON: raw})
		if err != nil {
			t.Fatal(err)
		}
		out, err := Encode(back, FormatBSON)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.BSON, raw) || out.JSON != "" {
			t.Fatalf("BSON round trip changed the bytes")
		}
		j, err := Encode(bson.Raw(out.BSON), FormatJSONCanonical)
		if err != nil {
			t.Fatal(err)
		}
		if j.JSON != canonical {
			t.Errorf("canonical after BSON round trip =\n %s\nwant\n %s", j.JSON, canonical)
		}
	})

	t.Run("key order kept", func(t *testing.T) {
		raw := mustRaw(t, `{"z":1,"a":2,"m":{"y":1,"b":2}}`)
		keys := []string{}
		elems, _ := raw.Elements()
		for _, e := range elems {
			keys = append(keys, e.Key())
		}
		if got := strings.Join(keys, ","); got != "z,a,m" {
			t.Errorf("keys = %s, want z,a,m", got)
		}
	})
}

func TestDecodeErrors(t *testing.T) {
	valid := mustRaw(t, `{"a": 1}`)
	wrongLen := append(bson.Raw(nil), valid...)
	binary.LittleEndian.PutUint32(wrongLen, uint32(len(wrongLen)+3))
	badType := append(bson.Raw(nil), valid...)
	badType[4] = 0x77 // no such BSON type
	trailing := append(append(bson.Raw(nil), valid...), 0)

	tests := []struct {
		name string
		doc  Document
	}{
		{"nothing set", Document{}},
		{"both set", Document{JSON: `{}`, BSON: valid}},
		{"json syntax", Document{JSON: `{"a": 1`}},
		{"json trailing value", Document{JSON: `{"a": 1} {"b": 2}`}},
		{"json array", Document{JSON: `[1, 2]`}},
		{"json scalar", Document{JSON: `42`}},
		{"bad extended json", Document{JSON: `{"a": {"$numberLong": 7}}`}},
		{"bad oid", Document{JSON: `{"_id": {"$oid": "xyz"}}`}},
		{"bson too short", Document{BSON: []byte{1, 2}}},
		{"bson empty", Document{BSON: []byte{}}},
		{"bson length prefix", Document{BSON: wrongLen}},
		{"bson trailing bytes", Document{BSON: trailing}},
		{"bson bad element type", Document{BSON: badType}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode("options.sort", tt.doc)
			wantArgError(t, err, "options.sort")
		})
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	big := func(n int) []byte {
		// {"s": "<n-? bytes>"} sized to exactly n bytes.
		strLen := n - 4 - 1 - 2 - 4 - 1 - 1 // len, type, "s\0", strlen, NUL, doc NUL
		b := make([]byte, 0, n)
		b = binary.LittleEndian.AppendUint32(b, uint32(n))
		b = append(b, 0x02, 's', 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(strLen+1))
		b = append(b, bytes.Repeat([]byte{'x'}, strLen)...)
		b = append(b, 0, 0)
		return b
	}
	t.Run("at the limit", func(t *testing.T) {
		if _, err := Decode("document", Document{BSON: big(MaxDocumentSize)}); err != nil {
			t.Fatalf("16 MiB document refused: %v", err)
		}
	})
	t.Run("over the limit bson", func(t *testing.T) {
		_, err := Decode("document", Document{BSON: big(MaxDocumentSize + 1)})
		wantArgError(t, err, "document")
	})
	t.Run("over the limit json", func(t *testing.T) {
		s := `{"s": "` + strings.Repeat("x", MaxDocumentSize) + `"}`
		_, err := Decode("documents[1]", Document{JSON: s})
		wantArgError(t, err, "documents[1]")
	})
}

func TestEncodeValue(t *testing.T) {
	doc := mustRaw(t, `{"oid": {"$oid": "64b7f0c2a1b2c3d4e5f60718"}, "i": 42, "l": {"$numberLong": "7"},
		"s": "text", "a": [1, 2], "n": null, "d": {"x": 1}, "dec": {"$numberDecimal": "1.10"}}`)
	tests := []struct {
		key       string
		canonical string
		relaxed   string
	}{
		{"oid", `{"$oid":"64b7f0c2a1b2c3d4e5f60718"}`, `{"$oid":"64b7f0c2a1b2c3d4e5f60718"}`},
		{"i", `{"$numberInt":"42"}`, `42`},
		{"l", `{"$numberLong":"7"}`, `7`},
		{"s", `"text"`, `"text"`},
		{"a", `[{"$numberInt":"1"},{"$numberInt":"2"}]`, `[1,2]`},
		{"n", `null`, `null`},
		{"d", `{"x":{"$numberInt":"1"}}`, `{"x":1}`},
		{"dec", `{"$numberDecimal":"1.10"}`, `{"$numberDecimal":"1.10"}`},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			v := doc.Lookup(tt.key)
			for _, c := range []struct {
				f    Format
				want string
			}{{FormatJSONCanonical, tt.canonical}, {FormatJSONRelaxed, tt.relaxed}} {
				got, err := EncodeValue(v, c.f)
				if err != nil {
					t.Fatal(err)
				}
				if got.JSON != c.want {
					t.Errorf("%v: %s, want %s", c.f, got.JSON, c.want)
				}
			}
			got, err := EncodeValue(v, FormatBSON)
			if err != nil {
				t.Fatal(err)
			}
			wrapped := bson.Raw(got.BSON)
			elems, err := wrapped.Elements()
			if err != nil || len(elems) != 1 || elems[0].Key() != "v" || !elems[0].Value().Equal(v) {
				t.Errorf("BSON value = %v (%v), want {\"v\": %v}", wrapped, err, v)
			}
		})
	}
	t.Run("invalid value", func(t *testing.T) {
		if _, err := EncodeValue(bson.RawValue{Type: bson.TypeInt32, Value: []byte{1}}, FormatJSONCanonical); err == nil {
			t.Fatal("no error for a truncated int32")
		}
	})
	t.Run("unknown format", func(t *testing.T) {
		_, err := Encode(mustRaw(t, `{}`), Format(9))
		wantArgError(t, err, "response_format")
	})
}

func TestDecodeDepthLimit(t *testing.T) {
	nested := func(levels int, leaf string) string {
		return strings.Repeat(`{"a":`, levels) + leaf + strings.Repeat(`}`, levels)
	}
	arrays := func(levels int) string {
		return `{"a":` + strings.Repeat(`[`, levels) + strings.Repeat(`]`, levels) + `}`
	}
	tests := []struct {
		name string
		json string
		ok   bool
	}{
		{"100 levels", nested(101, `1`), true},
		{"100 levels ending in extended json", nested(101, `{"$date": {"$numberLong": "1"}}`), true},
		{"100 levels of arrays", arrays(100), true},
		{"101 levels", nested(102, `1`), false},
		{"101 levels of arrays", arrays(101), false},
		{"a million levels", nested(1_000_000, `1`), false},
		{"brackets in strings do not count", `{"s": "` + strings.Repeat("{[", 500) + `"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := Decode("filter", Document{JSON: tt.json})
			if tt.ok {
				if err != nil {
					t.Fatalf("Decode = %v", err)
				}
				// The same document as BSON passes too.
				if _, err := Decode("filter", Document{BSON: raw}); err != nil {
					t.Fatalf("Decode BSON = %v", err)
				}
				return
			}
			wantArgError(t, err, "filter")
		})
	}

	t.Run("deep bson", func(t *testing.T) {
		// {"a": {"a": ... {}}} 200 000 levels deep, as bytes: each level
		// is a length, the element header, the level below, and a NUL.
		const levels = 200_000
		b := make([]byte, 0, levels*9+5)
		for i := range levels {
			b = binary.LittleEndian.AppendUint32(b, uint32(5+8*(levels-i)))
			b = append(b, 0x03, 'a', 0)
		}
		b = append(b, 5, 0, 0, 0, 0)
		b = append(b, bytes.Repeat([]byte{0}, levels)...)
		_, err := Decode("filter", Document{BSON: b})
		wantArgError(t, err, "filter")
	})
}

// TestDecimalCoefficientBound refuses a Decimal128 whose coefficient is
// above 10^34-1 in the usual form, which canonical Extended JSON cannot
// carry back, and accepts the largest coefficient, the implicit-prefix
// form and the special values.
func TestDecimalCoefficientBound(t *testing.T) {
	const maxHi, maxLo = 0x1ed09bead87c0, 0x378d8e63ffffffff // 10^34-1
	exp := uint64(6176) << 49                                // exponent 0
	for _, tt := range []struct {
		name   string
		hi, lo uint64
		ok     bool
	}{
		{"10^34-1", exp | maxHi, maxLo, true},
		{"10^34", exp | maxHi, maxLo + 1, false},
		{"2^113-1", exp | (1<<49 - 1), 1<<64 - 1, false},
		{"implicit prefix (read as zero)", 0x6C10000000000000, 0, true},
		{"Infinity", 0x7800000000000000, 0, true},
		{"NaN", 0x7C00000000000000, 0, true},
	} {
		doc := bsoncore.NewDocumentBuilder().AppendDecimal128("d", tt.hi, tt.lo).Build()
		_, err := Decode("document", Document{BSON: doc})
		if (err == nil) != tt.ok {
			t.Errorf("%s: Decode error %v, want accepted %v", tt.name, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "Decimal128 coefficient") {
			t.Errorf("%s: %v does not name the coefficient", tt.name, err)
		}
		if tt.ok {
			enc, err := Encode(bson.Raw(doc), FormatJSONCanonical)
			if err != nil {
				t.Fatalf("%s: Encode: %v", tt.name, err)
			}
			if _, err := Decode("document", enc); err != nil {
				t.Errorf("%s: %s does not read back: %v", tt.name, enc.JSON, err)
			}
		}
	}
}
