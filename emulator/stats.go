package emulator

import (
	"os"
	"runtime"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
)

// Statistics the MongoDB shell shows every day: collStats and $collStats
// (db.coll.stats(), db.coll.countDocuments on old shells), dbStats
// (db.stats()) and serverStatus (db.serverStatus()). Sizes are the BSON
// sizes of the documents visible to the command; the emulator has no
// storage engine, so storageSize is the data size rounded up to 4 KiB
// pages and each index counts one page per 100 documents it holds.

const pageSize = 4096

// collSizes are one collection's figures, unscaled.
type collSizes struct {
	count, size, storage int64
	indexSizes           bson.D
	indexTotal           int64
}

func (x *exec) collSizes(c *collection) collSizes {
	var s collSizes
	docs, _ := x.sourceDocs(c)
	for _, d := range docs {
		b, err := bson.Marshal(d)
		if err == nil {
			s.size += int64(len(b))
		}
		s.count++
	}
	s.storage = roundPage(s.size)
	if c != nil && c.ext.view == nil {
		for _, ix := range c.indexes {
			n := roundPage((s.count/100 + 1) * pageSize)
			s.indexSizes = append(s.indexSizes, bson.E{Key: ix.name, Value: n})
			s.indexTotal += n
		}
	}
	if s.indexSizes == nil {
		s.indexSizes = bson.D{}
	}
	return s
}

// num is a count as MongoDB's BSONObjBuilder::appendNumber writes it: an
// int when it fits, a long otherwise.
func num(n int64) any {
	if n >= -1<<31 && n < 1<<31 {
		return int32(n)
	}
	return n
}

func roundPage(n int64) int64 {
	if n == 0 {
		return pageSize
	}
	return (n + pageSize - 1) / pageSize * pageSize
}

// scaleArg reads a scale option: a positive number, 1 by default.
func scaleArg(d bson.D, cmd string) (int64, error) {
	n, ok, err := intField(d, cmd, "scale")
	if err != nil {
		return 0, err
	}
	if !ok {
		return 1, nil
	}
	if n < 1 {
		return 0, mongoerr.New(mongoerr.BadValue, "Scale factor must be greater than zero")
	}
	return n, nil
}

// storageStats is $collStats' storageStats document and the body of the
// collStats command (MongoDB manual, "$collStats": "storageStats Document").
func (x *exec) storageStats(c *collection, scale int64) bson.D {
	s := x.collSizes(c)
	avg := int64(0)
	if s.count > 0 {
		avg = s.size / s.count
	}
	scaled := make(bson.D, len(s.indexSizes))
	for i, e := range s.indexSizes {
		scaled[i] = bson.E{Key: e.Key, Value: num(e.Value.(int64) / scale)}
	}
	return bson.D{
		{Key: "size", Value: num(s.size / scale)},
		{Key: "count", Value: num(s.count)},
		{Key: "avgObjSize", Value: num(avg)},
		{Key: "numOrphanDocs", Value: int32(0)},
		{Key: "storageSize", Value: num(s.storage / scale)},
		{Key: "freeStorageSize", Value: int32(0)},
		{Key: "capped", Value: false},
		{Key: "nindexes", Value: int32(len(s.indexSizes))},
		{Key: "indexBuilds", Value: bson.A{}},
		{Key: "totalIndexSize", Value: num(s.indexTotal / scale)},
		{Key: "totalSize", Value: num((s.storage + s.indexTotal) / scale)},
		{Key: "indexSizes", Value: scaled},
		{Key: "scaleFactor", Value: int32(scale)},
	}
}

// collStats is the collStats command, deprecated since MongoDB 6.2 in
// favour of $collStats but still answered by 7.0.
func (x *exec) collStats() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	scale, err := scaleArg(x.cmd, x.name)
	if err != nil {
		return nil, err
	}
	c := x.coll(name)
	if c == nil {
		return nil, mongoerr.New(mongoerr.NamespaceNotFound, "Collection [%s] not found.", x.ns(name))
	}
	out := append(bson.D{{Key: "ns", Value: x.ns(name)}}, x.storageStats(c, scale)...)
	return okReply(out...), nil
}

