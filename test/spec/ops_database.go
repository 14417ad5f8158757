package spec

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/xoptions"
)

func databaseOp(ctx context.Context, db *mongo.Database, name string, args bson.Raw) (opResult, error) {
	switch name {
	case "aggregate":
		return aggregate(ctx, args, db.Aggregate)
	case "runCommand":
		return runCommand(ctx, db, args)
	case "createCollection":
		return createCollection(ctx, db, args)
	case "dropCollection":
		return dropCollection(ctx, db, args)
	case "listCollections":
		return listCollections(ctx, db, args)
	case "modifyCollection":
		return modifyCollection(ctx, db, args)
	case "createChangeStream":
		return createChangeStream(ctx, args, db.Watch)
	}
	return opResult{}, fmt.Errorf("unsupported database operation %q", name)
}

func runCommand(ctx context.Context, db *mongo.Database, args bson.Raw) (opResult, error) {
	a := argReader{what: "runCommand"}
	opts := options.RunCmd()
	var cmd bson.Raw
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "command":
			cmd = a.doc(v)
		case "commandName":
			// Only for languages whose JSON parsers lose key order; the
			// command document keeps its order here.
		case "readPreference":
			opts.SetReadPreference(a.readPreference(v))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("command", cmd != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	reply, err := db.RunCommand(ctx, cmd, opts).Raw()
	if err != nil {
		return opResult{err: err}, nil
	}
	return opResult{value: docValue(clone(reply))}, nil
}

func createCollection(ctx context.Context, db *mongo.Database, args bson.Raw) (opResult, error) {
	a := argReader{what: "createCollection"}
	opts := options.CreateCollection()
	var (
		name, viewOn string
		pipeline     []bson.Raw
	)
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "collection":
			name = a.str(v)
		case "viewOn":
			viewOn = a.str(v)
		case "pipeline":
			pipeline = a.docs(v)
		case "validator":
			opts.SetValidator(a.doc(v))
		case "capped":
			opts.SetCapped(a.bool(v))
		case "size":
			opts.SetSizeInBytes(a.int64(v))
		case "max":
			opts.SetMaxDocuments(a.int64(v))
		case "expireAfterSeconds":
			opts.SetExpireAfterSeconds(a.int64(v))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("collection", name != "")
	if a.err != nil {
		return opResult{}, a.err
	}
	if viewOn != "" {
		if pipeline == nil {
			pipeline = []bson.Raw{}
		}
		return opResult{err: db.CreateView(ctx, name, viewOn, pipeline)}, nil
	}
	return opResult{err: db.CreateCollection(ctx, name, opts)}, nil
}

func dropCollection(ctx context.Context, db *mongo.Database, args bson.Raw) (opResult, error) {
	a := argReader{what: "dropCollection"}
	var name string
	for _, e := range elements(args) {
		switch e.Key() {
		case "collection":
			name = a.str(e.Value())
		default:
			a.unknown(e.Key())
		}
	}
	a.need("collection", name != "")
	if a.err != nil {
		return opResult{}, a.err
	}
	return opResult{err: db.Collection(name).Drop(ctx)}, nil
}

func listCollections(ctx context.Context, db *mongo.Database, args bson.Raw) (opResult, error) {
	a := argReader{what: "listCollections"}
	opts := options.ListCollections()
	filter := bson.Raw(emptyDoc)
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "filter":
			filter = a.doc(v)
		case "batchSize":
			opts.SetBatchSize(a.int32(v))
		case "nameOnly":
			opts.SetNameOnly(a.bool(v))
		case "rawData":
			a.check(xoptions.SetInternalListCollectionsOptions(opts, "rawData", a.bool(v)))
		default:
			a.unknown(e.Key())
		}
	}
	if a.err != nil {
		return opResult{}, a.err
	}
	cur, err := db.ListCollections(ctx, filter, opts)
	if err != nil {
		return opResult{err: err}, nil
	}
	return cursorResult(drain(ctx, cur)), nil
}

