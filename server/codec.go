package server

import (
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/tag"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mongogate/mongogate/crud"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/sessions"
	"github.com/mongogate/mongogate/txn"
)

// Conversions between the wire types and the domain's that every service
// needs. The *FromProto functions check what they convert and fail with
// INVALID_ARGUMENT (an apiError, or a *crud.ArgError that toStatus maps)
// naming the offending field by its proto path. The field argument is the
// path of the message being converted, relative to the request (or to the
// RunTransaction operation: withOperationIndex adds the prefix).

// minMaxStaleness is MongoDB's lower bound on a read preference's
// maxStalenessSeconds.
const minMaxStaleness = 90 * time.Second

// documentFromProto converts a request Document. Nil (the field is unset)
// stays nil; a Document that holds neither json nor bson becomes an empty
// crud.Document, which crud reports as an argument error.
func documentFromProto(d *pb.Document) *crud.Document {
	if d == nil {
		return nil
	}
	switch v := d.GetValue().(type) {
	case *pb.Document_Json:
		return &crud.Document{JSON: v.Json}
	case *pb.Document_Bson:
		if v.Bson == nil {
			// Set but empty: still "bson", so crud says it is too short.
			return &crud.Document{BSON: []byte{}}
		}
		return &crud.Document{BSON: v.Bson}
	}
	return &crud.Document{}
}

// documentsFromProto converts a repeated Document field.
func documentsFromProto(ds []*pb.Document) []crud.Document {
	out := make([]crud.Document, len(ds))
	for i, d := range ds {
		if c := documentFromProto(d); c != nil {
			out[i] = *c
		}
	}
	return out
}

// documentToProto converts an encoded response document (see crud.Encode).
func documentToProto(d crud.Document) *pb.Document {
	if d.BSON != nil {
		return &pb.Document{Value: &pb.Document_Bson{Bson: d.BSON}}
	}
	return &pb.Document{Value: &pb.Document_Json{Json: d.JSON}}
}

// valueToProto converts an encoded response value (see crud.EncodeValue).
func valueToProto(d crud.Document) *pb.Value {
	if d.BSON != nil {
		return &pb.Value{Value: &pb.Value_Bson{Bson: d.BSON}}
	}
	return &pb.Value{Value: &pb.Value_Json{Json: d.JSON}}
}

// formatFromProto is the crud.Format of a response_format.
func formatFromProto(f pb.DocumentFormat) (crud.Format, error) {
	switch f {
	case pb.DocumentFormat_DOCUMENT_FORMAT_UNSPECIFIED, pb.DocumentFormat_DOCUMENT_FORMAT_JSON_CANONICAL:
		return crud.FormatJSONCanonical, nil
	case pb.DocumentFormat_DOCUMENT_FORMAT_JSON_RELAXED:
		return crud.FormatJSONRelaxed, nil
	case pb.DocumentFormat_DOCUMENT_FORMAT_BSON:
		return crud.FormatBSON, nil
	}
	return 0, errInvalidArgument("response_format", fmt.Sprintf("unknown document format %d", int32(f)))
}

// namespaceFromProto converts and checks a request's namespace, which is
// always required.
func namespaceFromProto(ns *pb.Namespace) (crud.Namespace, error) {
	if ns == nil {
		return crud.Namespace{}, errInvalidArgument("namespace", "required")
	}
	out := crud.Namespace{Database: ns.GetDatabase(), Collection: ns.GetCollection()}
	if err := out.Validate(); err != nil {
		return crud.Namespace{}, err
	}
	return out, nil
}

// durationFromProto converts an optional Duration: unset is 0, a set one
// must be valid and positive.
func durationFromProto(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, errInvalidArgument(field, err.Error())
	}
	v := d.AsDuration()
	if v <= 0 {
		return 0, errInvalidArgument(field, fmt.Sprintf("must be positive, got %v", v))
	}
	return v, nil
}

// readConcernFromProto: nil or an empty level is "unset" (nil).
func readConcernFromProto(field string, rc *pb.ReadConcern) (*readconcern.ReadConcern, error) {
	switch rc.GetLevel() {
	case "":
		return nil, nil
	case "local":
		return readconcern.Local(), nil
	case "majority":
		return readconcern.Majority(), nil
	case "snapshot":
		return readconcern.Snapshot(), nil
	case "available":
		return readconcern.Available(), nil
	case "linearizable":
		return readconcern.Linearizable(), nil
	}
	return nil, errInvalidArgument(field+".level",
		fmt.Sprintf("unknown read concern level %q; use local, majority, snapshot, available or linearizable", rc.GetLevel()))
}

