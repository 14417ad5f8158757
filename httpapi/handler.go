// Package httpapi is mongogate's HTTP surface: the Connect protocol (unary
// and server streaming, JSON and binary), gRPC-Web and REST/JSON paths (the
// google.api.http options of proto/) for every service registered on the
// gRPC server, with CORS for browsers and an OpenAPI document of the REST
// paths. Connect unary calls are served in process through the gRPC
// server's own interceptor chain and stats handler (unary.go); the other
// calls are transcoded (connectrpc.com/vanguard) into gRPC and served by
// the same grpc.Server as native gRPC. So authentication, authorization,
// forwarding, metrics, tracing and error mapping apply to every protocol
// the same way. In JSON a Document is its Extended JSON object (see
// codec.go).
package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"connectrpc.com/vanguard"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/mongogate/mongogate/server"
)

// DefaultMaxBodyBytes bounds a request body: gRPC's message limit
// (server.DefaultMaxMessageSize).
const DefaultMaxBodyBytes = server.DefaultMaxMessageSize

// OpenAPIPath is where the OpenAPI document of the REST paths is served.
const OpenAPIPath = "/v1/openapi.json"

// Config configures the HTTP surface.
type Config struct {
	// Services are the services offered, registered on the gRPC server
	// through it; the server serves the transcoded calls (through its
	// http.Handler) with all its interceptors. Required.
	Services *Services
	// Transport is the gRPC server's interceptor chain and stats
	// handler, through which Connect unary calls are served in process
	// (unary.go). Required.
	Transport server.Transport
	// AllowedOrigins are the origins browsers may call from (CORS), e.g.
	// "https://app.example.com"; "*" allows any. None: no CORS headers,
	// so browsers refuse cross-origin calls.
	AllowedOrigins []string
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// OpenAPI is the document served at OpenAPIPath; nil serves none.
	OpenAPI []byte
	// Logger receives what the handler itself logs; nil discards.
	Logger *slog.Logger
}

// Handler serves every HTTP protocol. Native gRPC (content-type
// application/grpc over HTTP/2) that reaches it, as over TLS where the
// listener cannot tell it apart, goes to the gRPC server's own handler.
type Handler struct {
	grpc       *grpc.Server
	services   *Services
	transport  server.Transport
	codec      *jsonCodec
	transcoder *vanguard.Transcoder
	cors       *cors
	maxBody    int64
	openAPI    []byte
	log        *slog.Logger
}

