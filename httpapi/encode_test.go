package httpapi

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// mongogateMessages are the message types of package mongogate.v1.
func mongogateMessages(t testing.TB) []protoreflect.MessageType {
	t.Helper()
	var out []protoreflect.MessageType
	pkg := (&pb.Document{}).ProtoReflect().Descriptor().ParentFile().Package()
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if mt.Descriptor().ParentFile().Package() == pkg {
			out = append(out, mt)
		}
		return true
	})
	slices.SortFunc(out, func(a, b protoreflect.MessageType) int {
		return strings.Compare(string(a.Descriptor().FullName()), string(b.Descriptor().FullName()))
	})
	if len(out) < 50 {
		t.Fatalf("%d message types in %s; the registry lookup is broken", len(out), pkg)
	}
	return out
}

// withoutSpace drops the white space outside JSON strings, which protojson
// adds at random between tokens.
func withoutSpace(b []byte) []byte {
	var out []byte
	inString, escaped := false, false
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
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			continue
		}
		out = append(out, c)
	}
	return out
}

// FuzzAppendJSON holds appendJSON to protojson's output (marshalProtojson)
// for every mongogate message type, populated from arbitrary wire bytes:
// the same text but for white space, or both refusing the message.
func FuzzAppendJSON(f *testing.F) {
	yes := true
	for _, m := range []proto.Message{
		&pb.FindOneResponse{Document: &pb.Document{Value: &pb.Document_Json{Json: `{"_id": 1, "s": "é\n"}`}}},
		&pb.InsertOneResponse{InsertedId: &pb.Value{Value: &pb.Value_Json{Json: `{"$oid": "65f1c0de2b7e4a1d9c3b8a01"}`}}, Acknowledged: true},
		&pb.UpdateOneResponse{MatchedCount: 3, ModifiedCount: 2, Acknowledged: true},
		&pb.StartSessionResponse{Session: &pb.Session{Token: "mg-x.y\x01\"", CreatedTime: timestamppb.New(time.Unix(1700000000, 5)),
			IdleTimeout: durationpb.New(90 * time.Second), State: pb.SessionState_SESSION_STATE_ACTIVE,
			Options: &pb.SessionOptions{CausalConsistency: &yes}}},
		&pb.InsertManyRequest{Documents: []*pb.Document{{Value: &pb.Document_Bson{Bson: []byte{5, 0, 0, 0, 0}}}, {}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint16(0), b)
	}
	c := testCodec()
	types := mongogateMessages(f)
	f.Fuzz(func(t *testing.T, kind uint16, wire []byte) {
		for _, mt := range []protoreflect.MessageType{types[int(kind)%len(types)], (&pb.FindOneResponse{}).ProtoReflect().Type()} {
			m := mt.New()
			if err := proto.Unmarshal(wire, m.Interface()); err != nil {
				continue
			}
			fast, err := c.appendJSON(nil, m)
			slow, slowErr := c.marshalProtojson(nil, m.Interface())
			if (err == nil) != (slowErr == nil) {
				t.Fatalf("%s: appendJSON error %v, protojson's %v", mt.Descriptor().FullName(), err, slowErr)
			}
			if err == nil && !bytes.Equal(withoutSpace(fast), withoutSpace(slow)) {
				t.Fatalf("%s:\nappendJSON %s\n protojson %s", mt.Descriptor().FullName(), fast, slow)
			}
		}
	})
}

// decodeCases are requests as clients write them, by message type: the
// seeds of FuzzDecodeDirect.
var decodeCases = []struct{ msg, json string }{
	{"FindOneRequest", `{"namespace": {"database": "d", "collection": "c"}, "filter": {"_id": 1}, "responseFormat": "DOCUMENT_FORMAT_JSON_RELAXED"}`},
	{"FindOneRequest", `{"namespace": {"database": "d", "collection": "c"}, "responseFormat": 2}`},
	{"FindOneRequest", `{"namespace": {"database": "d", "collection": "c"}, "filter": null}`},
	{"FindOneRequest", `{"namespace": {"database": "d", "collection": "c"}, "responseFormat": "NO_SUCH_FORMAT"}`},
	{"InsertOneRequest", `{"sessionToken": "mg-x.y", "namespace": {"database": "d", "collection": "c"}, "document": {"a": [1, {"b": null}]}}`},
	{"InsertOneRequest", `{"session_token": "\u00e9", "sessionToken": "x"}`},
	{"UpdateOneRequest", `{"namespace": {"database": "d", "collection": "c"}, "filter": {}, "update": {"$set": {"a": 1}}, "options": {"upsert": true, "arrayFilters": [{"x": 1}]}}`},
	{"InsertManyRequest", `{"documents": [{"a": 1}, {"json": "{\"b\": 2}"}], "options": {"ordered": false}}`},
	{"CommitTransactionRequest", `{"sessionToken": "t", "transactionNumber": "7"}`},
	{"CommitTransactionRequest", `{"sessionToken": "t", "transactionNumber": 7}`},
	{"CommitTransactionRequest", `{"transactionNumber": "007"}`},
	{"StartSessionRequest", `{"options": {"causalConsistency": true, "idleTimeout": "90s", "defaultTransactionOptions": {"maxCommitTime": "1.5s", "readConcern": {"level": "majority"}}}}`},
	{"RunTransactionRequest", `{"operations": [{"insertOne": {"namespace": {"database": "d", "collection": "c"}, "document": {"a": 1}}}, {"deleteOne": {"filter": {}}}]}`},
	{"RunTransactionRequest", `{"operations": [{"insertOne": {"document": {}}, "deleteOne": {"filter": {}}}]}`},
	{"AggregateRequest", `{"pipeline": [{"$match": {}}], "session_token": "t"}`},
}

// TestDecodeDirect reads decodeCases directly and through protojson, and
// wants what decodeDirect reads to equal what protojson reads.
func TestDecodeDirect(t *testing.T) {
	c := testCodec()
	direct := 0
	for _, tc := range decodeCases {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName("mongogate.v1." + tc.msg))
		if err != nil {
			t.Fatal(err)
		}
		if checkDecodeDirect(t, c, mt, []byte(tc.json)) {
			direct++
		}
	}
	if direct < len(decodeCases)/2 {
		t.Fatalf("decodeDirect read %d of %d requests", direct, len(decodeCases))
	}
}

