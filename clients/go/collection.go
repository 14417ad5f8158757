package mongogate

import (
	"context"
	"errors"

	"github.com/mongogate/mongogate/clients/go/options"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// errForeignSession: the context carries a session of another Client, whose
// token this Client's server may not know.
var errForeignSession = errors.New("mongogate: the context's session was started by another Client")

// Collection is a handle for a collection. Its methods mirror the MongoDB
// Go driver's: documents, filters and updates are anything bson.Marshal
// accepts (bson.D, bson.M, bson.Raw, structs), results decode with
// bson.Unmarshal. A method runs in the session its context carries (see
// NewSessionContext), and in that session's open transaction.
//
// A write's filter must not be nil (it fails with ErrNilDocument): use
// bson.D{} to match every document. A read's nil filter matches every
// document.
type Collection struct {
	db   *Database
	name string
	wc   *options.WriteConcern
}

// Name returns the collection's name.
func (c *Collection) Name() string { return c.name }

// Database returns the collection's database.
func (c *Collection) Database() *Database { return c.db }

// call is what every operation needs: the context bounded by the default
// timeout, the session token (empty without a session) and the write
// concern to send.
type call struct {
	ctx    context.Context
	cancel context.CancelFunc
	token  string
	wc     *pb.WriteConcern
	docs   pb.DocumentServiceClient // the session's instance, or the main connection
}

func (c *Collection) begin(ctx context.Context) (*call, error) {
	client := c.db.client
	if client.closed.Load() {
		return nil, ErrClientClosed
	}
	k := &call{docs: client.docs}
	s := SessionFromContext(ctx)
	if s != nil {
		if s.client != client {
			return nil, errForeignSession
		}
		if s.isEnded() {
			return nil, ErrSessionEnded
		}
		k.token = s.token
		k.docs = s.documentsRPC()
	}
	// Inside a transaction the transaction's write concern applies and
	// the server refuses another.
	if s == nil || !s.InTransaction() {
		wc, err := writeConcernOf(c.wc)
		if err != nil {
			return nil, err
		}
		k.wc = wc
	}
	k.ctx, k.cancel = client.withTimeout(ctx)
	return k, nil
}

func (c *Collection) ns() *pb.Namespace {
	return &pb.Namespace{Database: c.db.name, Collection: c.name}
}

// InsertOneResult is the result of InsertOne.
type InsertOneResult struct {
	// InsertedID is the document's _id, added by the server (an
	// bson.ObjectID) if the document had none.
	InsertedID any
	// Acknowledged is false for an unacknowledged (w: 0) write.
	Acknowledged bool
}

// InsertManyResult is the result of InsertMany.
type InsertManyResult struct {
	// InsertedIDs are the documents' _ids, in order.
	InsertedIDs  []any
	Acknowledged bool
}

// UpdateResult is the result of UpdateOne, UpdateMany and ReplaceOne.
type UpdateResult struct {
	MatchedCount  int64
	ModifiedCount int64
	UpsertedCount int64
	// UpsertedID is the _id of the document an upsert inserted, or nil.
	UpsertedID   any
	Acknowledged bool
}

// DeleteResult is the result of DeleteOne and DeleteMany.
type DeleteResult struct {
	DeletedCount int64
	Acknowledged bool
}

// InsertOne inserts document, adding an ObjectId _id if it has none.
func (c *Collection) InsertOne(ctx context.Context, document any, opts ...*options.InsertOneOptions) (*InsertOneResult, error) {
	doc, err := requiredDocOf("document", document)
	if err != nil {
		return nil, err
	}
	o := merge(opts)
	k, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer k.cancel()
	resp, err := k.docs.InsertOne(k.ctx, &pb.InsertOneRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Document: doc,
		Options: insertOneOptionsOf(o), WriteConcern: k.wc, ResponseFormat: responseFormat,
	})
	if err != nil {
		return nil, fromStatus(err)
	}
	return insertOneResultOf(resp)
}

func insertOneOptionsOf(o *options.InsertOneOptions) *pb.InsertOneOptions {
	return &pb.InsertOneOptions{BypassDocumentValidation: deref(o.BypassDocumentValidation), Comment: deref(o.Comment)}
}

func insertOneResultOf(resp *pb.InsertOneResponse) (*InsertOneResult, error) {
	id, err := valueOf(resp.GetInsertedId())
	if err != nil {
		return nil, err
	}
	return &InsertOneResult{InsertedID: id, Acknowledged: resp.GetAcknowledged()}, nil
}

