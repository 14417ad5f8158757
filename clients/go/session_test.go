package mongogate_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/mongogate/mongogate/backend"
	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/clients/go/options"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/server"
)

// UseSession, UseSessionWithOptions and WithSession end the session
// however fn leaves: afterwards the server no longer knows the token.
func TestUseSessionEnds(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	errFn := errors.New("fn failed")
	const idle = 45 * time.Second

	// use runs fn in a session through one of the entry points; idle,
	// if set, is the idle timeout it asks for.
	uses := []struct {
		name string
		idle time.Duration
		use  func(ctx context.Context, fn func(ctx context.Context, s *mongogate.Session) error) error
	}{
		{"UseSession", 0, func(ctx context.Context, fn func(context.Context, *mongogate.Session) error) error {
			return c.UseSession(ctx, func(ctx context.Context) error { return fn(ctx, mongogate.SessionFromContext(ctx)) })
		}},
		{"UseSessionWithOptions", idle, func(ctx context.Context, fn func(context.Context, *mongogate.Session) error) error {
			return c.UseSessionWithOptions(ctx, options.Session().SetIdleTimeout(idle), func(ctx context.Context) error {
				return fn(ctx, mongogate.SessionFromContext(ctx))
			})
		}},
		{"WithSession", idle, func(ctx context.Context, fn func(context.Context, *mongogate.Session) error) error {
			return c.WithSession(ctx, options.Session().SetIdleTimeout(idle), fn)
		}},
	}
	tests := []struct {
		name    string
		fn      func(ctx context.Context, s *mongogate.Session) error
		want    error // the entry point's error
		panics  bool
		aborted bool // fn left a transaction open, which must not commit
	}{
		{"returns nil", func(ctx context.Context, s *mongogate.Session) error { return nil }, nil, false, false},
		{"returns an error", func(ctx context.Context, s *mongogate.Session) error { return errFn }, errFn, false, false},
		{"panics", func(ctx context.Context, s *mongogate.Session) error { panic("boom") }, nil, true, false},
		{"panics in a transaction", func(ctx context.Context, s *mongogate.Session) error {
			if err := s.StartTransaction(ctx); err != nil {
				return err
			}
			coll := c.Database(dbName(t)).Collection("c")
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "never"}}); err != nil {
				return err
			}
			panic("boom")
		}, nil, true, true},
		{"leaves a transaction open", func(ctx context.Context, s *mongogate.Session) error {
			if err := s.StartTransaction(ctx); err != nil {
				return err
			}
			_, err := c.Database(dbName(t)).Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "left open"}})
			return err
		}, nil, false, true},
		{"ends the session itself", func(ctx context.Context, s *mongogate.Session) error { return s.End(ctx) }, nil, false, false},
	}
	for _, u := range uses {
		for _, tt := range tests {
			t.Run(u.name+"/"+tt.name, func(t *testing.T) {
				var (
					token     string
					recovered any
					err       error
				)
				func() {
					defer func() { recovered = recover() }()
					err = u.use(ctx, func(ctx context.Context, s *mongogate.Session) error {
						if s == nil {
							t.Fatal("fn's context carries no session")
						}
						token = mongogate.Token(s)
						if u.idle != 0 && s.IdleTimeout() != u.idle {
							t.Errorf("session idle timeout %v, want the option's %v", s.IdleTimeout(), u.idle)
						}
						return tt.fn(ctx, s)
					})
				}()
				if tt.panics != (recovered != nil) {
					t.Fatalf("recovered %v, want a panic: %v", recovered, tt.panics)
				}
				if !tt.panics && !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
					t.Fatalf("%s = %v, want %v", u.name, err, tt.want)
				}
				requireIs(t, mongogate.GetSessionByToken(ctx, c, token), mongogate.ErrSessionNotFound)
				waitUnkept(t, c)
			})
		}
	}
	if n := g.count(t, dbName(t), "c", bson.D{}); n != 0 {
		t.Errorf("%d documents committed by transactions fn left open", n)
	}
}

