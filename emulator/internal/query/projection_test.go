package query

import (
	"fmt"
	"testing"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
)

func TestProjectionApply(t *testing.T) {
	base := `{"_id": 1, "x": 11, "y": 2}`
	arr := `{"_id": 1, "a": [1, 2, 3], "b": 1}`
	tests := []struct {
		name, spec, doc string
		elemIndex       int
		want            string
	}{
		// Inclusion.
		{"spec suite", `{"x": 1, "_id": 0}`, base, -1, `{"x": 11}`},
		{"include keeps _id", `{"x": 1}`, base, -1, `{"_id": 1, "x": 11}`},
		{"document order", `{"y": 1, "x": 1}`, base, -1, `{"_id": 1, "x": 11, "y": 2}`},
		{"only _id", `{"_id": 1}`, base, -1, `{"_id": 1}`},
		{"include missing field", `{"z": 1}`, base, -1, `{"_id": 1}`},
		{"include true", `{"x": true}`, base, -1, `{"_id": 1, "x": 11}`},
		{"include any nonzero", `{"x": -5}`, base, -1, `{"_id": 1, "x": 11}`},
		{"include decimal", `{"x": {"$numberDecimal": "1"}}`, base, -1, `{"_id": 1, "x": 11}`},
		{"include dotted", `{"a.b": 1}`, `{"_id": 1, "a": {"b": 1, "c": 2}, "d": 3}`, -1, `{"_id": 1, "a": {"b": 1}}`},
		{"include nested form", `{"a": {"b": 1}}`, `{"_id": 1, "a": {"b": 1, "c": 2}, "d": 3}`, -1, `{"_id": 1, "a": {"b": 1}}`},
		{"include dotted keeps doc order", `{"a.b": 1, "a.c": 1}`, `{"a": {"c": 1, "b": 2, "d": 3}}`, -1, `{"a": {"c": 1, "b": 2}}`},
		{"include through array", `{"a.b": 1}`, `{"a": [{"b": 1, "c": 2}, {"c": 3}, 5, [{"b": 4}, 6]]}`, -1, `{"a": [{"b": 1}, {}, [{"b": 4}]]}`},
		{"include dotted scalar dropped", `{"a.b": 1}`, `{"_id": 1, "a": 5}`, -1, `{"_id": 1}`},
		{"include dotted leaves empty doc", `{"a.b": 1}`, `{"a": {"c": 1}}`, -1, `{"a": {}}`},
		{"include part of _id", `{"_id.a": 1}`, `{"_id": {"a": 1, "b": 2}, "x": 1}`, -1, `{"_id": {"a": 1}}`},
		{"include deep", `{"a.b.c": 1}`, `{"a": {"b": {"c": 1, "d": 2}, "e": 3}}`, -1, `{"a": {"b": {"c": 1}}}`},

		// Exclusion.
		{"exclude", `{"y": 0}`, base, -1, `{"_id": 1, "x": 11}`},
		{"exclude _id only", `{"_id": 0}`, base, -1, `{"x": 11, "y": 2}`},
		{"exclude _id and field", `{"_id": 0, "x": 0}`, base, -1, `{"y": 2}`},
		{"exclude false", `{"x": false}`, base, -1, `{"_id": 1, "y": 2}`},
		{"exclude with _id included", `{"_id": 1, "x": 0}`, base, -1, `{"_id": 1, "y": 2}`},
		{"exclude dotted", `{"a.b": 0}`, `{"a": {"b": 1, "c": 2}}`, -1, `{"a": {"c": 2}}`},
		{"exclude through arrays", `{"a.b": 0}`, `{"a": [{"b": 1, "c": 2}, 5, [{"b": 3, "d": 4}]]}`, -1, `{"a": [{"c": 2}, 5, [{"d": 4}]]}`},
		{"exclude dotted through scalar", `{"a.b": 0}`, `{"a": 5}`, -1, `{"a": 5}`},
		{"exclude missing", `{"z": 0}`, base, -1, base},

		// Positional.
		{"positional", `{"a.$": 1}`, arr, 1, `{"_id": 1, "a": [2]}`},
		{"positional with other field", `{"a.$": 1, "b": 1}`, arr, 2, `{"_id": 1, "a": [3], "b": 1}`},
		{"positional nested field", `{"a.b.$": 1}`, `{"a": {"b": [5, 6], "c": 1}}`, 0, `{"a": {"b": [5]}}`},
		{"positional documents", `{"a.$": 1}`, `{"a": [{"b": 1}, {"b": 2}]}`, 1, `{"a": [{"b": 2}]}`},
		{"positional first array on path", `{"a.b.$": 1}`, `{"a": [{"b": [1], "c": 0}, {"b": [2, 3]}]}`, 1, `{"a": [{"b": [2, 3]}]}`},
		{"positional not an array", `{"a.$": 1}`, `{"a": 5}`, -1, `{"a": 5}`},
		{"positional missing", `{"a.$": 1}`, `{"_id": 1}`, -1, `{"_id": 1}`},
		{"positional in sub-projection", `{"a": {"b.$": 1}}`, `{"a": {"b": [7, 8]}}`, 1, `{"a": {"b": [8]}}`},

		// $elemMatch.
		{"elemMatch", `{"a": {"$elemMatch": {"b": 2}}}`, `{"_id": 1, "a": [{"b": 1}, {"b": 2, "c": 1}, {"b": 2}], "x": 1}`, -1, `{"_id": 1, "a": [{"b": 2, "c": 1}]}`},
		{"elemMatch no match", `{"a": {"$elemMatch": {"b": 9}}}`, `{"_id": 1, "a": [{"b": 1}], "x": 1}`, -1, `{"_id": 1}`},
		{"elemMatch not array", `{"a": {"$elemMatch": {"b": 1}}}`, `{"_id": 1, "a": {"b": 1}}`, -1, `{"_id": 1}`},
		{"elemMatch value form appended last", `{"a": {"$elemMatch": {"$gt": 1}}, "x": 1}`, `{"_id": 1, "a": [1, 5, 7], "x": 3}`, -1, `{"_id": 1, "x": 3, "a": [5]}`},
		{"elemMatch without _id", `{"_id": 0, "a": {"$elemMatch": {"$gt": 1}}}`, `{"_id": 1, "a": [1, 5]}`, -1, `{"a": [5]}`},
		{"elemMatch in exclusion", `{"a": {"$elemMatch": {"b": 1}}, "x": 0}`, `{"_id": 1, "a": [{"b": 0}, {"b": 1}], "x": 2, "y": 3}`, -1, `{"_id": 1, "a": [{"b": 1}], "y": 3}`},
		{"elemMatch in exclusion no match", `{"a": {"$elemMatch": {"b": 5}}, "x": 0}`, `{"_id": 1, "a": [{"b": 0}], "x": 2, "y": 3}`, -1, `{"_id": 1, "y": 3}`},

		// $slice.
		{"slice is exclusion", `{"a": {"$slice": 2}}`, arr, -1, `{"_id": 1, "a": [1, 2], "b": 1}`},
		{"slice negative", `{"a": {"$slice": -2}}`, arr, -1, `{"_id": 1, "a": [2, 3], "b": 1}`},
		{"slice negative beyond", `{"a": {"$slice": -5}}`, arr, -1, arr},
		{"slice zero", `{"a": {"$slice": 0}}`, arr, -1, `{"_id": 1, "a": [], "b": 1}`},
		{"slice more than length", `{"a": {"$slice": 10}}`, arr, -1, arr},
		{"slice skip limit", `{"a": {"$slice": [1, 1]}}`, arr, -1, `{"_id": 1, "a": [2], "b": 1}`},
		{"slice negative skip", `{"a": {"$slice": [-2, 1]}}`, arr, -1, `{"_id": 1, "a": [2], "b": 1}`},
		{"slice skip past end", `{"a": {"$slice": [5, 1]}}`, arr, -1, `{"_id": 1, "a": [], "b": 1}`},
		{"slice negative skip past start", `{"a": {"$slice": [-5, 2]}}`, arr, -1, `{"_id": 1, "a": [1, 2], "b": 1}`},
		{"slice double", `{"a": {"$slice": 1.9}}`, arr, -1, `{"_id": 1, "a": [1], "b": 1}`},
		{"slice with inclusion", `{"a": {"$slice": 1}, "b": 1}`, `{"_id": 1, "a": [1, 2], "b": 1, "c": 1}`, -1, `{"_id": 1, "a": [1], "b": 1}`},
		{"slice with _id inclusion", `{"a": {"$slice": 1}, "_id": 1}`, arr, -1, `{"_id": 1, "a": [1]}`},
		{"slice with exclusion", `{"a": {"$slice": 1}, "b": 0}`, arr, -1, `{"_id": 1, "a": [1]}`},
		{"slice dotted through array", `{"a.b": {"$slice": 1}}`, `{"a": [{"b": [1, 2]}, {"b": [3, 4]}, 5], "c": 1}`, -1, `{"a": [{"b": [1]}, {"b": [3]}, 5], "c": 1}`},
		{"slice not array", `{"a": {"$slice": 1}}`, `{"a": 5}`, -1, `{"a": 5}`},
		{"slice missing", `{"a": {"$slice": 1}}`, `{"b": 5}`, -1, `{"b": 5}`},

		// Computed fields.
		{"computed path", `{"x": "$y"}`, base, -1, `{"_id": 1, "x": 2}`},
		{"computed literal string", `{"x": "lit"}`, base, -1, `{"_id": 1, "x": "lit"}`},
		{"computed literal null", `{"z": null}`, base, -1, `{"_id": 1, "z": null}`},
		{"computed variables", `{"_id": 0, "x": "$$x", "y": "$$y"}`, base, -1, `{"x": "vx", "y": "vy"}`},
		{"computed appended after included", `{"y": 1, "x": "$y"}`, base, -1, `{"_id": 1, "y": 2, "x": 2}`},
		{"computed expression", `{"x": 1, "z": {"$literal": 0}}`, base, -1, `{"_id": 1, "x": 11, "z": 0}`},
		{"computed missing result", `{"x": "$nope"}`, base, -1, `{"_id": 1}`},
		{"computed array", `{"z": ["$y", 1]}`, base, -1, `{"_id": 1, "z": [2, 1]}`},
		{"computed dotted over scalar", `{"a.b": "$y"}`, `{"_id": 1, "a": 1, "y": 2}`, -1, `{"_id": 1, "a": {"b": 2}}`},
		{"computed dotted over missing", `{"a.b": "$y"}`, `{"_id": 1, "y": 2}`, -1, `{"_id": 1, "a": {"b": 2}}`},
		{"computed dotted over array", `{"a.b": "$y"}`, `{"_id": 1, "a": [{"c": 1}, 5], "y": 2}`, -1, `{"_id": 1, "a": [{"b": 2}, {"b": 2}]}`},
		{"computed keeps field position", `{"a.b": "$y", "c": 1}`, `{"_id": 1, "a": 5, "c": 2, "y": 3}`, -1, `{"_id": 1, "a": {"b": 3}, "c": 2}`},
		{"computed beside included subfield", `{"a": {"b": "$y", "c": 1}}`, `{"_id": 1, "a": {"c": 3, "d": 4}, "y": 9}`, -1, `{"_id": 1, "a": {"c": 3, "b": 9}}`},
		{"computed _id", `{"_id": "$x"}`, base, -1, `{"_id": 11}`},
		{"computed slice expression", `{"z": {"$slice": ["$a", 1]}}`, `{"_id": 1, "a": [1, 2]}`, -1, `{"_id": 1, "z": {"$slice": [[1, 2], 1]}}`},

		// Empty projection.
		{"empty spec", `{}`, base, -1, base},
	}
	opts := Options{Expr: fakeCompile, Vars: map[string]any{"x": "vx", "y": "vy"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := CompileProjection(mustDoc(t, tt.spec), opts)
			if err != nil {
				t.Fatalf("CompileProjection(%s): %v", tt.spec, err)
			}
			doc := mustDoc(t, tt.doc)
			before := fmt.Sprintf("%#v", doc)
			got, err := p.Apply(doc, tt.elemIndex)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			assertSameDoc(t, got, mustDoc(t, tt.want))
			if fmt.Sprintf("%#v", doc) != before {
				t.Errorf("Apply changed its input")
			}
		})
	}
}

