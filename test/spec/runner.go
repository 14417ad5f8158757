package spec

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

const (
	// testTimeout bounds one test, so that an operation the backend never
	// answers fails that test and the run goes on.
	testTimeout = 30 * time.Second
	// abandonAfter is how long a timed-out test gets to unwind once its
	// context is cancelled before the runner stops waiting for it.
	abandonAfter = 10 * time.Second
	// cleanupTimeout bounds switching off fail points and closing clients.
	cleanupTimeout = 10 * time.Second
)

type status int

const (
	passed status = iota
	failed
	skipped
)

// result is the outcome of one test; reason says why it was skipped or how
// it failed.
type result struct {
	status status
	reason string
}

// testRun is the state of one test while it runs.
type testRun struct {
	dep          *deployment
	entities     *entityMap
	lowHeartbeat bool
	failPoints   []failPoint
}

func (r *testRun) matcher() matcher { return matcher{entities: r.entities} }

// runTest runs one test of a file against dep.
func runTest(ctx context.Context, dep *deployment, file *testFile, tc *testCase) result {
	if tc.SkipReason != "" {
		return result{skipped, "skipReason: " + tc.SkipReason}
	}
	for _, reqs := range [][]runOnRequirement{file.RunOnRequirements, tc.RunOnRequirements} {
		why, err := dep.facts.unmet(ctx, reqs)
		if err != nil {
			return result{failed, err.Error()}
		}
		if why != "" {
			return result{skipped, "runOnRequirements: " + why}
		}
	}
	if err := checkSchema(file.SchemaVersion); err != nil {
		return result{failed, err.Error()}
	}
	r := &testRun{dep: dep, entities: newEntityMap(), lowHeartbeat: setsFailPoint(tc.Operations)}
	if err := withTimeout(ctx, testTimeout, func(ctx context.Context) error { return r.run(ctx, file, tc) }); err != nil {
		return result{failed, err.Error()}
	}
	return result{passed, ""}
}

// withTimeout runs fn in a goroutine and cancels its context after limit.
// The context gets no deadline on purpose: with one, the driver would add
// maxTimeMS to every command and retry in CSOT mode, changing exactly what
// the tests observe. Panics become errors so one broken test cannot stop the
// run.
func withTimeout(ctx context.Context, limit time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		done <- fn(ctx)
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
	}
	cancel()
	select {
	case err := <-done:
		return fmt.Errorf("timed out after %v (%v)", limit, err)
	case <-time.After(abandonAfter):
		return fmt.Errorf("timed out after %v and did not stop; abandoned", limit)
	}
}

// run follows "Executing a Test" of the unified test format.
func (r *testRun) run(ctx context.Context, file *testFile, tc *testCase) (err error) {
	defer func() {
		// Cleanup runs even after the watchdog cancelled ctx: fail points
		// left on would break the tests that follow.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if cerr := r.cleanup(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("cleanup: %w", cerr)
		}
	}()
	if exists(tc.ExpectLogMessages) || exists(tc.ExpectTracingMessages) {
		return fmt.Errorf("expectLogMessages and expectTracingMessages are not supported")
	}

	r.dep.killAllSessions(ctx)
	if err := r.dep.setUp(ctx, file.InitialData); err != nil {
		return fmt.Errorf("initialData: %w", err)
	}
	if err := r.createEntities(file.CreateEntities); err != nil {
		return err
	}
	for i, op := range tc.Operations {
		if _, err := r.runOperation(ctx, op); err != nil {
			return fmt.Errorf("operation %d (%s.%s): %w", i, op.Object, op.Name, err)
		}
	}

	for _, c := range r.entities.clients() {
		c.events.stop()
	}
	if err := r.disableFailPoints(ctx); err != nil {
		return err
	}
	for i, want := range tc.ExpectEvents {
		c, err := get[*clientEntity](r.entities, want.Client)
		if err != nil {
			return fmt.Errorf("expectEvents %d: %w", i, err)
		}
		if err := verifyEvents(r.matcher(), want, c.events); err != nil {
			return fmt.Errorf("expectEvents: %w", err)
		}
	}
	return r.dep.verifyOutcome(ctx, tc.Outcome)
}

func (r *testRun) cleanup(ctx context.Context) error {
	for _, c := range r.entities.clients() {
		c.events.stop()
	}
	err := r.disableFailPoints(ctx)
	r.entities.close(ctx)
	return err
}

// setsFailPoint reports whether a test configures fail points, for which
// clients get short heartbeats.
func setsFailPoint(ops []operation) bool {
	for _, op := range ops {
		if op.Object == "testRunner" && (op.Name == "failPoint" || op.Name == "targetedFailPoint") {
			return true
		}
	}
	return false
}

// runOperation executes op and checks its expectations. The returned error
// is a test failure; res.err is the operation's own error, expected or not,
// which a withTransaction callback passes on to the driver.
func (r *testRun) runOperation(ctx context.Context, op operation) (opResult, error) {
	if op.Object == "testRunner" {
		return opResult{}, r.runnerOp(ctx, op)
	}
	res, err := r.entityOp(ctx, op)
	if err != nil {
		return res, err
	}
	return res, r.check(op, res)
}

func (r *testRun) entityOp(ctx context.Context, op operation) (opResult, error) {
	target, ok := r.entities.byName[op.Object]
	if !ok {
		return opResult{}, fmt.Errorf("no entity %q", op.Object)
	}
	ctx, args, err := r.sessionContext(ctx, op.Arguments)
	if err != nil {
		return opResult{}, err
	}
	switch t := target.(type) {
	case *mongo.Collection:
		return r.collectionOp(ctx, t, op.Name, args)
	case *mongo.Database:
		return databaseOp(ctx, t, op.Name, args)
	case *clientEntity:
		return clientOp(ctx, t, op.Name, args)
	case *sessionEntity:
		return r.sessionOp(ctx, t, op.Name, args)
	case *mongo.ChangeStream:
		return changeStreamOp(ctx, t, op.Name, args)
	}
	return opResult{}, fmt.Errorf("entity %q is a %s, which has no operations", op.Object, kindOf(target))
}

// check applies an operation's expectError, expectResult and
// saveResultAsEntity.
func (r *testRun) check(op operation, res opResult) error {
	if op.IgnoreResultAndError {
		return nil
	}
	if op.ExpectError != nil {
		return r.checkError(op.ExpectError, res)
	}
	if res.err != nil {
		return fmt.Errorf("unexpected error: %w", res.err)
	}
	if exists(op.ExpectResult) {
		if err := r.matchResult(op.ExpectResult, res); err != nil {
			return fmt.Errorf("result %s: %w", describeValue(res.value), err)
		}
	}
	if op.SaveResultAsEntity != "" {
		if res.entity != nil {
			return r.entities.add(op.SaveResultAsEntity, res.entity)
		}
		if !exists(res.value) {
			return fmt.Errorf("saveResultAsEntity %s: the operation returned no result", op.SaveResultAsEntity)
		}
		return r.entities.add(op.SaveResultAsEntity, res.value)
	}
	return nil
}

// matchResult matches an expected result. Documents returned by an
// operation, and the documents of an iterated cursor, are root-level
// documents; other arrays (distinct) are plain values.
func (r *testRun) matchResult(want bson.RawValue, res opResult) error {
	root := res.cursor || res.value.Type == bson.TypeEmbeddedDocument
	return r.matcher().match(want, res.value, root)
}
