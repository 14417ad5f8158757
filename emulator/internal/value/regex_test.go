package value

import (
	"errors"
	"testing"
)

func TestCompileRegex(t *testing.T) {
	tests := []struct {
		name, pattern, options, input string
		want                          bool
	}{
		{"plain", "^ab", "", "abc", true},
		{"case sensitive", "^AB", "", "abc", false},
		{"i", "^AB", "i", "abc", true},
		{"m anchors lines", "^b", "m", "a\nb", true},
		{"no m", "^b", "", "a\nb", false},
		{"s dot newline", "a.b", "s", "a\nb", true},
		{"no s", "a.b", "", "a\nb", false},
		{"u accepted", "é", "u", "café", true},
		{"x drops space and comments", "a b # comment\n c", "x", "abc", true},
		{"x keeps escaped space", `a\ b`, "x", "a b", true},
		{"x keeps class members", "a[ ]b", "x", "a b", true},
		{"x class with leading bracket", "[]a ]x", "x", " x", true},
		{"escaped slash", `a\/b`, "", "a/b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re, err := CompileRegex(tt.pattern, tt.options)
			if err != nil {
				t.Fatal(err)
			}
			if got := re.MatchString(tt.input); got != tt.want {
				t.Errorf("match %q = %v, want %v", tt.input, got, tt.want)
			}
		})
	}
}

func TestCompileRegexErrors(t *testing.T) {
	_, err := CompileRegex("a", "ig")
	var oe *RegexOptionError
	if !errors.As(err, &oe) || oe.Flag != 'g' {
		t.Errorf("bad flag: err = %v", err)
	}
	if _, err := CompileRegex("(a", ""); err == nil || errors.As(err, &oe) {
		t.Errorf("bad pattern: err = %v", err)
	}
}
