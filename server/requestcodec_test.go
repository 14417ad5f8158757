package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// rawCodec sends a request's bytes as they are, so a test can send what no
// protobuf library would encode.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// A request whose protobuf does not decode is the caller's mistake:
// INVALID_ARGUMENT with reason INVALID_ARGUMENT, not INTERNAL, it reaches
// no handler, and it is not logged as a server error.
func TestUndecodableRequest(t *testing.T) {
	invalidUTF8 := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "tok\xff\xfe")
	truncated := protowire.AppendTag(nil, 1, protowire.BytesType) // a length-delimited field with no length
	valid := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "tok")

	logs := new(logBuffer)
	var served atomic.Int32
	ss := &fakeSessions{getSession: func(context.Context, *pb.GetSessionRequest) (*pb.GetSessionResponse, error) {
		served.Add(1)
		return &pb.GetSessionResponse{}, nil
	}}
	ds := &fakeDocuments{find: func(*pb.FindRequest, pb.DocumentService_FindServer) error {
		served.Add(1)
		return nil
	}}
	conn := mustServe(t, TransportConfig{Logger: slogJSON(logs), Auth: mustAnonymous(t)}, ss, ds)
	unary := func(req []byte) error {
		return conn.Invoke(t.Context(), pb.SessionService_GetSession_FullMethodName, &req, new([]byte), grpc.ForceCodec(rawCodec{}))
	}
	stream := func(req []byte) error {
		cs, err := conn.NewStream(t.Context(), &grpc.StreamDesc{ServerStreams: true}, pb.DocumentService_Find_FullMethodName, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			return err
		}
		if err := cs.SendMsg(&req); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if err := cs.CloseSend(); err != nil {
			return err
		}
		var resp []byte
		if err := cs.RecvMsg(&resp); !errors.Is(err, io.EOF) {
			return err
		}
		return nil
	}

	tests := []struct {
		name string
		call func([]byte) error
		req  []byte
	}{
		{"unary, invalid UTF-8", unary, invalidUTF8},
		{"unary, not protobuf", unary, truncated},
		{"stream, invalid UTF-8", stream, invalidUTF8},
		{"stream, not protobuf", stream, truncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDetails(t, tt.call(tt.req))
			if d.code != codes.InvalidArgument || d.info.GetReason() != pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT.Wire() {
				t.Fatalf("got %v %s, want INVALID_ARGUMENT", d.code, d.info.GetReason())
			}
		})
	}
	if n := served.Load(); n != 0 {
		t.Errorf("handlers ran %d times on requests that do not decode", n)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["level"] != "INFO" {
			t.Errorf("logged at %v, want INFO (a client's mistake): %s", rec["level"], line)
		}
	}

	// The codec changes nothing for requests that decode.
	if err := unary(valid); err != nil {
		t.Fatalf("valid unary request: %v", err)
	}
	if err := stream(valid); err != nil {
		t.Fatalf("valid stream request: %v", err)
	}
	if n := served.Load(); n != 2 {
		t.Errorf("handlers ran %d times on valid requests, want 2", n)
	}
}
