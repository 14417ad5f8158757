package spec

import (
	"bytes"
	"strings"
	"testing"
)

func TestKnownFailuresRoundTrip(t *testing.T) {
	order := []string{"transactions", "crud"}
	known := knownFailures{
		{"crud", "find.json", "Find with filter"}:             "at top level: expected 1, got 2",
		{"transactions", "abort.json", "implicit abort"}:      "operation 3 (session0.endSession): boom",
		{"transactions", "abort.json", "abort ignores error"}: "x",
	}
	text := formatKnownFailures(known, order)
	got, err := parseKnownFailures(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(known) {
		t.Fatalf("round trip lost entries: %v", got)
	}
	for id, reason := range known {
		if got[id] != reason {
			t.Errorf("%v: reason %q, want %q", id, got[id], reason)
		}
	}
	// Suites appear in run order, not alphabetically.
	if strings.Index(string(text), "transactions\t") > strings.Index(string(text), "crud\t") {
		t.Errorf("suites out of order:\n%s", text)
	}

	if _, err := parseKnownFailures(strings.NewReader("crud\tfind.json\tno reason\n")); err == nil {
		t.Error("a line with three fields must be rejected")
	}
}

func TestUpdateKnown(t *testing.T) {
	stillFails := testID{"crud", "a.json", "still fails"}
	nowPasses := testID{"crud", "a.json", "now passes"}
	notRun := testID{"crud", "b.json", "filtered out"}
	newFailure := testID{"crud", "a.json", "new failure"}
	sessionID := testID{"crud", "a.json", "random session id"}
	old := knownFailures{stillFails: "old reason", nowPasses: "old", notRun: "kept"}
	outcomes := []outcome{
		{stillFails, result{failed, "new reason\nwith detail"}},
		{nowPasses, result{passed, ""}},
		{sessionID, result{failed, "Transaction 1 on session 380be32dfce24463a54969d26db83e2f is already in progress."}},
		{newFailure, result{failed, strings.Repeat("x", 300)}},
	}
	got := updateKnown(old, outcomes)
	want := knownFailures{
		stillFails: "new reason",
		notRun:     "kept",
		newFailure: strings.Repeat("x", 147) + "...",
		sessionID:  "Transaction 1 on session <id> is already in progress.",
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for id, reason := range want {
		if got[id] != reason {
			t.Errorf("%v: %q, want %q", id, got[id], reason)
		}
	}
}

func TestConformanceReport(t *testing.T) {
	outcomes := []outcome{
		{testID{"crud", "find.json", "a"}, result{passed, ""}},
		{testID{"crud", "find.json", "b"}, result{failed, "wrong\ndetail"}},
		{testID{"crud", "find.json", "c"}, result{skipped, "needs 8.0"}},
		{testID{"crud", "find.json", "d"}, result{passed, ""}},
	}
	text := string(conformanceReport(outcomes, []string{"crud"}, "test backend"))
	for _, want := range []string{
		"| crud | 2 | 1 | 1 | 66.7% |",
		"#### find.json",
		"- b — `wrong`\n",
		"MONGOGATE_SPEC_WRITE_KNOWN=1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}
