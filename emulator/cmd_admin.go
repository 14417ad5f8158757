package emulator

import (
	"runtime"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Version is the MongoDB version the emulator reports; maxWireVersion 21 is
// MongoDB 7.0's.
const (
	Version        = "7.0.14"
	maxWireVersion = 21
	replSetName    = "rs0"
)

func okReply(fields ...bson.E) bson.D {
	return append(bson.D(fields), bson.E{Key: "ok", Value: 1.0})
}

// hello answers the handshake and monitoring as the primary of a one-node
// replica set, or as a standalone mongod (Config.Standalone), which has
// none of the replica set fields. It omits topologyVersion: with it the
// driver switches to streaming monitoring, which needs awaitable hellos
// (notes §A).
func (x *exec) hello() (bson.D, error) {
	if client, ok := value.Lookup(x.cmd, "client"); ok {
		if app, ok := value.Get(value.AsDoc(client), "application.name"); ok {
			x.conn.appName, _ = app.(string)
		}
	}
	addr := x.s.Addr()
	primaryField := "isWritablePrimary"
	if x.name != "hello" {
		primaryField = "ismaster"
	}
	fields := []bson.E{{Key: "helloOk", Value: true}, {Key: primaryField, Value: true}}
	if !x.s.cfg.Standalone {
		fields = append(fields,
			bson.E{Key: "hosts", Value: bson.A{addr}},
			bson.E{Key: "setName", Value: replSetName},
			bson.E{Key: "setVersion", Value: int32(1)},
			bson.E{Key: "secondary", Value: false},
			bson.E{Key: "primary", Value: addr},
			bson.E{Key: "me", Value: addr},
		)
	}
	return okReply(append(fields,
		bson.E{Key: "maxBsonObjectSize", Value: int32(16 * 1024 * 1024)},
		bson.E{Key: "maxMessageSizeBytes", Value: int32(maxMessageSize)},
		bson.E{Key: "maxWriteBatchSize", Value: int32(100000)},
		bson.E{Key: "localTime", Value: bson.NewDateTimeFromTime(time.Now())},
		bson.E{Key: "logicalSessionTimeoutMinutes", Value: int32(30)},
		bson.E{Key: "connectionId", Value: x.conn.id},
		bson.E{Key: "minWireVersion", Value: int32(0)},
		bson.E{Key: "maxWireVersion", Value: int32(maxWireVersion)},
		bson.E{Key: "readOnly", Value: false},
	)...), nil
}

func (x *exec) ping() (bson.D, error) { return okReply(), nil }

func (x *exec) buildInfo() (bson.D, error) {
	return okReply(
		bson.E{Key: "version", Value: Version},
		bson.E{Key: "gitVersion", Value: "mongogate-emulator"},
		bson.E{Key: "versionArray", Value: bson.A{int32(7), int32(0), int32(14), int32(0)}},
		bson.E{Key: "bits", Value: int32(64)},
		bson.E{Key: "debug", Value: false},
		bson.E{Key: "maxBsonObjectSize", Value: int32(16 * 1024 * 1024)},
		bson.E{Key: "storageEngines", Value: bson.A{"ephemeralForTest"}},
		bson.E{Key: "modules", Value: bson.A{}},
	), nil
}

// getParameter answers the parameters test runners ask about.
func (x *exec) getParameter() (bson.D, error) {
	params := bson.D{
		{Key: "featureCompatibilityVersion", Value: bson.D{{Key: "version", Value: "7.0"}}},
		{Key: "transactionLifetimeLimitSeconds", Value: int32(x.s.cfg.TransactionLifetimeLimit / time.Second)},
		{Key: "requireApiVersion", Value: false},
		{Key: "enableTestCommands", Value: true},
		{Key: "authenticationMechanisms", Value: bson.A{}},
	}
	var out bson.D
	all := false
	if v, ok := value.Lookup(x.cmd, "getParameter"); ok {
		if s, ok := v.(string); ok && s == "*" {
			all = true
		}
	}
	for _, p := range params {
		if _, asked := value.Lookup(x.cmd, p.Key); asked || all {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, mongoerr.New(mongoerr.InvalidOptions, "no option found to get")
	}
	return okReply(out...), nil
}

func (x *exec) hostInfo() (bson.D, error) {
	return okReply(bson.E{Key: "system", Value: bson.D{
		{Key: "numCores", Value: int32(runtime.NumCPU())},
		{Key: "cpuArch", Value: runtime.GOARCH},
	}}), nil
}

func (x *exec) whatsMyURI() (bson.D, error) {
	return okReply(bson.E{Key: "you", Value: x.conn.net.RemoteAddr().String()}), nil
}

func (x *exec) connectionStatus() (bson.D, error) {
	return okReply(bson.E{Key: "authInfo", Value: bson.D{
		{Key: "authenticatedUsers", Value: bson.A{}},
		{Key: "authenticatedUserRoles", Value: bson.A{}},
	}}), nil
}

func (x *exec) getCmdLineOpts() (bson.D, error) {
	return okReply(bson.E{Key: "argv", Value: bson.A{"mongod"}}, bson.E{Key: "parsed", Value: bson.D{}}), nil
}

func (x *exec) listCommands() (bson.D, error) {
	var cmds bson.D
	for _, name := range sortedKeys(commandNames()) {
		cmds = append(cmds, bson.E{Key: name, Value: bson.D{}})
	}
	return okReply(bson.E{Key: "commands", Value: cmds}), nil
}

func commandNames() map[string]any {
	m := make(map[string]any, len(commands))
	for k := range commands {
		m[k] = nil
	}
	return m
}

func (x *exec) startSession() (bson.D, error) {
	id := bson.Binary{Subtype: bson.TypeBinaryUUID, Data: newUUID()}
	return okReply(
		bson.E{Key: "id", Value: bson.D{{Key: "id", Value: id}}},
		bson.E{Key: "timeoutMinutes", Value: int32(30)},
	), nil
}

// commitTransaction commits the session's open transaction. Committing an
// already committed transaction again succeeds: the first reply was lost.
func (x *exec) commitTransaction() (bson.D, error) {
	if x.db != "admin" {
		return nil, mongoerr.New(mongoerr.Unauthorized, "commitTransaction may only be run against the admin database.")
	}
	if x.txn != nil {
		x.view.writeTS = x.s.store.commit(x.sess)
	}
	return okReply(), nil
}

func (x *exec) abortTransaction() (bson.D, error) {
	if x.db != "admin" {
		return nil, mongoerr.New(mongoerr.Unauthorized, "abortTransaction may only be run against the admin database.")
	}
	x.s.store.abortOpen(x.sess)
	return okReply(), nil
}
