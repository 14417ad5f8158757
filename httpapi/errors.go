package httpapi

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// writeError answers a request refused before it reached the services
// with err's status (its ErrorInfo included) in the caller's protocol:
// Connect's error JSON, a Connect end-of-stream message, gRPC-Web's
// trailers-only response, or REST's google.rpc.Status JSON. httpStatus
// is the HTTP status where the protocol has one per error.
func writeError(w http.ResponseWriter, p protocol, httpStatus int, err error) {
	st := status.Convert(err)
	switch p {
	case protocolConnectUnary:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(httpStatus)
		_ = json.NewEncoder(w).Encode(connectError(st))
	case protocolConnectStream:
		w.Header().Set("Content-Type", "application/connect+json")
		w.WriteHeader(http.StatusOK)
		end, _ := json.Marshal(map[string]any{"error": connectError(st)})
		var prefix [5]byte
		prefix[0] = 2 // end of stream
		binary.BigEndian.PutUint32(prefix[1:], uint32(len(end)))
		_, _ = w.Write(prefix[:])
		_, _ = w.Write(end)
	case protocolGRPCWeb:
		h := w.Header()
		h.Set("Content-Type", "application/grpc-web+proto")
		h.Set("Grpc-Status", strconv.Itoa(int(st.Code())))
		h.Set("Grpc-Message", url.PathEscape(st.Message()))
		if b, err := proto.Marshal(st.Proto()); err == nil {
			h.Set("Grpc-Status-Details-Bin", base64.RawStdEncoding.EncodeToString(b))
		}
		w.WriteHeader(http.StatusOK)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(httpStatus)
		b, _ := protojson.Marshal(st.Proto())
		_, _ = w.Write(b)
	}
}

// connectWireError is the Connect protocol's error JSON.
type connectWireError struct {
	Code    string          `json:"code"`
	Message string          `json:"message,omitempty"`
	Details []connectDetail `json:"details,omitempty"`
}

type connectDetail struct {
	Type  string          `json:"type"`
	Value string          `json:"value"`
	Debug json.RawMessage `json:"debug,omitempty"`
}

func connectError(st *status.Status) connectWireError {
	out := connectWireError{Code: connectCode(st.Code()), Message: st.Message()}
	for _, a := range st.Proto().GetDetails() {
		d := connectDetail{
			Type:  strings.TrimPrefix(a.GetTypeUrl(), "type.googleapis.com/"),
			Value: base64.RawStdEncoding.EncodeToString(a.GetValue()),
		}
		if m, err := a.UnmarshalNew(); err == nil {
			d.Debug, _ = protojson.Marshal(m)
		}
		out.Details = append(out.Details, d)
	}
	return out
}

// connectCode is the Connect protocol's name of a gRPC code.
func connectCode(c codes.Code) string {
	if c == codes.Canceled {
		return "canceled"
	}
	var b strings.Builder
	name := c.String() // e.g. InvalidArgument
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}