// writeConcernFromProto: nil, or one with neither w nor journal, is
// "unset" (nil). w:0 passes; where it is not allowed (a session, a
// transaction) the caller or crud refuses it.
func writeConcernFromProto(field string, wc *pb.WriteConcern) (*writeconcern.WriteConcern, error) {
	if wc == nil || (wc.GetW() == nil && wc.Journal == nil) {
		return nil, nil
	}
	out := &writeconcern.WriteConcern{Journal: wc.Journal}
	switch w := wc.GetW().(type) {
	case *pb.WriteConcern_WNodes:
		if w.WNodes < 0 {
			return nil, errInvalidArgument(field+".w_nodes", fmt.Sprintf("must not be negative, got %d", w.WNodes))
		}
		out.W = int(w.WNodes)
	case *pb.WriteConcern_WTag:
		if w.WTag == "" {
			return nil, errInvalidArgument(field+".w_tag", `must not be empty; use "majority" or a tag set name`)
		}
		out.W = w.WTag
	}
	if !out.IsValid() {
		return nil, errInvalidArgument(field, "w_nodes 0 (unacknowledged) cannot be combined with journal true")
	}
	return out, nil
}

var readPrefModes = map[pb.ReadPreferenceMode]readpref.Mode{
	pb.ReadPreferenceMode_READ_PREFERENCE_MODE_PRIMARY:             readpref.PrimaryMode,
	pb.ReadPreferenceMode_READ_PREFERENCE_MODE_PRIMARY_PREFERRED:   readpref.PrimaryPreferredMode,
	pb.ReadPreferenceMode_READ_PREFERENCE_MODE_SECONDARY:           readpref.SecondaryMode,
	pb.ReadPreferenceMode_READ_PREFERENCE_MODE_SECONDARY_PREFERRED: readpref.SecondaryPreferredMode,
	pb.ReadPreferenceMode_READ_PREFERENCE_MODE_NEAREST:             readpref.NearestMode,
}

// readPrefFromProto: nil, or one with nothing set, is "unset" (nil).
func readPrefFromProto(field string, rp *pb.ReadPreference) (*readpref.ReadPref, error) {
	if rp == nil || (rp.GetMode() == pb.ReadPreferenceMode_READ_PREFERENCE_MODE_UNSPECIFIED &&
		len(rp.GetTagSets()) == 0 && rp.GetMaxStaleness() == nil) {
		return nil, nil
	}
	if rp.GetMode() == pb.ReadPreferenceMode_READ_PREFERENCE_MODE_UNSPECIFIED {
		return nil, errInvalidArgument(field+".mode", "required when tag_sets or max_staleness is set")
	}
	mode, ok := readPrefModes[rp.GetMode()]
	if !ok {
		return nil, errInvalidArgument(field+".mode", fmt.Sprintf("unknown read preference mode %d", int32(rp.GetMode())))
	}
	var opts []readpref.Option
	if len(rp.GetTagSets()) > 0 {
		sets := make([]tag.Set, len(rp.GetTagSets()))
		for i, d := range rp.GetTagSets() {
			s, err := tagSetFromProto(fmt.Sprintf("%s.tag_sets[%d]", field, i), d)
			if err != nil {
				return nil, err
			}
			sets[i] = s
		}
		opts = append(opts, readpref.WithTagSets(sets...))
	}
	if rp.GetMaxStaleness() != nil {
		d, err := durationFromProto(field+".max_staleness", rp.GetMaxStaleness())
		if err != nil {
			return nil, err
		}
		if d < minMaxStaleness {
			return nil, errInvalidArgument(field+".max_staleness", fmt.Sprintf("must be at least %v, got %v", minMaxStaleness, d))
		}
		opts = append(opts, readpref.WithMaxStaleness(d))
	}
	if mode == readpref.PrimaryMode && len(opts) > 0 {
		return nil, errInvalidArgument(field, "tag_sets and max_staleness are not allowed with READ_PREFERENCE_MODE_PRIMARY")
	}
	out, err := readpref.New(mode, opts...)
	if err != nil {
		return nil, errInvalidArgument(field, err.Error())
	}
	return out, nil
}

// tagSetFromProto reads a document of string tags; {} matches any member.
func tagSetFromProto(field string, d *pb.Document) (tag.Set, error) {
	raw, err := crud.Decode(field, *documentFromProto(d))
	if err != nil {
		return nil, err
	}
	elems, err := raw.Elements()
	if err != nil {
		return nil, errInvalidArgument(field, err.Error())
	}
	s := make(tag.Set, 0, len(elems))
	for _, e := range elems {
		v, ok := e.Value().StringValueOK()
		if !ok {
			return nil, errInvalidArgument(field+"."+e.Key(), "tag values must be strings")
		}
		s = append(s, tag.Tag{Name: e.Key(), Value: v})
	}
	return s, nil
}

// transactionOptionsFromProto: nil is all unset. A transaction's writes
// belong to its session, so w:0 is refused.
func transactionOptionsFromProto(field string, o *pb.TransactionOptions) (txn.Options, error) {
	var (
		out txn.Options
		err error
	)
	if o == nil {
		return out, nil
	}
	if out.ReadConcern, err = readConcernFromProto(field+".read_concern", o.GetReadConcern()); err != nil {
		return txn.Options{}, err
	}
	if out.WriteConcern, err = writeConcernFromProto(field+".write_concern", o.GetWriteConcern()); err != nil {
		return txn.Options{}, err
	}
	if !out.WriteConcern.Acknowledged() {
		return txn.Options{}, errInvalidArgument(field+".write_concern.w_nodes",
			"0 (unacknowledged) is not allowed in a transaction")
	}
	if out.ReadPreference, err = readPrefFromProto(field+".read_preference", o.GetReadPreference()); err != nil {
		return txn.Options{}, err
	}
	if out.MaxCommitTime, err = durationFromProto(field+".max_commit_time", o.GetMaxCommitTime()); err != nil {
		return txn.Options{}, err
	}
	out.RecordOutcome = o.RecordOutcome
	return out, nil
}

