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

// collectionOp runs one CRUD operation. Results are converted to the
// documents the CRUD spec describes (InsertOneResult, UpdateResult, ...).
func (r *testRun) collectionOp(ctx context.Context, coll *mongo.Collection, name string, args bson.Raw) (opResult, error) {
	switch name {
	case "insertOne":
		return insertOne(ctx, coll, args)
	case "insertMany":
		return insertMany(ctx, coll, args)
	case "updateOne", "updateMany", "replaceOne":
		return update(ctx, coll, name, args)
	case "deleteOne", "deleteMany":
		return deleteDocs(ctx, coll, name, args)
	case "bulkWrite":
		return bulkWrite(ctx, coll, args)
	case "find":
		return find(ctx, coll, args)
	case "findOne":
		return findOne(ctx, coll, args)
	case "findOneAndDelete", "findOneAndReplace", "findOneAndUpdate":
		return findOneAnd(ctx, coll, name, args)
	case "aggregate":
		return aggregate(ctx, args, coll.Aggregate)
	case "distinct":
		return distinct(ctx, coll, args)
	case "countDocuments":
		return countDocuments(ctx, coll, args)
	case "estimatedDocumentCount":
		return estimatedDocumentCount(ctx, coll, args)
	case "count":
		return r.count(ctx, coll, args)
	case "createIndex":
		return createIndex(ctx, coll, args)
	case "listIndexes":
		return listIndexes(ctx, coll, args)
	case "createChangeStream":
		return createChangeStream(ctx, args, coll.Watch)
	case "rename":
		return rename(ctx, coll, args)
	case "dropIndex":
		return dropIndex(ctx, coll, args)
	}
	return opResult{}, fmt.Errorf("unsupported collection operation %q", name)
}

func insertOne(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "insertOne"}
	opts := options.InsertOne()
	var doc bson.Raw
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "document":
			doc = a.doc(v)
		case "bypassDocumentValidation":
			opts.SetBypassDocumentValidation(a.bool(v))
		case "comment":
			opts.SetComment(v)
		case "rawData":
			a.check(xoptions.SetInternalInsertOneOptions(opts, "rawData", a.bool(v)))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("document", doc != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	res, err := coll.InsertOne(ctx, doc, opts)
	if res == nil {
		return opResult{err: err}, nil
	}
	return docResult(ack(bson.D{{Key: "insertedId", Value: res.InsertedID}}, res.Acknowledged), err), nil
}

func insertMany(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "insertMany"}
	opts := options.InsertMany()
	var docs []bson.Raw
	ordered := true
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "documents":
			docs = a.docs(v)
		case "ordered":
			ordered = a.bool(v)
			opts.SetOrdered(ordered)
		case "bypassDocumentValidation":
			opts.SetBypassDocumentValidation(a.bool(v))
		case "comment":
			opts.SetComment(v)
		case "rawData":
			a.check(xoptions.SetInternalInsertManyOptions(opts, "rawData", a.bool(v)))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("documents", docs != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	res, err := coll.InsertMany(ctx, docs, opts)
	if res == nil {
		return opResult{err: err}, nil
	}
	var bwe mongo.BulkWriteException
	if err != nil && !errors.As(err, &bwe) {
		return opResult{err: err}, nil
	}
	// The result has the shape of a BulkWriteResult, which is what tests
	// match when the insert fails part way.
	d := bson.D{
		{Key: "insertedCount", Value: int64(len(res.InsertedIDs))},
		{Key: "matchedCount", Value: int64(0)},
		{Key: "modifiedCount", Value: int64(0)},
		{Key: "deletedCount", Value: int64(0)},
		{Key: "upsertedCount", Value: int64(0)},
		{Key: "upsertedIds", Value: bson.D{}},
	}
	// After write errors the driver keeps only the ids of the documents that
	// were inserted, without their positions, which insertedIds is keyed by.
	if kept := insertedIndexes(len(docs), bwe, ordered); len(kept) == len(res.InsertedIDs) {
		ids := bson.D{}
		for j, i := range kept {
			ids = append(ids, bson.E{Key: strconv.Itoa(i), Value: res.InsertedIDs[j]})
		}
		d = append(d, bson.E{Key: "insertedIds", Value: ids})
	}
	return docResult(ack(d, res.Acknowledged), err), nil
}

