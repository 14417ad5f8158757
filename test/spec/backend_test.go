package spec

import (
	"context"
	"os"
	"testing"

	"github.com/mongogate/mongogate/emulator"
)

// backendURI returns the connection string of the deployment under test and
// a description of it: MONGOGATE_TEST_URI if set, otherwise an in-process
// emulator that lives as long as the test.
func backendURI(t *testing.T) (uri, description string) {
	if uri := os.Getenv("MONGOGATE_TEST_URI"); uri != "" {
		return uri, "MONGOGATE_TEST_URI"
	}
	srv, err := emulator.New(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	return srv.URI(), "in-process emulator"
}
