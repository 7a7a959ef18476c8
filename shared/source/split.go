package source

import (
	"errors"
	"fmt"
	"io"
)

// DefaultMaxRecordBytes is the default cap on one array element
// (Config.MaxRecordBytes, SOURCE_MAX_RECORD_BYTES). A larger element is
// skipped without being buffered and reported as an *OversizedError.
const DefaultMaxRecordBytes = 16 << 20

// OversizedError reports one array element larger than the record limit. The
// element's bytes were skipped, never held; the rest of the array is read.
type OversizedError struct {
	Index int64 // position of the element in the array, from 0
	Size  int64 // its length in bytes
	Limit int64 // the limit it broke
}

func (e *OversizedError) Error() string {
	return fmt.Sprintf("record %d is %d bytes, over the %d-byte limit (SOURCE_MAX_RECORD_BYTES)", e.Index, e.Size, e.Limit)
}

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
	max   int   // the largest element held whole
	index int64 // elements started so far
}

const (
	stateBegin = iota // before '['
	stateFirst        // after '[': an element or ']'
	stateNext         // after an element: ',' or ']'
	stateDone
)

func newSplitter(r io.Reader, maxElement int) *splitter {
	if maxElement <= 0 {
		maxElement = DefaultMaxRecordBytes
	}
	return &splitter{r: r, buf: make([]byte, min(256<<10, maxElement)), max: maxElement}
}

// errFull tells element that the buffer holds max bytes of one element.
var errFull = errors.New("element buffer full")

// fill reads more input, keeping bytes from s.start on; it grows the buffer
// only for an element longer than the buffer, up to s.max.
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
		if len(s.buf) >= s.max {
			return errFull
		}
		s.buf = append(s.buf, make([]byte, min(len(s.buf), s.max-len(s.buf)))...)
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

// element scans one element starting at s.start. An element longer than
// s.max is scanned to its end with its bytes dropped as they pass, and
// reported as an *OversizedError.
func (s *splitter) element() ([]byte, error) {
	s.state = stateNext
	s.index++
	depth, inString, escaped := 0, false, false
	var skipped int64 // bytes of an oversized element already dropped
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
						return s.take(i+1, skipped)
					}
				}
				continue
			}
			if scalar {
				switch c {
				case ',', ']', ' ', '\t', '\n', '\r':
					return s.take(i, skipped)
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
					return s.take(i+1, skipped)
				}
				if depth < 0 {
					return nil, s.errorf("unbalanced %q", c)
				}
			}
		}
		rel := i - s.start
		err := s.fill()
		if errors.Is(err, errFull) {
			skipped += int64(rel)
			s.start, rel = i, 0 // drop what was scanned; the next fill reuses the space
			err = s.fill()
		}
		if err != nil {
			if scalar && s.eof && errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		i = s.start + rel
	}
}

// take consumes the element ending at end. An element whose start was
// dropped is returned as an *OversizedError, without its bytes.
func (s *splitter) take(end int, skipped int64) ([]byte, error) {
	el := s.buf[s.start:end]
	s.start = end
	if skipped > 0 {
		return nil, &OversizedError{Index: s.index - 1, Size: skipped + int64(len(el)), Limit: int64(s.max)}
	}
	return el, nil
}