// insertedIndexes lists which of n documents an insertMany inserted, given
// its write errors: an ordered insert stops at the first failure, an
// unordered one skips only the failed documents.
func insertedIndexes(n int, bwe mongo.BulkWriteException, ordered bool) []int {
	failed := map[int]bool{}
	for _, we := range bwe.WriteErrors {
		failed[we.Index] = true
	}
	var kept []int
	for i := 0; i < n; i++ {
		if failed[i] {
			if ordered {
				break
			}
			continue
		}
		kept = append(kept, i)
	}
	return kept
}

// update runs updateOne, updateMany and replaceOne, whose arguments differ
// only in update versus replacement and in sort.
func update(ctx context.Context, coll *mongo.Collection, name string, args bson.Raw) (opResult, error) {
	a := argReader{what: name}
	var (
		filter, replacement bson.Raw
		upd                 any
		one                 = options.UpdateOne()
		many                = options.UpdateMany()
		repl                = options.Replace()
	)
	var key string
	// set applies an option to whichever builder this operation uses; a nil
	// function means the operation has no such option.
	set := func(fOne func(), fMany func(), fRepl func()) {
		switch {
		case name == "updateOne" && fOne != nil:
			fOne()
		case name == "updateMany" && fMany != nil:
			fMany()
		case name == "replaceOne" && fRepl != nil:
			fRepl()
		default:
			a.unknown(key)
		}
	}
	for _, e := range elements(args) {
		v := e.Value()
		key = e.Key()
		switch key {
		case "filter":
			filter = a.doc(v)
		case "update":
			set(func() { upd = a.update(v) }, func() { upd = a.update(v) }, nil)
		case "replacement":
			set(nil, nil, func() { replacement = a.doc(v) })
		case "upsert":
			b := a.bool(v)
			set(func() { one.SetUpsert(b) }, func() { many.SetUpsert(b) }, func() { repl.SetUpsert(b) })
		case "arrayFilters":
			f := a.anyDocs(v)
			set(func() { one.SetArrayFilters(f) }, func() { many.SetArrayFilters(f) }, nil)
		case "bypassDocumentValidation":
			b := a.bool(v)
			set(func() { one.SetBypassDocumentValidation(b) }, func() { many.SetBypassDocumentValidation(b) },
				func() { repl.SetBypassDocumentValidation(b) })
		case "collation":
			c := a.collation(v)
			set(func() { one.SetCollation(c) }, func() { many.SetCollation(c) }, func() { repl.SetCollation(c) })
		case "comment":
			set(func() { one.SetComment(v) }, func() { many.SetComment(v) }, func() { repl.SetComment(v) })
		case "hint":
			h := a.hint(v)
			set(func() { one.SetHint(h) }, func() { many.SetHint(h) }, func() { repl.SetHint(h) })
		case "let":
			l := a.doc(v)
			set(func() { one.SetLet(l) }, func() { many.SetLet(l) }, func() { repl.SetLet(l) })
		case "sort":
			s := a.doc(v)
			set(func() { one.SetSort(s) }, nil, func() { repl.SetSort(s) })
		case "rawData":
			b := a.bool(v)
			set(func() { a.check(xoptions.SetInternalUpdateOneOptions(one, "rawData", b)) },
				func() { a.check(xoptions.SetInternalUpdateManyOptions(many, "rawData", b)) },
				func() { a.check(xoptions.SetInternalReplaceOptions(repl, "rawData", b)) })
		default:
			a.unknown(e.Key())
		}
	}
	a.need("filter", filter != nil)
	if name == "replaceOne" {
		a.need("replacement", replacement != nil)
	} else {
		a.need("update", upd != nil)
	}
	if a.err != nil {
		return opResult{}, a.err
	}
	var (
		res *mongo.UpdateResult
		err error
	)
	switch name {
	case "updateOne":
		res, err = coll.UpdateOne(ctx, filter, upd, one)
	case "updateMany":
		res, err = coll.UpdateMany(ctx, filter, upd, many)
	default:
		res, err = coll.ReplaceOne(ctx, filter, replacement, repl)
	}
	if res == nil {
		return opResult{err: err}, nil
	}
	d := bson.D{
		{Key: "matchedCount", Value: res.MatchedCount},
		{Key: "modifiedCount", Value: res.ModifiedCount},
		{Key: "upsertedCount", Value: res.UpsertedCount},
	}
	if res.UpsertedID != nil {
		d = append(d, bson.E{Key: "upsertedId", Value: res.UpsertedID})
	}
	return docResult(ack(d, res.Acknowledged), err), nil
}

