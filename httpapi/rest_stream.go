package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mongogate/mongogate/server"
)

// Find and Aggregate stream their batches; REST cannot stream a message
// (vanguard transcodes REST streams only of google.api.HttpBody), so
// mongogate answers their REST paths itself: the call goes through the
// transcoder as a Connect stream (same authentication, authorization,
// forwarding, metrics and errors), and its documents come back as one
// bounded JSON array, {"documents": [...]}.

// Bounds of one REST answer of Find or Aggregate.
const (
	restMaxDocuments = 10_000
	restMaxBytes     = 16 << 20
)

type namespace struct{ database, collection string }

// streamingRESTPath matches
// /v1/databases/{database}/collections/{collection}:find (or :aggregate)
// and returns the method it stands for.
func streamingRESTPath(path string) (method string, ns namespace, ok bool) {
	rest, found := strings.CutPrefix(path, "/v1/databases/")
	if !found {
		return "", ns, false
	}
	db, rest, found := strings.Cut(rest, "/collections/")
	if !found || db == "" || strings.Contains(db, "/") {
		return "", ns, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 || strings.Contains(rest[:i], "/") {
		return "", ns, false
	}
	switch rest[i+1:] {
	case "find":
		method = "Find"
	case "aggregate":
		method = "Aggregate"
	default:
		return "", ns, false
	}
	return method, namespace{db, rest[:i]}, true
}

// serveRESTStream answers the REST path of Find or Aggregate.
func (h *Handler) serveRESTStream(w http.ResponseWriter, r *http.Request, method string, ns namespace) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		body, err = withNamespace(body, ns)
	}
	if err != nil {
		writeError(w, protocolREST, http.StatusBadRequest, server.InvalidArgument("", "the request body: "+err.Error()))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	call := r.Clone(ctx)
	call.URL = &url.URL{Path: "/mongogate.v1.DocumentService/" + method}
	call.RequestURI = ""
	call.Header.Set("Content-Type", "application/connect+json")
	call.Header.Del("Content-Length")
	var env bytes.Buffer
	var prefix [5]byte
	binary.BigEndian.PutUint32(prefix[1:], uint32(len(body)))
	env.Write(prefix[:])
	env.Write(body)
	call.Body = io.NopCloser(&env)
	call.ContentLength = int64(env.Len())

	pr, pw := io.Pipe()
	out := &pipeResponse{header: http.Header{}, w: pw}
	go func() {
		h.transcoder.ServeHTTP(out, call)
		_ = pw.Close()
	}()
	docs, err := collect(bufio.NewReader(pr))
	// Stop the call (a result too large) and let the goroutine finish.
	cancel()
	_, _ = io.Copy(io.Discard, pr)
	if err != nil {
		st := status.Convert(err)
		writeError(w, protocolREST, httpStatusOf(st.Code()), err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	var b bytes.Buffer
	b.WriteString(`{"documents":[`)
	for i, d := range docs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(d)
	}
	b.WriteString("]}")
	_, _ = w.Write(b.Bytes())
}

// withNamespace sets the request's namespace to the path's.
func withNamespace(body []byte, ns namespace) ([]byte, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	fields, err := objectFields(bytes.TrimSpace(body))
	if err != nil {
		return nil, err
	}
	nsJSON, _ := json.Marshal(map[string]string{"database": ns.database, "collection": ns.collection})
	var out bytes.Buffer
	out.WriteString(`{"namespace":`)
	out.Write(nsJSON)
	for _, f := range fields {
		if f.key == "namespace" {
			continue
		}
		key, _ := json.Marshal(f.key)
		out.WriteByte(',')
		out.Write(key)
		out.WriteByte(':')
		out.Write(f.val)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// collect reads a Connect JSON stream of FindResponse or
// AggregateResponse messages and returns their documents, or the stream's
// error; past the bounds it stops with RESULT_TOO_LARGE.
func collect(r *bufio.Reader) ([]json.RawMessage, error) {
	var docs []json.RawMessage
	var size int64
	for {
		var prefix [5]byte
		if _, err := io.ReadFull(r, prefix[:]); err != nil {
			return nil, fmt.Errorf("httpapi: the stream ended without its end message: %w", err)
		}
		n := binary.BigEndian.Uint32(prefix[1:])
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			return nil, fmt.Errorf("httpapi: a truncated stream message: %w", err)
		}
		if prefix[0]&2 != 0 {
			return docs, endError(msg)
		}
		var batch struct {
			Documents []json.RawMessage `json:"documents"`
		}
		if err := json.Unmarshal(msg, &batch); err != nil {
			return nil, fmt.Errorf("httpapi: a stream message: %w", err)
		}
		for _, d := range batch.Documents {
			size += int64(len(d)) + 1
			docs = append(docs, d)
			if len(docs) > restMaxDocuments || size > restMaxBytes {
				return nil, server.ResultTooLarge(restMaxDocuments, restMaxBytes)
			}
		}
	}
}

// endError is the error of a Connect end-of-stream message, nil for none.
func endError(msg []byte) error {
	var end struct {
		Error *connectWireError `json:"error"`
	}
	if err := json.Unmarshal(msg, &end); err != nil {
		return fmt.Errorf("httpapi: the stream's end message: %w", err)
	}
	if end.Error == nil {
		return nil
	}
	p := &spb.Status{Code: int32(codeOfConnect(end.Error.Code)), Message: end.Error.Message}
	for _, d := range end.Error.Details {
		value, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(d.Value, "="))
		if err != nil {
			continue
		}
		p.Details = append(p.Details, &anypb.Any{TypeUrl: "type.googleapis.com/" + d.Type, Value: value})
	}
	return status.ErrorProto(p)
}

// codeOfConnect is the gRPC code of a Connect code name.
func codeOfConnect(name string) codes.Code {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if connectCode(c) == name {
			return c
		}
	}
	return codes.Unknown
}

// httpStatusOf is the HTTP status of a gRPC code, as google.api.http's
// mapping (google/rpc/code.proto) gives it.
func httpStatusOf(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// pipeResponse is the http.ResponseWriter of the inner Connect call: its
// body goes into a pipe that collect reads as it is written.
type pipeResponse struct {
	header http.Header
	w      *io.PipeWriter
	status int
}

func (p *pipeResponse) Header() http.Header { return p.header }

func (p *pipeResponse) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
	if code != http.StatusOK {
		// A Connect stream answers errors in its end message with 200;
		// any other status is the transcoder refusing the call itself.
		_ = p.w.CloseWithError(fmt.Errorf("%w: HTTP %d", errInnerCall, code))
	}
}

func (p *pipeResponse) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.WriteHeader(http.StatusOK)
	}
	return p.w.Write(b)
}

// Flush lets the transcoder flush; the pipe has nothing to buffer.
func (p *pipeResponse) Flush() {}

var errInnerCall = errors.New("httpapi: the inner stream call was refused")
