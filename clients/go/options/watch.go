package options

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// FullDocument is a change stream's fullDocument or
// fullDocumentBeforeChange option, as MongoDB's drivers spell it.
type FullDocument string

// The values of FullDocument.
const (
	// Default: only insert and replace events carry the document
	// (fullDocument).
	Default FullDocument = "default"
	// Off: events carry no pre-image (fullDocumentBeforeChange).
	Off FullDocument = "off"
	// UpdateLookup: update events carry the document as it is when the
	// event is read (fullDocument).
	UpdateLookup FullDocument = "updateLookup"
	// WhenAvailable: the post- or pre-image when the collection records
	// them, null otherwise.
	WhenAvailable FullDocument = "whenAvailable"
	// Required: as WhenAvailable, but a missing image fails the stream.
	Required FullDocument = "required"
)

// ChangeStreamOptions are the options of Collection.Watch, Database.Watch
// and Client.Watch. At most one of ResumeAfter, StartAfter and
// StartAtOperationTime is set.
type ChangeStreamOptions struct {
	FullDocument             *FullDocument
	FullDocumentBeforeChange *FullDocument
	ShowExpandedEvents       *bool
	// MaxAwaitTime is the longest the server stays silent: after it
	// without an event it sends a heartbeat that moves ResumeToken on (and
	// TryNext returns false). Default 1 s.
	MaxAwaitTime *time.Duration
	// ResumeAfter and StartAfter are resume tokens (ChangeStream.ResumeToken)
	// of a watch of the same scope, pipeline and options; StartAfter also
	// takes an invalidate event's.
	ResumeAfter *string
	StartAfter  *string
	// StartAtOperationTime starts with the events at or after a cluster
	// time.
	StartAtOperationTime *bson.Timestamp
	// Backend names the backend of Client.Watch; default "default".
	// Database.Watch and Collection.Watch use their database's.
	Backend *string
}

// ChangeStream returns empty ChangeStreamOptions.
func ChangeStream() *ChangeStreamOptions { return &ChangeStreamOptions{} }

// SetFullDocument sets FullDocument.
func (o *ChangeStreamOptions) SetFullDocument(f FullDocument) *ChangeStreamOptions {
	o.FullDocument = &f
	return o
}

// SetFullDocumentBeforeChange sets FullDocumentBeforeChange.
func (o *ChangeStreamOptions) SetFullDocumentBeforeChange(f FullDocument) *ChangeStreamOptions {
	o.FullDocumentBeforeChange = &f
	return o
}

// SetShowExpandedEvents sets ShowExpandedEvents.
func (o *ChangeStreamOptions) SetShowExpandedEvents(b bool) *ChangeStreamOptions {
	o.ShowExpandedEvents = &b
	return o
}

// SetMaxAwaitTime sets MaxAwaitTime.
func (o *ChangeStreamOptions) SetMaxAwaitTime(d time.Duration) *ChangeStreamOptions {
	o.MaxAwaitTime = &d
	return o
}

// SetResumeAfter sets ResumeAfter.
func (o *ChangeStreamOptions) SetResumeAfter(token string) *ChangeStreamOptions {
	o.ResumeAfter = &token
	return o
}

// SetStartAfter sets StartAfter.
func (o *ChangeStreamOptions) SetStartAfter(token string) *ChangeStreamOptions {
	o.StartAfter = &token
	return o
}

// SetStartAtOperationTime sets StartAtOperationTime.
func (o *ChangeStreamOptions) SetStartAtOperationTime(t *bson.Timestamp) *ChangeStreamOptions {
	o.StartAtOperationTime = t
	return o
}

// SetBackend sets Backend.
func (o *ChangeStreamOptions) SetBackend(name string) *ChangeStreamOptions {
	o.Backend = &name
	return o
}
