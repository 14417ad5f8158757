package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
)

// A walkthrough is a section of README.md between two markers: shell
// commands, each followed by its JSON output, and NAME=value lines a
// reader copies from an earlier output.
type walkthrough struct {
	marker  string         // "walkthrough" for <!-- walkthrough:begin -->
	heading string         // the section's heading, which must be there
	calls   *regexp.Regexp // names a command's call in its first group
	// required are the calls a whole transaction makes.
	required []string
}

var (
	grpcurlWalkthrough = walkthrough{
		marker: "walkthrough", heading: "## Walkthrough with grpcurl",
		calls:    regexp.MustCompile(`mongogate\.v1\.\w+/(\w+)`),
		required: []string{"StartSession", "StartTransaction", "InsertOne", "FindOne", "CommitTransaction"},
	}
	curlWalkthrough = walkthrough{
		marker: "http-walkthrough", heading: "### Walkthrough with curl",
		calls:    regexp.MustCompile(`/v1/(?:sessions(?::\w+)?|databases/\w+/collections/\w+:\w+)`),
		required: []string{"/v1/sessions", "/v1/sessions:startTransaction", "/v1/databases/demo/collections/items:insertOne", "/v1/databases/demo/collections/items:find", "/v1/sessions:commitTransaction", "/v1/sessions:end"},
	}
)

// The README's grpcurl walkthrough, run as a reader would run it against a
// fresh server: each command's output must match the README's, except
// fields that differ from run to run (tokens, times, the instance id).
func TestREADMEWalkthrough(t *testing.T) {
	t.Parallel()
	grpcurl := grpcurlPath(t)
	runWalkthrough(t, grpcurlWalkthrough, filepath.Dir(grpcurl))
}

// TestREADMECurlWalkthrough runs the README's curl walkthrough the same
// way, over REST.
func TestREADMECurlWalkthrough(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is not installed")
		}
		t.Skip("curl is not installed: the curl walkthrough cannot run")
	}
	runWalkthrough(t, curlWalkthrough, filepath.Dir(curl))
}

func runWalkthrough(t *testing.T, w walkthrough, binDir string) {
	root, err := testbackend.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	steps := parseWalkthrough(t, filepath.Join(root, "README.md"), w)
	b := mustBackend(t)
	s := mustStartServer(t, b)
	// A database of its own, so that reruns against a shared deployment
	// do not collide on the walkthrough's fixed _id.
	db := testbackend.DBName(t)
	dir := t.TempDir()
	env := append(proctest.CleanEnv(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))

	var outputs []walkthroughOutput // of the commands run so far
	for _, st := range steps {
		if st.assign != nil {
			for _, name := range sortedKeys(st.assign) {
				value := readerValue(t, st.line, name, st.assign[name], outputs)
				env = append(env, name+"="+value)
			}
			continue
		}
		script := strings.ReplaceAll(st.command, walkthroughAddr, s.Addr)
		script = walkthroughDB.ReplaceAllString(script, `"database": "`+db+`"`)
		script = strings.ReplaceAll(script, "/databases/demo/", "/databases/"+db+"/")
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(testCtx(t), "sh", "-c", script)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("README.md:%d: command failed: %v\n%s\nstderr:\n%s", st.line, err, st.command, stderr.String())
		}
		got, err := decodeJSON(stdout.Bytes())
		if err != nil {
			t.Fatalf("README.md:%d: output is not JSON: %v\n%s", st.line, err, stdout.String())
		}
		if diffs := compareJSON("", st.want, got); len(diffs) > 0 {
			t.Errorf("README.md:%d: the output differs from the README's:\n  %s\ncommand:\n%s\ngot:\n%s",
				st.line, strings.Join(diffs, "\n  "), st.command, stdout.String())
		}
		outputs = append(outputs, walkthroughOutput{want: st.want, got: got})
	}
}

const walkthroughAddr = "127.0.0.1:50051"

// walkthroughDB is how the walkthrough names its database.
var walkthroughDB = regexp.MustCompile(`"database":\s*"demo"`)

// Fields whose values differ from run to run; they must be present, and
// are not compared.
var varyingFields = []string{"token", "instanceId", "instanceAddress", "createdTime", "expireTime", "absoluteExpireTime", "startTime"}

// walkthroughStep is one sh block of the walkthrough: a command with the
// JSON block after it, or variable assignments a reader copies from an
// earlier output.
type walkthroughStep struct {
	line    int               // in README.md, of the sh block
	command string            // for a command
	want    any               // its expected output
	assign  map[string]string // for assignments: name → the README's value
}

type walkthroughOutput struct{ want, got any }

var assignment = regexp.MustCompile(`^([A-Z_][A-Z0-9_]*)=(.*)$`)

