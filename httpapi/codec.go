package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"

	"connectrpc.com/vanguard"
	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/server"
)

// The JSON of mongogate over HTTP is proto3 JSON with one difference: a
// mongogate.v1.Document is written as the Extended JSON object itself, and
// a mongogate.v1.Value as the Extended JSON value itself, instead of
// {"json": "<Extended JSON text>"}. Key order and every BSON type survive:
// the object's text is handed to the server as it came, and the server's
// Extended JSON is handed back as it went out. A Document the server
// encoded as BSON (response_format DOCUMENT_FORMAT_BSON) is written as
// canonical Extended JSON.

var (
	documentName = (&pb.Document{}).ProtoReflect().Descriptor().FullName()
	valueName    = (&pb.Value{}).ProtoReflect().Descriptor().FullName()
)

// jsonCodec is vanguard's JSON codec with mongogate's Document mapping.
// A request it cannot decode is not refused here, where the refusal would
// carry no ErrorInfo: it is marked (server.MarkUndecodable) and refused by
// the server's status guard like an undecodable gRPC request, with code,
// reason and field on every protocol.
type jsonCodec struct {
	marshal   protojson.MarshalOptions
	unmarshal protojson.UnmarshalOptions
	// nonce makes the placeholders of one process unguessable, so no
	// string a client stored can pose as one.
	nonce       string
	placeholder *regexp.Regexp
}

var (
	_ vanguard.StableCodec = (*jsonCodec)(nil)
	_ vanguard.RESTCodec   = (*jsonCodec)(nil)
)

func newJSONCodec(res vanguard.TypeResolver) *jsonCodec {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	nonce := "mgdoc-" + hex.EncodeToString(b) + "-"
	return &jsonCodec{
		marshal:     protojson.MarshalOptions{Resolver: res},
		unmarshal:   protojson.UnmarshalOptions{Resolver: res},
		nonce:       nonce,
		placeholder: regexp.MustCompile(`\{\s*"json"\s*:\s*"` + nonce + `(\d+)"\s*\}`),
	}
}

func (*jsonCodec) Name() string   { return vanguard.CodecJSON }
func (*jsonCodec) IsBinary() bool { return false }

// MarshalAppend writes msg as mongogate's HTTP JSON.
func (c *jsonCodec) MarshalAppend(b []byte, msg proto.Message) ([]byte, error) {
	m := msg.ProtoReflect()
	if isDocument(m.Descriptor()) {
		raw, err := extJSONOf(m)
		return append(b, raw...), err
	}
	if !containsDocuments(m) {
		return c.marshal.MarshalAppend(b, msg)
	}
	// Each Document and Value becomes a placeholder that protojson writes
	// as {"json": "<placeholder>"}, which is then replaced by its text.
	clone := proto.Clone(msg).ProtoReflect()
	var texts [][]byte
	var failed error
	eachDocument(clone, func(d protoreflect.Message) {
		raw, err := extJSONOf(d)
		if err != nil {
			failed = err
		}
		fd := d.Descriptor().Fields().ByName("json")
		d.Set(fd, protoreflect.ValueOfString(c.nonce+strconv.Itoa(len(texts))))
		texts = append(texts, raw)
	})
	if failed != nil {
		return nil, failed
	}
	out, err := c.marshal.Marshal(clone.Interface())
	if err != nil {
		return nil, err
	}
	out = c.placeholder.ReplaceAllFunc(out, func(m []byte) []byte {
		i, _ := strconv.Atoi(string(c.placeholder.FindSubmatch(m)[1]))
		return texts[i]
	})
	return append(b, out...), nil
}

// MarshalAppendStable is MarshalAppend: its output is already the same
// for the same message within one build.
func (c *jsonCodec) MarshalAppendStable(b []byte, msg proto.Message) ([]byte, error) {
	return c.MarshalAppend(b, msg)
}

// Unmarshal reads mongogate's HTTP JSON into msg, or marks msg as
// undecodable.
func (c *jsonCodec) Unmarshal(data []byte, msg proto.Message) error {
	wire, err := toProtoJSON(data, msg.ProtoReflect().Descriptor())
	if err == nil {
		err = c.unmarshal.Unmarshal(wire, msg)
	}
	if err != nil {
		proto.Reset(msg)
		server.MarkUndecodable(msg, err)
	}
	return nil
}