// InsertMany inserts the documents, a slice of any element type, adding an
// ObjectId _id to each that has none.
func (c *Collection) InsertMany(ctx context.Context, documents any, opts ...*options.InsertManyOptions) (*InsertManyResult, error) {
	docs, err := insertManyDocsOf(documents)
	if err != nil {
		return nil, err
	}
	o := merge(opts)
	k, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer k.cancel()
	resp, err := k.docs.InsertMany(k.ctx, &pb.InsertManyRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Documents: docs,
		Options: insertManyOptionsOf(o), WriteConcern: k.wc, ResponseFormat: responseFormat,
	})
	if err != nil {
		return nil, fromStatus(err)
	}
	return insertManyResultOf(resp)
}

func insertManyDocsOf(documents any) ([]*pb.Document, error) {
	list, err := sliceOf("documents", documents)
	if err != nil {
		return nil, err
	}
	return docsOf("documents", list)
}

func insertManyOptionsOf(o *options.InsertManyOptions) *pb.InsertManyOptions {
	return &pb.InsertManyOptions{
		Ordered:                  o.Ordered,
		BypassDocumentValidation: deref(o.BypassDocumentValidation),
		Comment:                  deref(o.Comment),
	}
}

func insertManyResultOf(resp *pb.InsertManyResponse) (*InsertManyResult, error) {
	out := &InsertManyResult{Acknowledged: resp.GetAcknowledged()}
	for _, v := range resp.GetInsertedIds() {
		id, err := valueOf(v)
		if err != nil {
			return nil, err
		}
		out.InsertedIDs = append(out.InsertedIDs, id)
	}
	return out, nil
}

// FindOne returns the first document that matches filter; its Err is
// ErrNoDocuments if none does.
func (c *Collection) FindOne(ctx context.Context, filter any, opts ...*options.FindOneOptions) *SingleResult {
	req, err := c.findOneRequest(filter, merge(opts))
	if err != nil {
		return &SingleResult{err: err}
	}
	k, err := c.begin(ctx)
	if err != nil {
		return &SingleResult{err: err}
	}
	defer k.cancel()
	req.SessionToken = k.token
	resp, err := k.docs.FindOne(k.ctx, req)
	if err != nil {
		return &SingleResult{err: fromStatus(err)}
	}
	return singleResult(resp.GetDocument())
}

func (c *Collection) findOneRequest(filter any, o *options.FindOneOptions) (*pb.FindOneRequest, error) {
	f, err := docOf("filter", filter)
	if err != nil {
		return nil, err
	}
	po := &pb.FindOneOptions{Skip: deref(o.Skip), Comment: deref(o.Comment), MaxTime: durationOf(o.MaxTime)}
	if po.Projection, err = docOf("projection", o.Projection); err != nil {
		return nil, err
	}
	if po.Sort, err = docOf("sort", o.Sort); err != nil {
		return nil, err
	}
	if po.Collation, err = collationOf(o.Collation); err != nil {
		return nil, err
	}
	hint, name, err := hintOf(o.Hint)
	switch {
	case err != nil:
		return nil, err
	case hint != nil:
		po.HintSpec = &pb.FindOneOptions_Hint{Hint: hint}
	case name != "":
		po.HintSpec = &pb.FindOneOptions_HintName{HintName: name}
	}
	return &pb.FindOneRequest{Client: c.db.backend, Namespace: c.ns(), Filter: f, Options: po, ResponseFormat: responseFormat}, nil
}

