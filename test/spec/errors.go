package spec

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// errorFacts is what expectError assertions look at in a driver error.
type errorFacts struct {
	// server is true if the error came from a server response. Network
	// errors count as client errors, as the test format defines.
	server    bool
	codes     []int32
	codeNames []string
	response  bson.Raw // the server's reply, for errorResponse
}

func inspectError(err error) errorFacts {
	var f errorFacts
	var (
		ce   mongo.CommandError
		we   mongo.WriteException
		bwe  mongo.BulkWriteException
		cbwe mongo.ClientBulkWriteException
	)
	switch {
	case errors.As(err, &ce):
		f.server = (ce.Code != 0 || ce.Raw != nil) && !mongo.IsNetworkError(err)
		f.codes = []int32{ce.Code}
		f.codeNames = []string{ce.Name}
		f.response = ce.Raw
	case errors.As(err, &we):
		f.server = true
		if wce := we.WriteConcernError; wce != nil {
			f.codes = append(f.codes, int32(wce.Code))
			f.codeNames = append(f.codeNames, wce.Name)
		}
		for _, e := range we.WriteErrors {
			f.addWriteError(e)
		}
		f.response = we.Raw
	case errors.As(err, &bwe):
		f.server = true
		if wce := bwe.WriteConcernError; wce != nil {
			f.codes = append(f.codes, int32(wce.Code))
			f.codeNames = append(f.codeNames, wce.Name)
		}
		for _, e := range bwe.WriteErrors {
			f.addWriteError(e.WriteError)
			if f.response == nil {
				f.response = e.Raw
			}
		}
	case errors.As(err, &cbwe):
		// The spec has errorCode and errorResponse look only at the
		// top-level error; writeErrors and writeConcernErrors are asserted
		// separately.
		f.server = cbwe.WriteError != nil || len(cbwe.WriteErrors) > 0 || len(cbwe.WriteConcernErrors) > 0
		if cbwe.WriteError != nil {
			f.addWriteError(*cbwe.WriteError)
			f.response = cbwe.WriteError.Raw
		}
	}
	return f
}

func (f *errorFacts) addWriteError(e mongo.WriteError) {
	f.codes = append(f.codes, int32(e.Code))
	if name, ok := lookup(e.Raw, "codeName").StringValueOK(); ok {
		f.codeNames = append(f.codeNames, name)
	}
}

func hasLabel(err error, label string) bool {
	var le mongo.LabeledError
	return errors.As(err, &le) && le.HasErrorLabel(label)
}

// checkError evaluates an expectError block against an operation's outcome.
func (r *testRun) checkError(want *expectedError, res opResult) error {
	if len(want.Extra) > 0 {
		return fmt.Errorf("expectError: unsupported keys %v", sortedKeys(want.Extra))
	}
	err := res.err
	if err == nil {
		return fmt.Errorf("expected an error, got none (result %s)", describeValue(res.value))
	}
	f := inspectError(err)
	if want.IsClientError != nil && *want.IsClientError == f.server {
		return fmt.Errorf("expected a client error: %v, got %T: %w", *want.IsClientError, err, err)
	}
	if want.IsTimeoutError != nil && *want.IsTimeoutError != mongo.IsTimeout(err) {
		return fmt.Errorf("expected a timeout error: %v, got: %w", *want.IsTimeoutError, err)
	}
	if want.ErrorContains != nil && !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(*want.ErrorContains)) {
		return fmt.Errorf("expected an error containing %q, got: %w", *want.ErrorContains, err)
	}
	if want.ErrorCode != nil && !slices.Contains(f.codes, int32(*want.ErrorCode)) {
		return fmt.Errorf("expected error code %d, got codes %v: %w", *want.ErrorCode, f.codes, err)
	}
	if want.ErrorCodeName != nil && !slices.ContainsFunc(f.codeNames, func(n string) bool {
		return strings.EqualFold(n, *want.ErrorCodeName)
	}) {
		return fmt.Errorf("expected error code name %s, got %v: %w", *want.ErrorCodeName, f.codeNames, err)
	}
	for _, l := range want.ErrorLabelsContain {
		if !hasLabel(err, l) {
			return fmt.Errorf("expected error label %s: %w", l, err)
		}
	}
	for _, l := range want.ErrorLabelsOmit {
		if hasLabel(err, l) {
			return fmt.Errorf("expected no error label %s: %w", l, err)
		}
	}
	if want.ErrorResponse != nil {
		if f.response == nil {
			return fmt.Errorf("expected a server response in the error, got: %w", err)
		}
		if merr := r.matcher().match(docValue(want.ErrorResponse), docValue(f.response), true); merr != nil {
			return fmt.Errorf("errorResponse: %w", merr)
		}
	}
	if exists(want.ExpectResult) {
		if merr := r.matchResult(want.ExpectResult, res); merr != nil {
			return fmt.Errorf("result with the error: %w", merr)
		}
	}
	if want.WriteErrors != nil || want.WriteConcernErrors != nil {
		var cbwe mongo.ClientBulkWriteException
		if !errors.As(err, &cbwe) {
			return fmt.Errorf("expected a client bulk write exception, got %T: %w", err, err)
		}
		if err := r.checkBulkErrors(want, cbwe); err != nil {
			return err
		}
	}
	return nil
}

// checkBulkErrors matches expectError.writeErrors (keyed by model index) and
// writeConcernErrors (in order), each as a root-level document.
func (r *testRun) checkBulkErrors(want *expectedError, got mongo.ClientBulkWriteException) error {
	m := r.matcher()
	if want.WriteErrors != nil {
		elems := elements(want.WriteErrors)
		if len(elems) != len(got.WriteErrors) {
			return fmt.Errorf("expected %d write errors, got %d: %v", len(elems), len(got.WriteErrors), got.WriteErrors)
		}
		for _, e := range elems {
			i, err := strconv.Atoi(e.Key())
			if err != nil {
				return fmt.Errorf("writeErrors key %q is not an index", e.Key())
			}
			we, ok := got.WriteErrors[i]
			if !ok {
				return fmt.Errorf("expected a write error for model %d, got %v", i, got.WriteErrors)
			}
			d := bson.D{{Key: "code", Value: int32(we.Code)}, {Key: "message", Value: we.Message}}
			if len(we.Details) > 0 {
				d = append(d, bson.E{Key: "details", Value: we.Details})
			}
			if err := m.match(e.Value(), docValue(mustMarshal(d)), true); err != nil {
				return fmt.Errorf("write error %d: %w", i, err)
			}
		}
	}
	if want.WriteConcernErrors != nil {
		if len(want.WriteConcernErrors) != len(got.WriteConcernErrors) {
			return fmt.Errorf("expected %d write concern errors, got %d: %v",
				len(want.WriteConcernErrors), len(got.WriteConcernErrors), got.WriteConcernErrors)
		}
		for i, exp := range want.WriteConcernErrors {
			wce := got.WriteConcernErrors[i]
			d := bson.D{{Key: "code", Value: int32(wce.Code)}, {Key: "codeName", Value: wce.Name}, {Key: "message", Value: wce.Message}}
			if len(wce.Details) > 0 {
				d = append(d, bson.E{Key: "details", Value: wce.Details})
			}
			if err := m.match(docValue(exp), docValue(mustMarshal(d)), true); err != nil {
				return fmt.Errorf("write concern error %d: %w", i, err)
			}
		}
	}
	return nil
}

func describeValue(v bson.RawValue) string {
	if !exists(v) {
		return "none"
	}
	return v.String()
}
