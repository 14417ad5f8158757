package options

import "time"

// InsertOneOptions are the options of Collection.InsertOne.
type InsertOneOptions struct {
	BypassDocumentValidation *bool
	Comment                  *string
}

// InsertOne returns empty InsertOneOptions.
func InsertOne() *InsertOneOptions { return &InsertOneOptions{} }

// SetBypassDocumentValidation sets BypassDocumentValidation.
func (o *InsertOneOptions) SetBypassDocumentValidation(b bool) *InsertOneOptions {
	o.BypassDocumentValidation = &b
	return o
}

// SetComment sets Comment.
func (o *InsertOneOptions) SetComment(c string) *InsertOneOptions { o.Comment = &c; return o }

// InsertManyOptions are the options of Collection.InsertMany.
type InsertManyOptions struct {
	// Ordered inserts in order and stops at the first error (the default);
	// false inserts all that can be inserted.
	Ordered                  *bool
	BypassDocumentValidation *bool
	Comment                  *string
}

// InsertMany returns empty InsertManyOptions.
func InsertMany() *InsertManyOptions { return &InsertManyOptions{} }

// SetOrdered sets Ordered.
func (o *InsertManyOptions) SetOrdered(b bool) *InsertManyOptions { o.Ordered = &b; return o }

// SetBypassDocumentValidation sets BypassDocumentValidation.
func (o *InsertManyOptions) SetBypassDocumentValidation(b bool) *InsertManyOptions {
	o.BypassDocumentValidation = &b
	return o
}

// SetComment sets Comment.
func (o *InsertManyOptions) SetComment(c string) *InsertManyOptions { o.Comment = &c; return o }

// FindOneOptions are the options of Collection.FindOne.
type FindOneOptions struct {
	Projection any
	Sort       any
	Skip       *int64
	Hint       any
	Comment    *string
	MaxTime    *time.Duration
	Collation  *Collation
}

// FindOne returns empty FindOneOptions.
func FindOne() *FindOneOptions { return &FindOneOptions{} }

// SetProjection sets Projection.
func (o *FindOneOptions) SetProjection(p any) *FindOneOptions { o.Projection = p; return o }

// SetSort sets Sort.
func (o *FindOneOptions) SetSort(s any) *FindOneOptions { o.Sort = s; return o }

// SetSkip sets Skip.
func (o *FindOneOptions) SetSkip(n int64) *FindOneOptions { o.Skip = &n; return o }

// SetHint sets Hint.
func (o *FindOneOptions) SetHint(h any) *FindOneOptions { o.Hint = h; return o }

// SetComment sets Comment.
func (o *FindOneOptions) SetComment(c string) *FindOneOptions { o.Comment = &c; return o }

// SetMaxTime sets MaxTime.
func (o *FindOneOptions) SetMaxTime(d time.Duration) *FindOneOptions { o.MaxTime = &d; return o }

// SetCollation sets Collation.
func (o *FindOneOptions) SetCollation(c *Collation) *FindOneOptions { o.Collation = c; return o }

// FindOptions are the options of Collection.Find.
type FindOptions struct {
	Projection any
	Sort       any
	Skip       *int64
	// Limit is the most documents to return; 0 means no limit.
	Limit *int64
	// BatchSize is the number of documents per streamed message.
	BatchSize    *int32
	Hint         any
	Comment      *string
	MaxTime      *time.Duration
	Let          any
	Collation    *Collation
	AllowDiskUse *bool
}

// Find returns empty FindOptions.
func Find() *FindOptions { return &FindOptions{} }

// SetProjection sets Projection.
func (o *FindOptions) SetProjection(p any) *FindOptions { o.Projection = p; return o }

// SetSort sets Sort.
func (o *FindOptions) SetSort(s any) *FindOptions { o.Sort = s; return o }

// SetSkip sets Skip.
func (o *FindOptions) SetSkip(n int64) *FindOptions { o.Skip = &n; return o }

// SetLimit sets Limit.
func (o *FindOptions) SetLimit(n int64) *FindOptions { o.Limit = &n; return o }