// MarshalAppendField writes one field of msg (a REST body or response
// naming a field).
func (c *jsonCodec) MarshalAppendField(b []byte, msg proto.Message, field protoreflect.FieldDescriptor) ([]byte, error) {
	if field.Message() != nil && !field.IsList() && !field.IsMap() {
		return c.MarshalAppend(b, msg.ProtoReflect().Get(field).Message().Interface())
	}
	whole, err := c.marshal.Marshal(msg)
	if err != nil {
		return nil, err
	}
	for _, f := range mustObjectFields(whole) {
		if f.key == field.JSONName() {
			return append(b, f.val...), nil
		}
	}
	return append(b, "null"...), nil
}

// UnmarshalField reads one field of msg (a REST body naming a field).
func (c *jsonCodec) UnmarshalField(data []byte, msg proto.Message, field protoreflect.FieldDescriptor) error {
	if field.Message() != nil && !field.IsList() && !field.IsMap() {
		return c.Unmarshal(data, msg.ProtoReflect().Mutable(field).Message().Interface())
	}
	key, _ := json.Marshal(field.JSONName())
	wrapped := append(append(append([]byte{'{'}, key...), ':'), data...)
	return c.Unmarshal(append(wrapped, '}'), msg)
}

func isDocument(md protoreflect.MessageDescriptor) bool {
	return md.FullName() == documentName || md.FullName() == valueName
}

// eachDocument calls fn for every Document and Value set in m, depth first.
func eachDocument(m protoreflect.Message, fn func(protoreflect.Message)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		visit := func(v protoreflect.Value) {
			if isDocument(fd.Message()) {
				fn(v.Message())
			} else {
				eachDocument(v.Message(), fn)
			}
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visit(l.Get(i))
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					if isDocument(fd.MapValue().Message()) {
						fn(mv.Message())
					} else {
						eachDocument(mv.Message(), fn)
					}
					return true
				})
			}
		default:
			visit(v)
		}
		return true
	})
}

func containsDocuments(m protoreflect.Message) bool {
	found := false
	eachDocument(m, func(protoreflect.Message) { found = true })
	return found
}

// extJSONOf is the Extended JSON of a Document or Value message.
func extJSONOf(m protoreflect.Message) ([]byte, error) {
	fields := m.Descriptor().Fields()
	if s := m.Get(fields.ByName("json")).String(); s != "" {
		return []byte(s), nil
	}
	b := m.Get(fields.ByName("bson")).Bytes()
	if len(b) == 0 {
		if m.Descriptor().FullName() == valueName {
			return []byte("null"), nil
		}
		return []byte("{}"), nil
	}
	doc, err := bson.MarshalExtJSON(bson.Raw(b), true, false)
	if err != nil || m.Descriptor().FullName() == documentName {
		return doc, err
	}
	// A Value's BSON is {"v": <value>}.
	for _, f := range mustObjectFields(doc) {
		if f.key == "v" {
			return f.val, nil
		}
	}
	return nil, errors.New("httpapi: a BSON value without its element v")
}

// toProtoJSON rewrites the HTTP JSON of a message of type md into
// protojson's: each Document and Value becomes {"json": "<its text>"}.
func toProtoJSON(data []byte, md protoreflect.MessageDescriptor) ([]byte, error) {
	if isDocument(md) {
		return wrapDocument(data, md)
	}
	if !holdsDocuments(md) {
		return data, nil
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return data, nil // protojson says what is wrong
	}
	fields, err := objectFields(trimmed)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(trimmed)+32)
	out = append(out, '{')
	for i, f := range fields {
		val := f.val
		if fd := fieldByJSONKey(md, f.key); fd != nil && fd.Message() != nil {
			if val, err = rewriteField(val, fd); err != nil {
				return nil, fmt.Errorf("field %s: %w", f.key, err)
			}
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, []byte(f.key))
		out = append(out, ':')
		out = append(out, val...)
	}
	return append(out, '}'), nil
}

func rewriteField(val []byte, fd protoreflect.FieldDescriptor) ([]byte, error) {
	trimmed := bytes.TrimSpace(val)
	switch {
	case fd.IsMap():
		md := fd.MapValue().Message()
		if md == nil || len(trimmed) == 0 || trimmed[0] != '{' {
			return val, nil
		}
		fields, err := objectFields(trimmed)
		if err != nil {
			return nil, err
		}
		var out bytes.Buffer
		out.WriteByte('{')
		for i, f := range fields {
			v, err := toProtoJSON(f.val, md)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				out.WriteByte(',')
			}
			key, _ := json.Marshal(f.key)
			out.Write(key)
			out.WriteByte(':')
			out.Write(v)
		}
		out.WriteByte('}')
		return out.Bytes(), nil
	case fd.IsList():
		if len(trimmed) == 0 || trimmed[0] != '[' {
			return val, nil
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(trimmed, &elems); err != nil {
			return nil, err
		}
		var out bytes.Buffer
		out.WriteByte('[')
		for i, e := range elems {
			v, err := toProtoJSON(e, fd.Message())
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			if i > 0 {
				out.WriteByte(',')
			}
			out.Write(v)
		}
		out.WriteByte(']')
		return out.Bytes(), nil
	}
	return toProtoJSON(val, fd.Message())
}

