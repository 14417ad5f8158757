package spec

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// supportedSchema is the newest schemaVersion this runner implements enough of
// for the suites it runs. Files declaring a newer minor version may rely on
// features it lacks, so their tests fail instead of running half-understood.
var supportedSchema = version{1, 21, 0}

// testFile is one unified-format JSON file.
type testFile struct {
	Description       string             `bson:"description"`
	SchemaVersion     string             `bson:"schemaVersion"`
	RunOnRequirements []runOnRequirement `bson:"runOnRequirements"`
	CreateEntities    []bson.Raw         `bson:"createEntities"`
	InitialData       []collectionData   `bson:"initialData"`
	Tests             []testCase         `bson:"tests"`
}

// collectionData is used by both initialData and outcome.
type collectionData struct {
	CollectionName string     `bson:"collectionName"`
	DatabaseName   string     `bson:"databaseName"`
	CreateOptions  bson.Raw   `bson:"createOptions"`
	Documents      []bson.Raw `bson:"documents"`
}

type testCase struct {
	Description       string             `bson:"description"`
	RunOnRequirements []runOnRequirement `bson:"runOnRequirements"`
	SkipReason        string             `bson:"skipReason"`
	Operations        []operation        `bson:"operations"`
	ExpectEvents      []expectedEvents   `bson:"expectEvents"`
	Outcome           []collectionData   `bson:"outcome"`
	// Kept only to refuse them: silently ignoring an assertion would count a
	// test as passed that was never checked.
	ExpectLogMessages     bson.RawValue `bson:"expectLogMessages"`
	ExpectTracingMessages bson.RawValue `bson:"expectTracingMessages"`
}

type operation struct {
	Name                 string         `bson:"name"`
	Object               string         `bson:"object"`
	Arguments            bson.Raw       `bson:"arguments"`
	IgnoreResultAndError bool           `bson:"ignoreResultAndError"`
	ExpectError          *expectedError `bson:"expectError"`
	// Type 0 means the key was absent; a JSON null is TypeNull.
	ExpectResult       bson.RawValue `bson:"expectResult"`
	SaveResultAsEntity string        `bson:"saveResultAsEntity"`
}

type expectedError struct {
	IsError            *bool          `bson:"isError"`
	IsClientError      *bool          `bson:"isClientError"`
	IsTimeoutError     *bool          `bson:"isTimeoutError"`
	ErrorContains      *string        `bson:"errorContains"`
	ErrorCode          *int64         `bson:"errorCode"`
	ErrorCodeName      *string        `bson:"errorCodeName"`
	ErrorLabelsContain []string       `bson:"errorLabelsContain"`
	ErrorLabelsOmit    []string       `bson:"errorLabelsOmit"`
	WriteErrors        bson.Raw       `bson:"writeErrors"`
	WriteConcernErrors []bson.Raw     `bson:"writeConcernErrors"`
	ErrorResponse      bson.Raw       `bson:"errorResponse"`
	ExpectResult       bson.RawValue  `bson:"expectResult"`
	Extra              map[string]any `bson:",inline"`
}

type expectedEvents struct {
	Client            string         `bson:"client"`
	EventType         string         `bson:"eventType"`
	Events            []bson.Raw     `bson:"events"`
	IgnoreExtraEvents bool           `bson:"ignoreExtraEvents"`
	Extra             map[string]any `bson:",inline"`
}

// loadTestFile parses a test file. The files mix canonical and relaxed
// Extended JSON, so the relaxed parser is used: 1 becomes an int32,
// {"$numberLong": "1"} an int64 and 1.0 a double, which is what matching
// and the commands sent to the server depend on.
func loadTestFile(path string) (*testFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tf testFile
	if err := bson.UnmarshalExtJSON(data, false, &tf); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &tf, nil
}

// checkSchema says why a file cannot be run, or returns nil.
func checkSchema(s string) error {
	v, err := parseVersion(s)
	if err != nil {
		return fmt.Errorf("schemaVersion: %w", err)
	}
	if v[0] != supportedSchema[0] || v.compare(supportedSchema) > 0 {
		return fmt.Errorf("schemaVersion %s is newer than the runner's %d.%d", s, supportedSchema[0], supportedSchema[1])
	}
	return nil
}

// listTestFiles returns the JSON files of a suite directory in name order.
func listTestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}
