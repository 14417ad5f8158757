package httpapi

import (
	"bytes"
	"errors"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// oracleNonce marks marshalProtojson's placeholders; the fuzz inputs would
// have to guess it to pose as one.
const oracleNonce = "mgdoc-4f1c2a9e5b7d3c18-"

// marshalProtojson writes msg as mongogate's HTTP JSON through protojson:
// the reference FuzzAppendJSON holds appendJSON to.
//
// Each Document and Value in msg is swapped, in place, for a placeholder
// that protojson writes as {"json":"<placeholder>"}, which is then
// replaced by the document's text; the documents are put back before it
// returns. msg is the call's own message, so nothing else sees it
// meanwhile.
func (c *jsonCodec) marshalProtojson(b []byte, msg proto.Message) ([]byte, error) {
	m := msg.ProtoReflect()
	if isDocument(m.Descriptor()) {
		raw, err := extJSONOf(m)
		return append(b, raw...), err
	}
	if !holdsDocuments(m.Descriptor()) {
		return c.marshal.MarshalAppend(b, msg)
	}
	var swaps []swappedDocument
	var failed error
	eachDocument(m, func(d protoreflect.Message) {
		raw, err := extJSONOf(d)
		if err != nil {
			failed = err
		}
		fd := d.WhichOneof(d.Descriptor().Oneofs().Get(0))
		sw := swappedDocument{msg: d, text: raw}
		if fd != nil {
			sw.field, sw.value = fd, d.Get(fd)
		}
		swaps = append(swaps, sw)
		d.Set(d.Descriptor().Fields().ByName("json"), protoreflect.ValueOfString(oracleNonce+strconv.Itoa(len(swaps)-1)))
	})
	defer func() {
		for _, sw := range swaps {
			if sw.field != nil {
				sw.msg.Set(sw.field, sw.value)
			} else {
				sw.msg.Clear(sw.msg.Descriptor().Fields().ByName("json"))
			}
		}
	}()
	if failed != nil {
		return nil, failed
	}
	start := len(b)
	b, err := c.marshal.MarshalAppend(b, msg)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), b[start:]...)
	return replacePlaceholders(b[:start], out, swaps)
}

// swappedDocument is a Document or Value that marshalProtojson swapped for
// a placeholder: what it held (field unset: nothing) and its text.
type swappedDocument struct {
	msg   protoreflect.Message
	field protoreflect.FieldDescriptor
	value protoreflect.Value
	text  []byte
}

// replacePlaceholders appends to b the protojson text out with each
// {"json":"<nonce><i>"} replaced by the text of swaps[i].
func replacePlaceholders(b, out []byte, swaps []swappedDocument) ([]byte, error) {
	for {
		i := bytes.Index(out, []byte(oracleNonce))
		if i < 0 {
			return append(b, out...), nil
		}
		open := placeholderStart(out[:i])
		n, digits := 0, 0
		for j := i + len(oracleNonce); j < len(out) && out[j] >= '0' && out[j] <= '9'; j++ {
			n = n*10 + int(out[j]-'0')
			digits++
		}
		end := placeholderEnd(out[i+len(oracleNonce)+digits:])
		if open < 0 || end < 0 || digits == 0 || n >= len(swaps) {
			return nil, errors.New("httpapi: a document placeholder protojson did not write as expected")
		}
		b = append(b, out[:open]...)
		b = append(b, swaps[n].text...)
		out = out[i+len(oracleNonce)+digits+end:]
	}
}

// placeholderStart is where the object {"json":"... that ends before
// (a placeholder's text) begins, or -1.
func placeholderStart(before []byte) int {
	rest, ok := cutSuffixSpace(before, `"`)
	if ok {
		rest, ok = cutSuffixSpace(rest, ":")
	}
	if ok {
		rest, ok = cutSuffixSpace(rest, `"json"`)
	}
	if ok {
		rest, ok = cutSuffixSpace(rest, "{")
	}
	if !ok {
		return -1
	}
	return len(rest)
}

// placeholderEnd is the length of the "} that closes a placeholder's
// object at the start of after, or -1.
func placeholderEnd(after []byte) int {
	if len(after) == 0 || after[0] != '"' {
		return -1
	}
	rest := bytes.TrimLeft(after[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '}' {
		return -1
	}
	return len(after) - len(rest) + 1
}

// cutSuffixSpace cuts suffix, and white space after it, from the end of b.
func cutSuffixSpace(b []byte, suffix string) ([]byte, bool) {
	b = bytes.TrimRight(b, " \t\r\n")
	return bytes.CutSuffix(b, []byte(suffix))
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
