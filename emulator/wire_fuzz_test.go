package emulator

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"runtime/metrics"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// opMsg builds an OP_MSG as the driver sends it: a body section, then a
// document sequence per seq entry (identifier, documents).
func opMsg(flags wiremessage.MsgFlag, body []byte, seqs ...any) []byte {
	idx, dst := wiremessage.AppendHeaderStart(nil, 7, 0, wiremessage.OpMsg)
	dst = wiremessage.AppendMsgFlags(dst, flags)
	dst = wiremessage.AppendMsgSectionType(dst, wiremessage.SingleDocument)
	dst = append(dst, body...)
	for i := 0; i+1 < len(seqs); i += 2 {
		dst = wiremessage.AppendMsgSectionType(dst, wiremessage.DocumentSequence)
		var start int32
		start, dst = bsoncore.ReserveLength(dst)
		dst = append(dst, seqs[i].(string)...)
		dst = append(dst, 0)
		for _, d := range seqs[i+1].([][]byte) {
			dst = append(dst, d...)
		}
		dst = bsoncore.UpdateLength(dst, start, int32(len(dst)-int(start)))
	}
	if flags&wiremessage.ChecksumPresent != 0 {
		dst = binary.LittleEndian.AppendUint32(dst, 0)
	}
	dst = bsoncore.UpdateLength(dst, idx, int32(len(dst)-int(idx)))
	if flags&wiremessage.ChecksumPresent != 0 {
		sum := crc32.Checksum(dst[:len(dst)-4], crc32.MakeTable(crc32.Castagnoli))
		binary.LittleEndian.PutUint32(dst[len(dst)-4:], sum)
	}
	return dst
}

// opQuery builds the legacy handshake the driver opens a connection with.
func opQuery(ns string, query []byte) []byte {
	idx, dst := wiremessage.AppendHeaderStart(nil, 1, 0, wiremessage.OpQuery)
	dst = wiremessage.AppendQueryFlags(dst, wiremessage.SecondaryOK)
	dst = wiremessage.AppendQueryFullCollectionName(dst, ns)
	dst = wiremessage.AppendQueryNumberToSkip(dst, 0)
	dst = wiremessage.AppendQueryNumberToReturn(dst, -1)
	dst = append(dst, query...)
	return bsoncore.UpdateLength(dst, idx, int32(len(dst)-int(idx)))
}

func wireSeeds() [][]byte {
	doc := func(build func(*bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder) []byte {
		return build(bsoncore.NewDocumentBuilder()).Build()
	}
	hello := doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
		return b.AppendInt32("hello", 1).AppendBoolean("helloOk", true).
			AppendDocument("client", doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
				return b.AppendDocument("driver", doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
					return b.AppendString("name", "mongo-go-driver").AppendString("version", "2.9.3")
				}))
			})).
			AppendArray("compression", bsoncore.NewArrayBuilder().Build()).AppendString("$db", "admin")
	})
	lsid := doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
		return b.AppendBinary("id", 4, bytes.Repeat([]byte{0xab}, 16))
	})
	insert := doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
		return b.AppendString("insert", "c").AppendBoolean("ordered", true).AppendDocument("lsid", lsid).
			AppendInt64("txnNumber", 1).AppendBoolean("startTransaction", true).AppendBoolean("autocommit", false).
			AppendString("$db", "db")
	})
	d1 := doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
		return b.AppendObjectID("_id", bson.NewObjectID()).AppendString("name", "Ada")
	})
	d2 := doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
		return b.AppendInt32("_id", 2).AppendDocument("sub", d1)
	})
	update := doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
		return b.AppendString("update", "c").AppendString("$db", "db")
	})
	stmt := doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
		return b.AppendDocument("q", d1).AppendDocument("u", doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
			return b.AppendDocument("$set", d2)
		})).AppendBoolean("upsert", true)
	})
	find := doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
		return b.AppendString("find", "c").AppendDocument("filter", d1).AppendInt32("batchSize", 2).AppendString("$db", "db")
	})
	legacy := doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
		return b.AppendDocument("$query", doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
			return b.AppendInt32("isMaster", 1).AppendBoolean("helloOk", true)
		})).AppendDocument("$readPreference", doc(func(b *bsoncore.DocumentBuilder) *bsoncore.DocumentBuilder {
			return b.AppendString("mode", "primaryPreferred")
		}))
	})
	msg := opMsg(0, find)
	truncated := msg[:len(msg)-3]
	lying := append([]byte(nil), msg...)
	binary.LittleEndian.PutUint32(lying, 40_000_000) // a length the bytes do not back
	return [][]byte{
		opMsg(0, hello),
		opMsg(0, insert, "documents", [][]byte{d1, d2}),
		opMsg(wiremessage.ChecksumPresent, update, "updates", [][]byte{stmt}),
		opMsg(wiremessage.MoreToCome, find),
		opMsg(0, find, "documents", [][]byte{}),
		opQuery("admin.$cmd", hello),
		opQuery("admin.$cmd", legacy),
		msg,
		truncated,
		lying,
		{},
		{16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0x07, 0, 0},
	}
}