// checkDecodeDirect fails t if decodeDirect reads data into something
// else than protojson does; it reports whether decodeDirect read it.
func checkDecodeDirect(t *testing.T, c *jsonCodec, mt protoreflect.MessageType, data []byte) bool {
	t.Helper()
	direct := mt.New()
	if !c.decodeDirect(data, direct) {
		return false
	}
	slow := mt.New()
	if err := c.decodeProtojson(data, slow); err != nil {
		t.Fatalf("%s: decodeDirect read %s, protojson refuses it: %v", mt.Descriptor().FullName(), data, err)
	}
	if !proto.Equal(direct.Interface(), slow.Interface()) {
		t.Fatalf("%s: %s\n   direct %v\nprotojson %v", mt.Descriptor().FullName(), data, direct, slow)
	}
	return true
}

// FuzzDecodeDirect holds decodeDirect to decodeProtojson: whatever JSON it
// reads, as whichever mongogate message type, protojson reads too, into
// an equal message.
func FuzzDecodeDirect(f *testing.F) {
	c := testCodec()
	types := mongogateMessages(f)
	for _, tc := range decodeCases {
		i := slices.IndexFunc(types, func(mt protoreflect.MessageType) bool { return mt.Descriptor().Name() == protoreflect.Name(tc.msg) })
		f.Add(uint16(i), []byte(tc.json))
	}
	f.Fuzz(func(t *testing.T, kind uint16, data []byte) {
		checkDecodeDirect(t, c, types[int(kind)%len(types)], data)
	})
}