// Find returns a Cursor over the documents that match filter. The server
// streams them in batches; Find returns once the first batch (or the
// error) has arrived. The stream lives until the Cursor is exhausted or
// closed, or ctx ends; with a session, the session is busy until then.
func (c *Collection) Find(ctx context.Context, filter any, opts ...*options.FindOptions) (*Cursor, error) {
	o := merge(opts)
	f, err := docOf("filter", filter)
	if err != nil {
		return nil, err
	}
	po := &pb.FindOptions{
		Skip: deref(o.Skip), Limit: deref(o.Limit), BatchSize: deref(o.BatchSize),
		Comment: deref(o.Comment), MaxTime: durationOf(o.MaxTime), AllowDiskUse: o.AllowDiskUse,
	}
	if po.Projection, err = docOf("projection", o.Projection); err != nil {
		return nil, err
	}
	if po.Sort, err = docOf("sort", o.Sort); err != nil {
		return nil, err
	}
	if po.Let, err = docOf("let", o.Let); err != nil {
		return nil, err
	}
	if po.Collation, err = collationOf(o.Collation); err != nil {
		return nil, err
	}
	hint, name, err := hintOf(o.Hint)
	switch {
	case err != nil:
		return nil, err
	case hint != nil:
		po.HintSpec = &pb.FindOptions_Hint{Hint: hint}
	case name != "":
		po.HintSpec = &pb.FindOptions_HintName{HintName: name}
	}
	k, err := c.beginStream(ctx)
	if err != nil {
		return nil, err
	}
	stream, err := k.docs.Find(k.ctx, &pb.FindRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Filter: f, Options: po, ResponseFormat: responseFormat,
	})
	if err != nil {
		k.cancel()
		return nil, fromStatus(err)
	}
	return newCursor(k.cancel, func() ([]*pb.Document, error) {
		resp, err := stream.Recv()
		return resp.GetDocuments(), err
	})
}

// Aggregate runs pipeline, a slice of stage documents (bson.A, []bson.D,
// mongo.Pipeline, ...), and returns a Cursor over its output, streamed as
// for Find.
func (c *Collection) Aggregate(ctx context.Context, pipeline any, opts ...*options.AggregateOptions) (*Cursor, error) {
	stages, err := pipelineOf("pipeline", pipeline)
	if err != nil {
		return nil, err
	}
	o := merge(opts)
	po := &pb.AggregateOptions{
		AllowDiskUse: o.AllowDiskUse, BatchSize: deref(o.BatchSize),
		BypassDocumentValidation: deref(o.BypassDocumentValidation),
		Comment:                  deref(o.Comment), MaxTime: durationOf(o.MaxTime),
	}
	if po.Let, err = docOf("let", o.Let); err != nil {
		return nil, err
	}
	if po.Collation, err = collationOf(o.Collation); err != nil {
		return nil, err
	}
	hint, name, err := hintOf(o.Hint)
	switch {
	case err != nil:
		return nil, err
	case hint != nil:
		po.HintSpec = &pb.AggregateOptions_Hint{Hint: hint}
	case name != "":
		po.HintSpec = &pb.AggregateOptions_HintName{HintName: name}
	}
	k, err := c.beginStream(ctx)
	if err != nil {
		return nil, err
	}
	stream, err := k.docs.Aggregate(k.ctx, &pb.AggregateRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Pipeline: stages, Options: po,
		WriteConcern: k.wc, ResponseFormat: responseFormat,
	})
	if err != nil {
		k.cancel()
		return nil, fromStatus(err)
	}
	return newCursor(k.cancel, func() ([]*pb.Document, error) {
		resp, err := stream.Recv()
		return resp.GetDocuments(), err
	})
}

// beginStream is begin for a stream, whose context must be cancelable
// whether or not a default timeout applies: the Cursor cancels it to end
// the stream.
func (c *Collection) beginStream(ctx context.Context) (*call, error) {
	k, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(k.ctx)
	timeoutCancel := k.cancel
	k.ctx = sctx
	k.cancel = func() { cancel(); timeoutCancel() }
	return k, nil
}

// UpdateOne applies update (a document of update operators, or a pipeline)
// to the first document that matches filter.
func (c *Collection) UpdateOne(ctx context.Context, filter, update any, opts ...*options.UpdateOptions) (*UpdateResult, error) {
	return c.update(ctx, false, filter, update, merge(opts))
}

// UpdateMany applies update (a document of update operators, or a
// pipeline) to every document that matches filter.
func (c *Collection) UpdateMany(ctx context.Context, filter, update any, opts ...*options.UpdateOptions) (*UpdateResult, error) {
	return c.update(ctx, true, filter, update, merge(opts))
}

