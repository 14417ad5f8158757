package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mongogate/mongogate/server"
)

// A Connect unary call (POST /package.Service/Method, JSON or binary) is
// served in process: its request is decoded here and handed to the
// method through the gRPC server's own unary interceptor chain and stats
// handler (server.Transport), as grpc.Server would hand it, so
// authentication, authorization, forwarding, metrics, tracing, logging
// and error mapping are the same as on gRPC. Transcoding it into a gRPC
// call instead and serving that with grpc.Server.ServeHTTP cost about a
// third of the call's CPU (test/bench). The other protocols (Connect
// streams, gRPC-Web, REST) go through the transcoder.

// Services registers services on a gRPC server and keeps their unary
// methods, which the Handler serves in process. Register every service
// through it (it is a grpc.ServiceRegistrar).
type Services struct {
	grpc  *grpc.Server
	unary map[string]unaryMethod
}

// unaryMethod is one unary method of a registered service.
type unaryMethod struct {
	name    string // /package.Service/Method
	impl    any
	handler grpc.MethodHandler
}

// NewServices returns a registrar of services on g.
func NewServices(g *grpc.Server) *Services {
	return &Services{grpc: g, unary: map[string]unaryMethod{}}
}

// RegisterService registers impl on the gRPC server and keeps its unary
// methods.
func (s *Services) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.grpc.RegisterService(desc, impl)
	for _, m := range desc.Methods {
		name := "/" + desc.ServiceName + "/" + m.MethodName
		s.unary[name] = unaryMethod{name: name, impl: impl, handler: m.Handler}
	}
}

// serveUnary serves a Connect unary call of m whose body has been read
// (readBody): it checks the Connect headers, decompresses the body,
// decodes it, calls the method through the interceptor chain, and writes
// the answer or the error.
func (h *Handler) serveUnary(w http.ResponseWriter, r *http.Request, m unaryMethod, body []byte) {
	if v := r.Header.Get("Connect-Protocol-Version"); v != "" && v != "1" {
		writeError(w, protocolConnectUnary, http.StatusBadRequest,
			server.InvalidArgument("", fmt.Sprintf("Connect-Protocol-Version must be \"1\", got %q", v)))
		return
	}
	timeout, ok := connectTimeout(r.Header)
	if !ok {
		writeError(w, protocolConnectUnary, http.StatusBadRequest,
			server.InvalidArgument("", fmt.Sprintf("Connect-Timeout-Ms must be at most 10 digits, got %q", r.Header.Get("Connect-Timeout-Ms"))))
		return
	}
	body, httpStatus, err := h.decompress(r.Header.Get("Content-Encoding"), body)
	if err != nil {
		writeError(w, protocolConnectUnary, httpStatus, err)
		return
	}
	ctx := r.Context()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	h.call(ctx, w, r, m, body, isProtoContent(r.Header.Get("Content-Type")))
}

// decompress is body decoded from its Content-Encoding, bounded like a
// body; on failure, the error and its HTTP status.
func (h *Handler) decompress(encoding string, body []byte) ([]byte, int, error) {
	switch encoding {
	case "", "identity":
		return body, 0, nil
	case "gzip":
	default:
		// Connect answers unimplemented here; INVALID_ARGUMENT carries
		// the ErrorInfo every refusal of bad input carries.
		return nil, http.StatusBadRequest, server.InvalidArgument("",
			fmt.Sprintf("Content-Encoding %q: mongogate reads gzip and identity", encoding))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(zr, h.maxBody+1))
	}
	if err != nil {
		return nil, http.StatusBadRequest, server.InvalidArgument("", "decompressing the request body: "+err.Error())
	}
	if int64(len(body)) > h.maxBody {
		return nil, http.StatusRequestEntityTooLarge,
			server.InvalidArgument("", fmt.Sprintf("the request body exceeds %d bytes once decompressed", h.maxBody))
	}
	return body, 0, nil
}

