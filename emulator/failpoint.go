package emulator

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// failCommand is the configured "failCommand" fail point: MongoDB's test hook
// that makes chosen commands fail, close the connection or stall. Sources:
// the transactions spec README (before commit a7696bc0e) and the mongodb/mongo
// wiki "The failCommand fail point"; see notes/driver-wire-facts.md §D.
type failCommand struct {
	mu     sync.Mutex
	active bool
	mode   fpMode
	n      int // times left, or commands left to skip
	prob   float64
	data   fpData
}

type fpMode int

const (
	fpAlwaysOn fpMode = iota
	fpTimes
	fpSkip
	fpProbability
)

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

// fpAction is what the fail point does to one command.
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
	name, _ := value.Lookup(cmd, "configureFailPoint")
	if name != "failCommand" {
		return 0, mongoerr.New(mongoerr.BadValue, "Cannot find failpoint: %v", name)
	}
	modeV, _ := value.Lookup(cmd, "mode")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch m := modeV.(type) {
	case string:
		switch m {
		case "off":
			f.active = false
			return 0, nil
		case "alwaysOn":
			f.mode = fpAlwaysOn
		default:
			return 0, mongoerr.New(mongoerr.BadValue, "unknown fail point mode %q", m)
		}
	case bson.D:
		if len(m) != 1 {
			return 0, mongoerr.New(mongoerr.BadValue, "fail point mode must have one field")
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
			return 0, mongoerr.New(mongoerr.BadValue, "unknown fail point mode %q", m[0].Key)
		}
	default:
		return 0, mongoerr.New(mongoerr.BadValue, "fail point mode must be a string or document")
	}
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
	if len(d.commands) == 0 {
		f.active = false
		return 0, mongoerr.New(mongoerr.BadValue, "failCommand fail point requires data.failCommands")
	}
	f.data = d
	f.active = true
	return 1, nil
}

// check consumes one activation if the fail point applies to cmd sent by a
// client named appName, and says what to do.
func (f *failCommand) check(cmd, appName string) (fpAction, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.active || !slices.Contains(f.data.commands, cmd) {
		return fpAction{}, false
	}
	if f.data.appName != "" && f.data.appName != appName {
		return fpAction{}, false
	}
	switch f.mode {
	case fpTimes:
		if f.n <= 0 {
			f.active = false
			return fpAction{}, false
		}
		f.n--
		if f.n == 0 {
			f.active = false
		}
	case fpSkip:
		if f.n > 0 {
			f.n--
			return fpAction{}, false
		}
	case fpProbability:
		if rand.Float64() >= f.prob {
			return fpAction{}, false
		}
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

func (f *failCommand) off() {
	f.mu.Lock()
	f.active = false
	f.mu.Unlock()
}
