package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// httpFigures measure the HTTP surface against native gRPC on the same
// server, and native gRPC with the HTTP surface on (cmux splits the
// listener) against a server that serves gRPC alone. DESIGN §7: HTTP/JSON
// FindOne p50 ≤ 1.3 × gRPC's, throughput ≥ 0.7 ×; the native gRPC rows
// unchanged.
//
// In these rows the "mongogate" column is the HTTP call (or the gRPC call
// with HTTP on) and the "floor" column the gRPC call (or gRPC alone).
func httpFigures(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	// findOneFigures seeded e.db.users.
	url := "http://" + e.gate.addr + "/mongogate.v1.DocumentService/FindOne"
	http1 := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * p.clients}}
	t.Cleanup(http1.CloseIdleConnections)
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	http2 := &http.Client{Transport: &http.Transport{Protocols: h2c}}
	t.Cleanup(http2.CloseIdleConnections)
	body := func() string {
		return fmt.Sprintf(`{"namespace":{"database":%q,"collection":"users"},"filter":{"_id":%d}}`, e.db, rand.N(seeded))
	}
	overHTTP := func(client *http.Client) func(ctx context.Context, _ int) error {
		return func(ctx context.Context, _ int) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body()))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(b, []byte(`{"document":`)) {
				return fmt.Errorf("FindOne over Connect: HTTP %d %s", resp.StatusCode, b)
			}
			return nil
		}
	}
	grpcFind := func(st stubs) func(ctx context.Context, _ int) error {
		return func(ctx context.Context, _ int) error {
			resp, err := st.docs.FindOne(ctx, &pb.FindOneRequest{
				Namespace: &pb.Namespace{Database: e.db, Collection: "users"},
				Filter:    &pb.Document{Value: &pb.Document_Json{Json: fmt.Sprintf(`{"_id":%d}`, rand.N(seeded))}},
			})
			if err == nil && resp.GetDocument() == nil {
				err = fmt.Errorf("FindOne over gRPC found nothing")
			}
			return err
		}
	}
	overGRPC := grpcFind(e.gate.stubs(t))
	for _, hp := range []struct {
		name   string
		client *http.Client
	}{{"HTTP/1.1", http1}, {"HTTP/2 without TLS (h2c)", http2}} {
		fig := "FindOne, Connect JSON over " + hp.name + " (vs gRPC)"
		sides := []side{{"http", overHTTP(hp.client)}, {"grpc", overGRPC}}
		r := measure(ctx, t, p, fig+", 1 client", 1, sides...)
		tb.ratioRows(fig+", 1 client p50", r[0].quantile(0.5), r[1].quantile(0.5), 1.3, cols{gate: r[0], floor: r[1]})
		r = measure(ctx, t, p, fmt.Sprintf("%s, %d clients", fig, p.clients), p.clients, sides...)
		tb.rateRow(fmt.Sprintf("%s, %d clients", fig, p.clients), "ops/s", cols{gate: r[0], floor: r[1]}, 0.7)
	}

	grpcOnly := startGate(t, e.uri, gateOptions{instance: "bench-grpc-only", noHTTP: true})
	fig := "FindOne, gRPC with the HTTP surface on (vs gRPC alone)"
	sides := []side{{"with-http", overGRPC}, {"grpc-only", grpcFind(grpcOnly.stubs(t))}}
	r := measure(ctx, t, p, fig+", 1 client", 1, sides...)
	tb.ratioRows(fig+", 1 client p50", r[0].quantile(0.5), r[1].quantile(0.5), 0, cols{gate: r[0], floor: r[1]})
	r = measure(ctx, t, p, fmt.Sprintf("%s, %d clients", fig, p.clients), p.clients, sides...)
	tb.rateRow(fmt.Sprintf("%s, %d clients", fig, p.clients), "ops/s", cols{gate: r[0], floor: r[1]}, 0)
	tb.notes = append(tb.notes, "HTTP rows: the mongogate column is the HTTP call (or gRPC with the HTTP surface on), the floor column gRPC on the same server (or a server serving gRPC alone)")
}