// SetBatchSize sets BatchSize.
func (o *FindOptions) SetBatchSize(n int32) *FindOptions { o.BatchSize = &n; return o }

// SetHint sets Hint.
func (o *FindOptions) SetHint(h any) *FindOptions { o.Hint = h; return o }

// SetComment sets Comment.
func (o *FindOptions) SetComment(c string) *FindOptions { o.Comment = &c; return o }

// SetMaxTime sets MaxTime.
func (o *FindOptions) SetMaxTime(d time.Duration) *FindOptions { o.MaxTime = &d; return o }

// SetLet sets Let.
func (o *FindOptions) SetLet(l any) *FindOptions { o.Let = l; return o }

// SetCollation sets Collation.
func (o *FindOptions) SetCollation(c *Collation) *FindOptions { o.Collation = c; return o }

// SetAllowDiskUse sets AllowDiskUse.
func (o *FindOptions) SetAllowDiskUse(b bool) *FindOptions { o.AllowDiskUse = &b; return o }

// UpdateOptions are the options of Collection.UpdateOne and UpdateMany.
type UpdateOptions struct {
	Upsert                   *bool
	ArrayFilters             []any
	Hint                     any
	Let                      any
	Comment                  *string
	Collation                *Collation
	BypassDocumentValidation *bool
}

// UpdateOne returns empty UpdateOptions for Collection.UpdateOne.
func UpdateOne() *UpdateOptions { return &UpdateOptions{} }

// UpdateMany returns empty UpdateOptions for Collection.UpdateMany.
func UpdateMany() *UpdateOptions { return &UpdateOptions{} }

// SetUpsert sets Upsert.
func (o *UpdateOptions) SetUpsert(b bool) *UpdateOptions { o.Upsert = &b; return o }

// SetArrayFilters sets ArrayFilters.
func (o *UpdateOptions) SetArrayFilters(f ...any) *UpdateOptions { o.ArrayFilters = f; return o }

// SetHint sets Hint.
func (o *UpdateOptions) SetHint(h any) *UpdateOptions { o.Hint = h; return o }

// SetLet sets Let.
func (o *UpdateOptions) SetLet(l any) *UpdateOptions { o.Let = l; return o }

// SetComment sets Comment.
func (o *UpdateOptions) SetComment(c string) *UpdateOptions { o.Comment = &c; return o }

// SetCollation sets Collation.
func (o *UpdateOptions) SetCollation(c *Collation) *UpdateOptions { o.Collation = c; return o }

// SetBypassDocumentValidation sets BypassDocumentValidation.
func (o *UpdateOptions) SetBypassDocumentValidation(b bool) *UpdateOptions {
	o.BypassDocumentValidation = &b
	return o
}

// ReplaceOptions are the options of Collection.ReplaceOne.
type ReplaceOptions struct {
	Upsert                   *bool
	Hint                     any
	Let                      any
	Comment                  *string
	Collation                *Collation
	BypassDocumentValidation *bool
}

// Replace returns empty ReplaceOptions.
func Replace() *ReplaceOptions { return &ReplaceOptions{} }

// SetUpsert sets Upsert.
func (o *ReplaceOptions) SetUpsert(b bool) *ReplaceOptions { o.Upsert = &b; return o }

// SetHint sets Hint.
func (o *ReplaceOptions) SetHint(h any) *ReplaceOptions { o.Hint = h; return o }

// SetLet sets Let.
func (o *ReplaceOptions) SetLet(l any) *ReplaceOptions { o.Let = l; return o }

// SetComment sets Comment.
func (o *ReplaceOptions) SetComment(c string) *ReplaceOptions { o.Comment = &c; return o }

// SetCollation sets Collation.
func (o *ReplaceOptions) SetCollation(c *Collation) *ReplaceOptions { o.Collation = c; return o }

// SetBypassDocumentValidation sets BypassDocumentValidation.
func (o *ReplaceOptions) SetBypassDocumentValidation(b bool) *ReplaceOptions {
	o.BypassDocumentValidation = &b
	return o
}

