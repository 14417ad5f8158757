// Command openapi turns the OpenAPI document protoc-gen-openapiv2 makes of
// mongogate's REST paths into the one the server serves: Documents and
// Values as the Extended JSON they are over HTTP (not {"json": "…"}), and
// the REST paths of Find and Aggregate, which mongogate answers itself
// (httpapi). Run by scripts/gen.sh:
//
//	go run ./scripts/openapi IN OUT
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: openapi IN OUT")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}

type object = map[string]any

func run(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc object
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	doc["info"] = object{
		"title":   "mongogate REST API",
		"version": "v1",
		"description": "MongoDB sessions, transactions and documents over HTTP. The same calls are served over gRPC, " +
			"Connect and gRPC-Web at the same address (proto/mongogate/v1). Documents are Extended JSON v2 objects; " +
			"int64 fields are JSON strings (proto3 JSON). Errors are google.rpc.Status with one google.rpc.ErrorInfo " +
			"(domain mongogate.dev) whose reason is an ErrorReason.",
	}
	defs, ok := doc["definitions"].(object)
	if !ok {
		return fmt.Errorf("%s: no definitions", in)
	}
	defs["v1Document"] = object{
		"type":                 "object",
		"additionalProperties": true,
		"description":          "A BSON document as its MongoDB Extended JSON v2 object (canonical or relaxed), e.g. {\"_id\": {\"$oid\": \"64b7f0c2a1b2c3d4e5f60718\"}, \"n\": {\"$numberLong\": \"7\"}}. Key order is kept.",
	}
	defs["v1Value"] = object{
		"description": "One BSON value as MongoDB Extended JSON v2, e.g. {\"$oid\": \"64b7f0c2a1b2c3d4e5f60718\"}, {\"$numberInt\": \"42\"}, \"text\", [1, 2] or null.",
	}
	defs["v1DocumentsResponse"] = object{
		"type":        "object",
		"description": "Every document of a Find or Aggregate over REST, in cursor order: at most 10,000 documents and 16 MiB, or the call fails with RESULT_TOO_LARGE.",
		"properties": object{
			"documents": object{"type": "array", "items": object{"$ref": "#/definitions/v1Document"}},
		},
	}
	paths, ok := doc["paths"].(object)
	if !ok {
		return fmt.Errorf("%s: no paths", in)
	}
	// generate_unbound_methods gave the methods without a REST path (the
	// streams) paths of their own, for their message definitions; the
	// paths go, as REST has none but the two added below.
	for p := range paths {
		if strings.HasPrefix(p, "/mongogate.") {
			delete(paths, p)
		}
	}
	const base = "/v1/databases/{namespace.database}/collections/{namespace.collection}:"
	template, ok := paths[base+"findOne"].(object)
	if !ok {
		return fmt.Errorf("%s: no findOne path to model find on", in)
	}
	for _, m := range []struct{ verb, method, summary string }{
		{"find", "Find", "Find returns every document that matches a filter, in one JSON array (over Connect and gRPC-Web it streams)."},
		{"aggregate", "Aggregate", "Aggregate runs an aggregation pipeline and returns its output in one JSON array (over Connect and gRPC-Web it streams)."},
	} {
		op, err := clone(template["post"])
		if err != nil {
			return err
		}
		op["operationId"] = "DocumentService_" + m.method
		op["summary"] = m.summary
		delete(op, "description")
		op["responses"].(object)["200"] = object{
			"description": "A successful response.",
			"schema":      object{"$ref": "#/definitions/v1DocumentsResponse"},
		}
		for _, p := range op["parameters"].([]any) {
			if p := p.(object); p["in"] == "body" {
				p["schema"] = object{"$ref": "#/definitions/DocumentService" + m.method + "Body"}
			}
		}
		body, err := clone(defs["DocumentServiceFindOneBody"])
		if err != nil {
			return err
		}
		req, ok := defs["v1"+m.method+"Request"].(object)
		if !ok {
			return fmt.Errorf("%s: no definition v1%sRequest", in, m.method)
		}
		props, _ := clone(req["properties"])
		delete(props, "namespace")
		body["properties"] = props
		body["description"] = req["description"]
		defs["DocumentService"+m.method+"Body"] = body
		paths[base+m.verb] = object{"post": op}
	}
	outJSON, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(outJSON, '\n'), 0o644)
}

// clone is a deep copy of a JSON object.
func clone(v any) (object, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out object
	return out, json.Unmarshal(b, &out)
}