// Disconnect ends the sessions left open within its context; with the
// context already done it leaves them to expire on the server, and closes
// the client all the same. Close after Disconnect, or Disconnect twice,
// returns nil.
func TestDisconnect(t *testing.T) {
	g := mustGate(t, gateConfig{})
	ctx := testCtx(t)
	check := mustClient(t, g)
	done, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		wantEnded bool
	}{
		{"live context", ctx, true},
		{"done context", done, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := mongogate.New(g.addr)
			if err != nil {
				t.Fatal(err)
			}
			held := []*mongogate.Session{mustSession(t, c), mustSession(t, c)}
			if err := c.Disconnect(tt.ctx); err != nil {
				t.Fatalf("Disconnect: %v", err)
			}
			for _, s := range held {
				err := mongogate.GetSessionByToken(ctx, check, mongogate.Token(s))
				if tt.wantEnded {
					requireIs(t, err, mongogate.ErrSessionNotFound)
				} else if err != nil {
					t.Errorf("a session Disconnect could not end: %v, want it still on the server", err)
				}
			}
			requireIs(t, c.Ping(ctx), mongogate.ErrClientClosed)
			_, err = c.StartSession(ctx)
			requireIs(t, err, mongogate.ErrClientClosed)
			if err := c.Disconnect(ctx); err != nil {
				t.Errorf("second Disconnect: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close after Disconnect: %v", err)
			}
		})
	}
}

// A session that is held longer than its idle timeout without calls stays
// alive thanks to the keep-alive; without keep-alive it expires.
func TestKeepAlive(t *testing.T) {
	g := mustGate(t, gateConfig{idleTimeout: time.Second})
	ctx := testCtx(t)

	tests := []struct {
		name    string
		opts    []mongogate.Option
		sess    *options.SessionOptions
		wantErr error
	}{
		{"default interval", nil, nil, nil},
		{"client interval", []mongogate.Option{mongogate.WithKeepAliveInterval(200 * time.Millisecond)}, nil, nil},
		{"disabled", []mongogate.Option{mongogate.WithKeepAliveInterval(-1)}, nil, mongogate.ErrSessionExpired},
		{"disabled for the session", nil, options.Session().SetKeepAliveInterval(-1), mongogate.ErrSessionExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustClient(t, g, tt.opts...)
			s := mustSession(t, c, tt.sess)
			if s.IdleTimeout() != time.Second {
				t.Fatalf("IdleTimeout = %v, want the server's 1s", s.IdleTimeout())
			}
			time.Sleep(3 * time.Second)
			coll := c.Database(dbName(t)).Collection("c")
			_, err := coll.InsertOne(mongogate.NewSessionContext(ctx, s), bson.D{{Key: "n", Value: 1}})
			if tt.wantErr == nil && err != nil {
				t.Fatalf("session unusable after 3 s idle with keep-alive: %v", err)
			}
			if tt.wantErr != nil {
				requireIs(t, err, tt.wantErr)
				var e *mongogate.Error
				if !errors.As(err, &e) || e.Code != codes.NotFound {
					t.Errorf("expired session: %#v, want code NotFound", err)
				}
			}
			if err := s.End(ctx); err != nil {
				t.Errorf("End: %v", err)
			}
			waitUnkept(t, c)
		})
	}
}

