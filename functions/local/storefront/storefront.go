// Package storefront serves a FakeStore-compatible REST API for local runs and
// tests: GET /products, /users and /carts return JSON arrays, either the real
// FakeStore snapshot embedded from fixtures/ or deterministic synthetic data of
// any size, generated while it is written so memory stays flat.
package storefront

import (
	"bufio"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

//go:embed fixtures/*.json
var fixtures embed.FS

// Catalog writes the JSON array of one entity.
type Catalog interface {
	// WriteEntity writes entity's array to w and returns how many elements it
	// wrote; ok is false for an entity the catalog does not serve.
	WriteEntity(w io.Writer, entity string) (n int64, ok bool, err error)
}

// Fixtures returns the catalog of the real FakeStore responses: 20 products,
// 10 users (with their plaintext passwords, as the live API sends them) and 7
// carts.
func Fixtures() Catalog { return fixtureCatalog{} }

type fixtureCatalog struct{}

func (fixtureCatalog) WriteEntity(w io.Writer, entity string) (int64, bool, error) {
	counts := map[string]int64{"products": 20, "users": 10, "carts": 7}
	n, ok := counts[entity]
	if !ok {
		return 0, false, nil
	}
	b, err := fixtures.ReadFile("fixtures/" + entity + ".json")
	if err != nil {
		return 0, true, err
	}
	_, err = w.Write(b)
	return n, true, err
}

// DecodeFixtures decodes the FakeStore snapshot's array of entity into v,
// for tests that compare with the fixtures or serve them changed.
func DecodeFixtures(entity string, v any) error {
	b, err := fixtures.ReadFile("fixtures/" + entity + ".json")
	if err != nil {
		return fmt.Errorf("fixtures of %s: %w", entity, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("fixtures of %s: %w", entity, err)
	}
	return nil
}

// Raw returns a catalog serving the given JSON array bodies by entity, for
// tests that need exact (including invalid) responses.
func Raw(bodies map[string]string) Catalog { return rawCatalog(bodies) }

type rawCatalog map[string]string

func (c rawCatalog) WriteEntity(w io.Writer, entity string) (int64, bool, error) {
	body, ok := c[entity]
	if !ok {
		return 0, false, nil
	}
	_, err := io.WriteString(w, body)
	return int64(strings.Count(body, "},{") + 1), true, err
}

// Server is an http.Handler serving a Catalog.
type Server struct {
	catalog Catalog
	served  atomic.Int64
}

// NewServer returns a Server for catalog.
func NewServer(catalog Catalog) *Server { return &Server{catalog: catalog} }

// Served returns how many elements the server has written so far.
func (s *Server) Served() int64 { return s.served.Load() }

// ServeHTTP answers GET /<entity>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	entity := strings.Trim(r.URL.Path, "/")
	bw := &countingWriter{Writer: bufio.NewWriterSize(w, 64<<10), served: &s.served}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	n, ok, err := s.catalog.WriteEntity(bw, entity)
	if !ok {
		http.Error(w, fmt.Sprintf("no such collection %q", entity), http.StatusNotFound)
		return
	}
	if err == nil {
		err = bw.Flush()
	}
	s.served.Add(n - bw.told)
	if err != nil {
		// Headers are gone; abort the connection so the client sees a broken body.
		panic(http.ErrAbortHandler)
	}
}

// countingWriter is the response writer a catalog writes to: a catalog
// that writes a long array tells it of the elements written so far (Wrote),
// so that Served counts them while the response is still being written.
type countingWriter struct {
	*bufio.Writer
	served *atomic.Int64
	told   int64
}

// Wrote records that n more elements were written.
func (c *countingWriter) Wrote(n int64) {
	c.told += n
	c.served.Add(n)
}

// wroter is what a catalog writing a long array tells of its progress.
type wroter interface{ Wrote(n int64) }

// Synthetic returns a catalog of n deterministic products, n users and n carts.
// Element i is the same on every call, so reruns see unchanged data.
func Synthetic(n int64) Catalog { return &synthetic{n: n} }

// SyntheticChanging is Synthetic whose carts change between reads: on the
// k-th read of /carts (k ≥ 1), the carts whose id is k modulo 100 get new
// quantities, and those changed on the read before get their old ones back,
// so each poll after the first sees about 2% of the carts changed.
func SyntheticChanging(n int64) Catalog { return &synthetic{n: n, changing: true} }

type synthetic struct {
	n        int64
	changing bool
	reads    atomic.Int64
}

var categories = []string{"electronics", "jewelery", "men's clothing", "women's clothing"}

func (s *synthetic) WriteEntity(w io.Writer, entity string) (int64, bool, error) {
	var write func(buf []byte, i int64) []byte
	switch entity {
	case "products":
		write = syntheticProduct
	case "users":
		write = syntheticUser
	case "carts":
		round := int64(0)
		if s.changing {
			round = s.reads.Add(1) - 1
		}
		write = func(b []byte, i int64) []byte { return s.syntheticCart(b, i, round) }
	default:
		return 0, false, nil
	}
	progress, _ := w.(wroter)
	buf := make([]byte, 0, 1024)
	buf = append(buf, '[')
	told := int64(0)
	for i := int64(1); i <= s.n; i++ {
		if i > 1 {
			buf = append(buf, ',')
		}
		buf = write(buf, i)
		if len(buf) >= 32<<10 {
			if _, err := w.Write(buf); err != nil {
				return i, true, err
			}
			buf = buf[:0]
			if progress != nil {
				progress.Wrote(i - told)
				told = i
			}
		}
	}
	buf = append(buf, ']')
	_, err := w.Write(buf)
	return s.n, true, err
}

func syntheticProduct(b []byte, i int64) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `,"title":"Synthetic product `...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `","price":`...)
	b = strconv.AppendFloat(b, float64(100+i%9900)/100, 'f', 2, 64)
	b = append(b, `,"description":"Deterministic product number `...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, ` for load tests.","category":"`...)
	b = append(b, categories[i%int64(len(categories))]...)
	b = append(b, `","image":"https://example.com/img/`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `.jpg","rating":{"rate":`...)
	b = strconv.AppendFloat(b, float64(i%50)/10, 'f', 1, 64)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, i%1000, 10)
	return append(b, `}}`...)
}

