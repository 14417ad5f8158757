package spec

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/session"
)

// runnerArgs lists the arguments each special test operation accepts.
var runnerArgs = map[string][]string{
	// "session" is not in the spec's definition of failPoint, but the
	// transactions handshake tests pass one; it has no meaning there.
	"failPoint":                            {"client", "failPoint", "session"},
	"targetedFailPoint":                    {"session", "failPoint"},
	"assertSessionTransactionState":        {"session", "state"},
	"assertSessionPinned":                  {"session"},
	"assertSessionUnpinned":                {"session"},
	"assertSessionDirty":                   {"session"},
	"assertSessionNotDirty":                {"session"},
	"assertSameLsidOnLastTwoCommands":      {"client"},
	"assertDifferentLsidOnLastTwoCommands": {"client"},
	"assertCollectionExists":               {"databaseName", "collectionName"},
	"assertCollectionNotExists":            {"databaseName", "collectionName"},
	"assertIndexExists":                    {"databaseName", "collectionName", "indexName"},
	"assertIndexNotExists":                 {"databaseName", "collectionName", "indexName"},
	"assertNumberConnectionsCheckedOut":    {"client", "connections"},
	"createEntities":                       {"entities"},
}

var transactionStates = map[string]session.TransactionState{
	"none":        session.None,
	"starting":    session.Starting,
	"in_progress": session.InProgress,
	"committed":   session.Committed,
	"aborted":     session.Aborted,
}

// runnerOp executes a special operation (object "testRunner").
func (r *testRun) runnerOp(ctx context.Context, op operation) error {
	allowed, ok := runnerArgs[op.Name]
	if !ok {
		return fmt.Errorf("unsupported testRunner operation %q", op.Name)
	}
	for _, e := range elements(op.Arguments) {
		if !slices.Contains(allowed, e.Key()) {
			return fmt.Errorf("%s: unsupported argument %q", op.Name, e.Key())
		}
	}
	var args struct {
		Client         string     `bson:"client"`
		Session        string     `bson:"session"`
		FailPoint      bson.Raw   `bson:"failPoint"`
		State          string     `bson:"state"`
		DatabaseName   string     `bson:"databaseName"`
		CollectionName string     `bson:"collectionName"`
		IndexName      string     `bson:"indexName"`
		Connections    int64      `bson:"connections"`
		Entities       []bson.Raw `bson:"entities"`
	}
	if len(op.Arguments) > 0 {
		if err := bson.Unmarshal(op.Arguments, &args); err != nil {
			return fmt.Errorf("%s: %w", op.Name, err)
		}
	}

	switch op.Name {
	case "failPoint":
		c, err := get[*clientEntity](r.entities, args.Client)
		if err != nil {
			return err
		}
		return r.setFailPoint(ctx, c.client, args.FailPoint, false)

	case "targetedFailPoint":
		s, err := get[*sessionEntity](r.entities, args.Session)
		if err != nil {
			return err
		}
		addr := s.clientSession().PinnedServerAddr
		if addr == nil {
			return fmt.Errorf("targetedFailPoint: session %s is not pinned to a mongos", args.Session)
		}
		// A client of its own, connected straight to the pinned mongos, both
		// sets the fail point and (after the test) disables it there.
		direct, err := mongo.Connect(options.Client().ApplyURI(r.dep.uri).
			SetHosts([]string{addr.String()}).SetDirect(true))
		if err != nil {
			return err
		}
		return r.setFailPoint(ctx, direct, args.FailPoint, true)

	case "createEntities":
		return r.createEntities(args.Entities)

	case "assertCollectionExists", "assertCollectionNotExists":
		ok, err := r.dep.collectionExists(ctx, args.DatabaseName, args.CollectionName)
		if err != nil {
			return fmt.Errorf("%s: %w", op.Name, err)
		}
		if want := op.Name == "assertCollectionExists"; ok != want {
			return fmt.Errorf("collection %s.%s exists: %v, want %v", args.DatabaseName, args.CollectionName, ok, want)
		}
		return nil

	case "assertIndexExists", "assertIndexNotExists":
		ok, err := r.dep.indexExists(ctx, args.DatabaseName, args.CollectionName, args.IndexName)
		if err != nil {
			return fmt.Errorf("%s: %w", op.Name, err)
		}
		if want := op.Name == "assertIndexExists"; ok != want {
			return fmt.Errorf("index %s on %s.%s exists: %v, want %v",
				args.IndexName, args.DatabaseName, args.CollectionName, ok, want)
		}
		return nil

	case "assertSameLsidOnLastTwoCommands", "assertDifferentLsidOnLastTwoCommands":
		c, err := get[*clientEntity](r.entities, args.Client)
		if err != nil {
			return err
		}
		a, b, err := c.events.lastTwoLsids()
		if err != nil {
			return fmt.Errorf("%s: %w", op.Name, err)
		}
		if same := a.Equal(b); same != (op.Name == "assertSameLsidOnLastTwoCommands") {
			return fmt.Errorf("%s: lsids %s and %s", op.Name, a, b)
		}
		return nil

	case "assertNumberConnectionsCheckedOut":
		c, err := get[*clientEntity](r.entities, args.Client)
		if err != nil {
			return err
		}
		if n := c.events.checkedOut.Load(); n != args.Connections {
			return fmt.Errorf("%d connections checked out, want %d", n, args.Connections)
		}
		return nil
	}

	// The remaining operations assert on a session's driver-side state.
	s, err := get[*sessionEntity](r.entities, args.Session)
	if err != nil {
		return err
	}
	cs := s.clientSession()
	switch op.Name {
	case "assertSessionTransactionState":
		want, ok := transactionStates[args.State]
		if !ok {
			return fmt.Errorf("unknown transaction state %q", args.State)
		}
		if cs.TransactionState != want {
			return fmt.Errorf("session %s transaction state is %s, want %s", args.Session, cs.TransactionState, want)
		}
	case "assertSessionPinned", "assertSessionUnpinned":
		pinned := cs.PinnedServerAddr != nil
		if want := op.Name == "assertSessionPinned"; pinned != want {
			return fmt.Errorf("session %s pinned: %v, want %v", args.Session, pinned, want)
		}
	case "assertSessionDirty", "assertSessionNotDirty":
		dirty := cs.Server != nil && cs.Server.Dirty
		if want := op.Name == "assertSessionDirty"; dirty != want {
			return fmt.Errorf("session %s dirty: %v, want %v", args.Session, dirty, want)
		}
	}
	return nil
}

