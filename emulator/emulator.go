// Package emulator is an in-memory MongoDB server that speaks the wire
// protocol, so the real Go driver can run sessions, transactions, retryable
// writes and CRUD against it over TCP. It is mongogate's development default
// and test backend, because no MongoDB server can be installed where
// mongogate is built.
//
// It presents itself as the primary of a single-node replica set running
// MongoDB 7.0 (wire version 21): documents live in memory with
// multi-version concurrency control, so transactions get snapshot isolation
// and first-writer-wins write conflicts; the failCommand fail point injects
// faults. It implements the subset of MongoDB that the drivers' unified spec
// tests exercise; anything else answers with MongoDB's error shape rather
// than a wrong result. Its faithfulness is measured by those spec tests (see
// CONFORMANCE.md).
//
//	srv, err := emulator.New(emulator.Config{})
//	err = srv.Start(ctx)
//	defer srv.Close(ctx)
//	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
package emulator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Config configures a Server.
type Config struct {
	// Addr is the TCP address to listen on; default "127.0.0.1:0" (a free
	// loopback port).
	Addr string
	// Standalone serves as a standalone mongod instead of the primary of a
	// one-node replica set: hello names no replica set, so drivers see a
	// Standalone, and a command carrying a transaction number (a
	// transaction or a retryable write) is refused, as mongod refuses it
	// outside a replica set.
	Standalone bool
	// TransactionLifetimeLimit aborts transactions open longer than this,
	// like MongoDB's transactionLifetimeLimitSeconds; default 60s.
	TransactionLifetimeLimit time.Duration
	// SessionRefreshInterval is how often sessions named by endSessions have
	// their cursors closed and their state dropped, like MongoDB's
	// logicalSessionRefreshMillis; default 5 minutes.
	SessionRefreshInterval time.Duration
	// OplogSize is how many entries the oplog that change streams read
	// keeps (one per document write or catalog change); a stream resuming
	// from an evicted point fails with ChangeStreamHistoryLost. Default
	// 100000.
	OplogSize int
	// TTLMonitorInterval is how often expired documents are deleted from
	// collections with a TTL index, like MongoDB's ttlMonitorSleepSecs;
	// default 60s.
	TTLMonitorInterval time.Duration
	// Logger receives connection and command errors; nil discards them.
	Logger *slog.Logger
}

// Server is a running emulator.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *store
	sessions sessionTable
	cursors  cursorTable
	ops      opTable
	fail     failCommand
	txnWrite txnWriteFailPoint
	connID   atomic.Int32

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	closed  bool
	stop    chan struct{}
	wg      sync.WaitGroup
	started time.Time
}

// New validates cfg and returns a server that is not yet listening.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.TransactionLifetimeLimit == 0 {
		cfg.TransactionLifetimeLimit = 60 * time.Second
	}
	if cfg.SessionRefreshInterval == 0 {
		cfg.SessionRefreshInterval = 5 * time.Minute
	}
	if cfg.OplogSize < 0 {
		return nil, fmt.Errorf("emulator: negative OplogSize %d", cfg.OplogSize)
	}
	if cfg.TTLMonitorInterval == 0 {
		cfg.TTLMonitorInterval = 60 * time.Second
	}
	for name, d := range map[string]time.Duration{
		"TransactionLifetimeLimit": cfg.TransactionLifetimeLimit,
		"SessionRefreshInterval":   cfg.SessionRefreshInterval,
		"TTLMonitorInterval":       cfg.TTLMonitorInterval,
	} {
		if d < 0 {
			return nil, fmt.Errorf("emulator: negative %s %v", name, d)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st := newStore()
	if cfg.OplogSize > 0 {
		st.changes.limit = cfg.OplogSize
	}
	return &Server{
		cfg:      cfg,
		log:      log,
		store:    st,
		sessions: sessionTable{m: map[string]*session{}, ending: map[string]bool{}},
		cursors:  cursorTable{m: map[int64]*cursor{}},
		ops:      opTable{m: map[*op]struct{}{}},
		conns:    map[net.Conn]struct{}{},
		stop:     make(chan struct{}),
	}, nil
}

// Start listens and serves in the background until Close.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("emulator: listen: %w", err)
	}
	s.mu.Lock()
	if s.closed || s.ln != nil {
		s.mu.Unlock()
		ln.Close()
		return errors.New("emulator: already started or closed")
	}
	s.ln = ln
	s.started = time.Now()
	s.mu.Unlock()
	s.wg.Add(4)
	go s.accept(ln)
	go s.reap()
	go s.refreshSessions()
	go s.ttlMonitor()
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// URI is a connection string for the driver. directConnection makes the
// driver talk to this one node whatever host names it reports.
func (s *Server) URI() string {
	return "mongodb://" + s.Addr() + "/?directConnection=true"
}

// Close stops listening, closes every connection and waits for their
// goroutines, or until ctx is done.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	// Wake writers waiting for a document lock so their goroutines end.
	s.store.mu.Lock()
	s.store.closed = true
	s.store.cond.Broadcast()
	s.store.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// conn is one client connection; requests on it are handled one at a time,
// as a MongoDB server does.
type conn struct {
	id      int32
	net     net.Conn
	appName string
}

func (s *Server) serve(nc net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		nc.Close()
	}()
	c := &conn{id: s.connID.Add(1), net: nc}
	r := bufio.NewReader(nc)
	for {
		buf, err := readMessage(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("emulator: read", "conn", c.id, "err", err)
			}
			return
		}
		msg, err := parseMessage(buf)
		if err != nil {
			s.log.Warn("emulator: bad message", "conn", c.id, "err", err)
			return
		}
		reply, closeConn := s.handle(c, msg)
		if closeConn {
			return
		}
		if msg.moreToCome {
			continue
		}
		out, err := encodeReply(msg, reply)
		if err != nil {
			s.log.Error("emulator: encode reply", "conn", c.id, "err", err)
			return
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

// reap aborts transactions past the lifetime limit. Like MongoDB it runs
// every limit/2, at most once a second and at least once a minute.
func (s *Server) reap() {
	defer s.wg.Done()
	every := min(max(s.cfg.TransactionLifetimeLimit/2, time.Second), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.store.mu.Lock()
			s.store.reapExpired(s.sessions.all(), s.cfg.TransactionLifetimeLimit, now)
			s.store.mu.Unlock()
			s.cursors.expire(now)
		}
	}
}

// cursor holds the rest of a find or aggregate result for getMore.
type cursor struct {
	id      int64
	ns      string
	docs    []bson.D
	lsid    string
	txn     *transaction
	lastUse time.Time
	cs      *changeStream // set for a change stream cursor
}

type cursorTable struct {
	mu   sync.Mutex
	next int64
	m    map[int64]*cursor
}

// cursorIdle is MongoDB's cursorTimeoutMillis default (10 minutes).
const cursorIdle = 10 * time.Minute

func (t *cursorTable) add(c *cursor) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next++
	c.id = t.next
	c.lastUse = time.Now()
	t.m[c.id] = c
	return c.id
}

func (t *cursorTable) take(id int64) *cursor {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.m[id]
	delete(t.m, id)
	return c
}

func (t *cursorTable) put(c *cursor) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c.lastUse = time.Now()
	t.m[c.id] = c
}

func (t *cursorTable) expire(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, c := range t.m {
		if now.Sub(c.lastUse) > cursorIdle {
			delete(t.m, id)
		}
	}
}

func (t *cursorTable) killMatching(match func(lsid string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, c := range t.m {
		if c.lsid != "" && match(c.lsid) {
			delete(t.m, id)
		}
	}
}