// DeleteOptions are the options of Collection.DeleteOne and DeleteMany.
type DeleteOptions struct {
	Hint      any
	Let       any
	Comment   *string
	Collation *Collation
}

// DeleteOne returns empty DeleteOptions for Collection.DeleteOne.
func DeleteOne() *DeleteOptions { return &DeleteOptions{} }

// DeleteMany returns empty DeleteOptions for Collection.DeleteMany.
func DeleteMany() *DeleteOptions { return &DeleteOptions{} }

// SetHint sets Hint.
func (o *DeleteOptions) SetHint(h any) *DeleteOptions { o.Hint = h; return o }

// SetLet sets Let.
func (o *DeleteOptions) SetLet(l any) *DeleteOptions { o.Let = l; return o }

// SetComment sets Comment.
func (o *DeleteOptions) SetComment(c string) *DeleteOptions { o.Comment = &c; return o }

// SetCollation sets Collation.
func (o *DeleteOptions) SetCollation(c *Collation) *DeleteOptions { o.Collation = c; return o }

// FindOneAndUpdateOptions are the options of Collection.FindOneAndUpdate.
type FindOneAndUpdateOptions struct {
	ReturnDocument           *ReturnDocument
	Projection               any
	Sort                     any
	Upsert                   *bool
	ArrayFilters             []any
	Hint                     any
	Let                      any
	Comment                  *string
	Collation                *Collation
	BypassDocumentValidation *bool
}

// FindOneAndUpdate returns empty FindOneAndUpdateOptions.
func FindOneAndUpdate() *FindOneAndUpdateOptions { return &FindOneAndUpdateOptions{} }

// SetReturnDocument sets ReturnDocument.
func (o *FindOneAndUpdateOptions) SetReturnDocument(r ReturnDocument) *FindOneAndUpdateOptions {
	o.ReturnDocument = &r
	return o
}

// SetProjection sets Projection.
func (o *FindOneAndUpdateOptions) SetProjection(p any) *FindOneAndUpdateOptions {
	o.Projection = p
	return o
}

// SetSort sets Sort.
func (o *FindOneAndUpdateOptions) SetSort(s any) *FindOneAndUpdateOptions { o.Sort = s; return o }

// SetUpsert sets Upsert.
func (o *FindOneAndUpdateOptions) SetUpsert(b bool) *FindOneAndUpdateOptions {
	o.Upsert = &b
	return o
}

// SetArrayFilters sets ArrayFilters.
func (o *FindOneAndUpdateOptions) SetArrayFilters(f ...any) *FindOneAndUpdateOptions {
	o.ArrayFilters = f
	return o
}

// SetHint sets Hint.
func (o *FindOneAndUpdateOptions) SetHint(h any) *FindOneAndUpdateOptions { o.Hint = h; return o }

// SetLet sets Let.
func (o *FindOneAndUpdateOptions) SetLet(l any) *FindOneAndUpdateOptions { o.Let = l; return o }

// SetComment sets Comment.
func (o *FindOneAndUpdateOptions) SetComment(c string) *FindOneAndUpdateOptions {
	o.Comment = &c
	return o
}

// SetCollation sets Collation.
func (o *FindOneAndUpdateOptions) SetCollation(c *Collation) *FindOneAndUpdateOptions {
	o.Collation = c
	return o
}

// SetBypassDocumentValidation sets BypassDocumentValidation.
func (o *FindOneAndUpdateOptions) SetBypassDocumentValidation(b bool) *FindOneAndUpdateOptions {
	o.BypassDocumentValidation = &b
	return o
}

// FindOneAndReplaceOptions are the options of Collection.FindOneAndReplace.
type FindOneAndReplaceOptions struct {
	ReturnDocument           *ReturnDocument
	Projection               any
	Sort                     any
	Upsert                   *bool
	Hint                     any
	Let                      any
	Comment                  *string
	Collation                *Collation
	BypassDocumentValidation *bool
}

// FindOneAndReplace returns empty FindOneAndReplaceOptions.
func FindOneAndReplace() *FindOneAndReplaceOptions { return &FindOneAndReplaceOptions{} }

