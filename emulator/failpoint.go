package emulator

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Fail points are MongoDB's test hooks for fault injection, configured with
// {configureFailPoint: name, mode, data}. The emulator has the two the
// drivers' spec tests use: failCommand and onPrimaryTransactionalWrite.

// errCloseConnection makes the connection close without a reply.
var errCloseConnection = errors.New("fail point: close connection")

// failPoint is the activation logic every fail point shares: mode
// "alwaysOn", "off", {times: n}, {skip: n} or {activationProbability: p}.
// Callers hold the owning fail point's lock.
type failPoint struct {
	active bool
	mode   fpMode
	n      int // activations left, or matching events left to skip
	prob   float64
}

type fpMode int

const (
	fpAlwaysOn fpMode = iota
	fpTimes
	fpSkip
	fpProbability
)

// setMode parses mode; on is false for "off".
func (f *failPoint) setMode(mode any) (on bool, err error) {
	switch m := mode.(type) {
	case string:
		switch m {
		case "off":
			f.active = false
			return false, nil
		case "alwaysOn":
			f.mode = fpAlwaysOn
		default:
			return false, mongoerr.New(mongoerr.BadValue, "unknown fail point mode %q", m)
		}
	case bson.D:
		if len(m) != 1 {
			return false, mongoerr.New(mongoerr.BadValue, "fail point mode must have one field")
		}
		n, _ := value.ToInt64(m[0].Value)
		switch m[0].Key {
		case "times":
			f.mode, f.n = fpTimes, int(n)
		case "skip":
			f.mode, f.n = fpSkip, int(n)
		case "activationProbability":
			p, _ := value.ToFloat(m[0].Value)
			f.mode, f.prob = fpProbability, p
		default:
			return false, mongoerr.New(mongoerr.BadValue, "unknown fail point mode %q", m[0].Key)
		}
	default:
		return false, mongoerr.New(mongoerr.BadValue, "fail point mode must be a string or document")
	}
	return true, nil
}

// fire consumes one activation for an event the fail point applies to and
// reports whether it triggers.
func (f *failPoint) fire() bool {
	if !f.active {
		return false
	}
	switch f.mode {
	case fpTimes:
		if f.n <= 0 {
			f.active = false
			return false
		}
		f.n--
		if f.n == 0 {
			f.active = false
		}
	case fpSkip:
		if f.n > 0 {
			f.n--
			return false
		}
	case fpProbability:
		return rand.Float64() < f.prob
	}
	return true
}

// failCommand makes chosen commands fail, close the connection or stall.
// Sources: the transactions spec README (before commit a7696bc0e) and the
// mongodb/mongo wiki "The failCommand fail point"; notes §D.
type failCommand struct {
	mu   sync.Mutex
	fp   failPoint
	data fpData
}

type fpData struct {
	commands        []string
	closeConnection bool
	errorCode       int32
	hasErrorCode    bool
	errorLabels     []string
	hasErrorLabels  bool
	writeConcernErr bson.D
	appName         string
	blockConnection bool
	blockTime       time.Duration
}

// fpAction is what failCommand does to one command.
type fpAction struct {
	block     time.Duration
	close     bool
	err       *mongoerr.Error
	labels    []string // replace server labels when hasLabels
	hasLabels bool
	wcErr     bson.D
}