// collStatsStage evaluates a leading $collStats stage (MongoDB manual,
// "$collStats"): one document with the options asked for.
func (x *exec) collStatsStage(name string, spec any) ([]bson.D, error) {
	d, ok := spec.(bson.D)
	if !ok {
		return nil, mongoerr.New(5447000, "$collStats must take a nested object but found: %v", spec)
	}
	c := x.coll(name)
	if c == nil {
		return nil, mongoerr.New(mongoerr.NamespaceNotFound, "Unable to retrieve storageStats in $collStats stage :: caused by :: Collection [%s] not found.", x.ns(name))
	}
	out := bson.D{
		{Key: "ns", Value: x.ns(name)},
		{Key: "host", Value: x.s.Addr()},
		{Key: "localTime", Value: bson.NewDateTimeFromTime(time.Now())},
	}
	for _, e := range d {
		opt, isDoc := e.Value.(bson.D)
		if !isDoc {
			return nil, wrongType("$collStats", e.Key, e.Value, "object")
		}
		switch e.Key {
		case "storageStats":
			scale, err := scaleArg(opt, "$collStats.storageStats")
			if err != nil {
				return nil, err
			}
			out = append(out, bson.E{Key: "storageStats", Value: x.storageStats(c, scale)})
		case "count":
			out = append(out, bson.E{Key: "count", Value: num(x.collSizes(c).count)})
		case "latencyStats":
			zero := bson.D{{Key: "latency", Value: int64(0)}, {Key: "ops", Value: int64(0)}}
			out = append(out, bson.E{Key: "latencyStats", Value: bson.D{
				{Key: "reads", Value: zero}, {Key: "writes", Value: zero},
				{Key: "commands", Value: zero}, {Key: "transactions", Value: zero},
			}})
		case "queryExecStats":
			out = append(out, bson.E{Key: "queryExecStats", Value: bson.D{{Key: "collectionScans", Value: bson.D{
				{Key: "total", Value: int64(0)}, {Key: "nonTailable", Value: int64(0)},
			}}}})
		default:
			return nil, mongoerr.New(40415, "BSON field '$collStats.%s' is an unknown field.", e.Key)
		}
	}
	return []bson.D{out}, nil
}

// dbStats is db.stats() (MongoDB manual, "dbStats").
func (x *exec) dbStats() (bson.D, error) {
	scale, err := scaleArg(x.cmd, x.name)
	if err != nil {
		return nil, err
	}
	var colls, views, indexes int32
	var objects, data, storage, indexSize int64
	if d := x.s.store.dbs[x.db]; d != nil {
		for _, name := range d.collectionNames() {
			c := x.coll(name)
			if c == nil {
				continue
			}
			if c.ext.view != nil {
				views++
				continue
			}
			colls++
			s := x.collSizes(c)
			objects += s.count
			data += s.size
			storage += s.storage
			indexSize += s.indexTotal
			indexes += int32(len(c.indexes))
		}
	}
	avg := 0.0
	if objects > 0 {
		avg = float64(data) / float64(objects)
	}
	return okReply(
		bson.E{Key: "db", Value: x.db},
		bson.E{Key: "collections", Value: colls},
		bson.E{Key: "views", Value: views},
		bson.E{Key: "objects", Value: num(objects)},
		bson.E{Key: "avgObjSize", Value: avg},
		bson.E{Key: "dataSize", Value: float64(data / scale)},
		bson.E{Key: "storageSize", Value: float64(storage / scale)},
		bson.E{Key: "indexes", Value: indexes},
		bson.E{Key: "indexSize", Value: float64(indexSize / scale)},
		bson.E{Key: "totalSize", Value: float64((storage + indexSize) / scale)},
		bson.E{Key: "scaleFactor", Value: float64(scale)},
		bson.E{Key: "fsUsedSize", Value: float64(0)},
		bson.E{Key: "fsTotalSize", Value: float64(0)},
	), nil
}

