package crud

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Op is one operation that returns a single result: every DocumentService
// operation except the streaming Find and Aggregate, i.e. exactly the
// operations RunTransaction accepts. Each op type also has a Do method
// with its concrete result type, for callers that know the type.
type Op interface {
	// Validate decodes and checks the operation without running it, so a
	// list of operations can be refused before a transaction starts.
	Validate() error
	// Run validates the operation and runs it on t.
	Run(ctx context.Context, t Target) (Result, error)
}

// Result is the result of an Op: one of *InsertOneResult,
// *InsertManyResult, *UpdateResult, *DeleteResult, *DocumentResult,
// *CountResult, *DistinctResult, *BulkWriteResult.
type Result interface{ result() }

// InsertOneResult is the result of InsertOne.
type InsertOneResult struct {
	// InsertedID is the document's _id, generated (an ObjectId) if the
	// document had none.
	InsertedID bson.RawValue
	// Acknowledged is false for an unacknowledged (w:0) write, whose
	// outcome is unknown.
	Acknowledged bool
}

// InsertManyResult is the result of InsertMany.
type InsertManyResult struct {
	// InsertedIDs holds each document's _id, in the order of the documents.
	InsertedIDs  []bson.RawValue
	Acknowledged bool
}

// UpdateResult is the result of UpdateOne, UpdateMany and ReplaceOne.
type UpdateResult struct {
	Matched  int64
	Modified int64
	Upserted int64
	// UpsertedID is the _id of the document an upsert inserted; nil if
	// none was.
	UpsertedID   *bson.RawValue
	Acknowledged bool
}

// DeleteResult is the result of DeleteOne and DeleteMany.
type DeleteResult struct {
	Deleted      int64
	Acknowledged bool
}

// DocumentResult is the result of FindOne and the FindOneAnd* operations.
type DocumentResult struct {
	// Document is the document found, or nil if none matched (and, for a
	// find-and-modify returning the document before, after an upsert
	// inserted one). A document that is found but empty, e.g. after a
	// projection, is non-nil.
	Document bson.Raw
}

// Found reports whether a document was found.
func (r *DocumentResult) Found() bool { return r.Document != nil }

// CountResult is the result of CountDocuments.
type CountResult struct {
	Count int64
}

// DistinctResult is the result of Distinct.
type DistinctResult struct {
	// Values are the distinct values in MongoDB's order.
	Values []bson.RawValue
}

// IndexedID is the _id of the document written by one model of a bulk
// write.
type IndexedID struct {
	// Index is the model's position in BulkWrite.Models, from 0.
	Index int64
	ID    bson.RawValue
}

// BulkWriteResult is the result of BulkWrite.
type BulkWriteResult struct {
	Inserted int64
	Matched  int64
	Modified int64
	Deleted  int64
	Upserted int64
	// InsertedIDs holds the _id of each insert model's document, by
	// ascending index.
	InsertedIDs []IndexedID
	// UpsertedIDs holds the _id of each document inserted by an upsert,
	// by ascending index.
	UpsertedIDs  []IndexedID
	Acknowledged bool
}

func (*InsertOneResult) result()  {}
func (*InsertManyResult) result() {}
func (*UpdateResult) result()     {}
func (*DeleteResult) result()     {}
func (*DocumentResult) result()   {}
func (*CountResult) result()      {}
func (*DistinctResult) result()   {}
func (*BulkWriteResult) result()  {}

// ReturnDocument chooses which version of the document a find-and-modify
// returns.
type ReturnDocument int

const (
	// ReturnBefore returns the document as it was before the change
	// (MongoDB's default).
	ReturnBefore ReturnDocument = iota
	// ReturnAfter returns the document as it is after the change.
	ReturnAfter
)

// Update is an update: update operators, or an aggregation pipeline
// (MongoDB 4.2+). Exactly one is set; it mirrors the proto update_spec
// oneof.
type Update struct {
	// Document holds update operators, e.g. {"$set": {"status": "paid"}}.
	Document *Document
	// Pipeline holds the stages of a pipeline update, at least one.
	Pipeline []Document
}

// arg decodes u for the driver: a bson.Raw or a []bson.Raw. prefix is
// the path of the message holding it ("" for a request).
func (u Update) arg(prefix string) (any, error) {
	switch {
	case u.Document != nil && len(u.Pipeline) > 0:
		return nil, &ArgError{Field: prefix + "update", Reason: "both update and update_pipeline are set; set exactly one"}
	case u.Document != nil:
		doc, err := decodeArg(prefix+"update", u.Document)
		if err != nil {
			return nil, err
		}
		return doc, checkUpdateDoc(prefix+"update", doc)
	case len(u.Pipeline) > 0:
		stages, err := listArg(prefix+"update_pipeline.stages", u.Pipeline)
		if err != nil {
			return nil, err
		}
		for i, s := range stages {
			if err := checkStage(prefixed(prefix+"update_pipeline.stages", i), s); err != nil {
				return nil, err
			}
		}
		return stages, nil
	default:
		return nil, &ArgError{Field: prefix + "update", Reason: "required: update operators or an update_pipeline with at least one stage"}
	}
}
