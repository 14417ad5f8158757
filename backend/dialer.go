package backend

import (
	"bufio"
	"context"
	"net"
)

// readBufferSize is each connection's read buffer: a MongoDB reply to a
// point read or a write is a few hundred bytes, so one read system call
// takes all of it.
const readBufferSize = 4 << 10

// bufferedDialer dials as the driver does by default (a zero net.Dialer)
// and buffers each connection's reads. The driver reads a reply in two
// calls, its 4-byte length and then the rest, each a system call on a
// bare socket; through the buffer the first takes the whole reply when it
// has arrived, and the second copies it. Writes, deadlines and closing go
// to the socket unchanged. When TLS is on, the driver layers it above this
// connection, so the buffer holds ciphertext only.
type bufferedDialer struct{ net.Dialer }

func (d *bufferedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBufferSize)}, nil
}

// bufferedConn is a net.Conn whose reads go through r. Only the driver's
// connection reads it, one read at a time, as it reads the bare socket.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads from the buffer; a read at least as large as the buffer, with
// nothing buffered, goes to the socket directly (bufio.Reader's rule), so
// large replies are not copied twice.
func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