func (c *Collection) update(ctx context.Context, many bool, filter, update any, o *options.UpdateOptions) (*UpdateResult, error) {
	f, ud, up, po, err := updateArgsOf(filter, update, o)
	if err != nil {
		return nil, err
	}
	k, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer k.cancel()
	if many {
		req := &pb.UpdateManyRequest{
			SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Filter: f, Options: po,
			WriteConcern: k.wc, ResponseFormat: responseFormat,
		}
		if up != nil {
			req.UpdateSpec = &pb.UpdateManyRequest_UpdatePipeline{UpdatePipeline: up}
		} else {
			req.UpdateSpec = &pb.UpdateManyRequest_Update{Update: ud}
		}
		resp, err := k.docs.UpdateMany(k.ctx, req)
		if err != nil {
			return nil, fromStatus(err)
		}
		return updateResultOf(resp)
	}
	req := &pb.UpdateOneRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Filter: f, Options: po,
		WriteConcern: k.wc, ResponseFormat: responseFormat,
	}
	if up != nil {
		req.UpdateSpec = &pb.UpdateOneRequest_UpdatePipeline{UpdatePipeline: up}
	} else {
		req.UpdateSpec = &pb.UpdateOneRequest_Update{Update: ud}
	}
	resp, err := k.docs.UpdateOne(k.ctx, req)
	if err != nil {
		return nil, fromStatus(err)
	}
	return updateResultOf(resp)
}

// updateArgsOf encodes what UpdateOne and UpdateMany send: the filter, the
// update as operators (ud) or as a pipeline (up), and the options.
func updateArgsOf(filter, update any, o *options.UpdateOptions) (f, ud *pb.Document, up *pb.Pipeline, po *pb.UpdateOptions, err error) {
	if f, err = requiredDocOf("filter", filter); err != nil {
		return nil, nil, nil, nil, err
	}
	if ud, up, err = updateOf(update); err != nil {
		return nil, nil, nil, nil, err
	}
	po = &pb.UpdateOptions{
		Upsert: deref(o.Upsert), Comment: deref(o.Comment),
		BypassDocumentValidation: deref(o.BypassDocumentValidation),
	}
	if po.ArrayFilters, err = docsOf("array filters", o.ArrayFilters); err != nil {
		return nil, nil, nil, nil, err
	}
	if po.Let, err = docOf("let", o.Let); err != nil {
		return nil, nil, nil, nil, err
	}
	if po.Collation, err = collationOf(o.Collation); err != nil {
		return nil, nil, nil, nil, err
	}
	hint, name, err := hintOf(o.Hint)
	switch {
	case err != nil:
		return nil, nil, nil, nil, err
	case hint != nil:
		po.HintSpec = &pb.UpdateOptions_Hint{Hint: hint}
	case name != "":
		po.HintSpec = &pb.UpdateOptions_HintName{HintName: name}
	}
	return f, ud, up, po, nil
}

// updateResponse is what the responses of UpdateOne, UpdateMany and
// ReplaceOne share.
type updateResponse interface {
	GetMatchedCount() int64
	GetModifiedCount() int64
	GetUpsertedCount() int64
	GetUpsertedId() *pb.Value
	GetAcknowledged() bool
}

func updateResultOf(resp updateResponse) (*UpdateResult, error) {
	id, err := valueOf(resp.GetUpsertedId())
	if err != nil {
		return nil, err
	}
	return &UpdateResult{
		MatchedCount: resp.GetMatchedCount(), ModifiedCount: resp.GetModifiedCount(),
		UpsertedCount: resp.GetUpsertedCount(), UpsertedID: id, Acknowledged: resp.GetAcknowledged(),
	}, nil
}

// ReplaceOne replaces the first document that matches filter with
// replacement, a document without update operators.
func (c *Collection) ReplaceOne(ctx context.Context, filter, replacement any, opts ...*options.ReplaceOptions) (*UpdateResult, error) {
	f, r, po, err := replaceArgsOf(filter, replacement, merge(opts))
	if err != nil {
		return nil, err
	}
	k, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer k.cancel()
	resp, err := k.docs.ReplaceOne(k.ctx, &pb.ReplaceOneRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Filter: f, Replacement: r, Options: po,
		WriteConcern: k.wc, ResponseFormat: responseFormat,
	})
	if err != nil {
		return nil, fromStatus(err)
	}
	return updateResultOf(resp)
}

