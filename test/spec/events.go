package spec

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// alwaysIgnored are commands whose events no test in these suites asserts:
// the fail point plumbing, handshakes and the runner's own session killing.
var alwaysIgnored = []string{"configureFailPoint", "hello", "isMaster", "ismaster", "killAllSessions"}

// sensitiveCommands are the commands the command monitoring spec redacts;
// tests ignore them unless the client sets observeSensitiveCommands.
var sensitiveCommands = []string{
	"authenticate", "saslStart", "saslContinue", "getnonce",
	"createUser", "updateUser", "copydbgetnonce", "copydbsaslstart", "copydb",
}

// commandEvent is one observed command monitoring event.
type commandEvent struct {
	kind         string // "commandStartedEvent", "commandSucceededEvent" or "commandFailedEvent"
	name         string
	database     string
	body         bson.Raw // the command (started) or the reply (succeeded)
	failure      error
	serviceID    *bson.ObjectID
	serverConnID *int64
}

func (e commandEvent) String() string {
	return strings.TrimSuffix(strings.TrimPrefix(e.kind, "command"), "Event") + " " + e.name
}

// poolEventKinds maps the driver's CMAP event types to the test format's names.
var poolEventKinds = map[string]string{
	event.ConnectionPoolCreated:     "poolCreatedEvent",
	event.ConnectionPoolReady:       "poolReadyEvent",
	event.ConnectionPoolCleared:     "poolClearedEvent",
	event.ConnectionPoolClosed:      "poolClosedEvent",
	event.ConnectionCreated:         "connectionCreatedEvent",
	event.ConnectionReady:           "connectionReadyEvent",
	event.ConnectionClosed:          "connectionClosedEvent",
	event.ConnectionCheckOutStarted: "connectionCheckOutStartedEvent",
	event.ConnectionCheckOutFailed:  "connectionCheckOutFailedEvent",
	event.ConnectionCheckedOut:      "connectionCheckedOutEvent",
	event.ConnectionCheckedIn:       "connectionCheckedInEvent",
}

// eventLog records what a client entity's monitors report. The driver calls
// the monitors from its own goroutines, hence the mutex.
type eventLog struct {
	observe map[string]bool // event kinds named in observeEvents
	ignore  map[string]bool // command names whose events are dropped

	mu         sync.Mutex
	stopped    bool
	commands   []commandEvent
	pool       []*event.PoolEvent
	checkedOut atomic.Int64
}

func newEventLog(observe, ignoreCommands []string, observeSensitive bool) (*eventLog, error) {
	l := &eventLog{observe: map[string]bool{}, ignore: map[string]bool{}}
	for _, k := range observe {
		if !isCommandEventKind(k) && !slices.Contains(slices.Collect(maps.Values(poolEventKinds)), k) {
			return nil, fmt.Errorf("unsupported observeEvents entry %q", k)
		}
		l.observe[k] = true
	}
	for _, c := range append(slices.Clone(alwaysIgnored), ignoreCommands...) {
		l.ignore[c] = true
	}
	if !observeSensitive {
		for _, c := range sensitiveCommands {
			l.ignore[c] = true
		}
	}
	return l, nil
}

func isCommandEventKind(k string) bool {
	return k == "commandStartedEvent" || k == "commandSucceededEvent" || k == "commandFailedEvent"
}

func (l *eventLog) commandMonitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			l.addCommand(commandEvent{
				kind: "commandStartedEvent", name: e.CommandName, database: e.DatabaseName,
				body: clone(e.Command), serviceID: e.ServiceID, serverConnID: e.ServerConnectionID,
			})
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			l.addCommand(commandEvent{
				kind: "commandSucceededEvent", name: e.CommandName, database: e.DatabaseName,
				body: clone(e.Reply), serviceID: e.ServiceID, serverConnID: e.ServerConnectionID,
			})
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			l.addCommand(commandEvent{
				kind: "commandFailedEvent", name: e.CommandName, database: e.DatabaseName,
				failure: e.Failure, serviceID: e.ServiceID, serverConnID: e.ServerConnectionID,
			})
		},
	}
}

func (l *eventLog) addCommand(e commandEvent) {
	if l.ignore[e.name] || !l.observe[e.kind] {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.commands = append(l.commands, e)
	}
}