func deleteDocs(ctx context.Context, coll *mongo.Collection, name string, args bson.Raw) (opResult, error) {
	a := argReader{what: name}
	one, many := options.DeleteOne(), options.DeleteMany()
	isOne := name == "deleteOne"
	var filter bson.Raw
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "filter":
			filter = a.doc(v)
		case "collation":
			c := a.collation(v)
			one.SetCollation(c)
			many.SetCollation(c)
		case "comment":
			one.SetComment(v)
			many.SetComment(v)
		case "hint":
			h := a.hint(v)
			one.SetHint(h)
			many.SetHint(h)
		case "let":
			l := a.doc(v)
			one.SetLet(l)
			many.SetLet(l)
		case "rawData":
			b := a.bool(v)
			a.check(xoptions.SetInternalDeleteOneOptions(one, "rawData", b))
			a.check(xoptions.SetInternalDeleteManyOptions(many, "rawData", b))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("filter", filter != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	var (
		res *mongo.DeleteResult
		err error
	)
	if isOne {
		res, err = coll.DeleteOne(ctx, filter, one)
	} else {
		res, err = coll.DeleteMany(ctx, filter, many)
	}
	if res == nil {
		return opResult{err: err}, nil
	}
	return docResult(ack(bson.D{{Key: "deletedCount", Value: res.DeletedCount}}, res.Acknowledged), err), nil
}

func bulkWrite(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "bulkWrite"}
	opts := options.BulkWrite()
	var models []mongo.WriteModel
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "requests":
			for _, req := range a.docs(v) {
				m, err := writeModel(req)
				a.check(err)
				models = append(models, m)
			}
		case "ordered":
			opts.SetOrdered(a.bool(v))
		case "bypassDocumentValidation":
			opts.SetBypassDocumentValidation(a.bool(v))
		case "comment":
			opts.SetComment(v)
		case "let":
			opts.SetLet(a.doc(v))
		case "rawData":
			a.check(xoptions.SetInternalBulkWriteOptions(opts, "rawData", a.bool(v)))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("requests", models != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	res, err := coll.BulkWrite(ctx, models, opts)
	if res == nil {
		return opResult{err: err}, nil
	}
	upserted := bson.D{}
	for i, id := range res.UpsertedIDs {
		upserted = append(upserted, bson.E{Key: strconv.FormatInt(i, 10), Value: id})
	}
	sortByIndex(upserted)
	return docResult(ack(bson.D{
		{Key: "insertedCount", Value: res.InsertedCount},
		{Key: "matchedCount", Value: res.MatchedCount},
		{Key: "modifiedCount", Value: res.ModifiedCount},
		{Key: "deletedCount", Value: res.DeletedCount},
		{Key: "upsertedCount", Value: res.UpsertedCount},
		{Key: "upsertedIds", Value: upserted},
	}, res.Acknowledged), err), nil
}

// writeModel converts one bulkWrite request, e.g. {updateOne: {...}}.
func writeModel(req bson.Raw) (mongo.WriteModel, error) {
	kind, spec, err := single(req)
	if err != nil {
		return nil, fmt.Errorf("bulkWrite request: %w", err)
	}
	a := argReader{what: "bulkWrite " + kind}
	var (
		filter, doc bson.Raw
		upd         any
		upsert      *bool
		collation   *options.Collation
		hint, sort  any
		filters     []any
	)
	for _, e := range elements(a.doc(spec)) {
		v := e.Value()
		switch key := e.Key(); {
		case key == "filter" && kind != "insertOne":
			filter = a.doc(v)
		case key == "document" && kind == "insertOne",
			key == "replacement" && kind == "replaceOne":
			doc = a.doc(v)
		case key == "update" && strings.HasPrefix(kind, "update"):
			upd = a.update(v)
		case key == "upsert" && kind != "insertOne" && !strings.HasPrefix(kind, "delete"):
			b := a.bool(v)
			upsert = &b
		case key == "arrayFilters" && strings.HasPrefix(kind, "update"):
			filters = a.anyDocs(v)
		case key == "collation" && kind != "insertOne":
			collation = a.collation(v)
		case key == "hint" && kind != "insertOne":
			hint = a.hint(v)
		case key == "sort" && (kind == "updateOne" || kind == "replaceOne"):
			sort = a.doc(v)
		default:
			a.unknown(key)
		}
	}
	switch kind {
	case "insertOne":
		a.need("document", doc != nil)
	case "replaceOne":
		a.need("replacement", doc != nil)
	case "updateOne", "updateMany":
		a.need("update", upd != nil)
	}
	if kind != "insertOne" {
		a.need("filter", filter != nil)
	}
	if a.err != nil {
		return nil, a.err
	}
	switch kind {
	case "insertOne":
		return &mongo.InsertOneModel{Document: doc}, nil
	case "updateOne":
		return &mongo.UpdateOneModel{Filter: filter, Update: upd, Upsert: upsert, ArrayFilters: filters,
			Collation: collation, Hint: hint, Sort: sort}, nil
	case "updateMany":
		return &mongo.UpdateManyModel{Filter: filter, Update: upd, Upsert: upsert, ArrayFilters: filters,
			Collation: collation, Hint: hint}, nil
	case "replaceOne":
		return &mongo.ReplaceOneModel{Filter: filter, Replacement: doc, Upsert: upsert, Collation: collation,
			Hint: hint, Sort: sort}, nil
	case "deleteOne":
		return &mongo.DeleteOneModel{Filter: filter, Collation: collation, Hint: hint}, nil
	case "deleteMany":
		return &mongo.DeleteManyModel{Filter: filter, Collation: collation, Hint: hint}, nil
	}
	return nil, fmt.Errorf("unsupported bulkWrite request %q", kind)
}

func find(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "find"}
	opts := options.Find()
	var filter bson.Raw
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "filter":
			filter = a.doc(v)
		case "sort":
			opts.SetSort(a.doc(v))
		case "projection":
			opts.SetProjection(a.doc(v))
		case "skip":
			opts.SetSkip(a.int64(v))
		case "limit":
			opts.SetLimit(a.int64(v))
		case "batchSize":
			opts.SetBatchSize(a.int32(v))
		case "allowDiskUse":
			opts.SetAllowDiskUse(a.bool(v))
		case "collation":
			opts.SetCollation(a.collation(v))
		case "comment":
			opts.SetComment(v)
		case "hint":
			opts.SetHint(a.hint(v))
		case "let":
			opts.SetLet(a.doc(v))
		case "rawData":
			a.check(xoptions.SetInternalFindOptions(opts, "rawData", a.bool(v)))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("filter", filter != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return opResult{err: err}, nil
	}
	return cursorResult(drain(ctx, cur)), nil
}