// The keep-alive forgets a session at End and stops with Close, and Close
// releases the connection's goroutines and ends the sessions left open.
func TestNoGoroutineLeaks(t *testing.T) {
	g := mustGate(t, gateConfig{idleTimeout: time.Second})
	ctx := testCtx(t)
	c, err := mongogate.New(g.addr)
	if err != nil {
		t.Fatal(err)
	}
	ended, err := c.StartSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var held []*mongogate.Session
	for range 3 {
		s, err := c.StartSession(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
	}
	if !strings.Contains(string(stacks()), keepAliveFrame) {
		t.Fatal("no keep-alive goroutine running")
	}
	if n := mongogate.KeptSessions(c); n != 4 {
		t.Fatalf("keep-alive schedules %d sessions, want 4", n)
	}
	if err := ended.End(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ended.End(ctx); err != nil {
		t.Errorf("second End: %v", err)
	}
	if n := mongogate.KeptSessions(c); n != 3 {
		t.Errorf("keep-alive schedules %d sessions after one End, want 3", n)
	}
	// A cursor left open holds a stream, in its session.
	coll := c.Database(dbName(t)).Collection("c")
	if _, err := coll.InsertMany(ctx, []any{bson.D{}, bson.D{}, bson.D{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.Find(mongogate.NewSessionContext(ctx, held[0]), bson.D{}, options.Find().SetBatchSize(1)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, keepAliveFrame, "mongogate/clients/go.", "grpc/internal/transport.(*http2Client)")

	// Close ended the sessions it held, on the server.
	check := mustClient(t, g)
	for _, s := range held {
		requireIs(t, mongogate.GetSessionByToken(ctx, check, mongogate.Token(s)), mongogate.ErrSessionNotFound)
	}
	// And the closed client refuses to work.
	requireIs(t, c.Ping(ctx), mongogate.ErrClientClosed)
	_, err = c.StartSession(ctx)
	requireIs(t, err, mongogate.ErrClientClosed)
	_, err = coll.InsertOne(ctx, bson.D{})
	requireIs(t, err, mongogate.ErrClientClosed)
	requireIs(t, held[1].CommitTransaction(ctx), mongogate.ErrSessionEnded)
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSessionDescription(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	s := mustSession(t, c, options.Session().SetIdleTimeout(time.Minute))
	token := mongogate.Token(s)
	if str := fmt.Sprint(s) + s.ID() + fmt.Sprintf("%+v %#v", s, s); strings.Contains(str, token[len(token)-8:]) {
		t.Errorf("the token's secret leaks through String/ID/formatting: %s", str)
	}
	if !strings.HasPrefix(s.ID(), "test.") {
		t.Errorf("ID() = %q, want the instance prefix", s.ID())
	}
	info, err := s.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Backend != backend.Default || info.InstanceID != "test" || info.IdleTimeout != time.Minute ||
		info.InTransaction || info.LastTransaction != nil || info.ExpireTime.Before(time.Now()) {
		t.Errorf("Describe = %+v", info)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// Real server errors match their sentinels.
func TestServerErrors(t *testing.T) {
	g := mustGate(t, gateConfig{maxSessions: 5, down: true})
	c := mustClient(t, g)
	ctx := testCtx(t)
	db := c.Database(dbName(t))
	coll := db.Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		call func(t *testing.T) error
		want error
		code codes.Code
	}{
		{"duplicate key", func(t *testing.T) error {
			_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}})
			var e *mongogate.Error
			if errors.As(err, &e) && e.MongoCode != 11000 {
				t.Errorf("MongoCode = %d, want 11000", e.MongoCode)
			}
			return err
		}, mongogate.ErrDuplicateKey, codes.AlreadyExists},
		{"forbidden operator", func(t *testing.T) error {
			_, err := coll.Find(ctx, bson.D{{Key: "$where", Value: "true"}})
			return err
		}, mongogate.ErrForbiddenOperator, codes.InvalidArgument},
		{"invalid argument", func(t *testing.T) error {
			_, err := db.Collection("").InsertOne(ctx, bson.D{})
			var e *mongogate.Error
			if errors.As(err, &e) && len(e.Violations) == 0 {
				t.Errorf("no field violations")
			}
			return err
		}, mongogate.ErrInvalidArgument, codes.InvalidArgument},
		{"unknown backend", func(t *testing.T) error {
			_, err := c.StartSession(ctx, options.Session().SetBackend("nope"))
			return err
		}, mongogate.ErrInvalidArgument, codes.InvalidArgument},
		{"MongoDB error", func(t *testing.T) error {
			_, err := coll.UpdateOne(ctx, bson.D{}, bson.D{{Key: "$nope", Value: bson.D{{Key: "a", Value: 1}}}})
			var e *mongogate.Error
			if errors.As(err, &e) && e.MongoCode == 0 {
				t.Errorf("no MongoCode")
			}
			return err
		}, mongogate.ErrMongo, codes.InvalidArgument},
		{"session not found", func(t *testing.T) error {
			return mongogate.GetSessionByToken(ctx, c, "test.AAAAAAAAAAAAAAAAAAAAAAAA")
		}, mongogate.ErrSessionNotFound, codes.NotFound},
		{"session bound to another backend", func(t *testing.T) error {
			s := mustSession(t, c)
			other := c.Database(db.Name(), options.Database().SetBackend(backendOther)).Collection("c")
			_, err := other.InsertOne(mongogate.NewSessionContext(ctx, s), bson.D{})
			return err
		}, mongogate.ErrSessionClientMismatch, codes.FailedPrecondition},
		{"transaction in progress", func(t *testing.T) error {
			s := mustSession(t, c)
			if err := s.StartTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			return s.StartTransaction(ctx)
		}, mongogate.ErrTransactionInProgress, codes.FailedPrecondition},
		{"no transaction", func(t *testing.T) error {
			return mustSession(t, c).CommitTransaction(ctx)
		}, mongogate.ErrNoTransaction, codes.FailedPrecondition},
		{"transactions not supported", func(t *testing.T) error {
			return mustSession(t, c, options.Session().SetBackend(backendStandalone)).StartTransaction(ctx)
		}, mongogate.ErrTransactionsNotSupported, codes.FailedPrecondition},
		{"commit after abort", func(t *testing.T) error {
			s := mustSession(t, c)
			if err := s.StartTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.AbortTransaction(ctx); err != nil {
				t.Fatal(err)
			}
			return s.CommitTransaction(ctx)
		}, mongogate.ErrTransactionAborted, codes.Aborted},
		{"backend unavailable", func(t *testing.T) error {
			down := c.Database(db.Name(), options.Database().SetBackend(backendDown)).Collection("c")
			_, err := down.InsertOne(ctx, bson.D{})
			return err
		}, mongogate.ErrBackendUnavailable, codes.Unavailable},
		{"session limit", func(t *testing.T) error {
			for {
				s, err := c.StartSession(ctx)
				if err != nil {
					return err
				}
				t.Cleanup(func() { _ = s.End(context.Background()) })
			}
		}, mongogate.ErrSessionLimit, codes.ResourceExhausted},
		{"deadline exceeded", func(t *testing.T) error {
			dctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
			defer cancel()
			<-dctx.Done()
			_, err := coll.CountDocuments(dctx, nil)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%v does not match context.DeadlineExceeded", err)
			}
			return err
		}, mongogate.ErrDeadlineExceeded, codes.DeadlineExceeded},
		{"canceled", func(t *testing.T) error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := coll.CountDocuments(cctx, nil)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%v does not match context.Canceled", err)
			}
			return err
		}, mongogate.ErrCanceled, codes.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t)
			requireIs(t, err, tt.want)
			var e *mongogate.Error
			if !errors.As(err, &e) {
				t.Fatalf("%T is not an *Error", err)
			}
			if e.Code != tt.code {
				t.Errorf("Code = %v, want %v", e.Code, tt.code)
			}
		})
	}
}