func (l *eventLog) poolMonitor() *event.PoolMonitor {
	return &event.PoolMonitor{Event: func(e *event.PoolEvent) {
		// The checked-out count serves assertNumberConnectionsCheckedOut and
		// is kept whether or not the test observes CMAP events.
		switch e.Type {
		case event.ConnectionCheckedOut:
			l.checkedOut.Add(1)
		case event.ConnectionCheckedIn:
			l.checkedOut.Add(-1)
		}
		if !l.observe[poolEventKinds[e.Type]] {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if !l.stopped {
			l.pool = append(l.pool, e)
		}
	}}
}

// stop ends recording: the spec asserts only events from the test's
// operations, not from cleanup such as disabling fail points.
func (l *eventLog) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
}

func (l *eventLog) commandEvents() []commandEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.commands)
}

func (l *eventLog) poolEvents() []*event.PoolEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.pool)
}

// lastTwoLsids returns the lsid of the last two observed CommandStartedEvents.
func (l *eventLog) lastTwoLsids() (bson.RawValue, bson.RawValue, error) {
	var started []commandEvent
	for _, e := range l.commandEvents() {
		if e.kind == "commandStartedEvent" {
			started = append(started, e)
		}
	}
	if len(started) < 2 {
		return bson.RawValue{}, bson.RawValue{}, fmt.Errorf("need two observed CommandStartedEvents, have %d", len(started))
	}
	a, b := started[len(started)-2], started[len(started)-1]
	la, lb := lookup(a.body, "lsid"), lookup(b.body, "lsid")
	if !exists(la) || !exists(lb) {
		return la, lb, fmt.Errorf("commands %s and %s do not both carry an lsid", a.name, b.name)
	}
	return la, lb, nil
}

// verifyEvents checks one expectEvents entry against what the client saw.
func verifyEvents(m matcher, want expectedEvents, log *eventLog) error {
	if len(want.Extra) > 0 {
		return fmt.Errorf("expectEvents: unsupported keys %v", sortedKeys(want.Extra))
	}
	switch want.EventType {
	case "", "command":
		return verifyCommandEvents(m, want, log.commandEvents())
	case "cmap":
		return verifyPoolEvents(want, log.poolEvents())
	}
	return fmt.Errorf("expectEvents: unsupported eventType %q", want.EventType)
}

func verifyCommandEvents(m matcher, want expectedEvents, got []commandEvent) error {
	for i, raw := range want.Events {
		kind, spec, err := single(raw)
		if err != nil {
			return fmt.Errorf("expected event %d: %w", i, err)
		}
		if !isCommandEventKind(kind) {
			return fmt.Errorf("expected event %d: unsupported command event %q", i, kind)
		}
		if i >= len(got) {
			return fmt.Errorf("client %s: expected event %d (%s), but only %d events were observed: %s",
				want.Client, i, describeExpected(kind, spec), len(got), describeCommands(got))
		}
		if err := matchCommandEvent(m, kind, spec, got[i]); err != nil {
			return fmt.Errorf("client %s: event %d (%s): %w; observed: %s",
				want.Client, i, describeExpected(kind, spec), err, describeCommands(got))
		}
	}
	if !want.IgnoreExtraEvents && len(got) > len(want.Events) {
		return fmt.Errorf("client %s: expected %d events, observed %d: %s",
			want.Client, len(want.Events), len(got), describeCommands(got))
	}
	return nil
}

func matchCommandEvent(m matcher, kind string, spec bson.RawValue, got commandEvent) error {
	if got.kind != kind {
		return fmt.Errorf("observed %s instead", got)
	}
	a := argReader{what: kind}
	for _, e := range elements(a.doc(spec)) {
		ev := e.Value()
		switch key := e.Key(); {
		case key == "commandName":
			if name := a.str(ev); name != got.name {
				return fmt.Errorf("commandName is %q, want %q", got.name, name)
			}
		case key == "databaseName":
			if db := a.str(ev); db != got.database {
				return fmt.Errorf("databaseName is %q, want %q", got.database, db)
			}
		case key == "command" && kind == "commandStartedEvent",
			key == "reply" && kind == "commandSucceededEvent":
			body := got.body
			if len(body) == 0 {
				body = emptyDoc // redacted
			}
			if err := m.match(ev, docValue(body), true); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		case key == "hasServiceId":
			if want := a.bool(ev); want != (got.serviceID != nil) {
				return fmt.Errorf("hasServiceId is %v, want %v", got.serviceID != nil, want)
			}
		case key == "hasServerConnectionId":
			if want := a.bool(ev); want != (got.serverConnID != nil) {
				return fmt.Errorf("hasServerConnectionId is %v, want %v", got.serverConnID != nil, want)
			}
		default:
			a.unknown(key)
		}
	}
	return a.err
}

