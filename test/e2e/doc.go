// Package e2e tests mongogate end to end, over real processes and sockets.
//
// TestMain builds the server binary (./cmd/server) once; each test starts
// its own server process on a free loopback port, talks to it with the
// generated gRPC stubs (and grpcurl), and checks MongoDB directly with the
// driver: fail points go in that way, and what a transaction really wrote
// comes out that way. The backend is internal/testbackend's, an in-process
// emulator or the replica set named by MONGOGATE_TEST_URI, so the same
// tests prove the service against real MongoDB.
//
// Errors are checked by gRPC code and ErrorInfo reason, never by message
// text. The README's grpcurl walkthrough is run here too
// (walkthrough_test.go), so it cannot drift from what the server answers.
package e2e
