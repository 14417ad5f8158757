package httpapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

func testCodec() *jsonCodec { return newJSONCodec(protoregistry.GlobalTypes) }

// TestUnmarshalDocuments reads Documents and Values written as Extended
// JSON objects and values, and keeps their text: key order and types.
func TestUnmarshalDocuments(t *testing.T) {
	c := testCodec()
	doc := `{"z": 1, "a": {"$numberLong": "7"}, "_id": {"$oid": "65f1c0de2b7e4a1d9c3b8a01"}, "s": "<&>"}`
	var one pb.InsertOneRequest
	if err := c.Unmarshal([]byte(`{"sessionToken": "t", "document": `+doc+`}`), &one); err != nil {
		t.Fatal(err)
	}
	if one.GetDocument().GetJson() != doc || one.GetSessionToken() != "t" {
		t.Fatalf("document %q, token %q", one.GetDocument().GetJson(), one.GetSessionToken())
	}
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(one.GetDocument().GetJson()), true, &d); err != nil {
		t.Fatal(err)
	}
	if d[0].Key != "z" || d[1].Key != "a" || d[1].Value != int64(7) {
		t.Fatalf("decoded %v: key order or int64 lost", d)
	}

	var many pb.InsertManyRequest
	if err := c.Unmarshal([]byte(`{"documents": [{"a": 1}, {"b": [1, 2]}], "options": {"ordered": false}}`), &many); err != nil {
		t.Fatal(err)
	}
	if len(many.GetDocuments()) != 2 || many.GetDocuments()[1].GetJson() != `{"b": [1, 2]}` || many.GetOptions().GetOrdered() {
		t.Fatalf("InsertMany %v", &many)
	}
	// protojson's own form of a Document, as a generated client sends it,
	// is the document it carries, not a document with a json field.
	var generated pb.InsertOneRequest
	if err := c.Unmarshal([]byte(`{"document": {"json": "{\"a\": 1}"}}`), &generated); err != nil {
		t.Fatal(err)
	}
	if generated.GetDocument().GetJson() != `{"a": 1}` {
		t.Fatalf("protojson form read as %q", generated.GetDocument().GetJson())
	}
	// Proto names are accepted as protojson accepts them.
	var upd pb.UpdateOneRequest
	if err := c.Unmarshal([]byte(`{"session_token": "t", "filter": {"a": 1}, "update": {"$set": {"b": 2}}}`), &upd); err != nil {
		t.Fatal(err)
	}
	if upd.GetFilter().GetJson() != `{"a": 1}` || upd.GetUpdate().GetJson() != `{"$set": {"b": 2}}` {
		t.Fatalf("UpdateOne %v", &upd)
	}
}

