package spec

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// deployment is the MongoDB deployment the tests run against, reached through
// the runner's internal client. The internal client sets up and inspects
// collections; tests never observe its commands.
type deployment struct {
	uri    string
	client *mongo.Client
	facts  serverFacts

	mu     sync.Mutex
	params map[string]*bson.RawValue // getParameter cache; nil entry = unknown parameter
}

// openDeployment connects to uri and learns the server version and topology
// that runOnRequirements are checked against.
func openDeployment(ctx context.Context, uri string) (*deployment, error) {
	opts := options.Client().ApplyURI(uri)
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, err
	}
	d := &deployment{uri: uri, client: client, params: map[string]*bson.RawValue{}}
	if err := d.learnFacts(ctx, opts); err != nil {
		_ = client.Disconnect(ctx)
		return nil, err
	}
	return d, nil
}

// Close disconnects the internal client.
func (d *deployment) Close(ctx context.Context) error { return d.client.Disconnect(ctx) }

// describe is a one-line summary for logs, e.g. "replicaset 7.0.0".
func (d *deployment) describe() string { return d.facts.topology + " " + d.facts.version.String() }

func (d *deployment) learnFacts(ctx context.Context, opts *options.ClientOptions) error {
	admin := d.client.Database("admin")
	var hello struct {
		Msg            string `bson:"msg"`
		SetName        string `bson:"setName"`
		MaxWireVersion int32  `bson:"maxWireVersion"`
	}
	if err := admin.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	switch {
	case opts.LoadBalanced != nil && *opts.LoadBalanced:
		d.facts.topology = "load-balanced"
	case hello.Msg == "isdbgrid":
		d.facts.topology = "sharded"
	case hello.SetName != "":
		d.facts.topology = "replicaset"
	default:
		d.facts.topology = "single"
	}

	var build struct {
		VersionArray []int32 `bson:"versionArray"`
	}
	err := admin.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&build)
	switch {
	case err == nil && len(build.VersionArray) >= 3:
		for i := range d.facts.version {
			d.facts.version[i] = int(build.VersionArray[i])
		}
	default:
		// A server that does not implement buildInfo (the driver never sends
		// it) is placed by its wire version instead.
		v, ok := versionForWire(hello.MaxWireVersion)
		if !ok {
			return fmt.Errorf("buildInfo failed (%v) and maxWireVersion %d is unknown", err, hello.MaxWireVersion)
		}
		d.facts.version = v
	}

	d.facts.auth = opts.Auth != nil && opts.Auth.Username != ""
	d.facts.parameter = d.parameter
	return nil
}

// parameter fetches one server parameter with getParameter, once per run.
func (d *deployment) parameter(ctx context.Context, name string) (bson.RawValue, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.params[name]; ok {
		if v == nil {
			return bson.RawValue{}, false
		}
		return *v, true
	}
	reply, err := d.client.Database("admin").RunCommand(ctx,
		bson.D{{Key: "getParameter", Value: 1}, {Key: name, Value: 1}}).Raw()
	if err != nil {
		d.params[name] = nil
		return bson.RawValue{}, false
	}
	v := lookup(reply, name)
	if !exists(v) {
		d.params[name] = nil
		return bson.RawValue{}, false
	}
	d.params[name] = &v
	return v, true
}

// killAllSessions ends every server session, and with them any transaction
// a previous test left open (which would otherwise hold locks and block this
// test). Errors are ignored as the spec allows: the command is advisory here.
func (d *deployment) killAllSessions(ctx context.Context) {
	_ = d.client.Database("admin").RunCommand(ctx, bson.D{{Key: "killAllSessions", Value: bson.A{}}}).Err()
}

