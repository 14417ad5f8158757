package mongogate

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mongogate/mongogate/clients/go/options"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// Documents go to the server as BSON and come back as BSON (the requests'
// response_format), so values keep their exact types both ways.
const responseFormat = pb.DocumentFormat_DOCUMENT_FORMAT_BSON

// merge folds options structs into one: a field set (non-zero) in a later
// struct wins. Every options field is a pointer, interface or slice, so
// zero means unset.
func merge[T any](opts []*T) *T {
	out := new(T)
	dst := reflect.ValueOf(out).Elem()
	for _, o := range opts {
		if o == nil {
			continue
		}
		src := reflect.ValueOf(o).Elem()
		for i := range src.NumField() {
			if f := src.Field(i); !f.IsZero() {
				dst.Field(i).Set(f)
			}
		}
	}
	return out
}

// marshal encodes v as a BSON document: a bson.D, bson.M, bson.Raw, map or
// struct, as bson.Marshal accepts.
func marshal(what string, v any) (bson.Raw, error) {
	if r, ok := v.(bson.Raw); ok {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("mongogate: %s: %w", what, err)
		}
		return r, nil
	}
	b, err := bson.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("mongogate: %s: %w", what, err)
	}
	return b, nil
}

// docOf encodes an optional document: nil stays unset.
func docOf(what string, v any) (*pb.Document, error) {
	if v == nil {
		return nil, nil
	}
	b, err := marshal(what, v)
	if err != nil {
		return nil, err
	}
	return &pb.Document{Value: &pb.Document_Bson{Bson: b}}, nil
}

// requiredDocOf encodes a required document; nil is an error rather than
// "match everything", so that a forgotten filter cannot update or delete a
// whole collection.
func requiredDocOf(what string, v any) (*pb.Document, error) {
	if v == nil {
		return nil, fmt.Errorf("mongogate: %s: %w", what, ErrNilDocument)
	}
	return docOf(what, v)
}

// docsOf encodes a list of documents.
func docsOf(what string, vs []any) ([]*pb.Document, error) {
	out := make([]*pb.Document, 0, len(vs))
	for i, v := range vs {
		d, err := requiredDocOf(fmt.Sprintf("%s[%d]", what, i), v)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// sliceOf turns a slice or array of any element type into []any.
func sliceOf(what string, v any) ([]any, error) {
	switch vs := v.(type) {
	case []any:
		return vs, nil
	case bson.D, bson.Raw:
		// bson.D is a slice, but of one document's elements.
		return nil, fmt.Errorf("mongogate: %s must be a slice of documents, got one document (%T)", what, v)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, fmt.Errorf("mongogate: %s must be a slice, got %T", what, v)
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, nil
}

// isArray reports whether v marshals as a BSON array (a pipeline) rather
// than a document. bson.D is a slice but a document.
func isArray(v any) bool {
	switch v.(type) {
	case bson.D, bson.Raw, bson.M:
		return false
	case bson.A:
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Array || (rv.Kind() == reflect.Slice && rv.Type().Elem() != reflect.TypeFor[byte]())
}

// pipelineOf encodes an aggregation pipeline: a slice of stage documents
// (bson.A, []bson.D, mongo.Pipeline, ...).
func pipelineOf(what string, v any) ([]*pb.Document, error) {
	if v == nil {
		return nil, fmt.Errorf("mongogate: %s: %w", what, ErrNilDocument)
	}
	stages, err := sliceOf(what, v)
	if err != nil {
		return nil, err
	}
	return docsOf(what, stages)
}

// updateOf encodes an update, which is either a document of update
// operators or a pipeline.
func updateOf(v any) (*pb.Document, *pb.Pipeline, error) {
	if v == nil {
		return nil, nil, fmt.Errorf("mongogate: update: %w", ErrNilDocument)
	}
	if isArray(v) {
		stages, err := pipelineOf("update", v)
		if err != nil {
			return nil, nil, err
		}
		return nil, &pb.Pipeline{Stages: stages}, nil
	}
	d, err := docOf("update", v)
	return d, nil, err
}

// hintOf splits a hint into an index key pattern or an index name.
func hintOf(v any) (*pb.Document, string, error) {
	switch h := v.(type) {
	case nil:
		return nil, "", nil
	case string:
		return nil, h, nil
	}
	d, err := docOf("hint", v)
	return d, "", err
}

func collationOf(c *options.Collation) (*pb.Document, error) {
	if c == nil {
		return nil, nil
	}
	return docOf("collation", c)
}

func durationOf(d *time.Duration) *durationpb.Duration {
	if d == nil {
		return nil
	}
	return durationpb.New(*d)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func writeConcernOf(wc *options.WriteConcern) (*pb.WriteConcern, error) {
	if wc == nil {
		return nil, nil
	}
	out := &pb.WriteConcern{Journal: wc.Journal}
	switch w := wc.W.(type) {
	case nil:
	case string:
		out.W = &pb.WriteConcern_WTag{WTag: w}
	case int:
		out.W = &pb.WriteConcern_WNodes{WNodes: int32(w)}
	case int32:
		out.W = &pb.WriteConcern_WNodes{WNodes: w}
	case int64:
		out.W = &pb.WriteConcern_WNodes{WNodes: int32(w)}
	default:
		return nil, fmt.Errorf("mongogate: write concern w must be an int or a string, got %T", wc.W)
	}
	return out, nil
}

// rawOf decodes a response document.
func rawOf(d *pb.Document) (bson.Raw, error) {
	switch v := d.GetValue().(type) {
	case *pb.Document_Bson:
		return bson.Raw(v.Bson), nil
	case *pb.Document_Json:
		var r bson.Raw
		if err := bson.UnmarshalExtJSON([]byte(v.Json), false, &r); err != nil {
			return nil, fmt.Errorf("mongogate: decode response document: %w", err)
		}
		return r, nil
	}
	return nil, errors.New("mongogate: response document holds neither bson nor json")
}

// rawValueOf decodes a response value: a BSON document {"v": value}.
func rawValueOf(v *pb.Value) (bson.RawValue, error) {
	var doc bson.Raw
	switch x := v.GetValue().(type) {
	case *pb.Value_Bson:
		doc = x.Bson
	case *pb.Value_Json:
		if err := bson.UnmarshalExtJSON([]byte(`{"v":`+x.Json+`}`), false, &doc); err != nil {
			return bson.RawValue{}, fmt.Errorf("mongogate: decode response value: %w", err)
		}
	default:
		return bson.RawValue{}, errors.New("mongogate: response value holds neither bson nor json")
	}
	rv, err := doc.LookupErr("v")
	if err != nil {
		return bson.RawValue{}, fmt.Errorf("mongogate: decode response value: %w", err)
	}
	return rv, nil
}

// valueOf decodes an optional response value into a Go value (an
// bson.ObjectID, int32, string, bson.D, ...), as the driver returns ids;
// unset is nil.
func valueOf(v *pb.Value) (any, error) {
	if v == nil {
		return nil, nil
	}
	rv, err := rawValueOf(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := rv.Unmarshal(&out); err != nil {
		return nil, fmt.Errorf("mongogate: decode response value: %w", err)
	}
	return out, nil
}

// indexedIDsOf decodes the ids of a bulk write by model index.
func indexedIDsOf(ids []*pb.IndexedId) (map[int64]any, error) {
	out := make(map[int64]any, len(ids))
	for _, id := range ids {
		v, err := valueOf(id.GetId())
		if err != nil {
			return nil, err
		}
		out[id.GetIndex()] = v
	}
	return out, nil
}
