package spec

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"unsafe"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/session"
)

// entityMap holds one test's named entities. Tests never share one: each test
// creates its clients, sessions and so on afresh.
type entityMap struct {
	byName map[string]any
	order  []string // creation order; cleanup runs in reverse
}

func newEntityMap() *entityMap { return &entityMap{byName: map[string]any{}} }

func (m *entityMap) add(name string, v any) error {
	if name == "" {
		return fmt.Errorf("entity without an id")
	}
	if _, dup := m.byName[name]; dup {
		return fmt.Errorf("entity %q already exists", name)
	}
	m.byName[name] = v
	m.order = append(m.order, name)
	return nil
}

// get fetches an entity of type T, failing on a missing name or wrong type.
func get[T any](m *entityMap, name string) (T, error) {
	var zero T
	v, ok := m.byName[name]
	if !ok {
		return zero, fmt.Errorf("no entity %q", name)
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("entity %q is a %s, not a %s", name, kindOf(v), kindOf(zero))
	}
	return t, nil
}

func kindOf(v any) string {
	switch v.(type) {
	case *clientEntity:
		return "client"
	case *mongo.Database:
		return "database"
	case *mongo.Collection:
		return "collection"
	case *sessionEntity:
		return "session"
	case *mongo.ChangeStream:
		return "change stream"
	case bson.RawValue:
		return "BSON value"
	}
	return fmt.Sprintf("%T", v)
}

func (m *entityMap) value(name string) (bson.RawValue, error) { return get[bson.RawValue](m, name) }

func (m *entityMap) lsid(name string) (bson.Raw, error) {
	s, err := get[*sessionEntity](m, name)
	if err != nil {
		return nil, err
	}
	return s.lsid, nil
}

// close ends sessions before disconnecting clients, so that open transactions
// are aborted while their client still works. Errors are ignored: this is
// cleanup, and the test has already passed or failed.
func (m *entityMap) close(ctx context.Context) {
	for _, name := range slices.Backward(m.order) {
		if cs, ok := m.byName[name].(*mongo.ChangeStream); ok {
			_ = cs.Close(ctx)
		}
	}
	for _, name := range slices.Backward(m.order) {
		if s, ok := m.byName[name].(*sessionEntity); ok {
			s.sess.EndSession(ctx)
		}
	}
	for _, name := range slices.Backward(m.order) {
		if c, ok := m.byName[name].(*clientEntity); ok {
			_ = c.client.Disconnect(ctx)
		}
	}
}

func (m *entityMap) clients() []*clientEntity {
	var out []*clientEntity
	for _, name := range m.order {
		if c, ok := m.byName[name].(*clientEntity); ok {
			out = append(out, c)
		}
	}
	return out
}

// clientEntity is a client together with what its monitors observed.
type clientEntity struct {
	client *mongo.Client
	events *eventLog
}

type sessionEntity struct {
	sess *mongo.Session
	// lsid is kept from creation because $$sessionLsid may be evaluated
	// after the session has ended.
	lsid bson.Raw
}

// clientSession exposes the driver's session state (transaction state,
// dirty flag, pinned server), which the Session API does not publish. The
// driver's own unified runner reads the same unexported field.
func (s *sessionEntity) clientSession() *session.Client {
	f := reflect.ValueOf(s.sess).Elem().FieldByName("clientSession")
	return *(**session.Client)(unsafe.Pointer(f.UnsafeAddr()))
}

// createEntities creates the entities described by a createEntities list.
func (r *testRun) createEntities(list []bson.Raw) error {
	for _, raw := range list {
		kind, spec, err := single(raw)
		if err != nil {
			return fmt.Errorf("createEntities: %w", err)
		}
		doc, ok := spec.DocumentOK()
		if !ok {
			return fmt.Errorf("createEntities: %s entity is not a document", kind)
		}
		id, _ := lookup(doc, "id").StringValueOK()
		var v any
		switch kind {
		case "client":
			v, err = r.newClient(doc)
		case "database":
			v, err = r.newDatabase(doc)
		case "collection":
			v, err = r.newCollection(doc)
		case "session":
			v, err = r.newSession(doc)
		default:
			err = fmt.Errorf("unsupported entity type %q", kind)
		}
		if err != nil {
			return fmt.Errorf("create %s %q: %w", kind, id, err)
		}
		if err := r.entities.add(id, v); err != nil {
			return err
		}
	}
	return nil
}

func (r *testRun) newClient(doc bson.Raw) (*clientEntity, error) {
	var spec struct {
		ID                            string         `bson:"id"`
		URIOptions                    bson.Raw       `bson:"uriOptions"`
		UseMultipleMongoses           *bool          `bson:"useMultipleMongoses"`
		ObserveEvents                 []string       `bson:"observeEvents"`
		IgnoreCommandMonitoringEvents []string       `bson:"ignoreCommandMonitoringEvents"`
		ObserveSensitiveCommands      bool           `bson:"observeSensitiveCommands"`
		Extra                         map[string]any `bson:",inline"`
	}
	if err := bson.Unmarshal(doc, &spec); err != nil {
		return nil, err
	}
	if len(spec.Extra) > 0 {
		return nil, fmt.Errorf("unsupported client options %v", sortedKeys(spec.Extra))
	}
	uri, socketTimeout, err := clientURI(r.dep.uri, spec.URIOptions, r.lowHeartbeat)
	if err != nil {
		return nil, err
	}
	opts := options.Client().ApplyURI(uri)
	if socketTimeout > 0 {
		opts.SetDialer(socketTimeoutDialer{timeout: socketTimeout})
	}
	if r.dep.facts.topology == "sharded" && spec.UseMultipleMongoses != nil {
		if !*spec.UseMultipleMongoses {
			opts.SetHosts(opts.Hosts[:1])
		} else if len(opts.Hosts) < 2 {
			return nil, fmt.Errorf("useMultipleMongoses needs a URI with several mongoses, have %v", opts.Hosts)
		}
	}
	log, err := newEventLog(spec.ObserveEvents, spec.IgnoreCommandMonitoringEvents, spec.ObserveSensitiveCommands)
	if err != nil {
		return nil, err
	}
	opts.SetMonitor(log.commandMonitor()).SetPoolMonitor(log.poolMonitor())
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, err
	}
	return &clientEntity{client: client, events: log}, nil
}

