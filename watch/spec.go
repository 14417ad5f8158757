package watch

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Spec is what a change stream watches and how: everything that decides
// which events it reports and what they hold. Subscribers with equal Specs
// share one MongoDB change stream, and a resume token is valid only for
// the Spec it was issued for.
type Spec struct {
	// Backend is the backend's name.
	Backend string
	// Database and Collection are the scope: both set, a collection;
	// Collection empty, a database; both empty, the deployment.
	Database, Collection string
	// Pipeline are the stages applied to the events.
	Pipeline []bson.Raw
	// FullDocument and FullDocumentBeforeChange are MongoDB's options as
	// it spells them ("updateLookup", "whenAvailable", ...); empty means
	// MongoDB's default.
	FullDocument, FullDocumentBeforeChange string
	// ShowExpandedEvents reports DDL events too.
	ShowExpandedEvents bool
}

// Scope names the scope for people and logs: "db.coll", "db.*" or "*".
func (s Spec) Scope() string {
	switch {
	case s.Database == "":
		return "*"
	case s.Collection == "":
		return s.Database + ".*"
	}
	return s.Database + "." + s.Collection
}

func (s Spec) validate() error {
	if s.Backend == "" {
		return fmt.Errorf("%w: no backend", ErrSpec)
	}
	if s.Database == "" && s.Collection != "" {
		return fmt.Errorf("%w: a collection without a database", ErrSpec)
	}
	for _, v := range []string{s.FullDocument, s.FullDocumentBeforeChange} {
		switch v {
		case "", string(options.Default), string(options.Off), string(options.UpdateLookup),
			string(options.WhenAvailable), string(options.Required):
		default:
			return fmt.Errorf("%w: full document option %q", ErrSpec, v)
		}
	}
	return nil
}

// binding is the digest that identifies s: the key of its shared stream
// and what its tokens are bound to. Each part is length-prefixed, so no
// two Specs encode alike.
func (s Spec) binding() [sha256.Size]byte {
	h := sha256.New()
	part := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	part([]byte("mongogate watch spec v1"))
	part([]byte(s.Backend))
	scope := "deployment"
	switch {
	case s.Collection != "":
		scope = "collection"
	case s.Database != "":
		scope = "database"
	}
	part([]byte(scope))
	part([]byte(s.Database))
	part([]byte(s.Collection))
	part([]byte(s.FullDocument))
	part([]byte(s.FullDocumentBeforeChange))
	part([]byte(fmt.Sprint(s.ShowExpandedEvents)))
	part([]byte(fmt.Sprint(len(s.Pipeline))))
	for _, st := range s.Pipeline {
		part(st)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// Start is where a subscription starts; the zero Start is "now". At most
// one field is set.
type Start struct {
	// ResumeAfter is a token of an earlier event or heartbeat.
	ResumeAfter string
	// StartAfter is a token too, possibly an invalidate event's.
	StartAfter string
	// AtOperationTime is a cluster time.
	AtOperationTime *bson.Timestamp
}

func (s Start) count() int {
	n := 0
	if s.ResumeAfter != "" {
		n++
	}
	if s.StartAfter != "" {
		n++
	}
	if s.AtOperationTime != nil {
		n++
	}
	return n
}

// open opens a MongoDB change stream for s on c, starting as from says
// (from.token is MongoDB's token). maxAwait is its getMore wait.
func (s Spec) open(ctx context.Context, c *mongo.Client, from mongoStart, maxAwait time.Duration, batch int32) (*mongo.ChangeStream, error) {
	o := options.ChangeStream().SetMaxAwaitTime(maxAwait)
	if batch > 0 {
		o.SetBatchSize(batch)
	}
	if s.FullDocument != "" {
		o.SetFullDocument(options.FullDocument(s.FullDocument))
	}
	if s.FullDocumentBeforeChange != "" {
		o.SetFullDocumentBeforeChange(options.FullDocument(s.FullDocumentBeforeChange))
	}
	if s.ShowExpandedEvents {
		o.SetShowExpandedEvents(true)
	}
	switch {
	case from.resumeAfter != nil:
		o.SetResumeAfter(from.resumeAfter)
	case from.startAfter != nil:
		o.SetStartAfter(from.startAfter)
	case from.at != nil:
		o.SetStartAtOperationTime(from.at)
	}
	pipeline := make(bson.A, len(s.Pipeline))
	for i, st := range s.Pipeline {
		pipeline[i] = st
	}
	switch {
	case s.Database == "":
		return c.Watch(ctx, pipeline, o)
	case s.Collection == "":
		return c.Database(s.Database).Watch(ctx, pipeline, o)
	}
	return c.Database(s.Database).Collection(s.Collection).Watch(ctx, pipeline, o)
}

// mongoStart is a Start with its tokens verified: MongoDB's own.
type mongoStart struct {
	resumeAfter, startAfter bson.Raw
	at                      *bson.Timestamp
}

func (m mongoStart) zero() bool { return m.resumeAfter == nil && m.startAfter == nil && m.at == nil }

// position is the sortable part of MongoDB's resume token, its _data: a
// hex string whose order is the stream's (MongoDB encodes the cluster
// time first, as a KeyString, and the emulator likewise). "" when the
// token has none, which sorts first.
func position(token bson.Raw) string {
	v, err := token.LookupErr("_data")
	if err != nil {
		return ""
	}
	s, ok := v.StringValueOK()
	if !ok {
		return ""
	}
	return strings.ToUpper(s)
}