// replaceArgsOf encodes what ReplaceOne sends: the filter, the replacement
// and the options.
func replaceArgsOf(filter, replacement any, o *options.ReplaceOptions) (f, r *pb.Document, po *pb.ReplaceOptions, err error) {
	if f, err = requiredDocOf("filter", filter); err != nil {
		return nil, nil, nil, err
	}
	if r, err = requiredDocOf("replacement", replacement); err != nil {
		return nil, nil, nil, err
	}
	po = &pb.ReplaceOptions{
		Upsert: deref(o.Upsert), Comment: deref(o.Comment),
		BypassDocumentValidation: deref(o.BypassDocumentValidation),
	}
	if po.Let, err = docOf("let", o.Let); err != nil {
		return nil, nil, nil, err
	}
	if po.Collation, err = collationOf(o.Collation); err != nil {
		return nil, nil, nil, err
	}
	hint, name, err := hintOf(o.Hint)
	switch {
	case err != nil:
		return nil, nil, nil, err
	case hint != nil:
		po.HintSpec = &pb.ReplaceOptions_Hint{Hint: hint}
	case name != "":
		po.HintSpec = &pb.ReplaceOptions_HintName{HintName: name}
	}
	return f, r, po, nil
}

// DeleteOne deletes the first document that matches filter.
func (c *Collection) DeleteOne(ctx context.Context, filter any, opts ...*options.DeleteOptions) (*DeleteResult, error) {
	return c.delete(ctx, false, filter, merge(opts))
}

// DeleteMany deletes every document that matches filter; bson.D{} deletes
// them all.
func (c *Collection) DeleteMany(ctx context.Context, filter any, opts ...*options.DeleteOptions) (*DeleteResult, error) {
	return c.delete(ctx, true, filter, merge(opts))
}

func (c *Collection) delete(ctx context.Context, many bool, filter any, o *options.DeleteOptions) (*DeleteResult, error) {
	f, po, err := deleteArgsOf(filter, o)
	if err != nil {
		return nil, err
	}
	k, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer k.cancel()
	if many {
		resp, err := k.docs.DeleteMany(k.ctx, &pb.DeleteManyRequest{
			SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Filter: f, Options: po, WriteConcern: k.wc,
		})
		if err != nil {
			return nil, fromStatus(err)
		}
		return deleteResultOf(resp), nil
	}
	resp, err := k.docs.DeleteOne(k.ctx, &pb.DeleteOneRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Filter: f, Options: po, WriteConcern: k.wc,
	})
	if err != nil {
		return nil, fromStatus(err)
	}
	return deleteResultOf(resp), nil
}

// deleteArgsOf encodes what DeleteOne and DeleteMany send: the filter and
// the options.
func deleteArgsOf(filter any, o *options.DeleteOptions) (*pb.Document, *pb.DeleteOptions, error) {
	f, err := requiredDocOf("filter", filter)
	if err != nil {
		return nil, nil, err
	}
	po := &pb.DeleteOptions{Comment: deref(o.Comment)}
	if po.Let, err = docOf("let", o.Let); err != nil {
		return nil, nil, err
	}
	if po.Collation, err = collationOf(o.Collation); err != nil {
		return nil, nil, err
	}
	hint, name, err := hintOf(o.Hint)
	switch {
	case err != nil:
		return nil, nil, err
	case hint != nil:
		po.HintSpec = &pb.DeleteOptions_Hint{Hint: hint}
	case name != "":
		po.HintSpec = &pb.DeleteOptions_HintName{HintName: name}
	}
	return f, po, nil
}

// deleteResponse is what the responses of DeleteOne and DeleteMany share.
type deleteResponse interface {
	GetDeletedCount() int64
	GetAcknowledged() bool
}

func deleteResultOf(resp deleteResponse) *DeleteResult {
	return &DeleteResult{DeletedCount: resp.GetDeletedCount(), Acknowledged: resp.GetAcknowledged()}
}

func returnDocumentOf(r *options.ReturnDocument) pb.ReturnDocument {
	switch deref(r) {
	case options.After:
		return pb.ReturnDocument_RETURN_DOCUMENT_AFTER
	case options.Before:
		return pb.ReturnDocument_RETURN_DOCUMENT_BEFORE
	}
	return pb.ReturnDocument_RETURN_DOCUMENT_UNSPECIFIED
}