// TestUnmarshalRefused marks what does not decode instead of failing, so
// the status guard refuses it with ErrorInfo.
func TestUnmarshalRefused(t *testing.T) {
	c := testCodec()
	for name, body := range map[string]string{
		"malformed JSON":        `{"document": {"a": 1}`,
		"unknown field":         `{"document": {"a": 1}, "bogus": 1}`,
		"document not JSON":     `{"document": "{\"a\": 1}"}`,
		"document an array":     `{"document": [1, 2]}`,
		"trailing data":         `{"document": {"a": 1}} {}`,
		"wrong type of a field": `{"sessionToken": 7}`,
		"empty bson document":   `{"document": {"bson": ""}}`,
		"json not an object":    `{"document": {"json": "x"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			var req pb.InsertOneRequest
			if err := c.Unmarshal([]byte(body), &req); err != nil {
				t.Fatalf("Unmarshal: %v (want a marked message)", err)
			}
			if req.GetDocument() != nil || len(req.ProtoReflect().GetUnknown()) == 0 {
				t.Fatalf("not marked undecodable: %v, unknown %d bytes", &req, len(req.ProtoReflect().GetUnknown()))
			}
		})
	}
}

// TestMarshalDocuments writes Documents and Values as Extended JSON,
// converting those the server encoded as BSON.
func TestMarshalDocuments(t *testing.T) {
	c := testCodec()
	id := bson.NewObjectID()
	raw, err := bson.Marshal(bson.D{{Key: "b", Value: int32(1)}, {Key: "a", Value: id}})
	if err != nil {
		t.Fatal(err)
	}
	value, err := bson.Marshal(bson.D{{Key: "v", Value: id}})
	if err != nil {
		t.Fatal(err)
	}
	resp := &pb.InsertManyResponse{InsertedIds: []*pb.Value{
		{Value: &pb.Value_Json{Json: `{"$numberLong": "5"}`}},
		{Value: &pb.Value_Bson{Bson: value}},
	}}
	out, err := c.MarshalAppend(nil, resp)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		InsertedIDs []json.RawMessage `json:"insertedIds"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if len(got.InsertedIDs) != 2 || string(got.InsertedIDs[0]) != `{"$numberLong": "5"}` ||
		compact(t, got.InsertedIDs[1]) != `{"$oid":"`+id.Hex()+`"}` {
		t.Fatalf("insertedIds %s", out)
	}

	find, err := c.MarshalAppend(nil, &pb.FindResponse{Documents: []*pb.Document{
		{Value: &pb.Document_Json{Json: `{"x": {"$numberInt": "1"}}`}},
		{Value: &pb.Document_Bson{Bson: raw}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"documents":[{"x":{"$numberInt":"1"}},{"b":{"$numberInt":"1"},"a":{"$oid":"` + id.Hex() + `"}}]}`
	if compact(t, find) != want {
		t.Fatalf("FindResponse\n got %s\nwant %s", find, want)
	}
	// A response without documents is plain protojson.
	plain, err := c.MarshalAppend(nil, &pb.CommitTransactionResponse{TransactionNumber: 3, Committed: true})
	if err != nil || compact(t, plain) != `{"transactionNumber":"3","committed":true}` {
		t.Fatalf("CommitTransactionResponse %s, %v", plain, err)
	}
}

// TestRoundTrip reads back what MarshalAppend writes.
func TestRoundTrip(t *testing.T) {
	c := testCodec()
	in := &pb.ReplaceOneRequest{
		SessionToken: "mg-x.y",
		Namespace:    &pb.Namespace{Database: "d", Collection: "c"},
		Filter:       &pb.Document{Value: &pb.Document_Json{Json: `{"_id": {"$numberInt": "1"}}`}},
		Replacement:  &pb.Document{Value: &pb.Document_Json{Json: `{"k": "v", "a": [1, {"$numberDouble": "2.5"}]}`}},
	}
	out, err := c.MarshalAppend(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), `"json"`) {
		t.Fatalf("a Document written as {json: ...}: %s", out)
	}
	var back pb.ReplaceOneRequest
	if err := c.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, &back) {
		t.Fatalf("round trip\n in %v\nout %v", in, &back)
	}
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return buf.String()
}

// BenchmarkCodec decodes a FindOne request and encodes its response, the
// codec's share of a Connect JSON FindOne.
//
//	go test ./httpapi -run '^$' -bench Codec -benchmem
func BenchmarkCodec(b *testing.B) {
	c := testCodec()
	req := []byte(`{"namespace":{"database":"bench","collection":"users"},"filter":{"_id":42}}`)
	resp := &pb.FindOneResponse{Document: &pb.Document{Value: &pb.Document_Json{Json: `{"_id":{"$numberInt":"42"},"name":"user 42","n":{"$numberLong":"42"}}`}}}
	b.Run("Unmarshal FindOneRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m pb.FindOneRequest
			if err := c.Unmarshal(req, &m); err != nil || len(m.ProtoReflect().GetUnknown()) > 0 {
				b.Fatalf("%v %v", err, m.ProtoReflect().GetUnknown())
			}
		}
	})
	b.Run("MarshalAppend FindOneResponse", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = c.MarshalAppend(buf[:0], resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestNoMapOfDocuments: the codec decodes documents in singular and
// repeated fields only (jsonCodec.decode) and writes maps through protojson
// (appendJSON), so no mongogate message may have a map whose values hold
// documents, nor, for speed, any map.
func TestNoMapOfDocuments(t *testing.T) {
	fd := (&pb.Document{}).ProtoReflect().Descriptor().ParentFile()
	seen := 0
	protoregistry.GlobalFiles.RangeFilesByPackage(fd.Package(), func(f protoreflect.FileDescriptor) bool {
		var walk func(protoreflect.MessageDescriptors)
		walk = func(ms protoreflect.MessageDescriptors) {
			for i := 0; i < ms.Len(); i++ {
				md := ms.Get(i)
				seen++
				for j := 0; j < md.Fields().Len(); j++ {
					f := md.Fields().Get(j)
					if f.IsMap() {
						t.Errorf("%s: a map; teach jsonCodec.decode and appendJSON maps", f.FullName())
					}
				}
				walk(md.Messages())
			}
		}
		walk(f.Messages())
		return true
	})
	if seen < 50 {
		t.Fatalf("walked %d messages of package %s; the registry lookup is broken", seen, fd.Package())
	}
}