// New builds the handler for the services registered on cfg.GRPC.
func New(cfg Config) (*Handler, error) {
	if cfg.Services == nil || cfg.Transport.Unary == nil {
		return nil, fmt.Errorf("httpapi: the services and the gRPC server's transport are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := cfg.Services.grpc
	var services []*vanguard.Service
	for name := range g.GetServiceInfo() {
		services = append(services, vanguard.NewService(name, g))
	}
	// The transcoder asks for a codec per call; one serves them all, and
	// the calls served in process. Both resolve types from the global
	// registry, where the generated code registers them.
	codec := newJSONCodec(protoregistry.GlobalTypes)
	t, err := vanguard.NewTranscoder(services,
		vanguard.WithCodec(func(vanguard.TypeResolver) vanguard.Codec { return codec }),
		vanguard.WithDefaultServiceOptions(
			vanguard.WithTargetProtocols(vanguard.ProtocolGRPC),
			vanguard.WithTargetCodecs(vanguard.CodecProto),
			vanguard.WithMaxMessageBufferBytes(uint32(cfg.MaxBodyBytes)),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	return &Handler{
		grpc: g, services: cfg.Services, transport: cfg.Transport, codec: codec, transcoder: t, cors: newCORS(cfg.AllowedOrigins),
		maxBody: cfg.MaxBodyBytes, openAPI: cfg.OpenAPI, log: cfg.Logger,
	}, nil
}

// ServeHTTP answers CORS preflights, refuses what no protocol accepts
// (wrong method, content type or size) with an error body in the
// caller's protocol, serves Connect unary calls in process, and hands
// the rest to the transcoder.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cors.handle(w, r) {
		return
	}
	p := protocolOf(r)
	if p == protocolNativeGRPC {
		h.grpc.ServeHTTP(w, r)
		return
	}
	if r.URL.Path == OpenAPIPath && h.openAPI != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(h.openAPI)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, p, http.StatusMethodNotAllowed,
			server.InvalidArgument("", fmt.Sprintf("method %s: mongogate's HTTP calls are POST", r.Method)))
		return
	}
	if p == protocolUnknown {
		writeError(w, protocolREST, http.StatusUnsupportedMediaType,
			server.InvalidArgument("", fmt.Sprintf("content type %q: want application/json (REST, Connect), application/proto (Connect), application/connect+json or +proto (Connect streams) or application/grpc-web", r.Header.Get("Content-Type"))))
		return
	}
	body, ok := h.readBody(w, r, p)
	if !ok {
		return
	}
	if p == protocolConnectUnary {
		if m, ok := h.services.unary[r.URL.Path]; ok {
			h.serveUnary(w, r, m, body)
			return
		}
	}
	if p == protocolConnectUnary && r.Header.Get("Connect-Protocol-Version") == "" {
		// The Connect protocol makes the header optional, and the path
		// names the method; the transcoder tells Connect from REST by it.
		r.Header.Set("Connect-Protocol-Version", "1")
	}
	if p == protocolREST {
		if method, ns, ok := streamingRESTPath(r.URL.Path); ok {
			h.serveRESTStream(w, r, method, ns)
			return
		}
	}
	h.transcoder.ServeHTTP(w, r)
}

// readBody reads the whole body, bounded, so that a body over the limit
// is refused before anything runs; the request then reads it from memory.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, p protocol) ([]byte, bool) {
	tooLarge := func() ([]byte, bool) {
		writeError(w, p, http.StatusRequestEntityTooLarge,
			server.InvalidArgument("", fmt.Sprintf("the request body exceeds %d bytes", h.maxBody)))
		return nil, false
	}
	if r.ContentLength > h.maxBody {
		return tooLarge()
	}
	var body []byte
	var err error
	if r.ContentLength > 0 {
		// net/http ends the body at its Content-Length.
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	}
	_ = r.Body.Close()
	if err != nil {
		writeError(w, p, http.StatusBadRequest, server.InvalidArgument("", "reading the request body: "+err.Error()))
		return nil, false
	}
	if int64(len(body)) > h.maxBody {
		return tooLarge()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return body, true
}

// protocol is how an HTTP request calls mongogate.
type protocol int

const (
	protocolUnknown protocol = iota
	protocolREST
	protocolConnectUnary
	protocolConnectStream
	protocolGRPCWeb
	protocolNativeGRPC
)

// protocolOf tells the protocol from the content type (and, for JSON,
// the path: Connect's are /package.Service/Method).
func protocolOf(r *http.Request) protocol {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(strings.TrimSpace(ct))
	rpcPath := strings.HasPrefix(r.URL.Path, "/mongogate.") || strings.HasPrefix(r.URL.Path, "/grpc.")
	switch {
	case ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+"):
		if r.ProtoMajor == 2 {
			return protocolNativeGRPC
		}
		return protocolUnknown
	case strings.HasPrefix(ct, "application/grpc-web"):
		return protocolGRPCWeb
	case strings.HasPrefix(ct, "application/connect+"):
		return protocolConnectStream
	case rpcPath && (ct == "application/json" || ct == "application/proto"):
		return protocolConnectUnary
	case !rpcPath && (ct == "application/json" || (ct == "" && r.ContentLength == 0)):
		return protocolREST
	case r.Method != http.MethodPost && !rpcPath:
		return protocolREST
	case r.Method != http.MethodPost:
		return protocolConnectUnary
	}
	return protocolUnknown
}
