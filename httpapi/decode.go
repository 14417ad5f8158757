package httpapi

import (
	"bytes"
	"slices"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// decodeDirect reads the HTTP JSON of a message of m's type into m
// without protojson, for the requests clients send every call: objects of
// strings, booleans, integers, enums (by name or number), Documents,
// Values, google.protobuf messages (read by protojson) and messages of
// the same, singular or repeated. It reports false, leaving m to be reset
// and read by decode, for anything else and for anything wrong (null,
// escapes in strings, numbers in other forms, unknown or repeated fields,
// two fields of a oneof, malformed JSON), so every error and every
// unusual form is protojson's. FuzzDecodeDirect holds the two to the same
// result.
func (c *jsonCodec) decodeDirect(data []byte, m protoreflect.Message) bool {
	md := m.Descriptor()
	if isDocument(md) {
		return c.decodeDocument(data, m) == nil
	}
	if md.FullName().Parent() == "google.protobuf" {
		return c.unmarshal.Unmarshal(data, m.Interface()) == nil
	}
	fields, err := objectFields(data)
	if err != nil {
		return false
	}
	var seen []protoreflect.FieldDescriptor
	for _, f := range fields {
		fd := fieldByJSONKey(md, f.key)
		if fd == nil || fd.IsMap() || slices.Contains(seen, fd) {
			return false
		}
		if oo := fd.ContainingOneof(); oo != nil && m.WhichOneof(oo) != nil {
			return false
		}
		seen = append(seen, fd)
		val := bytes.TrimSpace(f.val)
		if !fd.IsList() {
			if !c.decodeValue(val, m, fd, protoreflect.Value{}) {
				return false
			}
			continue
		}
		elems, ok := arrayElements(val)
		if !ok {
			return false
		}
		list := m.Mutable(fd).List()
		for _, e := range elems {
			if !c.decodeValue(e, m, fd, protoreflect.ValueOfList(list)) {
				return false
			}
		}
	}
	return true
}

// decodeValue sets field fd of m to val, or appends it to list when list
// is valid.
func (c *jsonCodec) decodeValue(val []byte, m protoreflect.Message, fd protoreflect.FieldDescriptor, list protoreflect.Value) bool {
	if fd.Kind() == protoreflect.MessageKind {
		if bytes.Equal(val, []byte("null")) {
			return false
		}
		var sub protoreflect.Message
		if list.IsValid() {
			sub = list.List().NewElement().Message()
		} else {
			sub = m.Mutable(fd).Message()
		}
		if !c.decodeDirect(val, sub) {
			return false
		}
		if list.IsValid() {
			list.List().Append(protoreflect.ValueOfMessage(sub))
		}
		return true
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		s, ok := plainString(val)
		if ok {
			setOrAppend(m, fd, list, protoreflect.ValueOfString(s))
		}
		return ok
	case protoreflect.BoolKind:
		switch string(val) {
		case "true":
			setOrAppend(m, fd, list, protoreflect.ValueOfBool(true))
		case "false":
			setOrAppend(m, fd, list, protoreflect.ValueOfBool(false))
		default:
			return false
		}
		return true
	case protoreflect.EnumKind:
		if s, ok := plainString(val); ok {
			ev := fd.Enum().Values().ByName(protoreflect.Name(s))
			if ev == nil {
				return false
			}
			setOrAppend(m, fd, list, protoreflect.ValueOfEnum(ev.Number()))
			return true
		}
		n, ok := plainInt(val, 32)
		if ok {
			setOrAppend(m, fd, list, protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)))
		}
		return ok
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, ok := plainInt(unquoted(val), 32)
		if ok {
			setOrAppend(m, fd, list, protoreflect.ValueOfInt32(int32(n)))
		}
		return ok
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, ok := plainInt(unquoted(val), 64)
		if ok {
			setOrAppend(m, fd, list, protoreflect.ValueOfInt64(n))
		}
		return ok
	}
	return false // unsigned, floating point and bytes fields: protojson
}

// setOrAppend sets field fd of m to v, or appends v to list when list is valid.
func setOrAppend(m protoreflect.Message, fd protoreflect.FieldDescriptor, list, v protoreflect.Value) {
	if list.IsValid() {
		list.List().Append(v)
	} else {
		m.Set(fd, v)
	}
}

// plainString is the text of a JSON string without escapes, in valid
// UTF-8.
func plainString(val []byte) (string, bool) {
	if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
		return "", false
	}
	s := val[1 : len(val)-1]
	if bytes.IndexByte(s, '\\') >= 0 || bytes.IndexByte(s, '"') >= 0 || !utf8.Valid(s) {
		return "", false
	}
	for _, c := range s {
		if c < 0x20 {
			return "", false
		}
	}
	return string(s), true
}

// unquoted is val without the quotes of a JSON string: proto3 JSON writes
// integers either way.
func unquoted(val []byte) []byte {
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
		return val[1 : len(val)-1]
	}
	return val
}

// plainInt reads an integer of bitSize bits written as decimal digits
// with an optional minus sign, without leading zeros.
func plainInt(b []byte, bitSize int) (int64, bool) {
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, bitSize)
	return n, err == nil
}

// arrayElements are the elements of the JSON array val, raw.
func arrayElements(val []byte) ([][]byte, bool) {
	s := scanner{data: val}
	s.space()
	if !s.eat('[') {
		return nil, false
	}
	var out [][]byte
	s.space()
	if s.eat(']') {
		return out, s.end() == nil
	}
	for {
		s.space()
		start := s.i
		if s.skipValue(0) != nil {
			return nil, false
		}
		out = append(out, s.data[start:s.i])
		s.space()
		if s.eat(']') {
			return out, s.end() == nil
		}
		if !s.eat(',') {
			return nil, false
		}
	}
}
