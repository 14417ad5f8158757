package txn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/sessions"
)

// fixture is one test's backend: a client whose appName scopes fail points
// to it, and a collection of its own.
type fixture struct {
	client *mongo.Client
	coll   *mongo.Collection
	app    string
	// commits counts the commitTransaction commands the client sent.
	commits atomic.Int64
}

func mustFixture(t *testing.T) *fixture {
	t.Helper()
	return mustFixtureAt(t, testbackend.URI(t))
}

func mustFixtureAt(t *testing.T, uri string) *fixture {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	app := "txntest-" + hex.EncodeToString(b)
	f := &fixture{app: app}
	mon := &event.CommandMonitor{Started: func(_ context.Context, ev *event.CommandStartedEvent) {
		if ev.CommandName == "commitTransaction" {
			f.commits.Add(1)
		}
	}}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetAppName(app).SetMonitor(mon))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	db := client.Database(testbackend.DBName(t))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if testbackend.External() {
			_ = db.Drop(ctx)
		}
		_ = client.Disconnect(ctx)
	})
	// Create the collection up front: transactions creating it implicitly
	// would conflict with each other, on MongoDB as on the emulator.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.CreateCollection(ctx, "c"); err != nil {
		var ce mongo.CommandError
		if !errors.As(err, &ce) || ce.Code != 48 {
			t.Fatalf("create collection: %v", err)
		}
	}
	f.client, f.coll = client, db.Collection("c")
	return f
}

func mustManager(t *testing.T, cfg Config) *Manager {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// mustEntry builds a registry entry by hand around a new driver session.
func (f *fixture) mustEntry(t *testing.T, o sessions.Options) *sessions.Entry {
	t.Helper()
	so := options.Session()
	if o.Snapshot {
		so.SetSnapshot(true)
	}
	s, err := f.client.StartSession(so)
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	t.Cleanup(func() { s.EndSession(context.Background()) })
	return &sessions.Entry{Token: "test-" + f.app, Session: s, Options: o}
}

// mustRegistered starts a driver session and registers it in reg with
// default transaction options defaults, held by the test until it ends.
func (f *fixture) mustRegistered(t *testing.T, reg *sessions.Registry, defaults Options) *sessions.Entry {
	t.Helper()
	s, err := f.client.StartSession()
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	e, err := reg.Create("alice", "default", s, sessions.Options{}, NewState(defaults))
	if err != nil {
		s.EndSession(context.Background())
		t.Fatalf("Create: %v", err)
	}
	got, release, err := reg.Acquire(context.Background(), e.Token, "alice")
	if err != nil || got != e {
		t.Fatalf("Acquire: %v", err)
	}
	t.Cleanup(release)
	return e
}

// failPoint configures failCommand for this fixture's client only and
// turns it off at cleanup.
func (f *fixture) failPoint(t *testing.T, mode any, data bson.D) {
	t.Helper()
	data = append(data, bson.E{Key: "appName", Value: f.app})
	f.runFailPoint(t, mode, data)
	t.Cleanup(func() { f.runFailPoint(t, "off", bson.D{}) })
}

func (f *fixture) failPointOff(t *testing.T) {
	t.Helper()
	f.runFailPoint(t, "off", bson.D{})
}

func (f *fixture) runFailPoint(t *testing.T, mode any, data bson.D) {
	t.Helper()
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode}}
	if len(data) > 0 {
		cmd = append(cmd, bson.E{Key: "data", Value: data})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.client.Database("admin").RunCommand(ctx, cmd).Err(); err != nil {
		t.Fatalf("configureFailPoint %v: %v", mode, err)
	}
}

// insert runs an insert on e's session: in its transaction if one is open.
func (f *fixture) insert(ctx context.Context, e *sessions.Entry, id string) error {
	_, err := f.coll.InsertOne(mongo.NewSessionContext(ctx, e.Session), bson.D{{Key: "_id", Value: id}})
	return err
}

func (f *fixture) mustInsert(t *testing.T, e *sessions.Entry, id string) {
	t.Helper()
	if err := f.insert(context.Background(), e, id); err != nil {
		t.Fatalf("insert %q: %v", id, err)
	}
}

// count counts documents with _id id, outside any session.
func (f *fixture) count(t *testing.T, id string) int64 {
	t.Helper()
	n, err := f.coll.CountDocuments(context.Background(), bson.D{{Key: "_id", Value: id}})
	if err != nil {
		t.Fatalf("count %q: %v", id, err)
	}
	return n
}

func wantCount(t *testing.T, f *fixture, id string, want int64) {
	t.Helper()
	if got := f.count(t, id); got != want {
		t.Errorf("documents with _id %q: got %d, want %d", id, got, want)
	}
}

func wantOutcome(t *testing.T, e *sessions.Entry, number int64, state Status, depth int) {
	t.Helper()
	i := Describe(e)
	if i.Number != number || i.Status != state || i.Depth != depth {
		t.Errorf("Describe = (%d, %v, %d), want (%d, %v, %d)", i.Number, i.Status, i.Depth, number, state, depth)
	}
}

// fastConfig retries commits quickly and gives up soon, for fail point tests.
func fastConfig() Config {
	return Config{CommitRetryLimit: 300 * time.Millisecond, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
}
