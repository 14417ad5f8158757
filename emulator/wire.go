package emulator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// maxMessageSize is what hello advertises as maxMessageSizeBytes.
const maxMessageSize = 48_000_000

// message is one decoded client request.
type message struct {
	requestID  int32
	legacy     bool // OP_QUERY: answer with OP_REPLY
	moreToCome bool // OP_MSG flag: the client expects no reply
	body       bson.D
}

// readMessage reads one whole wire message.
func readMessage(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.LittleEndian.Uint32(size[:]))
	if n < 16 || n > maxMessageSize {
		return nil, fmt.Errorf("wire: message length %d out of range", n)
	}
	// n is the client's claim: past readAhead the buffer doubles only as
	// the bytes arrive, so a header alone cannot make it allocate 48 MB.
	buf := make([]byte, min(int(n), readAhead))
	copy(buf, size[:])
	if _, err := io.ReadFull(r, buf[4:]); err != nil {
		return nil, err
	}
	for len(buf) < int(n) {
		have := len(buf)
		buf = append(buf, make([]byte, min(int(n), 2*have)-have)...)
		if _, err := io.ReadFull(r, buf[have:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// readAhead is how much of a message readMessage allocates before its
// bytes arrive: most messages fit.
const readAhead = 64 << 10

var errMalformed = errors.New("wire: malformed message")

// parseMessage decodes OP_QUERY (the legacy handshake) and OP_MSG. Kind-1
// document sequences are folded into the body as arrays under their
// identifier, so handlers see one document whichever way the driver sent it.
func parseMessage(buf []byte) (*message, error) {
	_, reqID, _, op, rem, ok := wiremessage.ReadHeader(buf)
	if !ok {
		return nil, errMalformed
	}
	m := &message{requestID: reqID}
	switch op {
	case wiremessage.OpQuery:
		m.legacy = true
		var q []byte
		if _, rem, ok = wiremessage.ReadQueryFlags(rem); !ok {
			return nil, errMalformed
		}
		if _, rem, ok = wiremessage.ReadQueryFullCollectionName(rem); !ok {
			return nil, errMalformed
		}
		if _, rem, ok = wiremessage.ReadQueryNumberToSkip(rem); !ok {
			return nil, errMalformed
		}
		if _, rem, ok = wiremessage.ReadQueryNumberToReturn(rem); !ok {
			return nil, errMalformed
		}
		if q, _, ok = wiremessage.ReadQueryQuery(rem); !ok {
			return nil, errMalformed
		}
		if err := bson.Unmarshal(q, &m.body); err != nil {
			return nil, err
		}
		// A legacy command may arrive wrapped as {$query: {...}, $readPreference: ...}.
		if len(m.body) > 0 && m.body[0].Key == "$query" {
			if inner, ok := m.body[0].Value.(bson.D); ok {
				m.body = inner
			}
		}
		return m, nil
	case wiremessage.OpMsg:
		flags, rem, ok := wiremessage.ReadMsgFlags(rem)
		if !ok {
			return nil, errMalformed
		}
		m.moreToCome = flags&wiremessage.MoreToCome != 0
		if flags&wiremessage.ChecksumPresent != 0 {
			if len(rem) < 4 {
				return nil, errMalformed
			}
			rem = rem[:len(rem)-4]
		}
		var seqs bson.D
		for len(rem) > 0 {
			var kind wiremessage.SectionType
			if kind, rem, ok = wiremessage.ReadMsgSectionType(rem); !ok {
				return nil, errMalformed
			}
			switch kind {
			case wiremessage.SingleDocument:
				var doc []byte
				if doc, rem, ok = wiremessage.ReadMsgSectionSingleDocument(rem); !ok {
					return nil, errMalformed
				}
				if err := bson.Unmarshal(doc, &m.body); err != nil {
					return nil, err
				}
			case wiremessage.DocumentSequence:
				var id string
				var rawDocs []bsoncore.Document
				if id, rawDocs, rem, ok = wiremessage.ReadMsgSectionDocumentSequence(rem); !ok {
					return nil, errMalformed
				}
				arr := make(bson.A, 0, len(rawDocs))
				for _, d := range rawDocs {
					var v bson.D
					if err := bson.Unmarshal(d, &v); err != nil {
						return nil, err
					}
					arr = append(arr, v)
				}
				seqs = append(seqs, bson.E{Key: id, Value: arr})
			default:
				return nil, fmt.Errorf("wire: unknown OP_MSG section kind %d", kind)
			}
		}
		m.body = append(m.body, seqs...)
		return m, nil
	}
	return nil, fmt.Errorf("wire: unsupported opcode %v", op)
}

// encodeReply renders reply in the form the request expects: OP_REPLY for a
// legacy OP_QUERY, OP_MSG otherwise.
func encodeReply(req *message, reply bson.D) ([]byte, error) {
	doc, err := bson.Marshal(reply)
	if err != nil {
		return nil, err
	}
	var idx int32
	var dst []byte
	if req.legacy {
		idx, dst = wiremessage.AppendHeaderStart(dst, wiremessage.NextRequestID(), req.requestID, wiremessage.OpReply)
		dst = wiremessage.AppendReplyFlags(dst, wiremessage.AwaitCapable)
		dst = wiremessage.AppendReplyCursorID(dst, 0)
		dst = wiremessage.AppendReplyStartingFrom(dst, 0)
		dst = wiremessage.AppendReplyNumberReturned(dst, 1)
		dst = append(dst, doc...)
	} else {
		idx, dst = wiremessage.AppendHeaderStart(dst, wiremessage.NextRequestID(), req.requestID, wiremessage.OpMsg)
		dst = wiremessage.AppendMsgFlags(dst, 0)
		dst = wiremessage.AppendMsgSectionType(dst, wiremessage.SingleDocument)
		dst = append(dst, doc...)
	}
	binary.LittleEndian.PutUint32(dst[idx:], uint32(len(dst)-int(idx)))
	return dst, nil
}
