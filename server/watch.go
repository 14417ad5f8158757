package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/grpc"

	"github.com/mongogate/mongogate/authz"
	"github.com/mongogate/mongogate/crud"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/watch"
)

// Bounds of WatchRequest.max_await_time, and its default.
const (
	defaultWatchIdle = time.Second
	minWatchIdle     = 100 * time.Millisecond
	maxWatchIdle     = time.Minute
)

// watchService implements pb.WatchServiceServer over a watch.Hub. Watch
// takes no session, so the forwarder leaves it alone and any instance
// serves it.
type watchService struct {
	pb.UnimplementedWatchServiceServer
	s   *Server
	hub *watch.Hub
}

// RegisterWatch adds WatchService, fanned out by hub, to g.
func (s *Server) RegisterWatch(g grpc.ServiceRegistrar, hub *watch.Hub) {
	pb.RegisterWatchServiceServer(g, &watchService{s: s, hub: hub})
}

// watchRequest is a checked WatchRequest.
type watchRequest struct {
	spec   watch.Spec
	start  watch.Start
	idle   time.Duration
	format crud.Format
}

// Watch checks the request, authorizes every namespace in scope before
// anything is opened, subscribes, and sends what the subscription gives
// until it ends.
func (h *watchService) Watch(req *pb.WatchRequest, stream grpc.ServerStreamingServer[pb.WatchResponse]) error {
	ctx := stream.Context()
	if _, err := principal(ctx); err != nil {
		return err
	}
	w, err := watchFromProto(req)
	if err != nil {
		return err
	}
	if err := h.s.authorizeWatch(ctx, w.spec); err != nil {
		return err
	}
	b, err := h.s.backend(req.GetClient())
	if err != nil {
		return err
	}
	if err := available(b); err != nil {
		return err
	}
	w.spec.Backend = b.Name
	w.spec.Pipeline = append(h.s.internalFilter(w.spec), w.spec.Pipeline...)
	sub, err := h.hub.Subscribe(ctx, w.spec, w.start)
	if errors.Is(err, watch.ErrBadToken) {
		field := "resume_after"
		if w.start.StartAfter != "" {
			field = "start_after"
		}
		return errInvalidArgument(field, "not a token of a watch of this client, scope, pipeline and options (or not issued by mongogate)")
	}
	if err != nil {
		return err
	}
	defer sub.Close()
	for {
		ev, err := sub.Next(ctx, w.idle)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := watchResponse(ev, w.format)
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// authorizeWatch refuses a watch unless the caller may read everything in
// its scope (for a database every collection, for the deployment every
// database: authz.Namespace with empty parts) and what its pipeline
// names, as Aggregate is authorized.
func (s *Server) authorizeWatch(ctx context.Context, spec watch.Spec) error {
	if s.authz == nil && len(s.internal) == 0 {
		return nil
	}
	needs := []authz.Access{{Namespace: authz.Namespace{Database: spec.Database, Collection: spec.Collection}, Action: authz.Read}}
	more, err := authz.PipelineAccesses(spec.Database, "pipeline", spec.Pipeline)
	if err != nil {
		return err
	}
	return s.allowed(ctx, append(needs, more...))
}

// internalFilter is the stage that keeps mongogate's own collections
// (Config.Internal: the instance directory, outcome records, the token
// key) out of a database or deployment watch, whose scope contains them;
// nil when there are none in scope. A collection watch on one of them is
// refused by authorizeWatch.
func (s *Server) internalFilter(spec watch.Spec) []bson.Raw {
	if spec.Collection != "" {
		return nil
	}
	var nss []authz.Namespace
	for ns := range s.internal {
		if spec.Database == "" || spec.Database == ns.Database {
			nss = append(nss, ns)
		}
	}
	if len(nss) == 0 {
		return nil
	}
	slices.SortFunc(nss, func(a, b authz.Namespace) int { return strings.Compare(a.String(), b.String()) })
	nor := bson.A{}
	for _, ns := range nss {
		nor = append(nor, bson.D{{Key: "ns.db", Value: ns.Database}, {Key: "ns.coll", Value: ns.Collection}})
	}
	stage, err := bson.Marshal(bson.D{{Key: "$match", Value: bson.D{{Key: "$nor", Value: nor}}}})
	if err != nil {
		// Marshalling strings cannot fail.
		panic(err)
	}
	return []bson.Raw{stage}
}

// watchFromProto checks and converts a WatchRequest.
func watchFromProto(req *pb.WatchRequest) (watchRequest, error) {
	var w watchRequest
	switch sc := req.GetScope().(type) {
	case *pb.WatchRequest_Collection:
		ns := crud.Namespace{Database: sc.Collection.GetDatabase(), Collection: sc.Collection.GetCollection()}
		if err := renamedArg(ns.Validate(), "namespace.", "collection."); err != nil {
			return w, err
		}
		w.spec.Database, w.spec.Collection = ns.Database, ns.Collection
	case *pb.WatchRequest_Database:
		ns := crud.Namespace{Database: sc.Database, Collection: "c"}
		if err := renamedArg(ns.Validate(), "namespace.database", "database"); err != nil {
			return w, err
		}
		if sc.Database == "admin" || sc.Database == "config" || sc.Database == "local" {
			return w, errInvalidArgument("database", "MongoDB cannot watch its internal databases admin, config and local")
		}
		w.spec.Database = sc.Database
	case *pb.WatchRequest_Deployment_:
	default:
		return w, errInvalidArgument("scope", "required: set collection, database or deployment")
	}
	stages, err := crud.Stages("pipeline", documentsFromProto(req.GetPipeline()))
	if err != nil {
		return w, err
	}
	w.spec.Pipeline = stages
	o := req.GetOptions()
	switch o.GetFullDocument() {
	case pb.FullDocument_FULL_DOCUMENT_UNSPECIFIED, pb.FullDocument_FULL_DOCUMENT_DEFAULT:
	case pb.FullDocument_FULL_DOCUMENT_UPDATE_LOOKUP:
		w.spec.FullDocument = string(options.UpdateLookup)
	case pb.FullDocument_FULL_DOCUMENT_WHEN_AVAILABLE:
		w.spec.FullDocument = string(options.WhenAvailable)
	case pb.FullDocument_FULL_DOCUMENT_REQUIRED:
		w.spec.FullDocument = string(options.Required)
	default:
		return w, errInvalidArgument("options.full_document", fmt.Sprintf("unknown value %d", o.GetFullDocument()))
	}
	switch o.GetFullDocumentBeforeChange() {
	case pb.FullDocumentBeforeChange_FULL_DOCUMENT_BEFORE_CHANGE_UNSPECIFIED, pb.FullDocumentBeforeChange_FULL_DOCUMENT_BEFORE_CHANGE_OFF:
	case pb.FullDocumentBeforeChange_FULL_DOCUMENT_BEFORE_CHANGE_WHEN_AVAILABLE:
		w.spec.FullDocumentBeforeChange = string(options.WhenAvailable)
	case pb.FullDocumentBeforeChange_FULL_DOCUMENT_BEFORE_CHANGE_REQUIRED:
		w.spec.FullDocumentBeforeChange = string(options.Required)
	default:
		return w, errInvalidArgument("options.full_document_before_change", fmt.Sprintf("unknown value %d", o.GetFullDocumentBeforeChange()))
	}
	w.spec.ShowExpandedEvents = o.GetShowExpandedEvents()
	switch st := req.GetStart().(type) {
	case *pb.WatchRequest_ResumeAfter:
		if st.ResumeAfter == "" {
			return w, errInvalidArgument("resume_after", "empty token")
		}
		w.start.ResumeAfter = st.ResumeAfter
	case *pb.WatchRequest_StartAfter:
		if st.StartAfter == "" {
			return w, errInvalidArgument("start_after", "empty token")
		}
		w.start.StartAfter = st.StartAfter
	case *pb.WatchRequest_StartAtOperationTime:
		w.start.AtOperationTime = &bson.Timestamp{T: st.StartAtOperationTime.GetSeconds(), I: st.StartAtOperationTime.GetIncrement()}
	}
	if w.format, err = formatFromProto(req.GetResponseFormat()); err != nil {
		return w, err
	}
	w.idle = defaultWatchIdle
	if d := req.GetMaxAwaitTime(); d != nil {
		if err := d.CheckValid(); err != nil {
			return w, errInvalidArgument("max_await_time", err.Error())
		}
		if v := d.AsDuration(); v < minWatchIdle || v > maxWatchIdle {
			return w, errInvalidArgument("max_await_time", fmt.Sprintf("%v is outside [%v, %v]", v, minWatchIdle, maxWatchIdle))
		} else {
			w.idle = v
		}
	}
	return w, nil
}

// renamedArg gives a crud argument error the request's field path.
func renamedArg(err error, from, to string) error {
	var ae *crud.ArgError
	if errors.As(err, &ae) {
		return errInvalidArgument(to+strings.TrimPrefix(ae.Field, from), ae.Reason)
	}
	return err
}

// watchResponse is one message of the stream: the event in format f (its
// encoding shared by every subscriber), or a heartbeat.
func watchResponse(ev *watch.Event, f crud.Format) (*pb.WatchResponse, error) {
	r := &pb.WatchResponse{ResumeToken: ev.Token}
	if ev.Heartbeat() {
		return r, nil
	}
	d, err := ev.Encode(f)
	if err != nil {
		return nil, err
	}
	r.Event = documentToProto(d)
	r.OperationType = ev.OperationType
	if ev.ClusterTime.T != 0 || ev.ClusterTime.I != 0 {
		r.ClusterTime = &pb.OperationTime{Seconds: ev.ClusterTime.T, Increment: ev.ClusterTime.I}
	}
	return r, nil
}
