package server

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/tag"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mongogate/mongogate/crud"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/sessions"
	"github.com/mongogate/mongogate/txn"
)

// wantInvalid asserts that err is INVALID_ARGUMENT naming field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want INVALID_ARGUMENT on %s", field)
	}
	d := mustDetails(t, mapErr(t, err))
	if d.code != codes.InvalidArgument || d.info.GetReason() != pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT.Wire() {
		t.Fatalf("got %v %s, want INVALID_ARGUMENT", d.code, d.info.GetReason())
	}
	if got := d.badRequest.GetFieldViolations(); len(got) == 0 || got[0].GetField() != field {
		t.Fatalf("BadRequest %v, want field %q", got, field)
	}
}

func jsonDoc(s string) *pb.Document { return &pb.Document{Value: &pb.Document_Json{Json: s}} }

func TestDocumentFromProto(t *testing.T) {
	bsonEmptyDoc := []byte{5, 0, 0, 0, 0}
	tests := []struct {
		name    string
		in      *pb.Document
		want    *crud.Document
		invalid bool // crud.Decode refuses it
	}{
		{"unset", nil, nil, false},
		{"json", jsonDoc(`{"a": 1}`), &crud.Document{JSON: `{"a": 1}`}, false},
		{"bson", &pb.Document{Value: &pb.Document_Bson{Bson: bsonEmptyDoc}}, &crud.Document{BSON: bsonEmptyDoc}, false},
		{"empty bson", &pb.Document{Value: &pb.Document_Bson{}}, &crud.Document{BSON: []byte{}}, true},
		{"neither", &pb.Document{}, &crud.Document{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := documentFromProto(tt.in)
			if (got == nil) != (tt.want == nil) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if got == nil {
				return
			}
			if got.JSON != tt.want.JSON || string(got.BSON) != string(tt.want.BSON) || (got.BSON == nil) != (tt.want.BSON == nil) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if _, err := crud.Decode("filter", *got); tt.invalid {
				wantInvalid(t, err, "filter")
			} else if err != nil {
				t.Fatalf("Decode: %v", err)
			}
		})
	}
	docs := documentsFromProto([]*pb.Document{jsonDoc(`{}`), nil})
	if len(docs) != 2 || docs[0].JSON != `{}` || docs[1].JSON != "" || docs[1].BSON != nil {
		t.Errorf("documentsFromProto = %+v", docs)
	}
}

func TestDocumentToProto(t *testing.T) {
	if d := documentToProto(crud.Document{JSON: `{"a":1}`}); d.GetJson() != `{"a":1}` {
		t.Errorf("json document = %v", d)
	}
	if d := documentToProto(crud.Document{BSON: []byte{5, 0, 0, 0, 0}}); len(d.GetBson()) != 5 {
		t.Errorf("bson document = %v", d)
	}
	if v := valueToProto(crud.Document{JSON: `{"$numberInt":"42"}`}); v.GetJson() != `{"$numberInt":"42"}` {
		t.Errorf("json value = %v", v)
	}
	if v := valueToProto(crud.Document{BSON: []byte{5, 0, 0, 0, 0}}); len(v.GetBson()) != 5 {
		t.Errorf("bson value = %v", v)
	}
}