func TestShuttingDown(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g)
	ctx := testCtx(t)
	if err := g.reg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := c.StartSession(ctx)
	requireIs(t, err, mongogate.ErrShuttingDown)
	var e *mongogate.Error
	if !errors.As(err, &e) || e.RetryDelay <= 0 {
		t.Errorf("no RetryDelay in %#v", err)
	}
}

// WithAPIKey authenticates each call; sessions belong to their principal.
func TestAPIKey(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	content := "alice " + server.HashAPIKey("alice-key") + "\nbob " + server.HashAPIKey("bob-key") + "\n"
	if err := os.WriteFile(keys, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	g := mustGate(t, gateConfig{apiKeysFile: keys})
	ctx := testCtx(t)

	_, err := mustClient(t, g).StartSession(ctx)
	requireIs(t, err, mongogate.ErrUnauthenticated)
	_, err = mustClient(t, g, mongogate.WithAPIKey("wrong")).StartSession(ctx)
	requireIs(t, err, mongogate.ErrUnauthenticated)

	alice := mustClient(t, g, mongogate.WithAPIKey("alice-key"))
	s := mustSession(t, alice)
	if err := s.StartTransaction(ctx); err != nil {
		t.Fatalf("alice: %v", err)
	}
	bob := mustClient(t, g, mongogate.WithAPIKey("bob-key"))
	requireIs(t, mongogate.GetSessionByToken(ctx, bob, mongogate.Token(s)), mongogate.ErrSessionNotFound)
	// The client will not send a session to another Client's server.
	_, err = bob.Database(dbName(t)).Collection("c").InsertOne(mongogate.NewSessionContext(ctx, s), bson.D{})
	if err == nil {
		t.Errorf("bob used alice's session")
	}
}

func TestDefaultTimeout(t *testing.T) {
	g := mustGate(t, gateConfig{})
	c := mustClient(t, g, mongogate.WithDefaultTimeout(time.Nanosecond))
	_, err := c.Database(dbName(t)).Collection("c").CountDocuments(context.Background(), nil)
	requireIs(t, err, mongogate.ErrDeadlineExceeded)
	// A deadline of the caller's wins over the default.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Database(dbName(t)).Collection("c").CountDocuments(ctx, nil); err != nil {
		t.Errorf("with the caller's deadline: %v", err)
	}
}