func findOne(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "findOne"}
	opts := options.FindOne()
	var filter bson.Raw
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "filter":
			filter = a.doc(v)
		case "sort":
			opts.SetSort(a.doc(v))
		case "projection":
			opts.SetProjection(a.doc(v))
		case "skip":
			opts.SetSkip(a.int64(v))
		case "collation":
			opts.SetCollation(a.collation(v))
		case "comment":
			opts.SetComment(v)
		case "hint":
			opts.SetHint(a.hint(v))
		case "rawData":
			a.check(xoptions.SetInternalFindOneOptions(opts, "rawData", a.bool(v)))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("filter", filter != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	return singleResult(coll.FindOne(ctx, filter, opts), false), nil
}

func findOneAnd(ctx context.Context, coll *mongo.Collection, name string, args bson.Raw) (opResult, error) {
	a := argReader{what: name}
	del, repl, upd := options.FindOneAndDelete(), options.FindOneAndReplace(), options.FindOneAndUpdate()
	var (
		filter, replacement bson.Raw
		update              any
	)
	// Options that all three share are set on every builder; the one for
	// this operation is used, the others are discarded.
	for _, e := range elements(args) {
		v := e.Value()
		switch key := e.Key(); {
		case key == "filter":
			filter = a.doc(v)
		case key == "projection":
			p := a.doc(v)
			del.SetProjection(p)
			repl.SetProjection(p)
			upd.SetProjection(p)
		case key == "sort":
			s := a.doc(v)
			del.SetSort(s)
			repl.SetSort(s)
			upd.SetSort(s)
		case key == "collation":
			c := a.collation(v)
			del.SetCollation(c)
			repl.SetCollation(c)
			upd.SetCollation(c)
		case key == "comment":
			del.SetComment(v)
			repl.SetComment(v)
			upd.SetComment(v)
		case key == "hint":
			h := a.hint(v)
			del.SetHint(h)
			repl.SetHint(h)
			upd.SetHint(h)
		case key == "let":
			l := a.doc(v)
			del.SetLet(l)
			repl.SetLet(l)
			upd.SetLet(l)
		case key == "rawData":
			b := a.bool(v)
			a.check(xoptions.SetInternalFindOneAndDeleteOptions(del, "rawData", b))
			a.check(xoptions.SetInternalFindOneAndReplaceOptions(repl, "rawData", b))
			a.check(xoptions.SetInternalFindOneAndUpdateOptions(upd, "rawData", b))
		case key == "replacement" && name == "findOneAndReplace":
			replacement = a.doc(v)
		case key == "update" && name == "findOneAndUpdate":
			update = a.update(v)
		case key == "arrayFilters" && name == "findOneAndUpdate":
			upd.SetArrayFilters(a.anyDocs(v))
		case key == "upsert" && name != "findOneAndDelete":
			b := a.bool(v)
			repl.SetUpsert(b)
			upd.SetUpsert(b)
		case key == "bypassDocumentValidation" && name != "findOneAndDelete":
			b := a.bool(v)
			repl.SetBypassDocumentValidation(b)
			upd.SetBypassDocumentValidation(b)
		case key == "returnDocument" && name != "findOneAndDelete":
			var rd options.ReturnDocument
			switch s := a.str(v); {
			case strings.EqualFold(s, "Before"):
				rd = options.Before
			case strings.EqualFold(s, "After"):
				rd = options.After
			default:
				a.fail("returnDocument must be Before or After, got %q", s)
			}
			repl.SetReturnDocument(rd)
			upd.SetReturnDocument(rd)
		default:
			a.unknown(key)
		}
	}
	a.need("filter", filter != nil)
	switch name {
	case "findOneAndReplace":
		a.need("replacement", replacement != nil)
	case "findOneAndUpdate":
		a.need("update", update != nil)
	}
	if a.err != nil {
		return opResult{}, a.err
	}
	var sr *mongo.SingleResult
	switch name {
	case "findOneAndDelete":
		sr = coll.FindOneAndDelete(ctx, filter, del)
	case "findOneAndReplace":
		sr = coll.FindOneAndReplace(ctx, filter, replacement, repl)
	default:
		sr = coll.FindOneAndUpdate(ctx, filter, update, upd)
	}
	return singleResult(sr, true), nil
}

