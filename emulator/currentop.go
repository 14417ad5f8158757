package emulator

import (
	"context"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// currentOp, $currentOp and killOp over the emulator's own operations
// (MongoDB manual, "currentOp", "$currentOp (aggregation)", "killOp"):
// every command in progress has an opid; killOp interrupts it with
// Interrupted (11601) wherever it waits, as killing its session does.

// opInfo is what currentOp reports about one operation.
type opInfo struct {
	opid    int32
	conn    *conn
	db      string
	cmd     bson.D
	started time.Time
}

// opStats count requests for serverStatus.
type opStats struct {
	nextID   int32
	requests int64
	counts   map[string]int64 // opcounters section, by counter name
}

// opcounter maps a command to its serverStatus opcounters field.
func opcounter(name string) string {
	switch name {
	case "insert":
		return "insert"
	case "find":
		return "query"
	case "update":
		return "update"
	case "delete":
		return "delete"
	case "getMore":
		return "getmore"
	}
	return "command"
}

// start registers a command in progress; kill cancels it.
func (t *opTable) start(lsid string, kill context.CancelCauseFunc, c *conn, db string, cmd bson.D) *op {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stats.nextID++
	t.stats.requests++
	if t.stats.counts == nil {
		t.stats.counts = map[string]int64{}
	}
	if len(cmd) > 0 {
		t.stats.counts[opcounter(cmd[0].Key)]++
	}
	o := &op{lsid: lsid, cancel: kill, info: opInfo{opid: t.stats.nextID, conn: c, db: db, cmd: cmd, started: time.Now()}}
	t.m[o] = struct{}{}
	return o
}

func (t *opTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

func (t *opTable) requests() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats.requests
}

func (t *opTable) counters() bson.D {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out bson.D
	for _, k := range []string{"insert", "query", "update", "delete", "getmore", "command"} {
		out = append(out, bson.E{Key: k, Value: t.stats.counts[k]})
	}
	return out
}

// current lists the operations in progress as $currentOp documents.
func (t *opTable) current(bool) []bson.D {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []bson.D
	now := time.Now()
	for o := range t.m {
		i := o.info
		cmd := withoutField(i.cmd, "lsid")
		ns := i.db + ".$cmd"
		if len(cmd) > 0 {
			if s, ok := cmd[0].Value.(string); ok {
				ns = i.db + "." + s
			}
		}
		d := bson.D{
			{Key: "type", Value: "op"},
			{Key: "host", Value: ""},
			{Key: "desc", Value: "conn" + strconv.Itoa(int(i.conn.id))},
			{Key: "connectionId", Value: i.conn.id},
			{Key: "client", Value: i.conn.net.RemoteAddr().String()},
			{Key: "appName", Value: i.conn.appName},
			{Key: "active", Value: true},
			{Key: "currentOpTime", Value: now.Format(time.RFC3339Nano)},
			{Key: "opid", Value: i.opid},
			{Key: "secs_running", Value: int64(now.Sub(i.started).Seconds())},
			{Key: "microsecs_running", Value: now.Sub(i.started).Microseconds()},
			{Key: "op", Value: "command"},
			{Key: "ns", Value: ns},
			{Key: "command", Value: cmd},
		}
		if l, ok := value.Lookup(i.cmd, "lsid"); ok {
			d = append(d, bson.E{Key: "lsid", Value: l})
		}
		out = append(out, d)
	}
	return out
}

// killOpID interrupts the operation with the opid; false if none.
func (t *opTable) killOpID(opid int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for o := range t.m {
		if int64(o.info.opid) == opid {
			o.cancel(errInterrupted())
			return true
		}
	}
	return false
}

// currentOp is the currentOp command: the $currentOp documents matching
// the command's other fields as a filter.
func (x *exec) currentOp() (bson.D, error) {
	if x.db != "admin" {
		return nil, mongoerr.New(mongoerr.Unauthorized, "currentOp may only be run against the admin database.")
	}
	var filter bson.D
	for _, e := range x.cmd[1:] {
		switch e.Key {
		case "$all", "$ownOps", "$truncateOps", "$db", "lsid", "$clusterTime", "$readPreference", "comment", "maxTimeMS":
		default:
			filter = append(filter, e)
		}
	}
	f, err := compileFilter(filter, nil)
	if err != nil {
		return nil, err
	}
	inprog := bson.A{}
	for _, d := range x.s.ops.current(x.boolArg("$all")) {
		if ok, err := f.Match(d); err != nil {
			return nil, err
		} else if ok {
			inprog = append(inprog, d)
		}
	}
	return okReply(bson.E{Key: "inprog", Value: inprog}), nil
}

// killOp interrupts one operation by opid.
func (x *exec) killOp() (bson.D, error) {
	if x.db != "admin" {
		return nil, mongoerr.New(mongoerr.Unauthorized, "killOp may only be run against the admin database.")
	}
	v, ok := value.Lookup(x.cmd, "op")
	if !ok {
		return nil, mongoerr.New(mongoerr.FailedToParse, "BSON field 'killOp.op' is missing but a required field")
	}
	id, ok := value.ToInt64(v)
	if !ok {
		return nil, wrongType(x.name, "op", v, "int")
	}
	x.s.ops.killOpID(id)
	return okReply(bson.E{Key: "info", Value: "attempting to kill op"}), nil
}
