package queue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoplake/shoplake/shared/events"
)

// Message is one record read back with its position and the position
// after it.
type Message struct {
	Msg       *pubsubpb.PubsubMessage
	Pos, Next Position
}

// Read returns up to max records from p on, crossing into later segments,
// and stops after the record that brings their data to maxBytes or more;
// fewer (possibly none) when the backlog ends. It may run while publish
// appends: a record still being written is left for a later read, and a
// segment is left for the next one only if the next one existed before the
// segment was read (the writer completes a segment before it starts the
// next, so that read saw all of it).
func (q *Queue) Read(p Position, max, maxBytes int) ([]Message, error) {
	var out []Message
	size := 0
	for len(out) < max && size < maxBytes {
		next, more, err := q.nextSegment(p.Seg)
		if err != nil {
			return out, err
		}
		f, err := os.Open(q.segPath(p.Seg))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return out, fmt.Errorf("open queue segment: %w", err)
		}
		if err == nil {
			msgs, err := readSegment(f, p, max-len(out), maxBytes-size)
			f.Close()
			out = append(out, msgs...)
			for _, m := range msgs {
				size += len(m.Msg.GetData())
			}
			if err != nil || len(out) >= max || size >= maxBytes {
				return out, err
			}
		}
		// The segment ended (or was settled and removed): go on with the
		// next one, if there was one before this one was read.
		if !more {
			return out, nil
		}
		p = Position{Seg: next}
	}
	return out, nil
}

func (q *Queue) nextSegment(after int) (int, bool, error) {
	segs, err := q.segments()
	if err != nil {
		return 0, false, err
	}
	for _, s := range segs {
		if s > after {
			return s, true, nil
		}
	}
	return 0, false, nil
}

// readSegment reads up to max whole records of f from p, stopping after the
// record that brings their data to maxBytes or more.
func readSegment(f *os.File, p Position, max, maxBytes int) ([]Message, error) {
	if _, err := f.Seek(p.Off, io.SeekStart); err != nil {
		return nil, err
	}
	r := &countingReader{r: bufio.NewReaderSize(f, 1<<20), n: p.Off}
	var out []Message
	for size := 0; len(out) < max && size < maxBytes; {
		start := r.n
		n, err := binary.ReadUvarint(r)
		if err != nil {
			break // end of the segment (or a record still being written)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			break
		}
		m := &pubsubpb.PubsubMessage{}
		if err := proto.Unmarshal(b, m); err != nil {
			return out, fmt.Errorf("queue record at %s is corrupt: %w", Position{p.Seg, start}, err)
		}
		out = append(out, Message{Msg: m, Pos: Position{p.Seg, start}, Next: Position{p.Seg, r.n}})
		size += len(m.GetData())
	}
	return out, nil
}

// HasPending reports whether any record is not yet settled, reading one.
func (q *Queue) HasPending() (bool, error) {
	p, err := q.Cursor()
	if err != nil {
		return false, err
	}
	msgs, err := q.Read(p, 1, 1)
	return len(msgs) > 0, err
}

// Pending counts the cart events in the records not yet settled (see
// eventCount).
func (q *Queue) Pending() (int64, error) {
	p, err := q.Cursor()
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		msgs, err := q.Read(p, 10000, 64<<20)
		if err != nil || len(msgs) == 0 {
			return total, err
		}
		for _, m := range msgs {
			total += EventCount(m.Msg)
		}
		p = msgs[len(msgs)-1].Next
	}
}

type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// EventCount is how many cart events a message carries (its event count
// attribute; 1 when it has none).
func EventCount(m *pubsubpb.PubsubMessage) int64 {
	if n, err := strconv.ParseInt(m.GetAttributes()[events.AttrEventCount], 10, 64); err == nil && n > 0 {
		return n
	}
	return 1
}