// failPoint is a fail point set during a test, to be switched off after it.
type failPoint struct {
	name   string
	client *mongo.Client
	owned  bool // client was made for this fail point and is closed with it
}

func (r *testRun) setFailPoint(ctx context.Context, client *mongo.Client, cmd bson.Raw, owned bool) error {
	name, ok := lookup(cmd, "configureFailPoint").StringValueOK()
	if !ok {
		if owned {
			_ = client.Disconnect(ctx)
		}
		return fmt.Errorf("failPoint: no configureFailPoint name in %s", cmd)
	}
	// Recorded before running, so that a fail point whose command errored
	// after all is still switched off.
	r.failPoints = append(r.failPoints, failPoint{name: name, client: client, owned: owned})
	err := client.Database("admin").RunCommand(ctx, cmd, options.RunCmd().SetReadPreference(readpref.Primary())).Err()
	if err != nil {
		return fmt.Errorf("configure fail point %s: %w", name, err)
	}
	return nil
}

// disableFailPoints switches off every fail point the test set, through the
// client that set it so that it reaches the same server.
func (r *testRun) disableFailPoints(ctx context.Context) error {
	var errs []error
	for _, fp := range slices.Backward(r.failPoints) {
		cmd := bson.D{{Key: "configureFailPoint", Value: fp.name}, {Key: "mode", Value: "off"}}
		if err := fp.client.Database("admin").RunCommand(ctx, cmd).Err(); err != nil {
			errs = append(errs, fmt.Errorf("disable fail point %s: %w", fp.name, err))
		}
		if fp.owned {
			_ = fp.client.Disconnect(ctx)
		}
	}
	r.failPoints = nil
	return errors.Join(errs...)
}
