package gateway

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/grpc"

	"github.com/mongogate/mongogate/backend"
	"github.com/mongogate/mongogate/server"
	"github.com/mongogate/mongogate/watch"
)

// watchKeyCollection ("db.collection" on the default backend) holds the
// key that signs Watch resume tokens when there is no peer secret. It is
// one of mongogate's own collections, which no request may read (whoever
// reads the key can forge tokens).
const watchKeyCollection = "mongogate.keys"

// registerWatch serves WatchService on g, fanned out by a hub of its own.
//
// Resume tokens must verify on every instance, so their key is one every
// instance has: derived from the peer secret when there is one (nothing
// to store, nothing to read); otherwise a random key that the first
// instance to need it inserts into watchKeyCollection on the default
// backend (an upsert with $setOnInsert, so instances starting together
// agree on one) and every instance reads back. It is loaded at the first
// Watch, not at start, so a backend that is down at start delays nothing.
func (in *Instance) registerWatch(g grpc.ServiceRegistrar, srv *server.Server) error {
	key := watch.KeyFromSecret(in.cfg.PeerSecret)
	if len(in.cfg.PeerSecret) == 0 {
		db, coll, err := splitNamespace(watchKeyCollection)
		if err != nil {
			return err
		}
		key = watch.KeyFromCollection(in.backend.Get(backend.Default).Client.Database(db).Collection(coll))
	}
	hub, err := watch.New(watch.Config{
		Client: func(name string) (*mongo.Client, bool) {
			b := in.backend.Get(name)
			if b == nil {
				return nil, false
			}
			return b.Client, true
		},
		Key:      key,
		Queue:    in.cfg.WatchQueue,
		Observer: server.NewWatchMetrics(in.metrics),
		Logger:   in.log.With("component", "watch"),
	})
	if err != nil {
		return err
	}
	in.watch = hub
	srv.RegisterWatch(g, hub)
	return nil
}

// closeWatch ends every Watch call with SHUTTING_DOWN and closes their
// MongoDB change streams. Shutdown does it before the graceful stop, which
// would otherwise wait for streams that never end by themselves.
func (in *Instance) closeWatch(ctx context.Context) {
	in.mu.Lock()
	hub := in.watch
	in.mu.Unlock()
	if hub == nil {
		return
	}
	if err := hub.Close(ctx); err != nil {
		in.log.Warn("mongogate: change streams not all closed", "err", err)
	}
}