// aggregator is Collection.Aggregate or Database.Aggregate.
type aggregator func(context.Context, any, ...options.Lister[options.AggregateOptions]) (*mongo.Cursor, error)

func aggregate(ctx context.Context, args bson.Raw, run aggregator) (opResult, error) {
	a := argReader{what: "aggregate"}
	opts := options.Aggregate()
	var pipeline []bson.Raw
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "pipeline":
			pipeline = a.docs(v)
		case "batchSize":
			opts.SetBatchSize(a.int32(v))
		case "allowDiskUse":
			opts.SetAllowDiskUse(a.bool(v))
		case "bypassDocumentValidation":
			opts.SetBypassDocumentValidation(a.bool(v))
		case "collation":
			opts.SetCollation(a.collation(v))
		case "comment":
			opts.SetComment(v)
		case "hint":
			opts.SetHint(a.hint(v))
		case "let":
			opts.SetLet(a.doc(v))
		case "rawData":
			a.check(xoptions.SetInternalAggregateOptions(opts, "rawData", a.bool(v)))
		case "maxTimeMS":
			// Driver v2 replaced per-operation maxTimeMS with context deadlines.
			a.fail("maxTimeMS is not supported by Go driver v2")
		default:
			a.unknown(e.Key())
		}
	}
	a.need("pipeline", pipeline != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	cur, err := run(ctx, pipeline, opts)
	if err != nil {
		return opResult{err: err}, nil
	}
	return cursorResult(drain(ctx, cur)), nil
}

func distinct(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "distinct"}
	opts := options.Distinct()
	var (
		field  string
		filter bson.Raw
	)
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "fieldName":
			field = a.str(v)
		case "filter":
			filter = a.doc(v)
		case "collation":
			opts.SetCollation(a.collation(v))
		case "comment":
			opts.SetComment(v)
		case "hint":
			opts.SetHint(a.hint(v))
		case "rawData":
			a.check(xoptions.SetInternalDistinctOptions(opts, "rawData", a.bool(v)))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("fieldName", field != "")
	a.need("filter", filter != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	arr, err := coll.Distinct(ctx, field, filter, opts).Raw()
	if err != nil {
		return opResult{err: err}, nil
	}
	return opResult{value: bson.RawValue{Type: bson.TypeArray, Value: arr}}, nil
}

