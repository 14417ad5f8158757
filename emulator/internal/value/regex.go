package value

import (
	"fmt"
	"regexp"
	"strings"
)

// RegexOptionError reports a regular-expression flag MongoDB does not accept
// (anything outside "imsux"); MongoDB answers it with code 51108.
type RegexOptionError struct{ Flag rune }

func (e *RegexOptionError) Error() string {
	return fmt.Sprintf("invalid flag in regex options: %c", e.Flag)
}

// CompileRegex compiles a BSON regular expression (pattern and options, as in
// bson.Regex or $regex/$options) with Go's RE2 engine, translating MongoDB's
// PCRE flags: i (case-insensitive), m (multi-line anchors), s (dot matches
// newline), x (extended: unescaped whitespace and #-comments outside
// character classes are dropped) and u (accepted, Unicode is always on).
// An unknown flag gives a *RegexOptionError. PCRE features RE2 lacks
// (look-around, back-references, possessive quantifiers) fail to compile.
func CompileRegex(pattern, options string) (*regexp.Regexp, error) {
	var flags strings.Builder
	extended := false
	for _, c := range options {
		switch c {
		case 'i', 'm', 's':
			if !strings.ContainsRune(flags.String(), c) {
				flags.WriteRune(c)
			}
		case 'x':
			extended = true
		case 'u':
		default:
			return nil, &RegexOptionError{Flag: c}
		}
	}
	if extended {
		pattern = stripExtended(pattern)
	}
	if flags.Len() > 0 {
		pattern = "(?" + flags.String() + ")" + pattern
	}
	return regexp.Compile(pattern)
}

// stripExtended removes what PCRE's extended mode ignores: whitespace and
// comments from an unescaped '#' to the end of the line, both only outside
// character classes.
func stripExtended(p string) string {
	var b strings.Builder
	inClass := false
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\\':
			b.WriteRune(c)
			if i+1 < len(rs) {
				i++
				b.WriteRune(rs[i])
			}
		case inClass:
			if c == ']' {
				inClass = false
			}
			b.WriteRune(c)
		case c == '[':
			inClass = true
			b.WriteRune(c)
			// A ']' right after '[' or '[^' is a literal member, not the end.
			if i+1 < len(rs) && rs[i+1] == '^' {
				i++
				b.WriteRune(rs[i])
			}
			if i+1 < len(rs) && rs[i+1] == ']' {
				i++
				b.WriteRune(rs[i])
			}
		case c == '#':
			for i+1 < len(rs) && rs[i+1] != '\n' {
				i++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}