// FuzzWireMessage: whatever a client sends, the emulator's message reader
// and parser do not panic, allocate in proportion to the bytes received
// (not to a length field's claim), and either fail or produce a message
// whose reply can be encoded.
func FuzzWireMessage(f *testing.F) {
	for _, s := range wireSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		before := allocatedBytes()
		buf, err := readMessage(bytes.NewReader(data))
		if grew := allocatedBytes() - before; grew > allocSlack+2*uint64(len(data)) {
			t.Fatalf("readMessage of %d bytes allocated %d bytes", len(data), grew)
		}
		if err != nil {
			if len(data) >= 16 {
				n := int32(binary.LittleEndian.Uint32(data))
				if n >= 16 && n <= maxMessageSize && int(n) <= len(data) {
					t.Fatalf("readMessage refused a complete message of %d bytes: %v", n, err)
				}
			}
		} else if !bytes.Equal(buf, data[:len(buf)]) || int(binary.LittleEndian.Uint32(buf)) != len(buf) {
			t.Fatalf("readMessage returned %d bytes that are not the message at the start of the input", len(buf))
		}
		// parseMessage also meets buffers whose length field is wrong.
		for _, b := range [][]byte{buf, data} {
			if b == nil {
				continue
			}
			m, err := parseMessage(b)
			if err != nil {
				continue
			}
			out, err := encodeReply(m, bson.D{{Key: "ok", Value: 1.0}})
			if err != nil {
				t.Fatalf("encodeReply: %v", err)
			}
			if int(binary.LittleEndian.Uint32(out)) != len(out) {
				t.Fatalf("reply length field %d for %d bytes", binary.LittleEndian.Uint32(out), len(out))
			}
			if !m.legacy {
				r, err := parseMessage(out)
				if err != nil || len(r.body) != 1 || r.body[0].Key != "ok" {
					t.Fatalf("reply does not parse back: %v %v", r, err)
				}
			}
		}
	})
}

// allocSlack is what readMessage may allocate before any body byte
// arrives, plus room for the fuzzing machinery's own allocations.
const allocSlack = 1 << 20

// allocatedBytes is the process's cumulative heap allocation. Small
// allocations are counted a span at a time, which allocSlack absorbs.
func allocatedBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// A message's length field is the client's claim: readMessage allocated
// all of it (up to 48 MB) before reading the body, so a connection that
// sent a four-byte header and then nothing held that much memory.
func TestReadMessageAllocatesWhatArrives(t *testing.T) {
	header := binary.LittleEndian.AppendUint32(nil, maxMessageSize)
	before := allocatedBytes()
	if _, err := readMessage(bytes.NewReader(header)); err == nil {
		t.Fatal("readMessage of a bare header: no error")
	}
	if grew := allocatedBytes() - before; grew > allocSlack {
		t.Fatalf("readMessage of a bare header claiming %d bytes allocated %d", maxMessageSize, grew)
	}

	// A whole message still reads, however large, and however the reader
	// splits it.
	big := opMsg(0, bsoncore.NewDocumentBuilder().AppendString("insert", "c").
		AppendBinary("pad", 0, make([]byte, 3<<20)).AppendString("$db", "db").Build())
	got, err := readMessage(io.MultiReader(bytes.NewReader(big[:5]), bytes.NewReader(big[5:1000]), bytes.NewReader(big[1000:])))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("readMessage of a %d-byte message: %d bytes, %v", len(big), len(got), err)
	}
}