func countDocuments(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "countDocuments"}
	opts := options.Count()
	var filter bson.Raw
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "filter":
			filter = a.doc(v)
		case "skip":
			opts.SetSkip(a.int64(v))
		case "limit":
			opts.SetLimit(a.int64(v))
		case "collation":
			opts.SetCollation(a.collation(v))
		case "comment":
			opts.SetComment(v)
		case "hint":
			opts.SetHint(a.hint(v))
		case "rawData":
			a.check(xoptions.SetInternalCountOptions(opts, "rawData", a.bool(v)))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("filter", filter != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	n, err := coll.CountDocuments(ctx, filter, opts)
	if err != nil {
		return opResult{err: err}, nil
	}
	return valueResult(n, nil), nil
}

func estimatedDocumentCount(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "estimatedDocumentCount"}
	opts := options.EstimatedDocumentCount()
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "comment":
			opts.SetComment(v)
		case "rawData":
			a.check(xoptions.SetInternalEstimatedDocumentCountOptions(opts, "rawData", a.bool(v)))
		case "maxTimeMS":
			// Driver v2 replaced per-operation maxTimeMS with context deadlines.
			a.fail("maxTimeMS is not supported by Go driver v2")
		default:
			a.unknown(e.Key())
		}
	}
	if a.err != nil {
		return opResult{}, a.err
	}
	n, err := coll.EstimatedDocumentCount(ctx, opts)
	if err != nil {
		return opResult{err: err}, nil
	}
	return valueResult(n, nil), nil
}

// count is the CRUD spec's deprecated count helper. Driver v2 has no such
// method, so the runner sends the count command itself, with the session
// from ctx, which is what the helper did.
func (r *testRun) count(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "count"}
	cmd := bson.D{{Key: "count", Value: coll.Name()}}
	var filter bson.Raw
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "filter":
			filter = a.doc(v)
			cmd = append(cmd, bson.E{Key: "query", Value: filter})
		case "skip", "limit":
			cmd = append(cmd, bson.E{Key: e.Key(), Value: a.int64(v)})
		case "collation", "hint", "comment":
			cmd = append(cmd, bson.E{Key: e.Key(), Value: v})
		case "rawData":
			// Servers before 8.2 do not know rawData, and the tests for
			// them expect the driver to leave it out.
			if a.bool(v) && r.dep.facts.version.compare(version{8, 2, 0}) >= 0 {
				cmd = append(cmd, bson.E{Key: "rawData", Value: true})
			}
		default:
			a.unknown(e.Key())
		}
	}
	a.need("filter", filter != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	var reply struct {
		N int64 `bson:"n"`
	}
	if err := coll.Database().RunCommand(ctx, cmd).Decode(&reply); err != nil {
		return opResult{err: err}, nil
	}
	return valueResult(reply.N, nil), nil
}

func createIndex(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "createIndex"}
	opts := options.Index()
	var keys bson.Raw
	for _, e := range elements(args) {
		v := e.Value()
		switch e.Key() {
		case "keys":
			keys = a.doc(v)
		case "name":
			opts.SetName(a.str(v))
		case "unique":
			opts.SetUnique(a.bool(v))
		case "sparse":
			opts.SetSparse(a.bool(v))
		case "expireAfterSeconds":
			opts.SetExpireAfterSeconds(a.int32(v))
		default:
			a.unknown(e.Key())
		}
	}
	a.need("keys", keys != nil)
	if a.err != nil {
		return opResult{}, a.err
	}
	name, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys, Options: opts})
	if err != nil {
		return opResult{err: err}, nil
	}
	return valueResult(name, nil), nil
}

func listIndexes(ctx context.Context, coll *mongo.Collection, args bson.Raw) (opResult, error) {
	a := argReader{what: "listIndexes"}
	opts := options.ListIndexes()
	for _, e := range elements(args) {
		switch e.Key() {
		case "batchSize":
			opts.SetBatchSize(a.int32(e.Value()))
		default:
			a.unknown(e.Key())
		}
	}
	if a.err != nil {
		return opResult{}, a.err
	}
	cur, err := coll.Indexes().List(ctx, opts)
	if err != nil {
		return opResult{err: err}, nil
	}
	return cursorResult(drain(ctx, cur)), nil
}

// singleResult converts a findOne/findOneAnd* result: the document, null if
// none matched, or no result at all for an unacknowledged write, about whose
// outcome the driver knows nothing.
func singleResult(sr *mongo.SingleResult, write bool) opResult {
	raw, err := sr.Raw()
	switch {
	case err != nil && !errors.Is(err, mongo.ErrNoDocuments):
		return opResult{err: err}
	case write && !sr.Acknowledged:
		return opResult{}
	case err != nil:
		return opResult{value: bson.RawValue{Type: bson.TypeNull}}
	}
	return opResult{value: docValue(clone(raw))}
}