// modifyCollection sends collMod; driver v2 has no helper for it.
func modifyCollection(ctx context.Context, db *mongo.Database, args bson.Raw) (opResult, error) {
	a := argReader{what: "modifyCollection"}
	cmd := bson.D{{Key: "collMod", Value: ""}}
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "collection":
			cmd[0].Value = a.str(v)
		case "validator", "validationLevel", "validationAction", "index", "expireAfterSeconds":
			cmd = append(cmd, bson.E{Key: e.Key(), Value: v})
		default:
			a.unknown(e.Key())
		}
	}
	a.need("collection", cmd[0].Value != "")
	if a.err != nil {
		return opResult{}, a.err
	}
	reply, err := db.RunCommand(ctx, cmd).Raw()
	if err != nil {
		return opResult{err: err}, nil
	}
	return opResult{value: docValue(clone(reply))}, nil
}

func clientOp(ctx context.Context, c *clientEntity, name string, args bson.Raw) (opResult, error) {
	switch name {
	case "clientBulkWrite":
		return clientBulkWrite(ctx, c.client, args)
	case "listDatabases":
		return listDatabases(ctx, c.client, args)
	case "createChangeStream":
		return createChangeStream(ctx, args, c.client.Watch)
	}
	return opResult{}, fmt.Errorf("unsupported client operation %q", name)
}

func listDatabases(ctx context.Context, client *mongo.Client, args bson.Raw) (opResult, error) {
	a := argReader{what: "listDatabases"}
	filter := bson.Raw(emptyDoc)
	opts := options.ListDatabases()
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "filter":
			filter = a.doc(v)
		case "nameOnly":
			opts.SetNameOnly(a.bool(v))
		default:
			a.unknown(e.Key())
		}
	}
	if a.err != nil {
		return opResult{}, a.err
	}
	res, err := client.ListDatabases(ctx, filter, opts)
	if err != nil {
		return opResult{err: err}, nil
	}
	dbs := make([]bson.D, len(res.Databases))
	for i, d := range res.Databases {
		dbs[i] = bson.D{{Key: "name", Value: d.Name}, {Key: "sizeOnDisk", Value: d.SizeOnDisk}, {Key: "empty", Value: d.Empty}}
	}
	r := valueResult(dbs, nil)
	r.cursor = true
	return r, nil
}

