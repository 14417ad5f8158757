package emulator

import (
	"hash/fnv"
	"net"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Commands the MongoDB shell uses every day beyond CRUD: rs.status() and
// rs.conf(), explain(), db.currentOp() and db.killOp(). They answer as a
// one-node replica set whose only member is this primary.

// shellCommands are added to the command table.
var shellCommands = map[string]command{
	"replSetGetStatus": {run: (*exec).replSetGetStatus},
	"replSetGetConfig": {run: (*exec).replSetGetConfig},
	"explain":          {run: (*exec).explain},
	"currentOp":        {run: (*exec).currentOp},
	"killOp":           {run: (*exec).killOp},
}

func (x *exec) adminOnly() error {
	if x.db != "admin" {
		return mongoerr.New(mongoerr.Unauthorized, "%s may only be run against the admin database.", x.name)
	}
	return nil
}

// replSetGetStatus is rs.status() (MongoDB manual, "replSetGetStatus").
func (x *exec) replSetGetStatus() (bson.D, error) {
	if err := x.adminOnly(); err != nil {
		return nil, err
	}
	now := time.Now()
	opTime := bson.D{{Key: "ts", Value: timestamp(x.s.store.last)}, {Key: "t", Value: int64(1)}}
	wall := bson.NewDateTimeFromTime(time.Unix(int64(x.s.store.last>>32), 0))
	started := bson.NewDateTimeFromTime(x.s.started)
	return okReply(
		bson.E{Key: "set", Value: replSetName},
		bson.E{Key: "date", Value: bson.NewDateTimeFromTime(now)},
		bson.E{Key: "myState", Value: int32(1)},
		bson.E{Key: "term", Value: int64(1)},
		bson.E{Key: "syncSourceHost", Value: ""},
		bson.E{Key: "syncSourceId", Value: int32(-1)},
		bson.E{Key: "heartbeatIntervalMillis", Value: int64(2000)},
		bson.E{Key: "majorityVoteCount", Value: int32(1)},
		bson.E{Key: "writeMajorityCount", Value: int32(1)},
		bson.E{Key: "votingMembersCount", Value: int32(1)},
		bson.E{Key: "writableVotingMembersCount", Value: int32(1)},
		bson.E{Key: "optimes", Value: bson.D{
			{Key: "lastCommittedOpTime", Value: opTime},
			{Key: "lastCommittedWallTime", Value: wall},
			{Key: "readConcernMajorityOpTime", Value: opTime},
			{Key: "appliedOpTime", Value: opTime},
			{Key: "durableOpTime", Value: opTime},
			{Key: "lastAppliedWallTime", Value: wall},
			{Key: "lastDurableWallTime", Value: wall},
		}},
		bson.E{Key: "members", Value: bson.A{bson.D{
			{Key: "_id", Value: int32(0)},
			{Key: "name", Value: x.s.Addr()},
			{Key: "health", Value: 1.0},
			{Key: "state", Value: int32(1)},
			{Key: "stateStr", Value: "PRIMARY"},
			{Key: "uptime", Value: int32(time.Since(x.s.started).Seconds())},
			{Key: "optime", Value: opTime},
			{Key: "optimeDate", Value: wall},
			{Key: "lastAppliedWallTime", Value: wall},
			{Key: "lastDurableWallTime", Value: wall},
			{Key: "syncSourceHost", Value: ""},
			{Key: "syncSourceId", Value: int32(-1)},
			{Key: "infoMessage", Value: ""},
			{Key: "electionTime", Value: bson.Timestamp{T: uint32(x.s.started.Unix()), I: 1}},
			{Key: "electionDate", Value: started},
			{Key: "configVersion", Value: int32(1)},
			{Key: "configTerm", Value: int32(1)},
			{Key: "self", Value: true},
			{Key: "lastHeartbeatMessage", Value: ""},
		}}},
	), nil
}

// replSetGetConfig is rs.conf() (MongoDB manual, "replSetGetConfig").
func (x *exec) replSetGetConfig() (bson.D, error) {
	if err := x.adminOnly(); err != nil {
		return nil, err
	}
	return okReply(bson.E{Key: "config", Value: bson.D{
		{Key: "_id", Value: replSetName},
		{Key: "version", Value: int32(1)},
		{Key: "term", Value: int32(1)},
		{Key: "members", Value: bson.A{bson.D{
			{Key: "_id", Value: int32(0)},
			{Key: "host", Value: x.s.Addr()},
			{Key: "arbiterOnly", Value: false},
			{Key: "buildIndexes", Value: true},
			{Key: "hidden", Value: false},
			{Key: "priority", Value: 1.0},
			{Key: "tags", Value: bson.D{}},
			{Key: "secondaryDelaySecs", Value: int64(0)},
			{Key: "votes", Value: int32(1)},
		}}},
		{Key: "protocolVersion", Value: int64(1)},
		{Key: "writeConcernMajorityJournalDefault", Value: true},
		{Key: "settings", Value: bson.D{
			{Key: "chainingAllowed", Value: true},
			{Key: "heartbeatIntervalMillis", Value: int32(2000)},
			{Key: "heartbeatTimeoutSecs", Value: int32(10)},
			{Key: "electionTimeoutMillis", Value: int32(10000)},
		}},
	}}), nil
}

// explainQuery is what explain plans: one collection read with a filter
// and the find-like modifiers.
type explainQuery struct {
	coll        string
	filter      bson.D
	sort        bson.D
	projection  bson.D
	skip, limit int64
	spec        bson.D // the statement, for its collation
}

// explain answers explain for find, aggregate, count, distinct, update,
// delete and findAndModify with a queryPlanner section shaped like
// MongoDB 7.0's (MongoDB manual, "Explain Results") and, for the
// executionStats verbosities, executionStats counted by running the read.
// Writes are not performed, as in MongoDB.
func (x *exec) explain() (bson.D, error) {
	inner, ok := x.cmd[0].Value.(bson.D)
	if !ok || len(inner) == 0 {
		return nil, wrongType(x.name, "explain", x.cmd[0].Value, "object")
	}
	verbosity := "allPlansExecution"
	if v, ok := value.Lookup(x.cmd, "verbosity"); ok {
		s, _ := v.(string)
		switch s {
		case "queryPlanner", "executionStats", "allPlansExecution":
			verbosity = s
		default:
			return nil, mongoerr.New(mongoerr.BadValue, "Enumeration value '%v' for field 'explain.verbosity' is not a valid value.", v)
		}
	}
	name, _ := inner[0].Value.(string)
	q := explainQuery{coll: name, spec: inner}
	a := &argReader{d: inner, name: inner[0].Key}
	switch inner[0].Key {
	case "find":
		q.filter, q.sort, q.projection = a.doc("filter"), a.doc("sort"), a.doc("projection")
		q.skip, q.limit = a.int("skip"), a.int("limit")
	case "count", "distinct":
		q.filter = a.doc("query")
	case "findAndModify", "findandmodify":
		q.filter, q.sort = a.doc("query"), a.doc("sort")
		q.limit = 1
	case "update", "delete":
		field, key := "updates", "q"
		if inner[0].Key == "delete" {
			field = "deletes"
		}
		if arr, ok := value.Lookup(inner, field); ok {
			if list, _ := arr.(bson.A); len(list) > 0 {
				stmt, _ := list[0].(bson.D)
				q.spec = stmt
				sub := &argReader{d: stmt, name: inner[0].Key}
				q.filter = sub.doc(key)
				a.err = sub.err
			}
		}
	case "aggregate":
		pipeV, _ := value.Lookup(inner, "pipeline")
		pipeline, _ := pipeV.(bson.A)
		return x.explainAggregate(name, pipeline, inner, verbosity)
	default:
		return nil, mongoerr.New(mongoerr.CommandNotFound, "Explain failed due to unknown command: %s", inner[0].Key)
	}
	if a.err != nil {
		return nil, a.err
	}
	planner, stats, err := x.plan(q, verbosity)
	if err != nil {
		return nil, err
	}
	out := bson.D{{Key: "explainVersion", Value: "1"}, {Key: "queryPlanner", Value: planner}}
	if stats != nil {
		out = append(out, bson.E{Key: "executionStats", Value: stats})
	}
	return okReply(append(out, x.explainTrailer(inner)...)...), nil
}

// explainAggregate explains a pipeline: a leading $match (with $sort,
// $skip, $limit and $project when nothing else follows) is pushed into
// the query layer as MongoDB does; otherwise the result lists stages
// with the query layer's part as $cursor.
func (x *exec) explainAggregate(name string, pipeline bson.A, inner bson.D, verbosity string) (bson.D, error) {
	q := explainQuery{coll: name, spec: inner}
	rest := pipeline
	if st, spec, ok := lookupStage(rest); ok && st == "$match" {
		q.filter, _ = spec.(bson.D)
		rest = rest[1:]
	}
	pushable := true
	for _, s := range rest {
		d, _ := s.(bson.D)
		if len(d) != 1 {
			pushable = false
			break
		}
		switch d[0].Key {
		case "$sort":
			q.sort, _ = d[0].Value.(bson.D)
		case "$skip":
			q.skip, _ = value.ToInt64(d[0].Value)
		case "$limit":
			q.limit, _ = value.ToInt64(d[0].Value)
		case "$project":
			q.projection, _ = d[0].Value.(bson.D)
		default:
			pushable = false
		}
	}
	if !pushable {
		q.sort, q.skip, q.limit, q.projection = nil, 0, 0, nil
	}
	planner, stats, err := x.plan(q, verbosity)
	if err != nil {
		return nil, err
	}
	if pushable {
		out := bson.D{{Key: "explainVersion", Value: "1"}, {Key: "queryPlanner", Value: planner}}
		if stats != nil {
			out = append(out, bson.E{Key: "executionStats", Value: stats})
		}
		return okReply(append(out, x.explainTrailer(inner)...)...), nil
	}
	cursor := bson.D{{Key: "queryPlanner", Value: planner}}
	if stats != nil {
		cursor = append(cursor, bson.E{Key: "executionStats", Value: stats})
	}
	stages := bson.A{bson.D{{Key: "$cursor", Value: cursor}}}
	for _, s := range rest {
		stages = append(stages, s)
	}
	out := bson.D{{Key: "explainVersion", Value: "1"}, {Key: "stages", Value: stages}}
	return okReply(append(out, x.explainTrailer(inner)...)...), nil
}

func (x *exec) explainTrailer(inner bson.D) bson.D {
	host, port, _ := net.SplitHostPort(x.s.Addr())
	p, _ := strconv.Atoi(port)
	return bson.D{
		{Key: "command", Value: append(withoutField(inner, "$db"), bson.E{Key: "$db", Value: x.db})},
		{Key: "serverInfo", Value: bson.D{
			{Key: "host", Value: host}, {Key: "port", Value: int32(p)},
			{Key: "version", Value: Version}, {Key: "gitVersion", Value: "mongogate-emulator"},
		}},
		{Key: "serverParameters", Value: bson.D{
			{Key: "internalQueryFacetBufferSizeBytes", Value: int32(104857600)},
			{Key: "internalQueryMaxBlockingSortMemoryUsageBytes", Value: int32(104857600)},
			{Key: "internalDocumentSourceGroupMaxMemoryBytes", Value: int32(104857600)},
		}},
	}
}

// plan builds the queryPlanner section and, unless verbosity is
// queryPlanner, the executionStats section.
func (x *exec) plan(q explainQuery, verbosity string) (bson.D, bson.D, error) {
	c := x.coll(q.coll)
	coll, err := opCollation(c, q.spec)
	if err != nil {
		return nil, nil, err
	}
	f, err := compileFilterColl(q.filter, nil, coll)
	if err != nil {
		return nil, nil, err
	}
	filter := q.filter
	if filter == nil {
		filter = bson.D{}
	}
	var stage bson.D
	keysExamined := false
	switch ix := chooseIndex(c, filter); {
	case len(filter) == 1 && filter[0].Key == "_id" && ix != nil:
		stage = bson.D{{Key: "stage", Value: "IDHACK"}}
		keysExamined = true
	case ix != nil:
		keysExamined = true
		stage = bson.D{{Key: "stage", Value: "FETCH"}, {Key: "inputStage", Value: ixscan(ix, filter)}}
		if len(filter) > 1 {
			stage = bson.D{{Key: "stage", Value: "FETCH"}, {Key: "filter", Value: withoutField(filter, ix.key[0].Key)}, {Key: "inputStage", Value: ixscan(ix, filter)}}
		}
	default:
		stage = bson.D{{Key: "stage", Value: "COLLSCAN"}}
		if len(filter) > 0 {
			stage = append(stage, bson.E{Key: "filter", Value: filter})
		}
		stage = append(stage, bson.E{Key: "direction", Value: "forward"})
	}
	if len(q.sort) > 0 {
		s := bson.D{{Key: "stage", Value: "SORT"}, {Key: "sortPattern", Value: q.sort}, {Key: "memLimit", Value: int32(104857600)}}
		if q.limit > 0 {
			s = append(s, bson.E{Key: "limitAmount", Value: num(q.limit + q.skip)})
		}
		stage = append(s, bson.E{Key: "type", Value: "simple"}, bson.E{Key: "inputStage", Value: stage})
	}
	if q.skip > 0 {
		stage = bson.D{{Key: "stage", Value: "SKIP"}, {Key: "skipAmount", Value: num(q.skip)}, {Key: "inputStage", Value: stage}}
	}
	if q.limit > 0 && len(q.sort) == 0 {
		stage = bson.D{{Key: "stage", Value: "LIMIT"}, {Key: "limitAmount", Value: num(q.limit)}, {Key: "inputStage", Value: stage}}
	}
	if len(q.projection) > 0 {
		stage = bson.D{{Key: "stage", Value: "PROJECTION_SIMPLE"}, {Key: "transformBy", Value: q.projection}, {Key: "inputStage", Value: stage}}
	}
	h := fnv.New32a()
	b, _ := bson.Marshal(bson.D{{Key: "f", Value: filter}, {Key: "s", Value: q.sort}, {Key: "p", Value: q.projection}})
	_, _ = h.Write(b)
	hash := strings.ToUpper(strconv.FormatUint(uint64(h.Sum32()), 16))
	planner := bson.D{
		{Key: "namespace", Value: x.ns(q.coll)},
		{Key: "indexFilterSet", Value: false},
		{Key: "parsedQuery", Value: filter},
		{Key: "queryHash", Value: hash},
		{Key: "planCacheKey", Value: hash},
		{Key: "maxIndexedOrSolutionsReached", Value: false},
		{Key: "maxIndexedAndSolutionsReached", Value: false},
		{Key: "maxScansToExplodeReached", Value: false},
		{Key: "winningPlan", Value: stage},
		{Key: "rejectedPlans", Value: bson.A{}},
	}
	if coll != nil {
		planner = append(planner, bson.E{Key: "collation", Value: coll.Doc()})
	}
	if verbosity == "queryPlanner" {
		return planner, nil, nil
	}
	start := time.Now()
	total := 0
	x.view.scan(c, func(*record, bson.D) bool { total++; return true })
	hits, err := x.match(c, f, 0)
	if err != nil {
		return nil, nil, err
	}
	n := int64(len(hits)) - q.skip
	if q.limit > 0 && n > q.limit {
		n = q.limit
	}
	n = max(n, 0)
	docs, keys := int64(total), int64(0)
	if keysExamined {
		docs, keys = int64(len(hits)), int64(len(hits))
	}
	exec := append(bson.D{{Key: "nReturned", Value: num(n)}, {Key: "executionTimeMillisEstimate", Value: int32(0)}}, stage...)
	stats := bson.D{
		{Key: "executionSuccess", Value: true},
		{Key: "nReturned", Value: num(n)},
		{Key: "executionTimeMillis", Value: num(time.Since(start).Milliseconds())},
		{Key: "totalKeysExamined", Value: num(keys)},
		{Key: "totalDocsExamined", Value: num(docs)},
		{Key: "executionStages", Value: exec},
	}
	if verbosity == "allPlansExecution" {
		stats = append(stats, bson.E{Key: "allPlansExecution", Value: bson.A{}})
	}
	return planner, stats, nil
}

// chooseIndex picks the index whose first key field the filter tests at
// its top level, preferring _id; nil for a collection scan.
func chooseIndex(c *collection, filter bson.D) *index {
	if c == nil || c.ext.view != nil {
		return nil
	}
	for _, ix := range c.indexes {
		if _, ok := value.Lookup(filter, ix.key[0].Key); ok {
			return ix
		}
	}
	return nil
}

func ixscan(ix *index, filter bson.D) bson.D {
	bounds := bson.D{}
	for i, k := range ix.key {
		b := "[MinKey, MaxKey]"
		if v, ok := value.Lookup(filter, k.Key); ok && i == 0 {
			if d, isDoc := v.(bson.D); !isDoc || len(d) == 0 || !strings.HasPrefix(d[0].Key, "$") {
				b = "[" + shellString(v) + ", " + shellString(v) + "]"
			}
		}
		bounds = append(bounds, bson.E{Key: k.Key, Value: bson.A{b}})
	}
	return bson.D{
		{Key: "stage", Value: "IXSCAN"},
		{Key: "keyPattern", Value: ix.key},
		{Key: "indexName", Value: ix.name},
		{Key: "isMultiKey", Value: false},
		{Key: "multiKeyPaths", Value: bson.D{}},
		{Key: "isUnique", Value: ix.unique},
		{Key: "isSparse", Value: ix.sparse},
		{Key: "isPartial", Value: false},
		{Key: "indexVersion", Value: int32(2)},
		{Key: "direction", Value: "forward"},
		{Key: "indexBounds", Value: bounds},
	}
}
