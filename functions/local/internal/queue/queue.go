// Package queue is the durable backlog of a local Pub/Sub subscription (see
// Queue).
package queue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoplake/shoplake/functions/local/internal/rundir"
)

// Queue is the durable backlog of one local subscription: the messages
// published to its topic, kept on disk under the run directory until they
// are acknowledged or dead-lettered, so that they survive the runner's death
// as they survive in Pub/Sub. pstest and the gcloud emulator keep messages in
// memory; in pstest mode the runner hands pstest's Publish calls to
// Queue.Publish (see internal/emulation), which appends and fsyncs before the
// publish is answered, so PollCarts commits its state only after its events
// are on disk.
//
// Layout: segment files 000001.seg, 000002.seg, … each a sequence of records
// (uvarint length, PubsubMessage protobuf), and a cursor file naming the
// first record not yet settled. Memory does not grow with the backlog: the
// consumer reads a window of records at a time.
type Queue struct {
	dir string
	// appended counts the events appended since the queue was opened.
	appended atomic.Int64

	mu              sync.Mutex
	active          *os.File // the segment being appended to
	seg             int      // its number
	size            int64    // its size
	MaxSegmentBytes int64    // rotate past this many bytes
}

// Published counts the events appended since the queue was opened.
func (q *Queue) Published() int64 { return q.appended.Load() }

// Position is a record's place: segment number and byte offset.
type Position struct {
	Seg int
	Off int64
}

// String is the position as segment-offset, for messages and logs.
func (p Position) String() string { return fmt.Sprintf("%06d-%d", p.Seg, p.Off) }

// Open opens (or creates) the queue in dir, dropping a record cut
// short by a crash while it was written (its publish was never answered).
func Open(dir string) (*Queue, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create queue %s: %w", dir, err)
	}
	q := &Queue{dir: dir, MaxSegmentBytes: 64 << 20}
	segs, err := q.segments()
	if err != nil {
		return nil, err
	}
	q.seg = 1
	if len(segs) > 0 {
		q.seg = segs[len(segs)-1]
	}
	f, err := os.OpenFile(q.segPath(q.seg), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open queue segment: %w", err)
	}
	good, err := wholeRecordsEnd(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("truncate a partial record in %s: %w", f.Name(), err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	q.active, q.size = f, good
	return q, nil
}

// wholeRecordsEnd steps over the whole records of f from the start, by
// their length prefixes alone, and returns the offset after the last one
// (where a record cut short by a crash begins).
func wholeRecordsEnd(f *os.File) (int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	r := &countingReader{r: bufio.NewReaderSize(f, 1<<20)}
	end := int64(0)
	for {
		size, err := binary.ReadUvarint(r)
		if err != nil {
			return end, nil
		}
		if _, err := io.CopyN(io.Discard, r, int64(size)); err != nil {
			return end, nil
		}
		end = r.n
	}
}

func (q *Queue) segPath(n int) string { return filepath.Join(q.dir, fmt.Sprintf("%06d.seg", n)) }

// segments lists the segment numbers in order.
func (q *Queue) segments() ([]int, error) {
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return nil, fmt.Errorf("list queue %s: %w", q.dir, err)
	}
	var out []int
	for _, e := range entries {
		if n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".seg")); err == nil && strings.HasSuffix(e.Name(), ".seg") {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}

// Publish appends msgs durably (fsync) and returns their message ids: the
// position of each record, stable across redeliveries.
func (q *Queue) Publish(msgs []*pubsubpb.PubsubMessage, now time.Time) ([]string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.size >= q.MaxSegmentBytes {
		if err := q.rotate(); err != nil {
			return nil, err
		}
	}
	w := bufio.NewWriterSize(q.active, 1<<20)
	ids := make([]string, len(msgs))
	var lenBuf [binary.MaxVarintLen64]byte
	off := q.size
	for i, m := range msgs {
		rec := proto.Clone(m).(*pubsubpb.PubsubMessage)
		rec.MessageId = Position{q.seg, off}.String()
		rec.PublishTime = timestamppb.New(now)
		b, err := proto.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("encode message: %w", err)
		}
		n := binary.PutUvarint(lenBuf[:], uint64(len(b)))
		w.Write(lenBuf[:n])
		w.Write(b)
		ids[i] = rec.MessageId
		off += int64(n + len(b))
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("append to queue: %w", err)
	}
	if err := q.active.Sync(); err != nil {
		return nil, fmt.Errorf("sync queue: %w", err)
	}
	q.size = off
	for _, m := range msgs {
		q.appended.Add(EventCount(m))
	}
	return ids, nil
}

func (q *Queue) rotate() error {
	if err := q.active.Close(); err != nil {
		return err
	}
	q.seg++
	f, err := os.OpenFile(q.segPath(q.seg), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open queue segment: %w", err)
	}
	q.active, q.size = f, 0
	return rundir.SyncDir(q.dir)
}

// Close closes the segment being appended to.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Close()
}

// cursorPath holds the position of the first record not yet settled.
func (q *Queue) cursorPath() string { return filepath.Join(q.dir, "cursor") }

// Cursor returns the first record not yet settled.
func (q *Queue) Cursor() (Position, error) {
	b, err := os.ReadFile(q.cursorPath())
	if errors.Is(err, os.ErrNotExist) {
		segs, err := q.segments()
		if err != nil || len(segs) == 0 {
			return Position{Seg: 1}, err
		}
		return Position{Seg: segs[0]}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("read queue cursor: %w", err)
	}
	var p Position
	if _, err := fmt.Sscanf(string(b), "%d %d", &p.Seg, &p.Off); err != nil {
		return p, fmt.Errorf("queue cursor %s is corrupt (%q): %w", q.cursorPath(), b, err)
	}
	return p, nil
}

// Settle records that every record before p is settled, and deletes the
// segments wholly before it.
func (q *Queue) Settle(p Position) error {
	if err := rundir.ReplaceFile(q.cursorPath(), []byte(fmt.Sprintf("%d %d\n", p.Seg, p.Off)), 0o644); err != nil {
		return fmt.Errorf("write queue cursor: %w", err)
	}
	segs, err := q.segments()
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s < p.Seg {
			if err := os.Remove(q.segPath(s)); err != nil {
				return fmt.Errorf("remove settled segment: %w", err)
			}
		}
	}
	return nil
}
