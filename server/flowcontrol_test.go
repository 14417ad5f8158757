package server

import (
	"bytes"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestFixedFlowControlWindows checks, frame by frame on a raw HTTP/2
// connection, that the server grants fixed windows (its SETTINGS carry
// streamWindow) and does not probe the bandwidth-delay product: a call's
// request DATA draws no PING from it, as it would under grpc-go's
// default estimator.
func TestFixedFlowControlWindows(t *testing.T) {
	opts, err := ServerOptions(TransportConfig{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := serveBufconn(t, opts, nil).Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}

	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hdr bytes.Buffer
	enc := hpack.NewEncoder(&hdr)
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: "/grpc.health.v1.Health/Check"}, {Name: ":authority", Value: "mongogate"},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
	} {
		if err := enc.WriteField(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	// An empty HealthCheckRequest: uncompressed, 0 bytes long.
	if err := fr.WriteData(1, true, []byte{0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}

	var window uint32
	var sawWindow bool
	for n := 0; ; n++ {
		if n == 50 {
			t.Fatal("the call did not end within 50 frames")
		}
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			window, sawWindow = f.Value(http2.SettingInitialWindowSize)
			if err := fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				t.Fatalf("the server sent a PING %x during a call: it is probing the bandwidth-delay product", f.Data)
			}
		case *http2.HeadersFrame:
			if f.StreamID == 1 && f.StreamEnded() {
				if !sawWindow || window != streamWindow {
					t.Fatalf("the server's SETTINGS_INITIAL_WINDOW_SIZE = %d (sent: %v), want %d", window, sawWindow, streamWindow)
				}
				return
			}
		}
	}
}