// wrapDocument turns a Document's Extended JSON object, or a Value's
// Extended JSON value, into protojson's {"json": "<text>"}.
//
// A Document already in protojson's form, an object whose one member is
// "json" or "bson" with a string value, is taken as it is: that is what a
// client generated from the proto sends in JSON, and reading it as a
// document would store {"json": "..."} instead of the document it
// carries. (A document of exactly that shape must therefore itself be
// sent in that form.)
func wrapDocument(val []byte, md protoreflect.MessageDescriptor) ([]byte, error) {
	trimmed := bytes.TrimSpace(val)
	if md.FullName() == documentName {
		if bytes.Equal(trimmed, []byte("null")) {
			return trimmed, nil // an unset field
		}
		if len(trimmed) == 0 || trimmed[0] != '{' {
			return nil, errors.New("a document must be a JSON object in Extended JSON")
		}
		if key, val, ok := protoJSONDocument(trimmed); ok {
			return checkedProtoJSONDocument(key, val)
		}
	}
	if !json.Valid(trimmed) {
		return nil, errors.New("not valid JSON")
	}
	out := make([]byte, 0, len(trimmed)+16)
	out = append(out, `{"json":`...)
	out = appendJSONString(out, trimmed)
	return append(out, '}'), nil
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// documentHolders caches holdsDocuments by message name.
var documentHolders sync.Map // protoreflect.FullName → bool

// holdsDocuments reports whether a message of type md can hold a Document
// or Value, at any depth: only those need rewriting.
func holdsDocuments(md protoreflect.MessageDescriptor) bool {
	if v, ok := documentHolders.Load(md.FullName()); ok {
		return v.(bool)
	}
	holds := scanHolds(md, map[protoreflect.FullName]bool{})
	documentHolders.Store(md.FullName(), holds)
	return holds
}

func scanHolds(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if isDocument(md) {
		return true
	}
	if seen[md.FullName()] {
		return false
	}
	seen[md.FullName()] = true
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if m := fd.Message(); m != nil && scanHolds(m, seen) {
			return true
		}
	}
	return false
}

// protoJSONDocument reports whether obj is {"json": "<string>"} or
// {"bson": "<string>"}, and returns its key and string value.
func protoJSONDocument(obj []byte) (key string, val []byte, ok bool) {
	fields, err := objectFields(obj)
	if err != nil || len(fields) != 1 || (fields[0].key != "json" && fields[0].key != "bson") {
		return "", nil, false
	}
	v := bytes.TrimSpace(fields[0].val)
	return fields[0].key, v, len(v) > 0 && v[0] == '"'
}

// checkedProtoJSONDocument is a Document in protojson's form, checked as
// the server would check it, so that what the codec accepts it can also
// write back: json must hold an Extended JSON object (white space around
// it is dropped), bson a BSON document in base64.
func checkedProtoJSONDocument(key string, val []byte) ([]byte, error) {
	if key == "bson" {
		var b []byte
		if err := json.Unmarshal(val, &b); err != nil {
			return nil, fmt.Errorf("document.bson: %w", err)
		}
		if err := bson.Raw(b).Validate(); err != nil {
			return nil, fmt.Errorf("document.bson is not a BSON document: %w", err)
		}
		return append(append([]byte(`{"bson":`), val...), '}'), nil
	}
	var text string
	if err := json.Unmarshal(val, &text); err != nil {
		return nil, fmt.Errorf("document.json: %w", err)
	}
	t := bytes.TrimSpace([]byte(text))
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return nil, errors.New("document.json must hold a JSON object in Extended JSON")
	}
	out := append([]byte(`{"json":`), appendJSONString(nil, t)...)
	return append(out, '}'), nil
}

// fieldByJSONKey finds the field a JSON key names: its JSON name or, as
// protojson also accepts, its proto name.
func fieldByJSONKey(md protoreflect.MessageDescriptor, key string) protoreflect.FieldDescriptor {
	if fd := md.Fields().ByJSONName(key); fd != nil {
		return fd
	}
	return md.Fields().ByName(protoreflect.Name(key))
}
