package bench

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/grpc"

	backends "github.com/mongogate/mongogate/backend"
	mongogate "github.com/mongogate/mongogate/clients/go"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/server"
)

// bareProxy is the least a gRPC proxy in front of the driver can do, the
// reference that splits mongogate's distance from the floor in two: what
// the hop itself costs (bare proxy / floor) and what mongogate's own code
// adds to it (mongogate / bare proxy). It serves DocumentService's
// FindOne and InsertOne in BSON on a grpc.Server with mongogate's
// transport tuning (server.Tuning) and driver client (backend.Connect)
// and nothing else: no interceptors, no checks, no sessions; each call is
// the generated handler, one driver call on a cached collection handle,
// and the answer. The Go client calls it as it calls mongogate.
type bareProxy struct {
	pb.UnimplementedDocumentServiceServer
	client *mongo.Client

	mu    sync.Mutex
	colls map[string]*mongo.Collection
}

func (p *bareProxy) coll(ns *pb.Namespace) *mongo.Collection {
	key := ns.GetDatabase() + "." + ns.GetCollection()
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.colls[key]
	if c == nil {
		c = p.client.Database(ns.GetDatabase()).Collection(ns.GetCollection())
		p.colls[key] = c
	}
	return c
}

// errNotBSON is the bare proxy's answer to JSON documents: the Go client
// sends BSON.
var errNotBSON = errors.New("bare proxy: documents must be BSON")

func (p *bareProxy) FindOne(ctx context.Context, req *pb.FindOneRequest) (*pb.FindOneResponse, error) {
	filter := req.GetFilter().GetBson()
	if filter == nil {
		return nil, errNotBSON
	}
	raw, err := p.coll(req.GetNamespace()).FindOne(ctx, bson.Raw(filter)).Raw()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return &pb.FindOneResponse{}, nil
	case err != nil:
		return nil, err
	}
	return &pb.FindOneResponse{Document: &pb.Document{Value: &pb.Document_Bson{Bson: raw}}}, nil
}

func (p *bareProxy) InsertOne(ctx context.Context, req *pb.InsertOneRequest) (*pb.InsertOneResponse, error) {
	doc := req.GetDocument().GetBson()
	if doc == nil {
		return nil, errNotBSON
	}
	res, err := p.coll(req.GetNamespace()).InsertOne(ctx, bson.Raw(doc))
	if err != nil {
		return nil, err
	}
	// A value travels as the document {"v": value} (proto Value).
	id, err := bson.Marshal(bson.D{{Key: "v", Value: res.InsertedID}})
	if err != nil {
		return nil, err
	}
	return &pb.InsertOneResponse{InsertedId: &pb.Value{Value: &pb.Value_Bson{Bson: id}}, Acknowledged: res.Acknowledged}, nil
}

// startBareProxy serves a bareProxy on uri's backend on a loopback port
// (stopped at cleanup) and returns a Go client of it.
func startBareProxy(t testing.TB, uri string) *mongogate.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	b, err := backends.Connect(ctx, backends.Config{Name: backends.Default, URI: uri, RetryWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = b.Client.Disconnect(ctx)
	})
	g := grpc.NewServer(server.Tuning(server.DefaultMaxMessageSize)...)
	pb.RegisterDocumentServiceServer(g, &bareProxy{client: b.Client, colls: map[string]*mongo.Collection{}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	return (&gate{addr: ln.Addr().String()}).client(t)
}