// SetReturnDocument sets ReturnDocument.
func (o *FindOneAndReplaceOptions) SetReturnDocument(r ReturnDocument) *FindOneAndReplaceOptions {
	o.ReturnDocument = &r
	return o
}

// SetProjection sets Projection.
func (o *FindOneAndReplaceOptions) SetProjection(p any) *FindOneAndReplaceOptions {
	o.Projection = p
	return o
}

// SetSort sets Sort.
func (o *FindOneAndReplaceOptions) SetSort(s any) *FindOneAndReplaceOptions { o.Sort = s; return o }

// SetUpsert sets Upsert.
func (o *FindOneAndReplaceOptions) SetUpsert(b bool) *FindOneAndReplaceOptions {
	o.Upsert = &b
	return o
}

// SetHint sets Hint.
func (o *FindOneAndReplaceOptions) SetHint(h any) *FindOneAndReplaceOptions { o.Hint = h; return o }

// SetLet sets Let.
func (o *FindOneAndReplaceOptions) SetLet(l any) *FindOneAndReplaceOptions { o.Let = l; return o }

// SetComment sets Comment.
func (o *FindOneAndReplaceOptions) SetComment(c string) *FindOneAndReplaceOptions {
	o.Comment = &c
	return o
}

// SetCollation sets Collation.
func (o *FindOneAndReplaceOptions) SetCollation(c *Collation) *FindOneAndReplaceOptions {
	o.Collation = c
	return o
}

// SetBypassDocumentValidation sets BypassDocumentValidation.
func (o *FindOneAndReplaceOptions) SetBypassDocumentValidation(b bool) *FindOneAndReplaceOptions {
	o.BypassDocumentValidation = &b
	return o
}

// FindOneAndDeleteOptions are the options of Collection.FindOneAndDelete.
type FindOneAndDeleteOptions struct {
	Projection any
	Sort       any
	Hint       any
	Let        any
	Comment    *string
	Collation  *Collation
}

// FindOneAndDelete returns empty FindOneAndDeleteOptions.
func FindOneAndDelete() *FindOneAndDeleteOptions { return &FindOneAndDeleteOptions{} }

// SetProjection sets Projection.
func (o *FindOneAndDeleteOptions) SetProjection(p any) *FindOneAndDeleteOptions {
	o.Projection = p
	return o
}

// SetSort sets Sort.
func (o *FindOneAndDeleteOptions) SetSort(s any) *FindOneAndDeleteOptions { o.Sort = s; return o }

// SetHint sets Hint.
func (o *FindOneAndDeleteOptions) SetHint(h any) *FindOneAndDeleteOptions { o.Hint = h; return o }

// SetLet sets Let.
func (o *FindOneAndDeleteOptions) SetLet(l any) *FindOneAndDeleteOptions { o.Let = l; return o }

// SetComment sets Comment.
func (o *FindOneAndDeleteOptions) SetComment(c string) *FindOneAndDeleteOptions {
	o.Comment = &c
	return o
}

// SetCollation sets Collation.
func (o *FindOneAndDeleteOptions) SetCollation(c *Collation) *FindOneAndDeleteOptions {
	o.Collation = c
	return o
}

// CountOptions are the options of Collection.CountDocuments.
type CountOptions struct {
	Skip *int64
	// Limit caps the count; 0 means no limit.
	Limit     *int64
	Hint      any
	Comment   *string
	MaxTime   *time.Duration
	Collation *Collation
}

// Count returns empty CountOptions.
func Count() *CountOptions { return &CountOptions{} }

// SetSkip sets Skip.
func (o *CountOptions) SetSkip(n int64) *CountOptions { o.Skip = &n; return o }

// SetLimit sets Limit.
func (o *CountOptions) SetLimit(n int64) *CountOptions { o.Limit = &n; return o }

// SetHint sets Hint.
func (o *CountOptions) SetHint(h any) *CountOptions { o.Hint = h; return o }