func TestFormatFromProto(t *testing.T) {
	tests := []struct {
		in   pb.DocumentFormat
		want crud.Format
		ok   bool
	}{
		{pb.DocumentFormat_DOCUMENT_FORMAT_UNSPECIFIED, crud.FormatJSONCanonical, true},
		{pb.DocumentFormat_DOCUMENT_FORMAT_JSON_CANONICAL, crud.FormatJSONCanonical, true},
		{pb.DocumentFormat_DOCUMENT_FORMAT_JSON_RELAXED, crud.FormatJSONRelaxed, true},
		{pb.DocumentFormat_DOCUMENT_FORMAT_BSON, crud.FormatBSON, true},
		{pb.DocumentFormat(99), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			got, err := formatFromProto(tt.in)
			if !tt.ok {
				wantInvalid(t, err, "response_format")
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestNamespaceFromProto(t *testing.T) {
	tests := []struct {
		name  string
		in    *pb.Namespace
		field string // "" for success
	}{
		{"good", &pb.Namespace{Database: "shop", Collection: "orders"}, ""},
		{"unset", nil, "namespace"},
		{"no database", &pb.Namespace{Collection: "orders"}, "namespace.database"},
		{"no collection", &pb.Namespace{Database: "shop"}, "namespace.collection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := namespaceFromProto(tt.in)
			if tt.field != "" {
				wantInvalid(t, err, tt.field)
				return
			}
			if err != nil || ns != (crud.Namespace{Database: "shop", Collection: "orders"}) {
				t.Fatalf("= %v, %v", ns, err)
			}
		})
	}
}

func TestReadConcernFromProto(t *testing.T) {
	tests := []struct {
		level string
		want  *readconcern.ReadConcern
		ok    bool
	}{
		{"", nil, true},
		{"local", readconcern.Local(), true},
		{"majority", readconcern.Majority(), true},
		{"snapshot", readconcern.Snapshot(), true},
		{"available", readconcern.Available(), true},
		{"linearizable", readconcern.Linearizable(), true},
		{"Majority", nil, false},
		{"bogus", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			got, err := readConcernFromProto("options.read_concern", &pb.ReadConcern{Level: tt.level})
			if !tt.ok {
				wantInvalid(t, err, "options.read_concern.level")
				return
			}
			if err != nil || (got == nil) != (tt.want == nil) || (got != nil && got.Level != tt.want.Level) {
				t.Fatalf("= %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if rc, err := readConcernFromProto("x", nil); rc != nil || err != nil {
		t.Errorf("nil = %v, %v", rc, err)
	}
}

func TestWriteConcernFromProto(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name  string
		in    *pb.WriteConcern
		want  *writeconcern.WriteConcern
		field string // "" for success
	}{
		{"unset", nil, nil, ""},
		{"empty", &pb.WriteConcern{}, nil, ""},
		{"w 1", &pb.WriteConcern{W: &pb.WriteConcern_WNodes{WNodes: 1}}, &writeconcern.WriteConcern{W: 1}, ""},
		{"w 0", &pb.WriteConcern{W: &pb.WriteConcern_WNodes{WNodes: 0}, Journal: &no}, &writeconcern.WriteConcern{W: 0, Journal: &no}, ""},
		{"majority", &pb.WriteConcern{W: &pb.WriteConcern_WTag{WTag: "majority"}, Journal: &yes}, &writeconcern.WriteConcern{W: "majority", Journal: &yes}, ""},
		{"journal only", &pb.WriteConcern{Journal: &yes}, &writeconcern.WriteConcern{Journal: &yes}, ""},
		{"negative w", &pb.WriteConcern{W: &pb.WriteConcern_WNodes{WNodes: -1}}, nil, "wc.w_nodes"},
		{"empty tag", &pb.WriteConcern{W: &pb.WriteConcern_WTag{}}, nil, "wc.w_tag"},
		{"w 0 journaled", &pb.WriteConcern{W: &pb.WriteConcern_WNodes{WNodes: 0}, Journal: &yes}, nil, "wc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := writeConcernFromProto("wc", tt.in)
			if tt.field != "" {
				wantInvalid(t, err, tt.field)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || (got != nil && (got.W != tt.want.W || !equalBoolPtr(got.Journal, tt.want.Journal))) {
				t.Fatalf("= %+v, want %+v", got, tt.want)
			}
		})
	}
}

func equalBoolPtr(a, b *bool) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func TestReadPrefFromProto(t *testing.T) {
	d := durationpb.New
	tests := []struct {
		name      string
		in        *pb.ReadPreference
		mode      readpref.Mode // 0 for nil
		tags      []tag.Set
		staleness time.Duration
		field     string // "" for success
	}{
		{"unset", nil, 0, nil, 0, ""},
		{"empty", &pb.ReadPreference{}, 0, nil, 0, ""},
		{"primary", &pb.ReadPreference{Mode: pb.ReadPreferenceMode_READ_PREFERENCE_MODE_PRIMARY}, readpref.PrimaryMode, nil, 0, ""},
		{"nearest", &pb.ReadPreference{Mode: pb.ReadPreferenceMode_READ_PREFERENCE_MODE_NEAREST}, readpref.NearestMode, nil, 0, ""},
		{"secondary with tags and staleness", &pb.ReadPreference{
			Mode:         pb.ReadPreferenceMode_READ_PREFERENCE_MODE_SECONDARY,
			TagSets:      []*pb.Document{jsonDoc(`{"dc": "east", "usage": "reporting"}`), jsonDoc(`{}`)},
			MaxStaleness: d(2 * time.Minute),
		}, readpref.SecondaryMode, []tag.Set{{{Name: "dc", Value: "east"}, {Name: "usage", Value: "reporting"}}, {}}, 2 * time.Minute, ""},
		{"tags without mode", &pb.ReadPreference{TagSets: []*pb.Document{jsonDoc(`{}`)}}, 0, nil, 0, "rp.mode"},
		{"unknown mode", &pb.ReadPreference{Mode: 99}, 0, nil, 0, "rp.mode"},
		{"primary with tags", &pb.ReadPreference{Mode: pb.ReadPreferenceMode_READ_PREFERENCE_MODE_PRIMARY,
			TagSets: []*pb.Document{jsonDoc(`{"dc": "east"}`)}}, 0, nil, 0, "rp"},
		{"staleness too small", &pb.ReadPreference{Mode: pb.ReadPreferenceMode_READ_PREFERENCE_MODE_NEAREST,
			MaxStaleness: d(10 * time.Second)}, 0, nil, 0, "rp.max_staleness"},
		{"negative staleness", &pb.ReadPreference{Mode: pb.ReadPreferenceMode_READ_PREFERENCE_MODE_NEAREST,
			MaxStaleness: d(-time.Minute)}, 0, nil, 0, "rp.max_staleness"},
		{"tag not a string", &pb.ReadPreference{Mode: pb.ReadPreferenceMode_READ_PREFERENCE_MODE_NEAREST,
			TagSets: []*pb.Document{jsonDoc(`{}`), jsonDoc(`{"dc": 1}`)}}, 0, nil, 0, "rp.tag_sets[1].dc"},
		{"tag set not json", &pb.ReadPreference{Mode: pb.ReadPreferenceMode_READ_PREFERENCE_MODE_NEAREST,
			TagSets: []*pb.Document{jsonDoc(`{dc`)}}, 0, nil, 0, "rp.tag_sets[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readPrefFromProto("rp", tt.in)
			if tt.field != "" {
				wantInvalid(t, err, tt.field)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.mode == 0 {
				if got != nil {
					t.Fatalf("= %v, want nil", got)
				}
				return
			}
			if got.Mode() != tt.mode {
				t.Errorf("mode = %v, want %v", got.Mode(), tt.mode)
			}
			if len(got.TagSets()) != len(tt.tags) {
				t.Fatalf("tag sets = %v, want %v", got.TagSets(), tt.tags)
			}
			for i := range tt.tags {
				if !got.TagSets()[i].ContainsAll(tt.tags[i]) || len(got.TagSets()[i]) != len(tt.tags[i]) {
					t.Errorf("tag set %d = %v, want %v", i, got.TagSets()[i], tt.tags[i])
				}
			}
			if ms, _ := got.MaxStaleness(); ms != tt.staleness {
				t.Errorf("max staleness = %v, want %v", ms, tt.staleness)
			}
		})
	}
}

func TestTransactionOptionsFromProto(t *testing.T) {
	tests := []struct {
		name  string
		in    *pb.TransactionOptions
		field string // "" for success
	}{
		{"unset", nil, ""},
		{"full", &pb.TransactionOptions{
			ReadConcern:    &pb.ReadConcern{Level: "snapshot"},
			WriteConcern:   &pb.WriteConcern{W: &pb.WriteConcern_WTag{WTag: "majority"}},
			ReadPreference: &pb.ReadPreference{Mode: pb.ReadPreferenceMode_READ_PREFERENCE_MODE_PRIMARY},
			MaxCommitTime:  durationpb.New(5 * time.Second),
		}, ""},
		{"unacknowledged", &pb.TransactionOptions{WriteConcern: &pb.WriteConcern{W: &pb.WriteConcern_WNodes{}}}, "options.write_concern.w_nodes"},
		{"bad read concern", &pb.TransactionOptions{ReadConcern: &pb.ReadConcern{Level: "eventual"}}, "options.read_concern.level"},
		{"bad read preference", &pb.TransactionOptions{ReadPreference: &pb.ReadPreference{Mode: 42}}, "options.read_preference.mode"},
		{"zero commit time", &pb.TransactionOptions{MaxCommitTime: durationpb.New(0)}, "options.max_commit_time"},
		{"invalid commit time", &pb.TransactionOptions{MaxCommitTime: &durationpb.Duration{Seconds: 1, Nanos: -1}}, "options.max_commit_time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := transactionOptionsFromProto("options", tt.in)
			if tt.field != "" {
				wantInvalid(t, err, tt.field)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.in == nil {
				if got != (txn.Options{}) {
					t.Fatalf("= %+v, want zero", got)
				}
				return
			}
			if got.ReadConcern.Level != "snapshot" || got.WriteConcern.W != "majority" ||
				got.ReadPreference.Mode() != readpref.PrimaryMode || got.MaxCommitTime != 5*time.Second {
				t.Fatalf("= %+v", got)
			}
		})
	}
}

func TestSessionOptionsFromProto(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name  string
		in    *pb.SessionOptions
		field string // "" for success
	}{
		{"unset", nil, ""},
		{"snapshot", &pb.SessionOptions{Snapshot: true, CausalConsistency: &no}, ""},
		{"snapshot and causal", &pb.SessionOptions{Snapshot: true, CausalConsistency: &yes}, "options.causal_consistency"},
		{"zero idle timeout", &pb.SessionOptions{IdleTimeout: durationpb.New(0)}, "options.idle_timeout"},
		{"bad default transaction options", &pb.SessionOptions{DefaultTransactionOptions: &pb.TransactionOptions{
			ReadConcern: &pb.ReadConcern{Level: "eventual"}}}, "options.default_transaction_options.read_concern.level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := sessionOptionsFromProto("options", tt.in)
			if tt.field != "" {
				wantInvalid(t, err, tt.field)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// What a client asks for is what GetSession describes.
func TestSessionOptionsRoundTrip(t *testing.T) {
	yes := true
	in := &pb.SessionOptions{
		CausalConsistency: &yes,
		IdleTimeout:       durationpb.New(10 * time.Minute),
		DefaultTransactionOptions: &pb.TransactionOptions{
			ReadConcern:  &pb.ReadConcern{Level: "majority"},
			WriteConcern: &pb.WriteConcern{W: &pb.WriteConcern_WNodes{WNodes: 2}, Journal: &yes},
			ReadPreference: &pb.ReadPreference{
				Mode:         pb.ReadPreferenceMode_READ_PREFERENCE_MODE_SECONDARY_PREFERRED,
				TagSets:      []*pb.Document{jsonDoc(`{"dc":"east"}`), jsonDoc(`{}`)},
				MaxStaleness: durationpb.New(100 * time.Second),
			},
			MaxCommitTime: durationpb.New(3 * time.Second),
		},
	}
	o, defaults, err := sessionOptionsFromProto("options", in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sessionOptionsToProto(o, defaults, crud.FormatJSONCanonical)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, out) {
		t.Errorf("round trip:\n in  %v\n out %v", in, out)
	}
	empty, err := sessionOptionsToProto(sessions.Options{}, txn.Options{}, crud.FormatJSONCanonical)
	if err != nil || !proto.Equal(empty, &pb.SessionOptions{DefaultTransactionOptions: &pb.TransactionOptions{}}) {
		t.Errorf("empty options = %v, %v", empty, err)
	}
}

func TestTxnOutcomeToProto(t *testing.T) {
	tests := []struct {
		in   txn.Status
		want pb.TransactionOutcome
	}{
		{txn.None, pb.TransactionOutcome_TRANSACTION_OUTCOME_UNSPECIFIED},
		{txn.InProgress, pb.TransactionOutcome_TRANSACTION_OUTCOME_IN_PROGRESS},
		{txn.Committed, pb.TransactionOutcome_TRANSACTION_OUTCOME_COMMITTED},
		{txn.Aborted, pb.TransactionOutcome_TRANSACTION_OUTCOME_ABORTED},
		{txn.Unknown, pb.TransactionOutcome_TRANSACTION_OUTCOME_UNKNOWN},
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			if got := txnOutcomeToProto(tt.in); got != tt.want {
				t.Errorf("= %v, want %v", got, tt.want)
			}
		})
	}
}
