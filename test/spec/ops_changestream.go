package spec

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// watcher is what createChangeStream calls: Client.Watch, Database.Watch or
// Collection.Watch.
type watcher func(ctx context.Context, pipeline any, opts ...options.Lister[options.ChangeStreamOptions]) (*mongo.ChangeStream, error)

// createChangeStream opens a change stream; its result is the stream
// itself, which saveResultAsEntity names.
func createChangeStream(ctx context.Context, args bson.Raw, watch watcher) (opResult, error) {
	a := argReader{what: "createChangeStream"}
	opts := options.ChangeStream()
	var pipeline []bson.Raw
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "pipeline":
			pipeline = a.docs(v)
			if pipeline == nil {
				pipeline = []bson.Raw{}
			}
		case "batchSize":
			opts.SetBatchSize(a.int32(v))
		case "comment":
			opts.SetComment(v)
		case "fullDocument":
			opts.SetFullDocument(options.FullDocument(a.str(v)))
		case "fullDocumentBeforeChange":
			opts.SetFullDocumentBeforeChange(options.FullDocument(a.str(v)))
		case "maxAwaitTimeMS":
			opts.SetMaxAwaitTime(time.Duration(a.int64(v)) * time.Millisecond)
		case "resumeAfter":
			opts.SetResumeAfter(a.doc(v))
		case "startAfter":
			opts.SetStartAfter(a.doc(v))
		case "startAtOperationTime":
			t, i, ok := v.TimestampOK()
			if !ok {
				a.fail("startAtOperationTime: expected a timestamp, got %s", v.Type)
			}
			opts.SetStartAtOperationTime(&bson.Timestamp{T: t, I: i})
		case "showExpandedEvents":
			opts.SetShowExpandedEvents(a.bool(v))
		case "collation":
			opts.SetCollation(*a.collation(v))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("pipeline", pipeline != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	cs, err := watch(ctx, pipeline, opts)
	if err != nil {
		return opResult{err: err}, nil
	}
	return opResult{entity: cs}, nil
}

// changeStreamOp iterates or closes a change stream entity.
func changeStreamOp(ctx context.Context, cs *mongo.ChangeStream, name string, args bson.Raw) (opResult, error) {
	if len(elements(args)) > 0 {
		return opResult{}, fmt.Errorf("%s: unsupported arguments %s", name, args)
	}
	switch name {
	case "iterateUntilDocumentOrError":
		// Next blocks, issuing getMores, until an event or an error; a
		// stream the server closed (after an invalidate) ends it too.
		if cs.Next(ctx) {
			return opResult{value: docValue(clone(cs.Current))}, nil
		}
		if err := cs.Err(); err != nil {
			return opResult{err: err}, nil
		}
		return opResult{}, fmt.Errorf("iterateUntilDocumentOrError: the change stream was closed by the server")
	case "iterateOnce":
		if cs.TryNext(ctx) {
			return opResult{value: docValue(clone(cs.Current))}, nil
		}
		return opResult{err: cs.Err()}, nil
	case "close":
		return opResult{err: cs.Close(ctx)}, nil
	}
	return opResult{}, fmt.Errorf("unsupported change stream operation %q", name)
}

// rename runs renameCollection as the drivers' rename helper does.
func rename(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "rename"}
	var to string
	dropTarget := false
	hasDropTarget := false
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "to":
			to = a.str(v)
		case "dropTarget":
			dropTarget, hasDropTarget = a.bool(v), true
		default:
			a.unknown(e.Key())
		}
	}
	a.need("to", to != "")
	if a.err != nil {
		return opResult{}, a.err
	}
	db := coll.Database().Name()
	cmd := bson.D{{Key: "renameCollection", Value: db + "." + coll.Name()}, {Key: "to", Value: db + "." + to}}
	if hasDropTarget {
		cmd = append(cmd, bson.E{Key: "dropTarget", Value: dropTarget})
	}
	reply, err := coll.Database().Client().Database("admin").RunCommand(ctx, cmd).Raw()
	if err != nil {
		return opResult{err: err}, nil
	}
	return opResult{value: docValue(clone(reply))}, nil
}

func dropIndex(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "dropIndex"}
	var name string
	for _, e := range elements(args) {
		switch e.Key() {
		case "name":
			name = a.str(e.Value())
		default:
			a.unknown(e.Key())
		}
	}
	a.need("name", name != "")
	if a.err != nil {
		return opResult{}, a.err
	}
	return opResult{err: coll.Indexes().DropOne(ctx, name)}, nil
}