// FindOneAndUpdate updates the first document that matches filter and
// returns it as it was before the update, or after with
// SetReturnDocument(options.After). Its Err is ErrNoDocuments if none
// matched.
func (c *Collection) FindOneAndUpdate(ctx context.Context, filter, update any, opts ...*options.FindOneAndUpdateOptions) *SingleResult {
	f, err := requiredDocOf("filter", filter)
	if err != nil {
		return &SingleResult{err: err}
	}
	ud, up, err := updateOf(update)
	if err != nil {
		return &SingleResult{err: err}
	}
	o := merge(opts)
	po := &pb.FindOneAndUpdateOptions{
		ReturnDocument: returnDocumentOf(o.ReturnDocument), Upsert: deref(o.Upsert), Comment: deref(o.Comment),
		BypassDocumentValidation: deref(o.BypassDocumentValidation),
	}
	if po.Projection, err = docOf("projection", o.Projection); err != nil {
		return &SingleResult{err: err}
	}
	if po.Sort, err = docOf("sort", o.Sort); err != nil {
		return &SingleResult{err: err}
	}
	if po.ArrayFilters, err = docsOf("array filters", o.ArrayFilters); err != nil {
		return &SingleResult{err: err}
	}
	if po.Let, err = docOf("let", o.Let); err != nil {
		return &SingleResult{err: err}
	}
	if po.Collation, err = collationOf(o.Collation); err != nil {
		return &SingleResult{err: err}
	}
	hint, name, err := hintOf(o.Hint)
	switch {
	case err != nil:
		return &SingleResult{err: err}
	case hint != nil:
		po.HintSpec = &pb.FindOneAndUpdateOptions_Hint{Hint: hint}
	case name != "":
		po.HintSpec = &pb.FindOneAndUpdateOptions_HintName{HintName: name}
	}
	k, err := c.begin(ctx)
	if err != nil {
		return &SingleResult{err: err}
	}
	defer k.cancel()
	req := &pb.FindOneAndUpdateRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Filter: f, Options: po,
		WriteConcern: k.wc, ResponseFormat: responseFormat,
	}
	if up != nil {
		req.UpdateSpec = &pb.FindOneAndUpdateRequest_UpdatePipeline{UpdatePipeline: up}
	} else {
		req.UpdateSpec = &pb.FindOneAndUpdateRequest_Update{Update: ud}
	}
	resp, err := k.docs.FindOneAndUpdate(k.ctx, req)
	if err != nil {
		return &SingleResult{err: fromStatus(err)}
	}
	return singleResult(resp.GetDocument())
}

// FindOneAndReplace replaces the first document that matches filter and
// returns it as it was before the replacement, or after with
// SetReturnDocument(options.After). Its Err is ErrNoDocuments if none
// matched.
func (c *Collection) FindOneAndReplace(ctx context.Context, filter, replacement any, opts ...*options.FindOneAndReplaceOptions) *SingleResult {
	f, err := requiredDocOf("filter", filter)
	if err != nil {
		return &SingleResult{err: err}
	}
	r, err := requiredDocOf("replacement", replacement)
	if err != nil {
		return &SingleResult{err: err}
	}
	o := merge(opts)
	po := &pb.FindOneAndReplaceOptions{
		ReturnDocument: returnDocumentOf(o.ReturnDocument), Upsert: deref(o.Upsert), Comment: deref(o.Comment),
		BypassDocumentValidation: deref(o.BypassDocumentValidation),
	}
	if po.Projection, err = docOf("projection", o.Projection); err != nil {
		return &SingleResult{err: err}
	}
	if po.Sort, err = docOf("sort", o.Sort); err != nil {
		return &SingleResult{err: err}
	}
	if po.Let, err = docOf("let", o.Let); err != nil {
		return &SingleResult{err: err}
	}
	if po.Collation, err = collationOf(o.Collation); err != nil {
		return &SingleResult{err: err}
	}
	hint, name, err := hintOf(o.Hint)
	switch {
	case err != nil:
		return &SingleResult{err: err}
	case hint != nil:
		po.HintSpec = &pb.FindOneAndReplaceOptions_Hint{Hint: hint}
	case name != "":
		po.HintSpec = &pb.FindOneAndReplaceOptions_HintName{HintName: name}
	}
	k, err := c.begin(ctx)
	if err != nil {
		return &SingleResult{err: err}
	}
	defer k.cancel()
	resp, err := k.docs.FindOneAndReplace(k.ctx, &pb.FindOneAndReplaceRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Filter: f, Replacement: r, Options: po,
		WriteConcern: k.wc, ResponseFormat: responseFormat,
	})
	if err != nil {
		return &SingleResult{err: fromStatus(err)}
	}
	return singleResult(resp.GetDocument())
}