func verifyPoolEvents(want expectedEvents, got []*event.PoolEvent) error {
	for i, raw := range want.Events {
		kind, spec, err := single(raw)
		if err != nil {
			return fmt.Errorf("expected event %d: %w", i, err)
		}
		if i >= len(got) {
			return fmt.Errorf("client %s: expected CMAP event %d (%s), but only %d were observed: %s",
				want.Client, i, kind, len(got), describePool(got))
		}
		if err := matchPoolEvent(kind, spec, got[i]); err != nil {
			return fmt.Errorf("client %s: CMAP event %d (%s): %w; observed: %s",
				want.Client, i, kind, err, describePool(got))
		}
	}
	if !want.IgnoreExtraEvents && len(got) > len(want.Events) {
		return fmt.Errorf("client %s: expected %d CMAP events, observed %d: %s",
			want.Client, len(want.Events), len(got), describePool(got))
	}
	return nil
}

func matchPoolEvent(kind string, spec bson.RawValue, got *event.PoolEvent) error {
	if gotKind := poolEventKinds[got.Type]; gotKind != kind {
		return fmt.Errorf("observed %s instead", gotKind)
	}
	a := argReader{what: kind}
	for _, e := range elements(a.doc(spec)) {
		ev := e.Value()
		switch key := e.Key(); {
		case key == "reason" && (kind == "connectionClosedEvent" || kind == "connectionCheckOutFailedEvent"):
			if want := a.str(ev); want != got.Reason {
				return fmt.Errorf("reason is %q, want %q", got.Reason, want)
			}
		case key == "hasServiceId" && kind == "poolClearedEvent":
			if want := a.bool(ev); want != (got.ServiceID != nil) {
				return fmt.Errorf("hasServiceId is %v, want %v", got.ServiceID != nil, want)
			}
		case key == "interruptInUseConnections" && kind == "poolClearedEvent":
			if want := a.bool(ev); want != got.Interruption {
				return fmt.Errorf("interruptInUseConnections is %v, want %v", got.Interruption, want)
			}
		default:
			a.unknown(key)
		}
	}
	return a.err
}

func describeExpected(kind string, spec bson.RawValue) string {
	s := strings.TrimSuffix(strings.TrimPrefix(kind, "command"), "Event")
	if d, ok := spec.DocumentOK(); ok {
		if n, ok := lookup(d, "commandName").StringValueOK(); ok {
			return s + " " + n
		}
		if c, ok := lookup(d, "command").DocumentOK(); ok {
			if k, _, err := firstKey(c); err == nil {
				return s + " " + k
			}
		}
	}
	return s
}

func describeCommands(events []commandEvent) string {
	if len(events) == 0 {
		return "none"
	}
	parts := make([]string, len(events))
	for i, e := range events {
		parts[i] = e.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func describePool(events []*event.PoolEvent) string {
	if len(events) == 0 {
		return "none"
	}
	parts := make([]string, len(events))
	for i, e := range events {
		parts[i] = poolEventKinds[e.Type]
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func firstKey(doc bson.Raw) (string, bson.RawValue, error) {
	elems := elements(doc)
	if len(elems) == 0 {
		return "", bson.RawValue{}, fmt.Errorf("empty document")
	}
	return elems[0].Key(), elems[0].Value(), nil
}

// emptyDoc is the encoding of {}.
var emptyDoc = bson.Raw{5, 0, 0, 0, 0}

func docValue(d bson.Raw) bson.RawValue {
	return bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: d}
}

func clone(d bson.Raw) bson.Raw { return slices.Clone(d) }