// sessionOptionsFromProto: nil is all defaults.
// The session's default transaction options come apart: they belong to
// the transaction layer's state (txn.NewState).
func sessionOptionsFromProto(field string, o *pb.SessionOptions) (sessions.Options, txn.Options, error) {
	var (
		out sessions.Options
		err error
	)
	if o == nil {
		return out, txn.Options{}, nil
	}
	out.CausalConsistency = sessions.ChoiceOf(o.CausalConsistency)
	out.Snapshot = o.GetSnapshot()
	if out.Snapshot && o.GetCausalConsistency() {
		return sessions.Options{}, txn.Options{}, errInvalidArgument(field+".causal_consistency", "cannot be true with snapshot")
	}
	if out.IdleTimeout, err = durationFromProto(field+".idle_timeout", o.GetIdleTimeout()); err != nil {
		return sessions.Options{}, txn.Options{}, err
	}
	defaults, err := transactionOptionsFromProto(field+".default_transaction_options", o.GetDefaultTransactionOptions())
	if err != nil {
		return sessions.Options{}, txn.Options{}, err
	}
	return out, defaults, nil
}

// Domain to wire, for describing a session (GetSession, StartSession).

func readConcernToProto(rc *readconcern.ReadConcern) *pb.ReadConcern {
	if rc == nil {
		return nil
	}
	return &pb.ReadConcern{Level: rc.Level}
}

func writeConcernToProto(wc *writeconcern.WriteConcern) *pb.WriteConcern {
	if wc == nil {
		return nil
	}
	out := &pb.WriteConcern{Journal: wc.Journal}
	switch w := wc.W.(type) {
	case int:
		out.W = &pb.WriteConcern_WNodes{WNodes: int32(w)}
	case string:
		out.W = &pb.WriteConcern_WTag{WTag: w}
	}
	return out
}

// readPrefToProto writes tag sets as documents in format f.
func readPrefToProto(rp *readpref.ReadPref, f crud.Format) (*pb.ReadPreference, error) {
	if rp == nil {
		return nil, nil
	}
	out := &pb.ReadPreference{}
	for pm, m := range readPrefModes {
		if m == rp.Mode() {
			out.Mode = pm
		}
	}
	for _, s := range rp.TagSets() {
		doc := bson.D{}
		for _, t := range s {
			doc = append(doc, bson.E{Key: t.Name, Value: t.Value})
		}
		raw, err := bson.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("server: encode tag set: %w", err)
		}
		d, err := crud.Encode(raw, f)
		if err != nil {
			return nil, err
		}
		out.TagSets = append(out.TagSets, documentToProto(d))
	}
	if ms, ok := rp.MaxStaleness(); ok {
		out.MaxStaleness = durationpb.New(ms)
	}
	return out, nil
}

func transactionOptionsToProto(o txn.Options, f crud.Format) (*pb.TransactionOptions, error) {
	rp, err := readPrefToProto(o.ReadPreference, f)
	if err != nil {
		return nil, err
	}
	out := &pb.TransactionOptions{
		ReadConcern:    readConcernToProto(o.ReadConcern),
		WriteConcern:   writeConcernToProto(o.WriteConcern),
		ReadPreference: rp,
		RecordOutcome:  o.RecordOutcome,
	}
	if o.MaxCommitTime > 0 {
		out.MaxCommitTime = durationpb.New(o.MaxCommitTime)
	}
	return out, nil
}

func sessionOptionsToProto(o sessions.Options, defaults txn.Options, f crud.Format) (*pb.SessionOptions, error) {
	txo, err := transactionOptionsToProto(defaults, f)
	if err != nil {
		return nil, err
	}
	out := &pb.SessionOptions{
		CausalConsistency:         o.CausalConsistency.Ptr(),
		Snapshot:                  o.Snapshot,
		DefaultTransactionOptions: txo,
	}
	if o.IdleTimeout > 0 {
		out.IdleTimeout = durationpb.New(o.IdleTimeout)
	}
	return out, nil
}

// txnOutcomeToProto is the wire form of a transaction's state.
func txnOutcomeToProto(s txn.Status) pb.TransactionOutcome {
	switch s {
	case txn.InProgress:
		return pb.TransactionOutcome_TRANSACTION_OUTCOME_IN_PROGRESS
	case txn.Committed:
		return pb.TransactionOutcome_TRANSACTION_OUTCOME_COMMITTED
	case txn.Aborted:
		return pb.TransactionOutcome_TRANSACTION_OUTCOME_ABORTED
	case txn.Unknown:
		return pb.TransactionOutcome_TRANSACTION_OUTCOME_UNKNOWN
	}
	return pb.TransactionOutcome_TRANSACTION_OUTCOME_UNSPECIFIED
}
