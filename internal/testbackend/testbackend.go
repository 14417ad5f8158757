// Package testbackend gives tests a MongoDB deployment: the replica set
// named by MONGOGATE_TEST_URI when it is set, otherwise an in-process
// emulator started for the test. Tests written against it run unchanged on
// both, so the suite proves the service against real MongoDB too.
package testbackend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongogate/mongogate/emulator"
)

// EnvURI names the environment variable that points the tests at a real
// replica set.
const EnvURI = "MONGOGATE_TEST_URI"

// External reports whether tests run against a deployment named by
// MONGOGATE_TEST_URI rather than an emulator.
func External() bool { return os.Getenv(EnvURI) != "" }

// URI returns a connection string for a deployment that lives until the
// test ends.
func URI(t testing.TB) string {
	t.Helper()
	if uri := os.Getenv(EnvURI); uri != "" {
		return uri
	}
	return Start(t, emulator.Config{}).URI()
}

// Start runs an emulator with cfg for the test and closes it at cleanup.
// Tests that need emulator-only settings (a short transaction lifetime, say)
// call it directly and skip when External() is true.
func Start(t testing.TB, cfg emulator.Config) *emulator.Server {
	t.Helper()
	srv, err := emulator.New(cfg)
	if err != nil {
		t.Fatalf("testbackend: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("testbackend: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("testbackend: close emulator: %v", err)
		}
	})
	return srv
}

// Client connects a driver client to uri, disconnected at cleanup.
func Client(t testing.TB, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("testbackend: connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Disconnect(ctx)
	})
	return c
}

// DBName returns a database name unique to this test, so tests sharing a
// real deployment never see each other's data.
func DBName(t testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := strings.NewReplacer("/", "_", " ", "_", ".", "_", "$", "_").Replace(t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return "mg_" + name + "_" + hex.EncodeToString(b)
}
