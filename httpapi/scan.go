package httpapi

import (
	"encoding/json"
	"fmt"
)

// The codec only needs a JSON object's members in order, with each value
// as its raw text: protojson checks the values afterwards. This scanner
// finds them in one pass without building anything, where
// encoding/json's token decoder allocates per token.

type objectField struct {
	key string
	val []byte
}

// objectFields are the members of the JSON object data, in their order;
// keys are unescaped, values are raw. Anything but one well-formed object
// (surrounding white space aside) is an error.
func objectFields(data []byte) ([]objectField, error) {
	s := scanner{data: data}
	s.space()
	if !s.eat('{') {
		return nil, s.fail("want a JSON object")
	}
	var out []objectField
	s.space()
	if s.eat('}') {
		return out, s.end()
	}
	for {
		s.space()
		key, err := s.key()
		if err != nil {
			return nil, err
		}
		s.space()
		if !s.eat(':') {
			return nil, s.fail("want ':' after a key")
		}
		s.space()
		start := s.i
		if err := s.skipValue(0); err != nil {
			return nil, err
		}
		out = append(out, objectField{key, data[start:s.i]})
		s.space()
		if s.eat('}') {
			return out, s.end()
		}
		if !s.eat(',') {
			return nil, s.fail("want ',' or '}' after a member")
		}
	}
}

// mustObjectFields is objectFields of JSON this process wrote.
func mustObjectFields(data []byte) []objectField {
	f, _ := objectFields(data)
	return f
}

// maxDepth bounds the nesting the scanner follows, as encoding/json does.
const maxDepth = 10_000

type scanner struct {
	data []byte
	i    int
}

func (s *scanner) fail(what string) error {
	return fmt.Errorf("malformed JSON at offset %d: %s", s.i, what)
}

func (s *scanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end checks that nothing but white space follows.
func (s *scanner) end() error {
	s.space()
	if s.i != len(s.data) {
		return s.fail("data after the JSON value")
	}
	return nil
}

// key reads a member's key.
func (s *scanner) key() (string, error) {
	start := s.i
	escaped, err := s.skipString()
	if err != nil {
		return "", err
	}
	raw := s.data[start:s.i]
	if !escaped {
		return string(raw[1 : len(raw)-1]), nil
	}
	var k string
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", fmt.Errorf("malformed JSON at offset %d: %w", start, err)
	}
	return k, nil
}

// skipString passes a string and reports whether it held escapes.
func (s *scanner) skipString() (escaped bool, err error) {
	if !s.eat('"') {
		return false, s.fail("want a string")
	}
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			s.i += 2
		case c < 0x20:
			return false, s.fail("a control character in a string")
		default:
			s.i++
		}
	}
	return false, s.fail("an unterminated string")
}

// skipValue passes one value.
func (s *scanner) skipValue(depth int) error {
	if depth > maxDepth {
		return s.fail("nested too deep")
	}
	if s.i >= len(s.data) {
		return s.fail("want a value")
	}
	switch c := s.data[s.i]; {
	case c == '"':
		_, err := s.skipString()
		return err
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		s.i++
		s.space()
		if s.eat(closer) {
			return nil
		}
		for {
			s.space()
			if c == '{' {
				if _, err := s.skipString(); err != nil {
					return err
				}
				s.space()
				if !s.eat(':') {
					return s.fail("want ':' after a key")
				}
				s.space()
			}
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
			s.space()
			if s.eat(closer) {
				return nil
			}
			if !s.eat(',') {
				return s.fail("want ',' or a closing bracket")
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.i
		for s.i < len(s.data) && isNumberByte(s.data[s.i]) {
			s.i++
		}
		if !json.Valid(s.data[start:s.i]) {
			return s.fail("a malformed number")
		}
		return nil
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if len(s.data)-s.i >= len(lit) && string(s.data[s.i:s.i+len(lit)]) == lit {
				s.i += len(lit)
				return nil
			}
		}
		return s.fail("want a value")
	}
}

func isNumberByte(c byte) bool {
	return c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9')
}
