package drivererr

import (
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestHasLabelAndCode(t *testing.T) {
	transient := mongo.CommandError{Code: CodeWriteConflict, Labels: []string{LabelTransientTransaction}}
	writeConcern := mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: CodeWriteConcernTimeout},
		Labels: []string{LabelUnknownCommitResult}}
	tests := []struct {
		name      string
		err       error
		label     string
		wantLabel bool
		codes     []int
		wantCode  bool
	}{
		{"command error", transient, LabelTransientTransaction, true, []int{CodeNoSuchTransaction, CodeWriteConflict}, true},
		{"wrapped", fmt.Errorf("txn: commit: %w", transient), LabelTransientTransaction, true, []int{CodeWriteConflict}, true},
		{"other label and code", transient, LabelUnknownCommitResult, false, []int{CodeNoSuchTransaction}, false},
		{"write concern error", writeConcern, LabelUnknownCommitResult, true, []int{CodeWriteConcernTimeout}, true},
		{"write error", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: CodeDuplicateKey}}}, LabelTransientTransaction, false,
			[]int{CodeDuplicateKey}, true},
		{"not a driver error", errors.New("boom"), LabelTransientTransaction, false, []int{CodeWriteConflict}, false},
		{"nil", nil, LabelTransientTransaction, false, []int{CodeWriteConflict}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HasLabel(tt.err, tt.label); got != tt.wantLabel {
				t.Errorf("HasLabel(%q) = %v, want %v", tt.label, got, tt.wantLabel)
			}
			if got := HasCode(tt.err, tt.codes...); got != tt.wantCode {
				t.Errorf("HasCode(%v) = %v, want %v", tt.codes, got, tt.wantCode)
			}
		})
	}
}
