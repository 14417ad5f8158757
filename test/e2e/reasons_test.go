package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
)

// The README's error table lists exactly the reasons of ErrorReason, each
// with the status code its comment in common.proto starts with.
func TestREADMEErrorTable(t *testing.T) {
	t.Parallel()
	root, err := testbackend.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme := readmeErrorCodes(t, filepath.Join(root, "README.md"))
	proto := protoErrorCodes(t)
	for reason, code := range proto {
		switch got, ok := readme[reason]; {
		case !ok:
			t.Errorf("README.md's error table lacks %s (%s)", reason, code)
		case got != code:
			t.Errorf("README.md gives %s the code %s, common.proto %s", reason, got, code)
		}
	}
	for reason := range readme {
		if _, ok := proto[reason]; !ok {
			t.Errorf("README.md's error table lists %s, which is no ErrorReason", reason)
		}
	}
}

// errorTableRow is a row of the README's error table: codes, then reasons
// in backquotes, "/" between several.
var errorTableRow = regexp.MustCompile("^\\| ([^|]+) \\| ([^|]+) \\|")

// readmeErrorCodes reads the code of each reason from the README's error
// table. A row with one code gives it to all its reasons; otherwise codes
// and reasons pair up in order.
func readmeErrorCodes(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make(map[string]string)
	in := false
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		switch {
		case text == "| code | reason | when |":
			in = true
			continue
		case !in || strings.HasPrefix(text, "| ---"):
			continue
		case !strings.HasPrefix(text, "|"):
			if len(got) == 0 {
				t.Fatalf("%s:%d: the error table has no rows", path, line)
			}
			return got
		}
		m := errorTableRow.FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("%s:%d: not a row of the error table: %s", path, line, text)
		}
		codes := strings.Split(m[1], " / ")
		reasons := strings.Split(m[2], " / ")
		if len(codes) != 1 && len(codes) != len(reasons) {
			t.Fatalf("%s:%d: %d codes for %d reasons", path, line, len(codes), len(reasons))
		}
		for i, r := range reasons {
			r = strings.Trim(r, "`")
			if _, dup := got[r]; dup {
				t.Errorf("%s:%d: %s is listed twice", path, line, r)
			}
			got[r] = codes[min(i, len(codes)-1)]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("%s: no error table (a line \"| code | reason | when |\")", path)
	return nil
}

// reasonCode is how an ErrorReason value's comment starts: the status code
// the reason comes with, or "(varies)".
var reasonCode = regexp.MustCompile(`^\s*([A-Z_]+|\(varies\))[ :]`)

// protoErrorCodes reads the code of each wire reason from the comments of
// ErrorReason's values, as reflection serves them (pb.DescriptorSet).
func protoErrorCodes(t *testing.T) map[string]string {
	t.Helper()
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(pb.DescriptorSet, &set); err != nil {
		t.Fatal(err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName(pb.ErrorReason(0).Descriptor().FullName())
	if err != nil {
		t.Fatal(err)
	}
	enum := d.(protoreflect.EnumDescriptor)
	got := make(map[string]string)
	values := enum.Values()
	for i := range values.Len() {
		v := values.Get(i)
		reason := pb.ErrorReason(v.Number())
		if reason == pb.ErrorReason_ERROR_REASON_UNSPECIFIED {
			continue
		}
		comment := enum.ParentFile().SourceLocations().ByDescriptor(v).LeadingComments
		m := reasonCode.FindStringSubmatch(comment)
		if m == nil {
			t.Errorf("the comment of %s does not start with a status code: %q", v.Name(), comment)
			continue
		}
		if m[1] != "(varies)" {
			var c codes.Code
			if err := c.UnmarshalJSON([]byte(`"` + m[1] + `"`)); err != nil {
				t.Errorf("the comment of %s starts with %s, which is no status code", v.Name(), m[1])
			}
		}
		got[reason.Wire()] = m[1]
	}
	return got
}