// FindOneAndDelete deletes the first document that matches filter and
// returns it. Its Err is ErrNoDocuments if none matched.
func (c *Collection) FindOneAndDelete(ctx context.Context, filter any, opts ...*options.FindOneAndDeleteOptions) *SingleResult {
	f, err := requiredDocOf("filter", filter)
	if err != nil {
		return &SingleResult{err: err}
	}
	o := merge(opts)
	po := &pb.FindOneAndDeleteOptions{Comment: deref(o.Comment)}
	if po.Projection, err = docOf("projection", o.Projection); err != nil {
		return &SingleResult{err: err}
	}
	if po.Sort, err = docOf("sort", o.Sort); err != nil {
		return &SingleResult{err: err}
	}
	if po.Let, err = docOf("let", o.Let); err != nil {
		return &SingleResult{err: err}
	}
	if po.Collation, err = collationOf(o.Collation); err != nil {
		return &SingleResult{err: err}
	}
	hint, name, err := hintOf(o.Hint)
	switch {
	case err != nil:
		return &SingleResult{err: err}
	case hint != nil:
		po.HintSpec = &pb.FindOneAndDeleteOptions_Hint{Hint: hint}
	case name != "":
		po.HintSpec = &pb.FindOneAndDeleteOptions_HintName{HintName: name}
	}
	k, err := c.begin(ctx)
	if err != nil {
		return &SingleResult{err: err}
	}
	defer k.cancel()
	resp, err := k.docs.FindOneAndDelete(k.ctx, &pb.FindOneAndDeleteRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Filter: f, Options: po,
		WriteConcern: k.wc, ResponseFormat: responseFormat,
	})
	if err != nil {
		return &SingleResult{err: fromStatus(err)}
	}
	return singleResult(resp.GetDocument())
}

// CountDocuments counts the documents that match filter (nil counts them
// all).
func (c *Collection) CountDocuments(ctx context.Context, filter any, opts ...*options.CountOptions) (int64, error) {
	f, po, err := countArgsOf(filter, merge(opts))
	if err != nil {
		return 0, err
	}
	k, err := c.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer k.cancel()
	resp, err := k.docs.CountDocuments(k.ctx, &pb.CountDocumentsRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Filter: f, Options: po,
	})
	if err != nil {
		return 0, fromStatus(err)
	}
	return resp.GetCount(), nil
}

// countArgsOf encodes what CountDocuments sends: the filter and the
// options.
func countArgsOf(filter any, o *options.CountOptions) (*pb.Document, *pb.CountDocumentsOptions, error) {
	f, err := docOf("filter", filter)
	if err != nil {
		return nil, nil, err
	}
	po := &pb.CountDocumentsOptions{Skip: deref(o.Skip), Limit: deref(o.Limit), Comment: deref(o.Comment), MaxTime: durationOf(o.MaxTime)}
	if po.Collation, err = collationOf(o.Collation); err != nil {
		return nil, nil, err
	}
	hint, name, err := hintOf(o.Hint)
	switch {
	case err != nil:
		return nil, nil, err
	case hint != nil:
		po.HintSpec = &pb.CountDocumentsOptions_Hint{Hint: hint}
	case name != "":
		po.HintSpec = &pb.CountDocumentsOptions_HintName{HintName: name}
	}
	return f, po, nil
}

// Distinct returns the distinct values of fieldName (dotted for embedded
// fields) among the documents that match filter (nil: all of them).
func (c *Collection) Distinct(ctx context.Context, fieldName string, filter any, opts ...*options.DistinctOptions) *DistinctResult {
	f, err := docOf("filter", filter)
	if err != nil {
		return &DistinctResult{err: err}
	}
	o := merge(opts)
	po := &pb.DistinctOptions{Comment: deref(o.Comment), MaxTime: durationOf(o.MaxTime)}
	if po.Collation, err = collationOf(o.Collation); err != nil {
		return &DistinctResult{err: err}
	}
	k, err := c.begin(ctx)
	if err != nil {
		return &DistinctResult{err: err}
	}
	defer k.cancel()
	resp, err := k.docs.Distinct(k.ctx, &pb.DistinctRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), FieldName: fieldName, Filter: f, Options: po,
		ResponseFormat: responseFormat,
	})
	if err != nil {
		return &DistinctResult{err: fromStatus(err)}
	}
	return distinctResult(resp.GetValues())
}
