package source

import (
	"errors"
	"fmt"
	"io"
)

// maxElement caps one array element; a larger one is an error, not a
// reason to buffer without bound.
const maxElement = 16 << 20

// ErrMalformed reports a response that is not a well-formed JSON array of
// elements. (Each element's own syntax is checked when it is decoded.)
var ErrMalformed = errors.New("malformed JSON array")

// splitter yields the elements of a JSON array read from r, without decoding
// them: it tracks only strings and nesting to find where each element ends,
// which costs a fraction of a full JSON scan. The bytes it returns are valid
// until the next call.
type splitter struct {
	r     io.Reader
	buf   []byte
	start int // first unconsumed byte
	end   int // end of buffered data
	off   int64
	eof   bool
	state int
}

const (
	stateBegin = iota // before '['
	stateFirst        // after '[': an element or ']'
	stateNext         // after an element: ',' or ']'
	stateDone
)

func newSplitter(r io.Reader) *splitter {
	return &splitter{r: r, buf: make([]byte, 256<<10)}
}

// fill reads more input, keeping bytes from s.start on; it grows the buffer
// only for an element longer than the buffer.
func (s *splitter) fill() error {
	if s.eof {
		return io.ErrUnexpectedEOF
	}
	if s.start > 0 {
		n := copy(s.buf, s.buf[s.start:s.end])
		s.off += int64(s.start)
		s.start, s.end = 0, n
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= maxElement {
			return fmt.Errorf("%w: an element exceeds %d bytes", ErrTooLarge, maxElement)
		}
		s.buf = append(s.buf, make([]byte, len(s.buf))...)
	}
	n, err := s.r.Read(s.buf[s.end:])
	s.end += n
	if errors.Is(err, io.EOF) {
		s.eof = true
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		return nil
	}
	return err
}

// skipSpace advances past white space and returns the next byte.
func (s *splitter) skipSpace() (byte, error) {
	for {
		for s.start < s.end {
			switch c := s.buf[s.start]; c {
			case ' ', '\t', '\n', '\r':
				s.start++
			default:
				return c, nil
			}
		}
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
}

func (s *splitter) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrMalformed, s.off+int64(s.start), fmt.Sprintf(format, args...))
}

// next returns the next element, or io.EOF after the closing bracket.
func (s *splitter) next() ([]byte, error) {
	for {
		c, err := s.skipSpace()
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && s.state == stateBegin {
				return nil, ErrNotArray
			}
			return nil, err
		}
		switch s.state {
		case stateBegin:
			if c != '[' {
				return nil, ErrNotArray
			}
			s.start++
			s.state = stateFirst
		case stateFirst:
			if c == ']' {
				s.start++
				s.state = stateDone
				return nil, io.EOF
			}
			return s.element()
		case stateNext:
			s.start++
			switch c {
			case ',':
				if c, err := s.skipSpace(); err != nil {
					return nil, err
				} else if c == ']' {
					return nil, s.errorf("trailing comma")
				}
				return s.element()
			case ']':
				s.state = stateDone
				return nil, io.EOF
			default:
				s.start--
				return nil, s.errorf("expected ',' or ']' after an element, found %q", c)
			}
		case stateDone:
			return nil, io.EOF
		}
	}
}

// element scans one element starting at s.start.
func (s *splitter) element() ([]byte, error) {
	s.state = stateNext
	depth, inString, escaped := 0, false, false
	i := s.start
	scalar := s.buf[i] != '{' && s.buf[i] != '[' && s.buf[i] != '"'
	for {
		for ; i < s.end; i++ {
			c := s.buf[i]
			if inString {
				switch {
				case escaped:
					escaped = false
				case c == '\\':
					escaped = true
				case c == '"':
					inString = false
					if depth == 0 {
						return s.take(i + 1), nil
					}
				}
				continue
			}
			if scalar {
				switch c {
				case ',', ']', ' ', '\t', '\n', '\r':
					return s.take(i), nil
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return s.take(i + 1), nil
				}
				if depth < 0 {
					return nil, s.errorf("unbalanced %q", c)
				}
			}
		}
		rel := i - s.start
		if err := s.fill(); err != nil {
			if scalar && s.eof && errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		i = s.start + rel
	}
}

func (s *splitter) take(end int) []byte {
	el := s.buf[s.start:end]
	s.start = end
	return el
}
