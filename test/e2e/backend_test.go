package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/internal/testbackend"
)

// backend is one test's MongoDB deployment, reached both by the server
// under test and directly by the test's own driver client.
type backend struct {
	uri string
	// app is the appName the server's driver connects with. Fail points are
	// scoped to it, so they hit the server and never the test's own client
	// or other tests sharing a real deployment.
	app    string
	driver *mongo.Client
}

// mustBackend gives the test a deployment (testbackend.URI) and a driver
// client on it.
func mustBackend(t *testing.T) *backend {
	t.Helper()
	uri := testbackend.URI(t)
	return &backend{uri: uri, app: "mge2e-" + randomHex(6), driver: testbackend.Client(t, uri)}
}

// serverURI is the connection string the server gets: uri with the
// server's appName.
func (b *backend) serverURI() string { return withAppName(b.uri, b.app) }

var appNameParam = regexp.MustCompile(`(?i)([?&]appname=)[^&]*`)

// withAppName sets the appName option of a mongodb:// or mongodb+srv://
// connection string.
func withAppName(uri, app string) string {
	switch {
	case appNameParam.MatchString(uri):
		return appNameParam.ReplaceAllString(uri, "${1}"+app)
	case strings.Contains(uri, "?"):
		return uri + "&appName=" + app
	}
	_, hosts, _ := strings.Cut(uri, "://")
	if strings.Contains(hosts, "/") {
		return uri + "?appName=" + app
	}
	return uri + "/?appName=" + app
}

// failPointMu is held by the test whose fail point is configured. MongoDB
// has one failCommand configuration per deployment, so tests sharing one
// (MONGOGATE_TEST_URI) take turns; appName keeps it off their servers.
var failPointMu sync.Mutex

// failPoint configures MongoDB's failCommand fail point for the server's
// connections only and turns it off at cleanup. mode is "alwaysOn" or
// bson.D{{Key: "times", Value: n}}; data holds failCommands and what to do.
// A test configures at most one fail point at a time.
func (b *backend) failPoint(t *testing.T, mode any, data bson.D) {
	t.Helper()
	failPointMu.Lock()
	t.Cleanup(func() {
		b.failPointOff(t)
		failPointMu.Unlock()
	})
	data = append(data, bson.E{Key: "appName", Value: b.app})
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode}, {Key: "data", Value: data}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.driver.Database("admin").RunCommand(ctx, cmd).Err(); err != nil {
		if testbackend.External() {
			t.Skipf("the deployment refuses configureFailPoint (run mongod with --setParameter enableTestCommands=1): %v", err)
		}
		t.Fatalf("configureFailPoint: %v", err)
	}
}

// failPointOff turns the failCommand fail point off.
func (b *backend) failPointOff(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}
	if err := b.driver.Database("admin").RunCommand(ctx, cmd).Err(); err != nil {
		t.Errorf("turning the fail point off: %v", err)
	}
}

// count counts the documents of db.coll that match filter, as MongoDB has
// them (committed data only), bypassing the server under test.
func (b *backend) count(t *testing.T, db, coll string, filter bson.D) int64 {
	t.Helper()
	if filter == nil {
		filter = bson.D{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := b.driver.Database(db).Collection(coll).CountDocuments(ctx, filter)
	if err != nil {
		t.Fatalf("driver count %s.%s: %v", db, coll, err)
	}
	return n
}

// createCollection creates db.coll with the driver. Tests whose concurrent
// transactions write to one collection create it first: transactions that
// would each create it implicitly conflict, on MongoDB as on the emulator.
func (b *backend) createCollection(t *testing.T, db, coll string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.driver.Database(db).CreateCollection(ctx, coll); err != nil {
		t.Fatalf("driver create %s.%s: %v", db, coll, err)
	}
}

// insertDirect inserts doc with the driver, outside any transaction. An
// uncommitted transaction that wrote the same _id makes MongoDB refuse or
// hold this write, so its success proves that no such transaction is still
// open: it was committed (then this is a duplicate key) or aborted. Write
// conflicts are retried for a few seconds, to give an abort on its way the
// time to arrive; MongoDB's own transaction lifetime (60 s) is far longer.
func (b *backend) insertDirect(t *testing.T, db, coll string, doc bson.D) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := b.driver.Database(db).Collection(coll).InsertOne(ctx, doc)
		cancel()
		if err == nil {
			return
		}
		var se mongo.ServerError
		transient := errors.As(err, &se) && (se.HasErrorCode(112) || se.HasErrorLabel("TransientTransactionError"))
		if !transient || time.Now().After(deadline) {
			t.Fatalf("driver insert %v into %s.%s: %v", doc, db, coll, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