func clientBulkWrite(ctx context.Context, client *mongo.Client, args bson.Raw) (opResult, error) {
	a := argReader{what: "clientBulkWrite"}
	opts := options.ClientBulkWrite()
	var writes []mongo.ClientBulkWrite
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "models":
			for _, m := range a.docs(v) {
				w, err := clientWriteModel(m)
				a.check(err)
				writes = append(writes, w)
			}
		case "ordered":
			opts.SetOrdered(a.bool(v))
		case "verboseResults":
			opts.SetVerboseResults(a.bool(v))
		case "bypassDocumentValidation":
			opts.SetBypassDocumentValidation(a.bool(v))
		case "comment":
			opts.SetComment(v)
		case "let":
			opts.SetLet(a.doc(v))
		case "writeConcern":
			opts.SetWriteConcern(a.writeConcern(v))
		case "rawData":
			a.check(xoptions.SetInternalClientBulkWriteOptions(opts, "rawData", a.bool(v)))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("models", writes != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	res, err := client.BulkWrite(ctx, writes, opts)
	var cbwe mongo.ClientBulkWriteException
	if errors.As(err, &cbwe) {
		res = cbwe.PartialResult
	}
	if res == nil {
		return opResult{err: err}, nil
	}
	inserts, updates, deletes := bson.D{}, bson.D{}, bson.D{}
	for i, r := range res.InsertResults {
		inserts = append(inserts, bson.E{Key: strconv.Itoa(i), Value: bson.D{{Key: "insertedId", Value: r.InsertedID}}})
	}
	for i, r := range res.UpdateResults {
		d := bson.D{{Key: "matchedCount", Value: r.MatchedCount}, {Key: "modifiedCount", Value: r.ModifiedCount}}
		if r.UpsertedID != nil {
			d = append(d, bson.E{Key: "upsertedId", Value: r.UpsertedID})
		}
		updates = append(updates, bson.E{Key: strconv.Itoa(i), Value: d})
	}
	for i, r := range res.DeleteResults {
		deletes = append(deletes, bson.E{Key: strconv.Itoa(i), Value: bson.D{{Key: "deletedCount", Value: r.DeletedCount}}})
	}
	sortByIndex(inserts)
	sortByIndex(updates)
	sortByIndex(deletes)
	return docResult(ack(bson.D{
		{Key: "insertedCount", Value: res.InsertedCount},
		{Key: "upsertedCount", Value: res.UpsertedCount},
		{Key: "matchedCount", Value: res.MatchedCount},
		{Key: "modifiedCount", Value: res.ModifiedCount},
		{Key: "deletedCount", Value: res.DeletedCount},
		{Key: "insertResults", Value: inserts},
		{Key: "updateResults", Value: updates},
		{Key: "deleteResults", Value: deletes},
	}, res.Acknowledged), err), nil
}

// clientWriteModel converts one clientBulkWrite model, e.g.
// {insertOne: {namespace: "db.coll", document: {...}}}.
func clientWriteModel(m bson.Raw) (mongo.ClientBulkWrite, error) {
	kind, spec, err := single(m)
	if err != nil {
		return mongo.ClientBulkWrite{}, fmt.Errorf("clientBulkWrite model: %w", err)
	}
	doc, ok := spec.DocumentOK()
	if !ok {
		return mongo.ClientBulkWrite{}, fmt.Errorf("clientBulkWrite %s is not a document", kind)
	}
	ns, _ := lookup(doc, "namespace").StringValueOK()
	dbName, collName, ok := strings.Cut(ns, ".")
	if !ok {
		return mongo.ClientBulkWrite{}, fmt.Errorf("clientBulkWrite %s: bad namespace %q", kind, ns)
	}
	// The collection-level converter knows every field; only the namespace
	// is particular to client bulk writes.
	wm, err := writeModel(bson.Raw(mustMarshal(bson.D{{Key: kind, Value: without(doc, "namespace")}})))
	if err != nil {
		return mongo.ClientBulkWrite{}, err
	}
	var model mongo.ClientWriteModel
	switch w := wm.(type) {
	case *mongo.InsertOneModel:
		model = &mongo.ClientInsertOneModel{Document: w.Document}
	case *mongo.UpdateOneModel:
		model = &mongo.ClientUpdateOneModel{Filter: w.Filter, Update: w.Update, Upsert: w.Upsert,
			ArrayFilters: w.ArrayFilters, Collation: w.Collation, Hint: w.Hint, Sort: w.Sort}
	case *mongo.UpdateManyModel:
		model = &mongo.ClientUpdateManyModel{Filter: w.Filter, Update: w.Update, Upsert: w.Upsert,
			ArrayFilters: w.ArrayFilters, Collation: w.Collation, Hint: w.Hint}
	case *mongo.ReplaceOneModel:
		model = &mongo.ClientReplaceOneModel{Filter: w.Filter, Replacement: w.Replacement, Upsert: w.Upsert,
			Collation: w.Collation, Hint: w.Hint, Sort: w.Sort}
	case *mongo.DeleteOneModel:
		model = &mongo.ClientDeleteOneModel{Filter: w.Filter, Collation: w.Collation, Hint: w.Hint}
	case *mongo.DeleteManyModel:
		model = &mongo.ClientDeleteManyModel{Filter: w.Filter, Collation: w.Collation, Hint: w.Hint}
	default:
		return mongo.ClientBulkWrite{}, fmt.Errorf("unsupported clientBulkWrite model %q", kind)
	}
	return mongo.ClientBulkWrite{Database: dbName, Collection: collName, Model: model}, nil
}

func mustMarshal(v any) []byte {
	b, err := bson.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %v: %v", v, err))
	}
	return b
}
