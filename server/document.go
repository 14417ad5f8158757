package server

import (
	"context"
	"errors"
	"google.golang.org/protobuf/proto"
	"io"

	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/mongogate/mongogate/crud"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// documentService implements pb.DocumentServiceServer: CRUD and aggregate on
// a namespace, each optionally inside the caller's session.
type documentService struct {
	pb.UnimplementedDocumentServiceServer
	s *Server
}

// target is where an operation of c runs, with the request's write
// concern (nil: the session's, transaction's or backend's).
func (c *call) target(wc *writeconcern.WriteConcern) crud.Target {
	return crud.Target{Client: c.backend.Client, Session: c.session(), WriteConcern: wc}
}

// sessionRequest is what every DocumentService request has.
type sessionRequest interface {
	GetSessionToken() string
	GetClient() string
}

// runOne is the body of every unary DocumentService handler, given the
// converted operation and its Do: it checks the write concern and
// response format, authorizes the operation, takes the request's session
// for the call, runs the operation and encodes its result. Requests
// without a write concern or response format pass nil and 0.
func runOne[R, P any](ctx context.Context, s *Server, req sessionRequest, op any, pwc *pb.WriteConcern, pf pb.DocumentFormat,
	do func(context.Context, crud.Target) (R, error), encode func(R, crud.Format) (P, error),
) (P, error) {
	var zero P
	wc, err := writeConcernFromProto("write_concern", pwc)
	if err != nil {
		return zero, err
	}
	f, err := formatFromProto(pf)
	if err != nil {
		return zero, err
	}
	if err := s.authorize(ctx, op); err != nil {
		return zero, err
	}
	ctx, c, err := s.begin(ctx, req.GetSessionToken(), req.GetClient())
	if err != nil {
		return zero, err
	}
	defer c.done()
	r, err := do(ctx, c.target(wc))
	if err != nil {
		return zero, err
	}
	out, err := encode(r, f)
	if err != nil {
		return zero, err
	}
	return out, nil
}

// InsertOne inserts one document.
func (h *documentService) InsertOne(ctx context.Context, req *pb.InsertOneRequest) (*pb.InsertOneResponse, error) {
	op, err := insertOneFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, req.GetWriteConcern(), req.GetResponseFormat(), op.Do, insertOneResponse)
}

// InsertMany inserts documents.
func (h *documentService) InsertMany(ctx context.Context, req *pb.InsertManyRequest) (*pb.InsertManyResponse, error) {
	op, err := insertManyFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, req.GetWriteConcern(), req.GetResponseFormat(), op.Do, insertManyResponse)
}

// FindOne returns the first matching document; the response's document is
// unset when none matches.
func (h *documentService) FindOne(ctx context.Context, req *pb.FindOneRequest) (*pb.FindOneResponse, error) {
	op, err := findOneFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, nil, req.GetResponseFormat(), op.Do, findOneResponse)
}

// UpdateOne updates the first matching document.
func (h *documentService) UpdateOne(ctx context.Context, req *pb.UpdateOneRequest) (*pb.UpdateOneResponse, error) {
	op, err := updateOneFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, req.GetWriteConcern(), req.GetResponseFormat(), op.Do, updateOneResponse)
}

// UpdateMany updates every matching document.
func (h *documentService) UpdateMany(ctx context.Context, req *pb.UpdateManyRequest) (*pb.UpdateManyResponse, error) {
	op, err := updateManyFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, req.GetWriteConcern(), req.GetResponseFormat(), op.Do, updateManyResponse)
}

// ReplaceOne replaces the first matching document.
func (h *documentService) ReplaceOne(ctx context.Context, req *pb.ReplaceOneRequest) (*pb.ReplaceOneResponse, error) {
	op, err := replaceOneFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, req.GetWriteConcern(), req.GetResponseFormat(), op.Do, replaceOneResponse)
}

// DeleteOne deletes the first matching document.
func (h *documentService) DeleteOne(ctx context.Context, req *pb.DeleteOneRequest) (*pb.DeleteOneResponse, error) {
	op, err := deleteOneFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, req.GetWriteConcern(), 0, op.Do, deleteOneResponse)
}

// DeleteMany deletes every matching document.
func (h *documentService) DeleteMany(ctx context.Context, req *pb.DeleteManyRequest) (*pb.DeleteManyResponse, error) {
	op, err := deleteManyFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, req.GetWriteConcern(), 0, op.Do, deleteManyResponse)
}

// FindOneAndUpdate updates the first matching document and returns it.
func (h *documentService) FindOneAndUpdate(ctx context.Context, req *pb.FindOneAndUpdateRequest) (*pb.FindOneAndUpdateResponse, error) {
	op, err := findOneAndUpdateFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, req.GetWriteConcern(), req.GetResponseFormat(), op.Do, findOneAndUpdateResponse)
}

