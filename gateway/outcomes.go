package gateway

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/txn"
)

// newOutcomes keeps the outcome records in OutcomeCollection on every
// backend; their TTL indexes are created in the background.
func (in *Instance) newOutcomes(ctx context.Context) (*txn.Outcomes, error) {
	db, coll, err := splitNamespace(in.cfg.OutcomeCollection)
	if err != nil {
		return nil, err
	}
	clients := map[string]*mongo.Client{}
	for _, b := range in.backend.All() {
		clients[b.Name] = b.Client
	}
	o, err := txn.NewOutcomes(txn.OutcomesConfig{
		Backends: clients, Database: db, Collection: coll,
		Retention: in.cfg.OutcomeRetention, Logger: in.log,
	})
	if err != nil {
		return nil, err
	}
	o.IndexInBackground(ctx)
	return o, nil
}
