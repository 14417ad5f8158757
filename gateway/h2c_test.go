package gateway

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// clientStream is what an h2c client sends: the preface, then frames.
type clientStream struct {
	bytes.Buffer
	fr *http2.Framer
}

func newClientStream() *clientStream {
	s := &clientStream{}
	s.WriteString(http2.ClientPreface)
	s.fr = http2.NewFramer(&s.Buffer, nil)
	return s
}

func (s *clientStream) headers(t *testing.T, contentType string) {
	t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":path", Value: "/mongogate.v1.SessionService/StartSession"},
		{Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "x"}, {Name: "content-type", Value: contentType}} {
		if err := enc.WriteField(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
}

// TestIsGRPC tells gRPC from other HTTP/2 by the first request's content
// type, and sends the server's SETTINGS once, however many the client
// sends.
func TestIsGRPC(t *testing.T) {
	for _, tt := range []struct {
		contentType string
		want        bool
	}{
		{"application/grpc", true}, {"application/grpc+proto", true}, {"application/grpc;charset=utf-8", true},
		{"application/json", false}, {"application/connect+proto", false}, {"application/grpc-web+proto", false},
	} {
		s := newClientStream()
		_ = s.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
		_ = s.fr.WriteWindowUpdate(0, 1<<20)
		_ = s.fr.WriteSettings()
		s.headers(t, tt.contentType)
		var sent bytes.Buffer
		if got := isGRPC(&sent, bytes.NewReader(s.Bytes())); got != tt.want {
			t.Errorf("%s: isGRPC %v, want %v", tt.contentType, got, tt.want)
		}
		fr := http2.NewFramer(nil, &sent)
		settings := 0
		for {
			f, err := fr.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				t.Fatalf("%s: isGRPC sent %v", tt.contentType, f)
			}
			settings++
		}
		if settings != 1 {
			t.Errorf("%s: isGRPC sent %d SETTINGS frames, want 1", tt.contentType, settings)
		}
	}
	// A request shorter than the preface is told apart at its first
	// byte, without waiting for more: the pipe would block forever.
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write([]byte("GET / HTTP/1.0\r\n\r\n")) }()
	if isGRPC(io.Discard, pr) {
		t.Error("HTTP/1.0 taken for gRPC")
	}
	_ = pr.Close() // ends the writer, which wrote more than isGRPC read

	// A connection that sends frames but no request is not read without
	// bound (cmux keeps what a matcher reads).
	s := newClientStream()
	_ = s.fr.WriteSettings()
	for s.Len() < 2*maxMatchBytes {
		_ = s.fr.WritePing(false, [8]byte{})
	}
	s.headers(t, "application/grpc")
	if isGRPC(io.Discard, bytes.NewReader(s.Bytes())) {
		t.Error("a request after more than maxMatchBytes taken for gRPC")
	}
}

// chunkConn returns its data in reads of random sizes.
type chunkConn struct {
	net.Conn
	data []byte
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), 1+rand.IntN(20), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// TestAckDropper takes out the client's first SETTINGS acknowledgement and
// nothing else, however the bytes arrive and are read.
func TestAckDropper(t *testing.T) {
	in, want := newClientStream(), newClientStream()
	for _, s := range []*clientStream{in, want} {
		_ = s.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 20})
		_ = s.fr.WriteWindowUpdate(0, 1<<20)
	}
	_ = in.fr.WriteSettingsAck() // the acknowledgement of isGRPC's SETTINGS
	for _, s := range []*clientStream{in, want} {
		s.headers(t, "application/json")
		// A payload that looks like a SETTINGS acknowledgement is data.
		_ = s.fr.WriteData(1, false, []byte{0, 0, 0, 4, 1, 0, 0, 0, 0})
		_ = s.fr.WriteData(1, true, bytes.Repeat([]byte("x"), 3000))
		_ = s.fr.WriteSettingsAck() // the acknowledgement of the HTTP/2 server's
	}
	for range 50 {
		c := &ackDropper{Conn: &chunkConn{data: bytes.Clone(in.Bytes())}, pass: len(http2.ClientPreface)}
		var got []byte
		for {
			p := make([]byte, 1+rand.IntN(64))
			n, err := c.Read(p)
			got = append(got, p[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("read %d bytes, want %d:\n got %x\nwant %x", len(got), want.Len(), got, want.Bytes())
		}
	}
}
