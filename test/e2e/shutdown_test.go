package e2e

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/internal/testbackend"
)

// SIGTERM drains the server: it exits 0 within its shutdown timeout, and
// the transactions still open are aborted, never committed.
func TestShutdownAbortsOpenTransactions(t *testing.T) {
	t.Parallel()
	const sessions = 3
	b := mustBackend(t)
	s := mustStartServer(t, b, "--shutdown-timeout", "5s")
	db := testbackend.DBName(t)
	ns := namespace(db, "items")
	ctx := testCtx(t)
	b.createCollection(t, db, "items")

	var ids []string
	for i := range sessions {
		token := s.mustStartSession(ctx, t)
		s.mustStartTransaction(ctx, t, token)
		for _, part := range []string{"a", "b"} {
			id := fmt.Sprintf("s%d-%s", i, part)
			s.mustInsert(ctx, t, token, ns, fmt.Sprintf(`{"_id": %q}`, id))
			ids = append(ids, id)
		}
	}

	if code := s.Terminate(t, stopWait); code != 0 {
		t.Fatalf("server exited with code %d after SIGTERM, want 0", code)
	}
	if n := b.count(t, db, "items", nil); n != 0 {
		t.Fatalf("MongoDB has %d documents of transactions open at shutdown, want 0", n)
	}
	// Each _id can be written now: the transactions are gone, not left open.
	for _, id := range ids {
		b.insertDirect(t, db, "items", bson.D{{Key: "_id", Value: id}})
	}
}