// call decodes body as m's request, calls m and writes its answer.
func (h *Handler) call(ctx context.Context, w http.ResponseWriter, r *http.Request, m unaryMethod, body []byte, binary bool) {
	ctx = metadata.NewIncomingContext(ctx, incomingMetadata(r.Header))
	if _, ok := peer.FromContext(ctx); !ok || r.TLS != nil {
		ctx = peer.NewContext(ctx, peerOf(r))
	}
	st := &unaryStream{method: m.name}
	ctx = grpc.NewContextWithServerTransportStream(ctx, st)
	sh := h.transport.Stats
	if sh != nil {
		ctx = sh.TagRPC(ctx, &stats.RPCTagInfo{FullMethodName: m.name})
		sh.HandleRPC(ctx, &stats.Begin{BeginTime: time.Now()})
	}
	dec := func(v any) error {
		msg := v.(proto.Message)
		if binary {
			if err := proto.Unmarshal(body, msg); err != nil {
				proto.Reset(msg)
				server.MarkUndecodable(msg, err)
			}
		} else if err := h.codec.Unmarshal(body, msg); err != nil {
			return err
		}
		if sh != nil {
			sh.HandleRPC(ctx, &stats.InPayload{RecvTime: time.Now(), Payload: msg, Length: len(body), WireLength: len(body)})
		}
		return nil
	}
	resp, err := m.handler(m.impl, ctx, dec, h.transport.Unary)
	var out []byte
	if err == nil {
		if binary {
			out, err = proto.Marshal(resp.(proto.Message))
		} else {
			out, err = h.codec.MarshalAppend(nil, resp.(proto.Message))
		}
		if err != nil {
			h.log.ErrorContext(ctx, "httpapi: encoding a response", "method", m.name, "error", err)
			err = server.Internal()
		}
	}
	if sh != nil {
		if err == nil {
			sh.HandleRPC(ctx, &stats.OutPayload{SentTime: time.Now(), Payload: resp, Length: len(out), WireLength: len(out)})
		}
		sh.HandleRPC(ctx, &stats.End{EndTime: time.Now(), Error: err})
	}
	st.writeMetadata(w.Header())
	if err != nil {
		writeError(w, protocolConnectUnary, httpStatusOf(status.Code(err)), err)
		return
	}
	header := w.Header()
	if binary {
		header["Content-Type"] = contentTypeProto
	} else {
		header["Content-Type"] = contentTypeJSON
	}
	header["Content-Length"] = []string{strconv.Itoa(len(out))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// The Content-Type values of answers, shared by every answer as net/http
// shares its own: nothing changes them.
var (
	contentTypeJSON  = []string{"application/json"}
	contentTypeProto = []string{"application/proto"}
)

// ConnContext is the http.Server's ConnContext: a plaintext connection's
// peer is made once, not per call (over TLS, the call's own TLS state
// makes it).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return peer.NewContext(ctx, &peer.Peer{Addr: c.RemoteAddr()})
}

func isProtoContent(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), "application/proto")
}

// connectTimeout reads Connect-Timeout-Ms: 0 for none; ok is false when
// it is malformed (the Connect protocol allows at most 10 digits).
func connectTimeout(h http.Header) (time.Duration, bool) {
	v := h.Get("Connect-Timeout-Ms")
	if v == "" {
		return 0, true
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 || len(v) > 10 {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// incomingMetadata is the gRPC metadata of a Connect request's headers,
// as grpc-go's HTTP handler makes it: keys lower case, -bin values
// decoded, the protocol's own headers left out.
func incomingMetadata(h http.Header) metadata.MD {
	md := make(metadata.MD, len(h))
	for k, vs := range h {
		k = strings.ToLower(k)
		if protocolHeader(k) {
			continue
		}
		for _, v := range vs {
			if strings.HasSuffix(k, "-bin") {
				b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "="))
				if err != nil {
					continue
				}
				v = string(b)
			}
			md[k] = append(md[k], v)
		}
	}
	return md
}

// protocolHeader tells the headers that carry the HTTP or Connect
// protocol itself, not metadata.
func protocolHeader(k string) bool {
	switch k {
	case "content-type", "content-length", "content-encoding", "accept-encoding",
		"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "host":
		return true
	}
	return strings.HasPrefix(k, "connect-") || strings.HasPrefix(k, "grpc-")
}

// peerOf is the caller as gRPC's peer: its address and, over TLS, its
// connection state (client certificates).
func peerOf(r *http.Request) *peer.Peer {
	p := &peer.Peer{Addr: remoteAddr(r.RemoteAddr)}
	if r.TLS != nil {
		p.AuthInfo = credentials.TLSInfo{
			State:          *r.TLS,
			CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
		}
	}
	return p
}

func remoteAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return stringAddr(s)
}

type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

// unaryStream is the grpc.ServerTransportStream of an in-process call:
// it names the method (grpc.Method) and keeps the headers and trailers
// the method sets, which Connect sends as headers and Trailer- headers.
type unaryStream struct {
	method  string
	header  metadata.MD
	trailer metadata.MD
}

func (s *unaryStream) Method() string { return s.method }

func (s *unaryStream) SetHeader(md metadata.MD) error {
	s.header = metadata.Join(s.header, md)
	return nil
}

func (s *unaryStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }

func (s *unaryStream) SetTrailer(md metadata.MD) error {
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}

func (s *unaryStream) writeMetadata(h http.Header) {
	add := func(prefix string, md metadata.MD) {
		for k, vs := range md {
			for _, v := range vs {
				if strings.HasSuffix(k, "-bin") {
					v = base64.RawStdEncoding.EncodeToString([]byte(v))
				}
				h.Add(prefix+k, v)
			}
		}
	}
	add("", s.header)
	add("Trailer-", s.trailer)
}