func (r *testRun) newDatabase(doc bson.Raw) (*mongo.Database, error) {
	var spec struct {
		ID              string         `bson:"id"`
		Client          string         `bson:"client"`
		DatabaseName    string         `bson:"databaseName"`
		DatabaseOptions bson.Raw       `bson:"databaseOptions"`
		Extra           map[string]any `bson:",inline"`
	}
	if err := bson.Unmarshal(doc, &spec); err != nil {
		return nil, err
	}
	if len(spec.Extra) > 0 {
		return nil, fmt.Errorf("unsupported database options %v", sortedKeys(spec.Extra))
	}
	c, err := get[*clientEntity](r.entities, spec.Client)
	if err != nil {
		return nil, err
	}
	opts := options.Database()
	a := argReader{what: "databaseOptions"}
	for _, e := range elements(spec.DatabaseOptions) {
		switch e.Key() {
		case "readConcern":
			opts.SetReadConcern(a.readConcern(e.Value()))
		case "writeConcern":
			opts.SetWriteConcern(a.writeConcern(e.Value()))
		case "readPreference":
			opts.SetReadPreference(a.readPreference(e.Value()))
		default:
			a.unknown(e.Key())
		}
	}
	if a.err != nil {
		return nil, a.err
	}
	return c.client.Database(spec.DatabaseName, opts), nil
}

func (r *testRun) newCollection(doc bson.Raw) (*mongo.Collection, error) {
	var spec struct {
		ID                string         `bson:"id"`
		Database          string         `bson:"database"`
		CollectionName    string         `bson:"collectionName"`
		CollectionOptions bson.Raw       `bson:"collectionOptions"`
		Extra             map[string]any `bson:",inline"`
	}
	if err := bson.Unmarshal(doc, &spec); err != nil {
		return nil, err
	}
	if len(spec.Extra) > 0 {
		return nil, fmt.Errorf("unsupported collection options %v", sortedKeys(spec.Extra))
	}
	db, err := get[*mongo.Database](r.entities, spec.Database)
	if err != nil {
		return nil, err
	}
	opts := options.Collection()
	a := argReader{what: "collectionOptions"}
	for _, e := range elements(spec.CollectionOptions) {
		switch e.Key() {
		case "readConcern":
			opts.SetReadConcern(a.readConcern(e.Value()))
		case "writeConcern":
			opts.SetWriteConcern(a.writeConcern(e.Value()))
		case "readPreference":
			opts.SetReadPreference(a.readPreference(e.Value()))
		default:
			a.unknown(e.Key())
		}
	}
	if a.err != nil {
		return nil, a.err
	}
	return db.Collection(spec.CollectionName, opts), nil
}

func (r *testRun) newSession(doc bson.Raw) (*sessionEntity, error) {
	var spec struct {
		ID             string         `bson:"id"`
		Client         string         `bson:"client"`
		SessionOptions bson.Raw       `bson:"sessionOptions"`
		Extra          map[string]any `bson:",inline"`
	}
	if err := bson.Unmarshal(doc, &spec); err != nil {
		return nil, err
	}
	if len(spec.Extra) > 0 {
		return nil, fmt.Errorf("unsupported session options %v", sortedKeys(spec.Extra))
	}
	c, err := get[*clientEntity](r.entities, spec.Client)
	if err != nil {
		return nil, err
	}
	opts := options.Session()
	a := argReader{what: "sessionOptions"}
	for _, e := range elements(spec.SessionOptions) {
		v := e.Value()
		switch e.Key() {
		case "causalConsistency":
			opts.SetCausalConsistency(a.bool(v))
		case "snapshot":
			opts.SetSnapshot(a.bool(v))
		case "snapshotTime":
			// The value names a BSON entity saved by getSnapshotTime.
			ts, err := r.entities.value(a.str(v))
			a.check(err)
			if t, i, ok := ts.TimestampOK(); ok {
				opts.SetSnapshotTime(bson.Timestamp{T: t, I: i})
			} else if err == nil {
				a.fail("snapshotTime entity %s is not a timestamp", ts)
			}
		case "defaultTransactionOptions":
			opts.SetDefaultTransactionOptions(a.transactionOptions(a.doc(v)))
		default:
			a.unknown(e.Key())
		}
	}
	if a.err != nil {
		return nil, a.err
	}
	s, err := c.client.StartSession(opts)
	if err != nil {
		return nil, err
	}
	return &sessionEntity{sess: s, lsid: clone(s.ID())}, nil
}
