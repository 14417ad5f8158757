package gateway

import (
	"io"
	"net"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Plaintext HTTP/2 (h2c) carries native gRPC and, from Connect and
// gRPC-Web clients that speak HTTP/2 without TLS, the HTTP protocols. A
// connection's first request tells them apart: isGRPC reads its headers
// and sends the connection to grpc-go's own transport when their content
// type is gRPC's, else to the HTTP server. gRPC clients (grpc-go,
// grpc-java) send no request before the server's SETTINGS frame, so
// isGRPC sends one first. The HTTP/2 server that takes over a non-gRPC
// connection did not send it and would refuse the client's
// acknowledgement of it (GOAWAY PROTOCOL_ERROR), so that acknowledgement
// is taken out of the connection (ackDropper); grpc-go ignores it.

// isGRPC is a cmux.MatchWriter: it reads an HTTP/2 connection's preface
// and frames up to the end of its first request's headers, and tells
// whether their content type is gRPC's. It writes one SETTINGS frame,
// with no settings, after the client's first. cmux keeps what a matcher
// reads, so it reads at most maxMatchBytes: a connection that sends more
// before its first request's headers is not gRPC.
func isGRPC(w io.Writer, r io.Reader) bool {
	if !hasPreface(r) {
		return false
	}
	fr := http2.NewFramer(w, io.LimitReader(r, maxMatchBytes))
	contentType := ""
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == "content-type" {
			contentType = f.Value
		}
	})
	sentSettings := false
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return false
		}
		ended := false
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && !sentSettings {
				sentSettings = true
				if err := fr.WriteSettings(); err != nil {
					return false
				}
			}
		case *http2.HeadersFrame:
			if _, err := dec.Write(f.HeaderBlockFragment()); err != nil {
				return false
			}
			ended = f.HeadersEnded()
		case *http2.ContinuationFrame:
			if _, err := dec.Write(f.HeaderBlockFragment()); err != nil {
				return false
			}
			ended = f.HeadersEnded()
		}
		if ended {
			return contentType == "application/grpc" || strings.HasPrefix(contentType, "application/grpc+") ||
				strings.HasPrefix(contentType, "application/grpc;")
		}
	}
}

// maxMatchBytes bounds what isGRPC reads after the preface: far more than
// a client's SETTINGS and its first request's headers.
const maxMatchBytes = 256 << 10

// hasPreface reads the HTTP/2 client preface, giving up at the first byte
// that differs: a short HTTP/1.x request must not wait for 24 bytes that
// never come.
func hasPreface(r io.Reader) bool {
	var b [len(http2.ClientPreface)]byte
	for n := 0; n < len(b); {
		m, err := r.Read(b[n:])
		n += m
		if string(b[:n]) != http2.ClientPreface[:n] {
			return false
		}
		if err != nil && n < len(b) {
			return false
		}
	}
	return true
}

// ackListener hands out its connections wrapped in ackDropper.
type ackListener struct{ net.Listener }

func (l ackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &ackDropper{Conn: c, pass: len(http2.ClientPreface)}, nil
}

// ackDropper is an h2c connection from which the client's first SETTINGS
// acknowledgement, the one of isGRPC's SETTINGS, is taken out. It reads
// the frames' headers until then, and is a plain connection after.
type ackDropper struct {
	net.Conn
	in, out []byte // read from the connection, not yet parsed; parsed, not yet returned
	pass    int    // bytes to hand on unparsed: the preface, then a frame's payload
	done    bool   // the acknowledgement was dropped
	err     error  // the connection's read error, returned once in and out are empty
}

// frameHeaderLen is the length of an HTTP/2 frame header.
const frameHeaderLen = 9

func (c *ackDropper) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.done && len(c.in) == 0 {
			return c.Conn.Read(p)
		}
		c.parse()
		if len(c.out) > 0 {
			break
		}
		if c.err != nil {
			// The connection ended inside a frame header: hand on what
			// is left, then the error.
			c.out, c.in = c.in, nil
			if len(c.out) == 0 {
				return 0, c.err
			}
			break
		}
		buf := make([]byte, 4096)
		n, err := c.Conn.Read(buf)
		c.in = append(c.in, buf[:n]...)
		c.err = err
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// parse moves what it can from in to out, leaving out the first SETTINGS
// acknowledgement.
func (c *ackDropper) parse() {
	for {
		if c.done {
			c.out = append(c.out, c.in...)
			c.in = nil
			return
		}
		if c.pass > 0 {
			n := min(c.pass, len(c.in))
			c.out = append(c.out, c.in[:n]...)
			c.in = c.in[n:]
			c.pass -= n
			if c.pass > 0 {
				return
			}
			continue
		}
		if len(c.in) < frameHeaderLen {
			return
		}
		h := c.in[:frameHeaderLen]
		length := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		if http2.FrameType(h[3]) == http2.FrameSettings && http2.Flags(h[4]).Has(http2.FlagSettingsAck) && length == 0 {
			c.in = c.in[frameHeaderLen:]
			c.done = true
			continue
		}
		c.out = append(c.out, h...)
		c.in = c.in[frameHeaderLen:]
		c.pass = length
	}
}
