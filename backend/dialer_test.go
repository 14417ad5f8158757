package backend

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongogate/mongogate/internal/testbackend"
)

// message is a wire message as the driver reads one: a little-endian
// int32 length that counts itself, then the rest.
func message(n int, fill byte) []byte {
	m := bytes.Repeat([]byte{fill}, n)
	binary.LittleEndian.PutUint32(m, uint32(n))
	return m
}

// readMessage reads one message the way the driver's connection does:
// the length, then the rest.
func readMessage(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	m := make([]byte, binary.LittleEndian.Uint32(size[:]))
	copy(m, size[:])
	_, err := io.ReadFull(r, m[4:])
	return m, err
}

// countingConn counts the reads that reach the socket.
type countingConn struct {
	net.Conn
	reads int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	return c.Conn.Read(p)
}

// dialPair returns a buffered client connection made by bufferedDialer
// and the server's end of it.
func dialPair(t *testing.T) (*bufferedConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := (&bufferedDialer{}).DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	srv, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = srv.Close() })
	return c.(*bufferedConn), srv
}

// TestBufferedConnOneReadPerReply: a reply that fits the buffer costs
// one read of the socket, not the two the driver makes.
func TestBufferedConnOneReadPerReply(t *testing.T) {
	c, srv := dialPair(t)
	counter := &countingConn{Conn: c.Conn}
	c.r.Reset(counter)
	want := message(300, 'a')
	if _, err := srv.Write(want); err != nil {
		t.Fatal(err)
	}
	got, err := readMessage(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes that differ from the %d written", len(got), len(want))
	}
	if counter.reads != 1 {
		t.Fatalf("a %d-byte reply took %d reads of the socket, want 1", len(want), counter.reads)
	}
}

// TestBufferedConnKeepsMessageBoundaries: replies of every size, written
// back to back (as an exhaust cursor's are), are read whole and in order,
// including ones larger than the buffer.
func TestBufferedConnKeepsMessageBoundaries(t *testing.T) {
	c, srv := dialPair(t)
	sizes := []int{16, readBufferSize - 1, readBufferSize, readBufferSize + 1, 1 << 20, 300, 5}
	var all []byte
	for i, n := range sizes {
		all = append(all, message(n, byte('a'+i))...)
	}
	go func() { _, _ = srv.Write(all) }()
	for i, n := range sizes {
		got, err := readMessage(c)
		if err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, n, err)
		}
		if want := message(n, byte('a'+i)); !bytes.Equal(got, want) {
			t.Fatalf("message %d (%d bytes) differs from what was written", i, n)
		}
	}
}

// TestBufferedConnDeadline: a read deadline reaches the socket, a read
// that times out loses nothing, and reading goes on once it is lifted.
func TestBufferedConnDeadline(t *testing.T) {
	c, srv := dialPair(t)
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var ne net.Error
	if _, err := readMessage(c); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	want := message(64, 'z')
	if _, err := srv.Write(want); err != nil {
		t.Fatal(err)
	}
	got, err := readMessage(c)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read after the deadline was lifted: %v", err)
	}
}

// TestBufferedDialerWithDriver runs the driver on connections of
// bufferedDialer against the test backend: small and large documents
// (above the buffer and up to 16 MiB) and a cursor of several batches.
func TestBufferedDialerWithDriver(t *testing.T) {
	client, err := mongo.Connect(options.Client().ApplyURI(testbackend.URI(t)).SetDialer(&bufferedDialer{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	defer func() { _ = client.Disconnect(context.Background()) }()
	db := client.Database(testbackend.DBName(t))
	defer func() { _ = db.Drop(context.Background()) }()
	coll := db.Collection("docs")
	sizes := []int{0, 100, readBufferSize, 64 << 10, 15 << 20}
	for i, n := range sizes {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "s", Value: string(bytes.Repeat([]byte{'x'}, n))}}); err != nil {
			t.Fatalf("insert %d bytes: %v", n, err)
		}
	}
	for i, n := range sizes {
		var got struct{ S string }
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: i}}).Decode(&got); err != nil {
			t.Fatalf("find the %d-byte document: %v", n, err)
		}
		if len(got.S) != n {
			t.Fatalf("the %d-byte document came back with %d bytes", n, len(got.S))
		}
	}
	many := db.Collection("many")
	docs := make([]any, 1000)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}}
	}
	if _, err := many.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	cur, err := many.Find(ctx, bson.D{}, options.Find().SetBatchSize(7).SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for cur.Next(ctx) {
		var d struct {
			ID int `bson:"_id"`
		}
		if err := cur.Decode(&d); err != nil {
			t.Fatal(err)
		}
		if d.ID != n {
			t.Fatalf("document %d has _id %d", n, d.ID)
		}
		n++
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(docs) {
		t.Fatalf("the cursor returned %d documents, want %d", n, len(docs))
	}
}