// SetComment sets Comment.
func (o *CountOptions) SetComment(c string) *CountOptions { o.Comment = &c; return o }

// SetMaxTime sets MaxTime.
func (o *CountOptions) SetMaxTime(d time.Duration) *CountOptions { o.MaxTime = &d; return o }

// SetCollation sets Collation.
func (o *CountOptions) SetCollation(c *Collation) *CountOptions { o.Collation = c; return o }

// DistinctOptions are the options of Collection.Distinct.
type DistinctOptions struct {
	Comment   *string
	MaxTime   *time.Duration
	Collation *Collation
}

// Distinct returns empty DistinctOptions.
func Distinct() *DistinctOptions { return &DistinctOptions{} }

// SetComment sets Comment.
func (o *DistinctOptions) SetComment(c string) *DistinctOptions { o.Comment = &c; return o }

// SetMaxTime sets MaxTime.
func (o *DistinctOptions) SetMaxTime(d time.Duration) *DistinctOptions { o.MaxTime = &d; return o }

// SetCollation sets Collation.
func (o *DistinctOptions) SetCollation(c *Collation) *DistinctOptions { o.Collation = c; return o }

// AggregateOptions are the options of Collection.Aggregate.
type AggregateOptions struct {
	AllowDiskUse *bool
	// BatchSize is the number of documents per streamed message.
	BatchSize                *int32
	BypassDocumentValidation *bool
	Collation                *Collation
	Comment                  *string
	Hint                     any
	Let                      any
	MaxTime                  *time.Duration
}

// Aggregate returns empty AggregateOptions.
func Aggregate() *AggregateOptions { return &AggregateOptions{} }

// SetAllowDiskUse sets AllowDiskUse.
func (o *AggregateOptions) SetAllowDiskUse(b bool) *AggregateOptions { o.AllowDiskUse = &b; return o }

// SetBatchSize sets BatchSize.
func (o *AggregateOptions) SetBatchSize(n int32) *AggregateOptions { o.BatchSize = &n; return o }

// SetBypassDocumentValidation sets BypassDocumentValidation.
func (o *AggregateOptions) SetBypassDocumentValidation(b bool) *AggregateOptions {
	o.BypassDocumentValidation = &b
	return o
}

// SetCollation sets Collation.
func (o *AggregateOptions) SetCollation(c *Collation) *AggregateOptions { o.Collation = c; return o }

// SetComment sets Comment.
func (o *AggregateOptions) SetComment(c string) *AggregateOptions { o.Comment = &c; return o }

// SetHint sets Hint.
func (o *AggregateOptions) SetHint(h any) *AggregateOptions { o.Hint = h; return o }

// SetLet sets Let.
func (o *AggregateOptions) SetLet(l any) *AggregateOptions { o.Let = l; return o }

// SetMaxTime sets MaxTime.
func (o *AggregateOptions) SetMaxTime(d time.Duration) *AggregateOptions { o.MaxTime = &d; return o }

// BulkWriteOptions are the options of Collection.BulkWrite.
type BulkWriteOptions struct {
	// Ordered runs the models in order and stops at the first error (the
	// default); false runs all that can run.
	Ordered                  *bool
	BypassDocumentValidation *bool
	Comment                  *string
	Let                      any
}

// BulkWrite returns empty BulkWriteOptions.
func BulkWrite() *BulkWriteOptions { return &BulkWriteOptions{} }

// SetOrdered sets Ordered.
func (o *BulkWriteOptions) SetOrdered(b bool) *BulkWriteOptions { o.Ordered = &b; return o }

// SetBypassDocumentValidation sets BypassDocumentValidation.
func (o *BulkWriteOptions) SetBypassDocumentValidation(b bool) *BulkWriteOptions {
	o.BypassDocumentValidation = &b
	return o
}

// SetComment sets Comment.
func (o *BulkWriteOptions) SetComment(c string) *BulkWriteOptions { o.Comment = &c; return o }

// SetLet sets Let.
func (o *BulkWriteOptions) SetLet(l any) *BulkWriteOptions { o.Let = l; return o }
