package httpapi

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// FuzzCodec feeds arbitrary bytes to the HTTP JSON codec as requests of
// several types. Whatever they are, it does not panic or fail: it decodes
// them or marks them undecodable; what it decodes it writes back into JSON
// that it reads again, leaving the message as it was; and from then on the
// round trip is exact (the first write may turn a protojson-form BSON
// document into Extended JSON).
func FuzzCodec(f *testing.F) {
	for _, seed := range []string{
		`{"document": {"_id": {"$oid": "65f1c0de2b7e4a1d9c3b8a01"}, "n": {"$numberLong": "1"}}}`,
		`{"documents": [{"a": 1}, {"b": [1, {"c": null}]}], "options": {"ordered": false}}`,
		`{"filter": {"a": {"$gt": 1}}, "update": {"$set": {"b": "x"}}, "options": {"arrayFilters": [{"e": 1}]}}`,
		`{"pipeline": [{"$match": {}}, {"$sort": {"_id": -1}}]}`,
		`{"document": {"json": "{\"a\": 1}"}}`,
		`{"sessionToken": "mg-x.y", "namespace": {"database": "d", "collection": "c"}}`,
		`{"document": {"a": "\u00e9\"\\"}} `,
		`{"document": [1]}`, `{`, `{"a":}`, `[]`, `null`, ``,
	} {
		f.Add(uint8(0), []byte(seed))
	}
	c := testCodec()
	news := []func() proto.Message{
		func() proto.Message { return &pb.InsertOneRequest{} },
		func() proto.Message { return &pb.InsertManyRequest{} },
		func() proto.Message { return &pb.UpdateManyRequest{} },
		func() proto.Message { return &pb.AggregateRequest{} },
		func() proto.Message { return &pb.RunTransactionRequest{} },
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		msg := news[int(kind)%len(news)]()
		if err := c.Unmarshal(data, msg); err != nil {
			t.Fatalf("Unmarshal failed instead of marking: %v", err)
		}
		if len(msg.ProtoReflect().GetUnknown()) > 0 {
			return // marked undecodable: the status guard refuses it
		}
		roundTrip := func(m proto.Message) ([]byte, proto.Message) {
			before := proto.Clone(m)
			out, err := c.MarshalAppend(nil, m)
			if err != nil {
				t.Fatalf("MarshalAppend of a decoded %T: %v", m, err)
			}
			if !proto.Equal(before, m) {
				t.Fatalf("MarshalAppend changed its message:\nbefore %v\n after %v", before, m)
			}
			back := m.ProtoReflect().New().Interface()
			if err := c.Unmarshal(out, back); err != nil || len(back.ProtoReflect().GetUnknown()) > 0 {
				t.Fatalf("what MarshalAppend wrote does not read back: %s (%v)", out, err)
			}
			return out, back
		}
		_, once := roundTrip(msg)
		out, twice := roundTrip(once)
		if !proto.Equal(once, twice) {
			t.Fatalf("round trip changed the message:\n in %v\nout %v\njson %s", once, twice, out)
		}
	})
}