// FindOneAndReplace replaces the first matching document and returns it.
func (h *documentService) FindOneAndReplace(ctx context.Context, req *pb.FindOneAndReplaceRequest) (*pb.FindOneAndReplaceResponse, error) {
	op, err := findOneAndReplaceFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, req.GetWriteConcern(), req.GetResponseFormat(), op.Do, findOneAndReplaceResponse)
}

// FindOneAndDelete deletes the first matching document and returns it.
func (h *documentService) FindOneAndDelete(ctx context.Context, req *pb.FindOneAndDeleteRequest) (*pb.FindOneAndDeleteResponse, error) {
	op, err := findOneAndDeleteFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, req.GetWriteConcern(), req.GetResponseFormat(), op.Do, findOneAndDeleteResponse)
}

// CountDocuments counts the matching documents.
func (h *documentService) CountDocuments(ctx context.Context, req *pb.CountDocumentsRequest) (*pb.CountDocumentsResponse, error) {
	op, err := countDocumentsFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, nil, 0, op.Do, countDocumentsResponse)
}

// Distinct returns the distinct values of a field.
func (h *documentService) Distinct(ctx context.Context, req *pb.DistinctRequest) (*pb.DistinctResponse, error) {
	op, err := distinctFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, nil, req.GetResponseFormat(), op.Do, distinctResponse)
}

// BulkWrite runs several writes on one collection.
func (h *documentService) BulkWrite(ctx context.Context, req *pb.BulkWriteRequest) (*pb.BulkWriteResponse, error) {
	op, err := bulkWriteFromProto(req)
	if err != nil {
		return nil, err
	}
	return runOne(ctx, h.s, req, op, req.GetWriteConcern(), req.GetResponseFormat(), op.Do, bulkWriteResponse)
}

// Find streams the matching documents, one message per cursor batch. The
// session, if any, stays busy until the stream ends.
func (h *documentService) Find(req *pb.FindRequest, stream pb.DocumentService_FindServer) error {
	op, err := findFromProto(req)
	if err != nil {
		return err
	}
	return streamCursor(stream.Context(), h.s, req, op, nil, req.GetResponseFormat(), op.Do,
		func(docs []*pb.Document) error { return stream.Send(&pb.FindResponse{Documents: docs}) })
}

// Aggregate runs a pipeline and streams its output, one message per
// cursor batch. The session, if any, stays busy until the stream ends.
func (h *documentService) Aggregate(req *pb.AggregateRequest, stream pb.DocumentService_AggregateServer) error {
	op, err := aggregateFromProto(req)
	if err != nil {
		return err
	}
	return streamCursor(stream.Context(), h.s, req, op, req.GetWriteConcern(), req.GetResponseFormat(), op.Do,
		func(docs []*pb.Document) error { return stream.Send(&pb.AggregateResponse{Documents: docs}) })
}

// streamCursor is the body of Find and Aggregate: it authorizes op, holds
// the request's session for the whole stream, opens the cursor with do,
// and sends each batch with send. The cursor is closed on every exit,
// including a cancelled stream and a failed send.
func streamCursor(ctx context.Context, s *Server, req sessionRequest, op any, pwc *pb.WriteConcern, pf pb.DocumentFormat,
	do func(context.Context, crud.Target) (*crud.Cursor, error), send func([]*pb.Document) error,
) error {
	wc, err := writeConcernFromProto("write_concern", pwc)
	if err != nil {
		return err
	}
	f, err := formatFromProto(pf)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, op); err != nil {
		return err
	}
	ctx, c, err := s.begin(ctx, req.GetSessionToken(), req.GetClient())
	if err != nil {
		return err
	}
	defer c.done()
	cur, err := do(ctx, c.target(wc))
	if err != nil {
		return err
	}
	// Close is idempotent and runs even once ctx is done; NextBatch has
	// already closed the cursor on the paths that end the stream normally.
	defer func() { _ = cur.Close(ctx) }()
	for {
		batch, err := cur.NextBatch(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		docs, err := documentsResponse(batch, f)
		if err != nil {
			return err
		}
		for _, part := range splitMessages(docs, streamMessageBudget) {
			if err := send(part); err != nil {
				// The client is gone or the stream broke: the status says
				// why; ctx's error is the clearer one when it is done.
				if cerr := ctx.Err(); cerr != nil {
					return cerr
				}
				return err
			}
		}
	}
}

// streamMessageBudget keeps each streamed message under gRPC clients'
// default 4 MiB receive limit, so a client that left the default can read
// any result; a single larger document still goes out alone.
const streamMessageBudget = 3 << 20

// splitMessages splits one cursor batch into messages of at most budget
// bytes each (a lone document over budget gets a message of its own).
// Small batches, the usual case, stay one message.
func splitMessages(docs []*pb.Document, budget int) [][]*pb.Document {
	var out [][]*pb.Document
	start, size := 0, 0
	for i, d := range docs {
		n := proto.Size(d) + 8
		if i > start && size+n > budget {
			out = append(out, docs[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(out, docs[start:])
}