// configure handles {configureFailPoint: "failCommand", mode, data}.
func (f *failCommand) configure(cmd bson.D) (int, error) {
	modeV, _ := value.Lookup(cmd, "mode")
	dataV, _ := value.Lookup(cmd, "data")
	data, _ := dataV.(bson.D)
	var d fpData
	for _, e := range data {
		switch e.Key {
		case "failCommands":
			arr, _ := e.Value.(bson.A)
			for _, c := range arr {
				if s, ok := c.(string); ok {
					d.commands = append(d.commands, s)
				}
			}
		case "closeConnection":
			d.closeConnection, _ = e.Value.(bool)
		case "errorCode":
			n, _ := value.ToInt64(e.Value)
			d.errorCode, d.hasErrorCode = int32(n), true
		case "errorLabels":
			d.hasErrorLabels = true
			arr, _ := e.Value.(bson.A)
			d.errorLabels = []string{}
			for _, l := range arr {
				if s, ok := l.(string); ok {
					d.errorLabels = append(d.errorLabels, s)
				}
			}
		case "writeConcernError":
			d.writeConcernErr, _ = e.Value.(bson.D)
		case "appName":
			d.appName, _ = e.Value.(string)
		case "blockConnection":
			d.blockConnection, _ = e.Value.(bool)
		case "blockTimeMS":
			n, _ := value.ToInt64(e.Value)
			d.blockTime = time.Duration(n) * time.Millisecond
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	on, err := f.fp.setMode(modeV)
	if err != nil || !on {
		return 0, err
	}
	if len(d.commands) == 0 {
		f.fp.active = false
		return 0, mongoerr.New(mongoerr.BadValue, "failCommand fail point requires data.failCommands")
	}
	f.data = d
	f.fp.active = true
	return 1, nil
}

// check consumes one activation if the fail point applies to cmd sent by a
// client named appName, and says what to do.
func (f *failCommand) check(cmd, appName string) (fpAction, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.fp.active || !slices.Contains(f.data.commands, cmd) {
		return fpAction{}, false
	}
	if f.data.appName != "" && f.data.appName != appName {
		return fpAction{}, false
	}
	if !f.fp.fire() {
		return fpAction{}, false
	}
	d := f.data
	a := fpAction{close: d.closeConnection, wcErr: d.writeConcernErr, hasLabels: d.hasErrorLabels, labels: d.errorLabels}
	if d.blockConnection {
		a.block = d.blockTime
	}
	if d.hasErrorCode {
		a.err = mongoerr.New(d.errorCode, "Failing command via 'failCommand' failpoint")
	}
	return a, true
}

// txnWriteFailPoint is MongoDB's onPrimaryTransactionalWrite: it triggers
// when a retryable write (a write with lsid and txnNumber, outside a
// transaction) commits a statement — once per insert command, once per
// statement of update, delete and findAndModify. With
// failBeforeCommitExceptionCode the statement is not committed and that
// error is raised; with closeConnection (default true) the connection
// closes before a reply. Source: the retryable-writes spec tests README,
// "Server Fail Point" (SERVER-29606).
type txnWriteFailPoint struct {
	mu              sync.Mutex
	fp              failPoint
	closeConnection bool
	failCode        int32
	failBefore      bool
}

func (f *txnWriteFailPoint) configure(cmd bson.D) (int, error) {
	modeV, _ := value.Lookup(cmd, "mode")
	dataV, _ := value.Lookup(cmd, "data")
	data, _ := dataV.(bson.D)
	f.mu.Lock()
	defer f.mu.Unlock()
	on, err := f.fp.setMode(modeV)
	if err != nil || !on {
		return 0, err
	}
	f.closeConnection, f.failBefore, f.failCode = true, false, 0
	for _, e := range data {
		switch e.Key {
		case "closeConnection":
			f.closeConnection, _ = e.Value.(bool)
		case "failBeforeCommitExceptionCode":
			n, _ := value.ToInt64(e.Value)
			f.failCode, f.failBefore = int32(n), true
		}
	}
	f.fp.active = true
	return 1, nil
}

// txnWrite is the fail point's verdict on one statement about to commit.
type txnWrite struct {
	fired bool
	// before, when set, is returned instead of committing the statement.
	before error
	// after, when set, is returned once the statement has committed.
	after error
}

func (f *txnWriteFailPoint) check() txnWrite {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.fp.fire() {
		return txnWrite{}
	}
	w := txnWrite{fired: true}
	var err error = errCloseConnection
	if !f.closeConnection {
		err = nil
	}
	if f.failBefore {
		if err == nil {
			err = mongoerr.New(f.failCode, "Failing write via 'onPrimaryTransactionalWrite' failpoint")
		}
		w.before = err
		return w
	}
	w.after = err
	return w
}

// statementCommit consults onPrimaryTransactionalWrite for a statement of
// a retryable write; other writes never trigger it.
func (x *exec) statementCommit() txnWrite {
	if x.retry == nil {
		return txnWrite{}
	}
	return x.s.txnWrite.check()
}

// configureFailPoint dispatches on the fail point's name.
func (x *exec) configureFailPoint() (bson.D, error) {
	name, _ := value.Lookup(x.cmd, "configureFailPoint")
	var n int
	var err error
	switch name {
	case "failCommand":
		n, err = x.s.fail.configure(x.cmd)
	case "onPrimaryTransactionalWrite":
		n, err = x.s.txnWrite.configure(x.cmd)
	case "failGetMoreAfterCursorCheckout":
		n, err = x.s.store.changes.fail.configure(x.cmd)
	default:
		return nil, mongoerr.New(mongoerr.BadValue, "Cannot find failpoint: %v", name)
	}
	if err != nil {
		return nil, err
	}
	return okReply(bson.E{Key: "count", Value: int32(n)}), nil
}
