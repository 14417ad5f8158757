// Package backend connects mongogate to the MongoDB deployments behind it:
// one named driver client each, whether the deployment can run
// transactions (learnt from hello), and whether it is reachable now, from
// the driver's topology events and a periodic ping. Down is written in
// one place (Backend.setDown), whoever found it.
package backend

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Default is the backend a request uses when it names none.
const Default = "default"

// helloTimeout bounds the first hello; a backend that does not answer in
// time is assumed to run transactions until it does.
const helloTimeout = 10 * time.Second

// Backend is one named MongoDB deployment.
type Backend struct {
	Name   string
	Client *mongo.Client
	// Transactions reports whether the deployment can run transactions
	// (a replica set or sharded cluster; not a standalone).
	Transactions bool
	// CausalConsistency is the default for sessions that do not choose.
	CausalConsistency bool
	// RecordOutcome is the default of record_outcome for transactions
	// that do not choose.
	RecordOutcome bool

	// down is set while the deployment has no server to write to.
	down atomic.Bool
	// seen is set once the topology had a writable server: before that
	// (while connecting at start) nothing is known to be down.
	seen atomic.Bool
	// onChange is called when down changes.
	onChange func(b *Backend)
}

// Config is one backend to connect.
type Config struct {
	Name string
	URI  string
	// RetryWrites, CausalConsistency and RecordOutcome are the
	// deployment's defaults.
	RetryWrites, CausalConsistency, RecordOutcome bool
	// Monitor, if set, observes every command (tracing).
	Monitor *event.CommandMonitor
	// OnChange, if set, is called when the backend goes down or comes
	// back (for health).
	OnChange func(b *Backend)
	// Logger receives what is learnt at connection; nil discards.
	Logger *slog.Logger
}

// Connect opens a backend and learns from hello whether it can run
// transactions. An unreachable backend is not an error: it is reported
// down by the probe until it answers, and transactions are assumed
// possible meanwhile.
func Connect(ctx context.Context, cfg Config) (*Backend, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{
		Name: cfg.Name, Transactions: true,
		CausalConsistency: cfg.CausalConsistency, RecordOutcome: cfg.RecordOutcome,
		onChange: cfg.OnChange,
	}
	opts := options.Client().ApplyURI(cfg.URI).SetRetryWrites(cfg.RetryWrites).
		SetServerMonitor(&event.ServerMonitor{TopologyDescriptionChanged: b.topologyChanged}).
		SetDialer(&bufferedDialer{})
	if cfg.Monitor != nil {
		opts.SetMonitor(cfg.Monitor)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", cfg.Name, err)
	}
	b.Client = client
	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	var hello bson.M
	if err := client.Database("admin").RunCommand(hctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		log.Error("mongogate: backend not reachable yet", "backend", cfg.Name, "err", err)
		return b, nil
	}
	_, replicaSet := hello["setName"]
	b.Transactions = replicaSet || hello["msg"] == "isdbgrid"
	if !b.Transactions {
		log.Warn("mongogate: backend is a standalone server; transactions will be refused", "backend", cfg.Name)
	}
	return b, nil
}

// Down reports whether the backend is known to be unreachable.
func (b *Backend) Down() bool { return b.down.Load() }

// setDown is the one writer of down: the driver's topology events and the
// probe both report here, and a change is passed on.
func (b *Backend) setDown(down bool) {
	if b.down.Swap(down) != down && b.onChange != nil {
		b.onChange(b)
	}
}

// topologyChanged takes the driver's topology events: the backend is down
// as soon as the driver loses its last writable server (a network error
// or a failed heartbeat marks a server Unknown), and up again when one is
// back, without waiting for the next probe.
func (b *Backend) topologyChanged(ev *event.TopologyDescriptionChangedEvent) {
	writable := false
	for _, s := range ev.NewDescription.Servers {
		switch s.Kind {
		case "RSPrimary", "Standalone", "Mongos", "LoadBalancer":
			writable = true
		}
	}
	if writable {
		b.seen.Store(true)
	} else if !b.seen.Load() {
		return
	}
	b.setDown(!writable)
}

// ping asks the deployment's primary whether it answers, bounded by
// timeout, and records the finding. It reports false only when ctx ended.
func (b *Backend) ping(ctx context.Context, timeout time.Duration) bool {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	err := b.Client.Ping(pctx, readpref.Primary())
	cancel()
	if ctx.Err() != nil {
		return false
	}
	b.setDown(err != nil)
	return true
}
