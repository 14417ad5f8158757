package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
}

var (
	_ vanguard.StableCodec = (*jsonCodec)(nil)
	_ vanguard.RESTCodec   = (*jsonCodec)(nil)
)

func newJSONCodec(res vanguard.TypeResolver) *jsonCodec {
	return &jsonCodec{
		marshal:   protojson.MarshalOptions{Resolver: res},
		unmarshal: protojson.UnmarshalOptions{Resolver: res},
	}
}

func (*jsonCodec) Name() string   { return vanguard.CodecJSON }
func (*jsonCodec) IsBinary() bool { return false }

// MarshalAppend writes msg as mongogate's HTTP JSON (appendJSON).
func (c *jsonCodec) MarshalAppend(b []byte, msg proto.Message) ([]byte, error) {
	return c.appendJSON(b, msg.ProtoReflect())
}

// MarshalAppendStable is MarshalAppend: its output is already the same
// for the same message within one build.
func (c *jsonCodec) MarshalAppendStable(b []byte, msg proto.Message) ([]byte, error) {
	return c.MarshalAppend(b, msg)
}

// Unmarshal reads mongogate's HTTP JSON into msg, or marks msg as
// undecodable.
func (c *jsonCodec) Unmarshal(data []byte, msg proto.Message) error {
	if err := c.decode(data, msg.ProtoReflect()); err != nil {
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
	whole, err := c.MarshalAppend(nil, msg)
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

// decode reads the HTTP JSON of a message of m's type into m: directly
// where decodeDirect can, else through decodeProtojson.
func (c *jsonCodec) decode(data []byte, m protoreflect.Message) error {
	if c.decodeDirect(data, m) {
		return nil
	}
	proto.Reset(m.Interface())
	return c.decodeProtojson(data, m)
}

// decodeProtojson reads the HTTP JSON of a message of m's type into m.
// The fields that hold Documents or Values are decoded here, each
// Document set from its text as it came; the others are protojson's. (No
// mongogate message has a map of documents, TestNoMapOfDocuments checks,
// so only singular and repeated fields are read here.)
func (c *jsonCodec) decodeProtojson(data []byte, m protoreflect.Message) error {
	md := m.Descriptor()
	if isDocument(md) {
		return c.decodeDocument(data, m)
	}
	trimmed := bytes.TrimSpace(data)
	if !holdsDocuments(md) || len(trimmed) == 0 || trimmed[0] != '{' {
		return c.unmarshal.Unmarshal(data, m.Interface()) // protojson says what is wrong
	}
	fields, err := objectFields(trimmed)
	if err != nil {
		return err
	}
	rest := make([]byte, 0, len(trimmed))
	rest = append(rest, '{')
	var held []objectField
	var heldFields []protoreflect.FieldDescriptor
	for _, f := range fields {
		fd := fieldByJSONKey(md, f.key)
		if fd != nil && fd.Message() != nil && !fd.IsMap() && holdsDocuments(fd.Message()) {
			held, heldFields = append(held, f), append(heldFields, fd)
			continue
		}
		if len(rest) > 1 {
			rest = append(rest, ',')
		}
		rest = appendJSONString(rest, []byte(f.key))
		rest = append(rest, ':')
		rest = append(rest, f.val...)
	}
	if err := c.unmarshal.Unmarshal(append(rest, '}'), m.Interface()); err != nil {
		return err
	}
	for i, f := range held {
		fd := heldFields[i]
		if slices.Contains(heldFields[:i], fd) {
			return fmt.Errorf("field %s: given twice", f.key)
		}
		if oo := fd.ContainingOneof(); oo != nil && m.WhichOneof(oo) != nil {
			return fmt.Errorf("field %s: another field of oneof %s is set", f.key, oo.Name())
		}
		if err := c.decodeField(f.val, m, fd); err != nil {
			return fmt.Errorf("field %s: %w", f.key, err)
		}
	}
	return nil
}

// decodeField decodes val into m's field fd, a message or a list of
// messages that hold documents. null leaves a field unset, as in
// protojson, but for a Value, where it is the value null.
func (c *jsonCodec) decodeField(val []byte, m protoreflect.Message, fd protoreflect.FieldDescriptor) error {
	val = bytes.TrimSpace(val)
	isNull := bytes.Equal(val, []byte("null"))
	if !fd.IsList() {
		if isNull && fd.Message().FullName() != valueName {
			return nil
		}
		return c.decodeProtojson(val, m.Mutable(fd).Message())
	}
	if isNull {
		return nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(val, &elems); err != nil {
		return err
	}
	list := m.Mutable(fd).List()
	for i, e := range elems {
		v := list.NewElement()
		if err := c.decodeProtojson(e, v.Message()); err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
		list.Append(v)
	}
	return nil
}

// decodeDocument sets a Document from its Extended JSON object, or a
// Value from its Extended JSON value; the text is kept as it came.
//
// A Document already in protojson's form, an object whose one member is
// "json" or "bson" with a string value, is taken as it is: that is what a
// client generated from the proto sends in JSON, and reading it as a
// document would store {"json": "..."} instead of the document it
// carries. (A document of exactly that shape must therefore itself be
// sent in that form.)
func (c *jsonCodec) decodeDocument(val []byte, m protoreflect.Message) error {
	trimmed := bytes.TrimSpace(val)
	if m.Descriptor().FullName() == documentName {
		if len(trimmed) == 0 || trimmed[0] != '{' {
			return errors.New("a document must be a JSON object in Extended JSON")
		}
		if key, val, ok := protoJSONDocument(trimmed); ok {
			wire, err := checkedProtoJSONDocument(key, val)
			if err != nil {
				return err
			}
			return c.unmarshal.Unmarshal(wire, m.Interface())
		}
	}
	if !json.Valid(trimmed) {
		return errors.New("not valid JSON")
	}
	m.Set(m.Descriptor().Fields().ByName("json"), protoreflect.ValueOfString(string(trimmed)))
	return nil
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
