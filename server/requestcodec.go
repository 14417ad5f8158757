package server

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// A request that does not decode (invalid UTF-8 in a string field, bytes
// that are not protobuf) is the caller's mistake, but grpc-go answers
// every codec error with INTERNAL, before any interceptor runs. So the
// server's codec does not fail: it hands over an empty message that
// carries the decode error in an unknown field no schema declares, and
// the status guard refuses such a message with INVALID_ARGUMENT before
// anything reads it. A client that sends that field itself only gets its
// own request refused.

// undecodableField is the field number of the marker: the largest there
// is, which mongogate's messages will never use.
const undecodableField protowire.Number = protowire.MaxValidNumber

// requestCodec is grpc-go's protobuf codec, but for its decode errors.
type requestCodec struct{ encoding.CodecV2 }

// serverCodec is the server option that installs requestCodec.
func serverCodec() grpc.ServerOption {
	return grpc.ForceServerCodecV2(requestCodec{encoding.GetCodecV2(grpcproto.Name)})
}

func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	m, ok := v.(proto.Message)
	if err == nil || !ok {
		return err
	}
	proto.Reset(m)
	MarkUndecodable(m, err)
	return nil
}

// MarkUndecodable makes m a request that the status guard refuses with
// INVALID_ARGUMENT, saying err. The HTTP codecs call it for a request they
// cannot decode, so that its refusal carries the same code, reason and
// BadRequest as on gRPC and is logged the same way.
func MarkUndecodable(m proto.Message, err error) {
	b := protowire.AppendTag(nil, undecodableField, protowire.BytesType)
	m.ProtoReflect().SetUnknown(protowire.AppendString(b, err.Error()))
}

// undecodable is the INVALID_ARGUMENT error of a request that
// requestCodec could not decode, or nil.
func undecodable(req any) error {
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	u := m.ProtoReflect().GetUnknown()
	for len(u) > 0 {
		num, typ, n := protowire.ConsumeTag(u)
		if n < 0 {
			return nil
		}
		u = u[n:]
		if num == undecodableField && typ == protowire.BytesType {
			msg, _ := protowire.ConsumeString(u)
			e := &apiError{code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT,
				msg: "the request message cannot be decoded: " + msg}
			e.badField("", "not a valid message of the method's request type: "+msg)
			return e
		}
		if n = protowire.ConsumeFieldValue(num, typ, u); n < 0 {
			return nil
		}
		u = u[n:]
	}
	return nil
}

// decodeCheckedStream refuses, as undecodable does, the messages that
// requestCodec could not decode.
type decodeCheckedStream struct{ grpc.ServerStream }

func (s decodeCheckedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return undecodable(m)
}