func TestProjectionApplyErrors(t *testing.T) {
	tests := []struct {
		name, spec, doc string
		elemIndex       int
		code            int32
	}{
		{"positional without match", `{"a.$": 1}`, `{"a": [1]}`, -1, 51246},
		{"positional index out of range", `{"a.$": 1}`, `{"a": [1]}`, 5, 51247},
		{"computed evaluation error", `{"x": {"$fail": 1}}`, `{}`, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := CompileProjection(mustDoc(t, tt.spec), Options{Expr: fakeCompile})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Apply(mustDoc(t, tt.doc), tt.elemIndex)
			if tt.code == 0 {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			assertCode(t, err, tt.code)
		})
	}
}

func TestCompileProjectionErrors(t *testing.T) {
	tests := []struct {
		name, spec string
		noExpr     bool
		code       int32
	}{
		{"exclusion in inclusion", `{"x": 1, "y": 0}`, false, 31254},
		{"inclusion in exclusion", `{"x": 0, "y": 1}`, false, 31253},
		{"nested exclusion in inclusion", `{"x": 1, "a": {"b": 0}}`, false, 31254},
		{"collision parent first", `{"a": 1, "a.b": 1}`, false, 31249},
		{"collision child first", `{"a.b": 1, "a": 1}`, false, 31250},
		{"positional in middle", `{"a.$.b": 1}`, false, 31394},
		{"positional exclusion", `{"a.$": 0}`, false, 31395},
		{"positional literal", `{"a.$": "x"}`, false, 31308},
		{"positional sub object", `{"a.$": {"b": 1}}`, false, 31271},
		{"two positionals", `{"a.$": 1, "b.$": 1}`, false, 31276},
		{"positional after elemMatch", `{"a": {"$elemMatch": {"b": 1}}, "b.$": 1}`, false, 31256},
		{"elemMatch after positional", `{"b.$": 1, "a": {"$elemMatch": {"b": 1}}}`, false, 31255},
		{"bare positional", `{".$": 1}`, false, 5392900},
		{"elemMatch nested field", `{"a.b": {"$elemMatch": {"c": 1}}}`, false, 31275},
		{"elemMatch in sub-projection", `{"a": {"b": {"$elemMatch": {"c": 1}}}}`, false, 31275},
		{"elemMatch not object", `{"a": {"$elemMatch": 1}}`, false, 31274},
		{"elemMatch bad query", `{"a": {"$elemMatch": {"b": {"$foo": 1}}}}`, false, mongoerr.BadValue},
		{"elemMatch where", `{"a": {"$elemMatch": {"$where": "1"}}}`, false, mongoerr.BadValue},
		{"slice string", `{"a": {"$slice": "x"}}`, true, 31273},
		{"slice one element", `{"a": {"$slice": [1]}}`, true, 31272},
		{"slice skip not number", `{"a": {"$slice": ["x", 1]}}`, true, 31257},
		{"slice limit not number", `{"a": {"$slice": [1, "x"]}}`, true, 31258},
		{"slice limit zero", `{"a": {"$slice": [1, 0]}}`, true, 31259},
		{"slice limit negative", `{"a": {"$slice": [1, -1]}}`, true, 31259},
		{"slice falls back to expression error", `{"a": {"$slice": {"$bogus": 1}}}`, false, mongoerr.InvalidPipelineOperator},
		{"unknown expression nested", `{"a": {"$add": [{"$bogus": 1}]}}`, false, mongoerr.InvalidPipelineOperator},
		{"meta", `{"a": {"$meta": "textScore"}}`, false, mongoerr.NotImplemented},
		{"empty sub-projection", `{"a": {}}`, false, 51270},
		{"literal in exclusion", `{"x": 0, "y": "$z"}`, false, 31310},
		{"expression in exclusion", `{"x": 0, "y": {"$literal": 1}}`, false, 31252},
		{"computed without compiler", `{"y": "$z"}`, true, mongoerr.NotImplemented},
		{"expression without compiler", `{"y": {"$literal": 1}}`, true, mongoerr.NotImplemented},
		{"unknown expression", `{"a": {"$bogus": 1}}`, false, 31325},
		{"empty field name", `{"": 1}`, false, 40352},
		{"empty component", `{"a..b": 1}`, false, 15998},
		{"trailing dot", `{"a.": 1}`, false, 40353},
		{"dollar field", `{"$a": 1}`, false, 16410},
		{"operator-like sub-projection", `{"a": {"$gt": 1, "b": 1}}`, false, 16410},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Expr: fakeCompile}
			if tt.noExpr {
				opts.Expr = nil
			}
			_, err := CompileProjection(mustDoc(t, tt.spec), opts)
			assertCode(t, err, tt.code)
		})
	}
}
