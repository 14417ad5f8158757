package gateway

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/soheilhy/cmux"
	"google.golang.org/grpc"
)

// One address serves native gRPC and the HTTP protocols (Connect,
// gRPC-Web, REST; see httpapi).
//
// Plaintext: cmux tells connections apart by their first bytes, as etcd
// does: HTTP/2 (its connection preface) goes to the gRPC server's own
// transport, so native gRPC costs what it costs without the HTTP surface;
// HTTP/1.x goes to the HTTP server. Connect and gRPC-Web clients use
// HTTP/1.1 without TLS (browsers cannot speak HTTP/2 without it). Telling
// HTTP/2 calls apart by their content type instead would need the server's
// SETTINGS frame sent before the match (gRPC clients such as grpc-java
// wait for it), which the HTTP/2 server taking over a non-gRPC connection
// then refuses as an unexpected acknowledgement.
//
// TLS: both arrive as HTTP/2 after the same handshake, so every
// connection goes to the HTTP server, which hands native gRPC to the gRPC
// server's http.Handler (grpc.Server.ServeHTTP).

// serveBoth serves ln until the servers stop; it returns nil then.
func (in *Instance) serveBoth(ln net.Listener, g *grpc.Server, hs *http.Server, tc *tls.Config) error {
	if in.cfg.NoHTTP {
		return ignoreClosed(g.Serve(ln))
	}
	if tc != nil {
		tc = tc.Clone()
		tc.NextProtos = []string{"h2", "http/1.1"}
		hs.TLSConfig = tc
		return ignoreClosed(hs.ServeTLS(ln, "", ""))
	}
	m := cmux.New(ln)
	grpcL := m.Match(cmux.HTTP2())
	httpL := m.Match(cmux.Any())
	errs := make(chan error, 2)
	go func() { errs <- ignoreClosed(g.Serve(grpcL)) }()
	go func() { errs <- ignoreClosed(hs.Serve(httpL)) }()
	muxDone := make(chan struct{})
	go func() {
		// Serve ends when ln closes; its error then says only that.
		_ = m.Serve()
		close(muxDone)
	}()
	err := errors.Join(<-errs, <-errs)
	_ = ln.Close()
	<-muxDone
	return err
}

// newHTTPServer is the HTTP side of the listener.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// ignoreClosed is nil for the errors of a server that was stopped.
func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, grpc.ErrServerStopped) || errors.Is(err, http.ErrServerClosed) ||
		errors.Is(err, cmux.ErrListenerClosed) || errors.Is(err, cmux.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
