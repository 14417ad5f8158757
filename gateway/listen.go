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

	"github.com/mongogate/mongogate/httpapi"
)

// One address serves native gRPC and the HTTP protocols (Connect,
// gRPC-Web, REST; see httpapi).
//
// Plaintext: cmux tells connections apart by their first bytes. HTTP/2
// whose first request has gRPC's content type goes to the gRPC server's
// own transport, so native gRPC costs what it costs without the HTTP
// surface; other HTTP/2 (Connect or gRPC-Web over h2c) and HTTP/1.x go to
// the HTTP server (see h2c.go). Browsers speak HTTP/1.1 without TLS.
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
	grpcL := m.MatchWithWriters(isGRPC)
	h2cL := m.Match(cmux.HTTP2())
	httpL := m.Match(cmux.Any())
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	errs := make(chan error, 3)
	go func() { errs <- ignoreClosed(g.Serve(grpcL)) }()
	go func() { errs <- ignoreClosed(hs.Serve(ackListener{h2cL})) }()
	go func() { errs <- ignoreClosed(hs.Serve(httpL)) }()
	muxDone := make(chan struct{})
	go func() {
		// Serve ends when ln closes; its error then says only that.
		_ = m.Serve()
		close(muxDone)
	}()
	err := errors.Join(<-errs, <-errs, <-errs)
	_ = ln.Close()
	<-muxDone
	return err
}

// newHTTPServer is the HTTP side of the listener.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ConnContext:       httpapi.ConnContext,
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