func syntheticUser(b []byte, i int64) []byte {
	b = append(b, `{"address":{"geolocation":{"lat":"`...)
	b = strconv.AppendFloat(b, float64(i%180)-89.5, 'f', 4, 64)
	b = append(b, `","long":"`...)
	b = strconv.AppendFloat(b, float64(i%360)-179.5, 'f', 4, 64)
	b = append(b, `"},"city":"city`...)
	b = strconv.AppendInt(b, i%500, 10)
	b = append(b, `","street":"street `...)
	b = strconv.AppendInt(b, i%97, 10)
	b = append(b, `","number":`...)
	b = strconv.AppendInt(b, i%9999, 10)
	b = append(b, `,"zipcode":"`...)
	b = strconv.AppendInt(b, 10000+i%89999, 10)
	b = append(b, `"},"id":`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `,"email":"user`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `@example.com","username":"user`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `","password":"synthetic-secret-`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `","name":{"firstname":"first`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `","lastname":"last`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `"},"phone":"1-555-`...)
	b = strconv.AppendInt(b, 1000000+i%8999999, 10)
	return append(b, `","__v":0}`...)
}

func (s *synthetic) syntheticCart(b []byte, i, round int64) []byte {
	bump := int64(0)
	if round > 0 && i%100 == round%100 {
		bump = 1 + round
	}
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `,"userId":`...)
	b = strconv.AppendInt(b, 1+(i*7)%s.n, 10)
	b = append(b, `,"date":"2020-0`...)
	b = strconv.AppendInt(b, 1+i%9, 10)
	b = append(b, `-1`...)
	b = strconv.AppendInt(b, i%10, 10)
	b = append(b, `T00:00:00.000Z","products":[`...)
	lines := 1 + i%3
	for l := int64(0); l < lines; l++ {
		if l > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"productId":`...)
		b = strconv.AppendInt(b, 1+(i*31+l*17)%s.n, 10)
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, 1+(i+l+bump)%5, 10)
		b = append(b, '}')
	}
	return append(b, `],"__v":0}`...)
}

// Snapshot is the FakeStore fixtures decoded for the stand-ins of other
// stores, which serve the same data in their own shapes: each product's
// price kept as its JSON text, and no password.
type Snapshot struct {
	Products []struct {
		ID       int64       `json:"id"`
		Title    string      `json:"title"`
		Price    json.Number `json:"price"`
		Category string      `json:"category"`
	}
	Users []struct {
		ID       int64  `json:"id"`
		Email    string `json:"email"`
		Username string `json:"username"`
		Address  struct {
			City    string `json:"city"`
			Zipcode string `json:"zipcode"`
		} `json:"address"`
	}
	Carts []struct {
		ID     int64     `json:"id"`
		UserID int64     `json:"userId"`
		Date   time.Time `json:"date"`
		Lines  []struct {
			ProductID int64 `json:"productId"`
			Quantity  int64 `json:"quantity"`
		} `json:"products"`
	}
}

// DecodeSnapshot decodes the fixtures into a Snapshot.
func DecodeSnapshot() (Snapshot, error) {
	var s Snapshot
	for entity, v := range map[string]any{"products": &s.Products, "users": &s.Users, "carts": &s.Carts} {
		if err := DecodeFixtures(entity, v); err != nil {
			return Snapshot{}, err
		}
	}
	return s, nil
}