// serverStatus answers the sections the shell and monitoring tools read
// (MongoDB manual, "serverStatus").
func (x *exec) serverStatus() (bson.D, error) {
	s := x.s
	up := time.Since(s.started)
	s.mu.Lock()
	current := int32(len(s.conns))
	s.mu.Unlock()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	addr := s.Addr()
	return okReply(
		bson.E{Key: "host", Value: addr},
		bson.E{Key: "version", Value: Version},
		bson.E{Key: "process", Value: "mongod"},
		bson.E{Key: "pid", Value: int64(os.Getpid())},
		bson.E{Key: "uptime", Value: up.Seconds()},
		bson.E{Key: "uptimeMillis", Value: up.Milliseconds()},
		bson.E{Key: "uptimeEstimate", Value: int64(up.Seconds())},
		bson.E{Key: "localTime", Value: bson.NewDateTimeFromTime(time.Now())},
		bson.E{Key: "asserts", Value: bson.D{
			{Key: "regular", Value: int32(0)}, {Key: "warning", Value: int32(0)}, {Key: "msg", Value: int32(0)},
			{Key: "user", Value: int32(0)}, {Key: "rollovers", Value: int32(0)},
		}},
		bson.E{Key: "connections", Value: bson.D{
			{Key: "current", Value: current},
			{Key: "available", Value: int32(838860) - current},
			{Key: "totalCreated", Value: s.connID.Load()},
			{Key: "active", Value: int32(s.ops.count())},
		}},
		bson.E{Key: "mem", Value: bson.D{
			{Key: "bits", Value: int32(64)},
			{Key: "resident", Value: int32(mem.Sys >> 20)},
			{Key: "virtual", Value: int32(mem.Sys >> 20)},
			{Key: "supported", Value: true},
		}},
		bson.E{Key: "network", Value: bson.D{{Key: "numRequests", Value: s.ops.requests()}}},
		bson.E{Key: "opcounters", Value: s.ops.counters()},
		bson.E{Key: "repl", Value: bson.D{
			{Key: "topologyVersion", Value: bson.D{{Key: "processId", Value: bson.NewObjectID()}, {Key: "counter", Value: int64(0)}}},
			{Key: "hosts", Value: bson.A{addr}},
			{Key: "setName", Value: replSetName},
			{Key: "setVersion", Value: int32(1)},
			{Key: "isWritablePrimary", Value: true},
			{Key: "secondary", Value: false},
			{Key: "primary", Value: addr},
			{Key: "me", Value: addr},
		}},
		// MongoDB's count of open multi-document transactions: how a test
		// sees the lifetime reaper abort one.
		bson.E{Key: "transactions", Value: bson.D{{Key: "currentOpen", Value: int64(len(s.store.open))}}},
		bson.E{Key: "storageEngine", Value: bson.D{
			{Key: "name", Value: "ephemeralForTest"},
			{Key: "supportsCommittedReads", Value: true},
			{Key: "persistent", Value: false},
		}},
	), nil
}

// lookupStage returns the name and argument of a pipeline's first stage.
func lookupStage(pipeline bson.A) (string, any, bool) {
	if len(pipeline) == 0 {
		return "", nil, false
	}
	d, ok := pipeline[0].(bson.D)
	if !ok || len(d) != 1 {
		return "", nil, false
	}
	return d[0].Key, d[0].Value, true
}

// shellSource evaluates a leading $collStats or $currentOp stage, which
// the pipeline package does not know, and returns its documents (nil
// when the pipeline has neither) and the rest of the pipeline.
func (x *exec) shellSource(name string, pipeline bson.A) ([]bson.D, bson.A, error) {
	stage, spec, ok := lookupStage(pipeline)
	if !ok {
		return nil, pipeline, nil
	}
	switch stage {
	case "$collStats":
		if name == "" {
			return nil, nil, mongoerr.New(mongoerr.InvalidNamespace, "$collStats must be run against a collection namespace")
		}
		docs, err := x.collStatsStage(name, spec)
		return docs, pipeline[1:], err
	case "$currentOp":
		if name != "" || x.db != "admin" {
			return nil, nil, mongoerr.New(mongoerr.InvalidNamespace, "$currentOp must be run against the 'admin' database with {aggregate: 1}")
		}
		opts, _ := spec.(bson.D)
		docs := x.s.ops.current(boolField(opts, "idleConnections"))
		if docs == nil {
			docs = []bson.D{}
		}
		return docs, pipeline[1:], nil
	}
	for _, st := range pipeline[1:] {
		if d, ok := st.(bson.D); ok && len(d) == 1 && (d[0].Key == "$collStats" || d[0].Key == "$currentOp") {
			return nil, nil, mongoerr.New(40602, "%s is only valid as the first stage in a pipeline", d[0].Key)
		}
	}
	return nil, pipeline, nil
}