func TestTransportChoice(t *testing.T) {
	if _, err := mongogate.New("localhost:1", mongogate.WithInsecure(), mongogate.WithTLS(&tls.Config{})); err == nil {
		t.Errorf("WithTLS together with WithInsecure accepted")
	}
	if _, err := mongogate.New("localhost:1", mongogate.WithDefaultTimeout(-time.Second)); err == nil {
		t.Errorf("negative default timeout accepted")
	}
	// A name that is not loopback gets TLS by default, which the plaintext
	// test server cannot speak; WithInsecure connects. The dialer sends
	// both to the test server whatever the name.
	g := mustGate(t, gateConfig{})
	toGate := mongogate.WithDialOptions(grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", g.addr)
	}))
	tests := []struct {
		name   string
		opts   []mongogate.Option
		wantOK bool
	}{
		{"default TLS", []mongogate.Option{toGate}, false},
		{"insecure", []mongogate.Option{toGate, mongogate.WithInsecure()}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := mongogate.New("passthrough:///mongogate.example:443", tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Ping(ctx); (err == nil) != tt.wantOK {
				t.Errorf("Ping = %v, want success %v", err, tt.wantOK)
			}
		})
	}
}

// A session's calls go to the instance address it reports; when that
// cannot be reached they fall back to the client's own target.
func TestRoutingFallsBack(t *testing.T) {
	// Nothing listens on port 1 of loopback.
	g := mustGate(t, gateConfig{advertise: "127.0.0.1:1"})
	c := mustClient(t, g)
	s := mustSession(t, c)
	ctx := mongogate.NewSessionContext(testCtx(t), s)
	coll := c.Database(testbackend.DBName(t)).Collection("items")
	if err := s.StartTransaction(ctx); err != nil {
		t.Fatalf("StartTransaction: %v", err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	var docs []bson.D
	if err := cur.All(ctx, &docs); err != nil || len(docs) != 1 {
		t.Fatalf("Find: %v, %v; want the transaction's document", docs, err)
	}
	if err := s.CommitTransaction(ctx); err != nil {
		t.Fatalf("CommitTransaction: %v", err)
	}
}