// setUp creates collections as initialData describes, with majority write
// concern so that every later read sees the data.
func (d *deployment) setUp(ctx context.Context, data []collectionData) error {
	majority := options.Database().SetWriteConcern(writeconcern.Majority())
	for _, cd := range data {
		db := d.client.Database(cd.DatabaseName, majority)
		// The spec also drops the queryable-encryption state collections.
		for _, name := range []string{cd.CollectionName, "enxcol_." + cd.CollectionName + ".esc", "enxcol_." + cd.CollectionName + ".ecoc"} {
			if err := db.Collection(name).Drop(ctx); err != nil {
				return fmt.Errorf("drop %s.%s: %w", cd.DatabaseName, name, err)
			}
		}
		if len(cd.CreateOptions) > 0 {
			cmd := bson.D{{Key: "create", Value: cd.CollectionName}}
			for _, e := range elements(cd.CreateOptions) {
				cmd = append(cmd, bson.E{Key: e.Key(), Value: e.Value()})
			}
			cmd = append(cmd, bson.E{Key: "writeConcern", Value: bson.D{{Key: "w", Value: "majority"}}})
			if err := db.RunCommand(ctx, cmd).Err(); err != nil {
				return fmt.Errorf("create %s.%s: %w", cd.DatabaseName, cd.CollectionName, err)
			}
		}
		switch {
		case len(cd.Documents) > 0:
			if _, err := db.Collection(cd.CollectionName).InsertMany(ctx, cd.Documents); err != nil {
				return fmt.Errorf("insert into %s.%s: %w", cd.DatabaseName, cd.CollectionName, err)
			}
		case len(cd.CreateOptions) == 0:
			if err := db.CreateCollection(ctx, cd.CollectionName); err != nil {
				return fmt.Errorf("create %s.%s: %w", cd.DatabaseName, cd.CollectionName, err)
			}
		}
	}
	return nil
}

// verifyOutcome checks that each collection holds exactly the expected
// documents, read in _id order from the primary with local read concern.
func (d *deployment) verifyOutcome(ctx context.Context, data []collectionData) error {
	for _, cd := range data {
		coll := d.client.Database(cd.DatabaseName).Collection(cd.CollectionName,
			options.Collection().SetReadPreference(readpref.Primary()).SetReadConcern(readconcern.Local()))
		cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return fmt.Errorf("outcome: read %s.%s: %w", cd.DatabaseName, cd.CollectionName, err)
		}
		got, err := drain(ctx, cur)
		if err != nil {
			return fmt.Errorf("outcome: read %s.%s: %w", cd.DatabaseName, cd.CollectionName, err)
		}
		ns := cd.DatabaseName + "." + cd.CollectionName
		if len(got) != len(cd.Documents) {
			return fmt.Errorf("outcome: %s has %d documents, want %d: got %v, want %v",
				ns, len(got), len(cd.Documents), got, cd.Documents)
		}
		for i := range got {
			if err := exactMatch("", docValue(cd.Documents[i]), docValue(got[i])); err != nil {
				return fmt.Errorf("outcome: %s document %d: %w", ns, i, err)
			}
		}
	}
	return nil
}

func (d *deployment) collectionExists(ctx context.Context, db, coll string) (bool, error) {
	names, err := d.client.Database(db).ListCollectionNames(ctx, bson.D{{Key: "name", Value: coll}})
	if err != nil {
		return false, err
	}
	return len(names) > 0, nil
}

func (d *deployment) indexExists(ctx context.Context, db, coll, index string) (bool, error) {
	cur, err := d.client.Database(db).Collection(coll).Indexes().List(ctx)
	if err != nil {
		var ce mongo.CommandError
		if errors.As(err, &ce) && ce.Name == "NamespaceNotFound" {
			return false, nil
		}
		return false, err
	}
	specs, err := drain(ctx, cur)
	if err != nil {
		return false, err
	}
	for _, s := range specs {
		if name, _ := lookup(s, "name").StringValueOK(); name == index {
			return true, nil
		}
	}
	return false, nil
}

// drain reads a cursor to the end. The driver reuses a cursor's buffer, so
// each document is copied.
func drain(ctx context.Context, cur *mongo.Cursor) ([]bson.Raw, error) {
	defer cur.Close(ctx)
	docs := []bson.Raw{}
	for cur.Next(ctx) {
		docs = append(docs, clone(cur.Current))
	}
	return docs, cur.Err()
}