// parseWalkthrough reads the fenced blocks between w's markers and checks
// that they show a whole transaction.
func parseWalkthrough(t *testing.T, path string, w walkthrough) []walkthroughStep {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type block struct {
		lang, body string
		line       int
	}
	var (
		blocks             []block
		inSection, inBlock bool
		cur                *block
		heading            bool
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "<!-- "+w.marker+":begin -->":
			inSection = true
		case strings.TrimSpace(line) == "<!-- "+w.marker+":end -->":
			inSection = false
		case !inSection:
		case inBlock && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			inBlock = false
		case inBlock:
			cur.body += line + "\n"
		case strings.HasPrefix(line, "```"):
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: n}
			inBlock = true
		case strings.TrimSpace(line) == w.heading:
			heading = true
		}
	}
	if !heading {
		t.Fatalf(`README.md has no %q between the %s markers`, w.heading, w.marker)
	}

	var steps []walkthroughStep
	var rpcs []string
	usesDemo := false
	for i := 0; i < len(blocks); i++ {
		bl := blocks[i]
		if bl.lang != "sh" {
			t.Fatalf("README.md:%d: a %q block with no sh command before it", bl.line, bl.lang)
		}
		if vars, ok := parseAssignments(bl.body); ok {
			steps = append(steps, walkthroughStep{line: bl.line, assign: vars})
			continue
		}
		if i+1 == len(blocks) || blocks[i+1].lang != "json" {
			t.Fatalf("README.md:%d: command without a json block of its output after it", bl.line)
		}
		want, err := decodeJSON([]byte(blocks[i+1].body))
		if err != nil {
			t.Fatalf("README.md:%d: expected output is not JSON: %v", blocks[i+1].line, err)
		}
		steps = append(steps, walkthroughStep{line: bl.line, command: bl.body, want: want})
		for _, m := range w.calls.FindAllStringSubmatch(bl.body, -1) {
			rpcs = append(rpcs, m[len(m)-1])
		}
		usesDemo = usesDemo || walkthroughDB.MatchString(bl.body) || strings.Contains(bl.body, "/databases/demo/")
		i++
	}
	for _, rpc := range w.required {
		if !slices.Contains(rpcs, rpc) {
			t.Errorf("the walkthrough calls %v, want a transaction that includes %s", rpcs, rpc)
		}
	}
	if !usesDemo {
		t.Errorf(`the walkthrough never names "database": "demo"; update walkthroughDB, which keeps test runs apart`)
	}
	if t.Failed() {
		t.FailNow()
	}
	return steps
}

// parseAssignments reads a block of NAME=value lines (values optionally
// quoted); ok is false for anything else.
func parseAssignments(body string) (map[string]string, bool) {
	vars := map[string]string{}
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		m := assignment.FindStringSubmatch(line)
		if m == nil {
			return nil, false
		}
		v := m[2]
		if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		vars[m[1]] = v
	}
	return vars, len(vars) > 0
}

// readerValue does what a reader does with "NAME=value": finds where value
// appears in an earlier output of the README and takes what this run
// printed there.
func readerValue(t *testing.T, line int, name, value string, outputs []walkthroughOutput) string {
	t.Helper()
	for i := len(outputs) - 1; i >= 0; i-- {
		path, ok := findString(outputs[i].want, value, nil)
		if !ok {
			continue
		}
		got, ok := lookupPath(outputs[i].got, path)
		s, isString := got.(string)
		if !ok || !isString {
			t.Fatalf("README.md:%d: %s comes from %v, which this run's output lacks", line, name, path)
		}
		return s
	}
	t.Fatalf("README.md:%d: %s=%s, a value that no earlier output shows", line, name, value)
	return ""
}

// findString returns the path (keys and indexes) to the string leaf equal
// to s.
func findString(v any, s string, path []any) ([]any, bool) {
	switch x := v.(type) {
	case string:
		return path, x == s
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if p, ok := findString(x[k], s, append(slices.Clip(path), k)); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range x {
			if p, ok := findString(e, s, append(slices.Clip(path), i)); ok {
				return p, true
			}
		}
	}
	return nil, false
}

func lookupPath(v any, path []any) (any, bool) {
	for _, step := range path {
		switch k := step.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil, false
			}
			v = a[k]
		}
	}
	return v, true
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

// compareJSON lists the differences between want and got; fields in
// varyingFields need only be present in both.
func compareJSON(path string, want, got any) []string {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		var diffs []string
		keys := sortedKeys(wm)
		for k := range gm {
			if _, ok := wm[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			p := path + "." + k
			w, inWant := wm[k]
			g, inGot := gm[k]
			switch {
			case !inWant:
				diffs = append(diffs, fmt.Sprintf("%s: unexpected, got %v", p, g))
			case !inGot:
				diffs = append(diffs, fmt.Sprintf("%s: missing, want %v", p, w))
			case slices.Contains(varyingFields, k):
			default:
				diffs = append(diffs, compareJSON(p, w, g)...)
			}
		}
		return diffs
	}
	wa, wok := want.([]any)
	ga, gok := got.([]any)
	if wok && gok && len(wa) == len(ga) {
		var diffs []string
		for i := range wa {
			diffs = append(diffs, compareJSON(fmt.Sprintf("%s[%d]", path, i), wa[i], ga[i])...)
		}
		return diffs
	}
	if !reflect.DeepEqual(want, got) {
		if path == "" {
			path = "."
		}
		return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
