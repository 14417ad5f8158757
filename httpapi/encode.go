package httpapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// appendJSON writes m as mongogate's HTTP JSON: protojson's output (proto3
// JSON, fields in declaration order, unpopulated fields left out) with
// each Document and Value written as its Extended JSON text, without
// protojson's reflective machinery. google.protobuf messages (Timestamp,
// Duration) are written by protojson. Map fields are refused: no
// mongogate message has one (TestNoMapOfDocuments). FuzzAppendJSON holds
// it to protojson's output.
func (c *jsonCodec) appendJSON(b []byte, m protoreflect.Message) ([]byte, error) {
	md := m.Descriptor()
	if isDocument(md) {
		raw, err := extJSONOf(m)
		return append(b, raw...), err
	}
	if md.FullName().Parent() == "google.protobuf" {
		raw, err := c.marshal.Marshal(m.Interface())
		return append(b, raw...), err
	}
	b = append(b, '{')
	first := true
	var err error
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		if fd.IsMap() {
			return nil, fmt.Errorf("httpapi: map field %s: the HTTP JSON codec writes none", fd.FullName())
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, fd.JSONName()...)
		b = append(b, '"', ':')
		v := m.Get(fd)
		if fd.IsList() {
			l := v.List()
			b = append(b, '[')
			for j := 0; j < l.Len(); j++ {
				if j > 0 {
					b = append(b, ',')
				}
				if b, err = c.appendValue(b, fd, l.Get(j)); err != nil {
					return nil, err
				}
			}
			b = append(b, ']')
			continue
		}
		if b, err = c.appendValue(b, fd, v); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendValue writes one value of field fd (one element, for a list).
func (c *jsonCodec) appendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return c.appendJSON(b, v.Message())
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b = append(b, '"')
		return append(strconv.AppendInt(b, v.Int(), 10), '"'), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b = append(b, '"')
		return append(strconv.AppendUint(b, v.Uint(), 10), '"'), nil
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32), nil
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64), nil
	case protoreflect.StringKind:
		return appendProtoString(b, v.String())
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"'), nil
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			return append(b, "null"...), nil
		}
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			b = append(b, '"')
			b = append(b, ev.Name()...)
			return append(b, '"'), nil
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	}
	return nil, fmt.Errorf("httpapi: field %s of kind %v", fd.FullName(), fd.Kind())
}

var errInvalidUTF8 = errors.New("httpapi: a string field holds invalid UTF-8")

// appendProtoString writes s as a JSON string the way protojson does:
// quotes, backslashes and control characters escaped, and invalid UTF-8
// refused.
func appendProtoString(b []byte, s string) ([]byte, error) {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return nil, errInvalidUTF8
			}
			b = append(b, s[i:i+n]...)
			i += n
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < ' ':
			b = append(b, '\\', 'u')
			b = append(b, "0000"[1+(bits.Len32(uint32(c))-1)/4:]...)
			b = strconv.AppendUint(b, uint64(c), 16)
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"'), nil
}

// appendFloat writes a float as protojson does: NaN and the infinities as
// strings, others as encoding/json formats numbers.
func appendFloat(b []byte, f float64, bitSize int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bitSize == 64 && (abs < 1e-6 || abs >= 1e21) || bitSize == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bitSize)
	if format == 'e' {
		// e-07 -> e-7, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
