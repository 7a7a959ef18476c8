package ingestbatch

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"

	"github.com/shoplake/shoplake/functions/local/storefront"
	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/source"
)

// TestMain doubles as the storage stand-in of the benchmark: re-executed with
// SHOPLAKE_BENCH_GCS_PORT set, the test binary only serves fake-gcs-server,
// so the benchmark's memory figures exclude it.
func TestMain(m *testing.M) {
	if port := os.Getenv("SHOPLAKE_BENCH_GCS_PORT"); port != "" {
		if os.Getenv("SHOPLAKE_BENCH_GCS_NULL") == "1" {
			serveNullStorage(port)
		} else {
			serveFakeGCS(port)
		}
		return
	}
	os.Exit(m.Run())
}

// serveNullStorage answers the Cloud Storage JSON API calls the lake writer
// makes (upload, get attributes, rewrite, delete, and the listing of earlier
// snapshots, always empty here) and discards the bytes. It isolates the ingest path's own throughput from the cost of
// fake-gcs-server storing hundreds of MiB in memory.
func serveNullStorage(port string) {
	var gen atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/upload/"):
			// The client checks the object's CRC32C, so the sink computes it.
			crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
			mr, err := multipartBody(r)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			_, _ = io.Copy(crc, mr)
			sum := crc.Sum(nil)
			fmt.Fprintf(w, `{"bucket":"bench","name":"staged","generation":"%d","crc32c":%q}`, gen.Add(1), base64.StdEncoding.EncodeToString(sum))
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/rewriteTo/"):
			fmt.Fprintf(w, `{"kind":"storage#rewriteResponse","done":true,"resource":{"bucket":"bench","name":"final","generation":"%d"}}`, gen.Add(1))
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/o"):
			fmt.Fprint(w, `{"kind":"storage#objects"}`)
		case r.Method == http.MethodGet:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":404,"message":"No such object"}}`)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	go http.Serve(l, h)
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func serveFakeGCS(port string) {
	p, _ := strconv.Atoi(port)
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http", Host: "127.0.0.1", Port: uint16(p), PublicHost: "127.0.0.1:" + port, Writer: io.Discard,
	})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "bench"})
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin) // serve until the parent closes stdin
}

// cpuSeconds returns the user+system CPU time of a process from /proc.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // clock ticks; USER_HZ is 100 on Linux
}

// multipartBody returns the media part of a multipart upload.
func multipartBody(r *http.Request) (io.Reader, error) {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	if _, err := mr.NextPart(); err != nil { // the object's metadata
		return nil, err
	}
	return mr.NextPart()
}

func startChildGCS(b *testing.B, null bool) (string, int) {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SHOPLAKE_BENCH_GCS_PORT="+port)
	if null {
		cmd.Env = append(cmd.Env, "SHOPLAKE_BENCH_GCS_NULL=1")
	}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		b.Fatalf("fake GCS child: %q", line)
	}
	return "http://127.0.0.1:" + port, cmd.Process.Pid
}

// peakRSS returns the process's peak resident set (VmHWM) in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkIngestProducts ingests SHOPLAKE_BENCH_RECORDS (default 1,000,000)
// synthetic products from the local storefront through decoding, validation
// and the lake writer, into a storage stand-in in a child process:
// fake-gcs-server, and a null sink that measures the ingest path alone. It
// reports records/s, CPU per record of this process and of the stand-in, the
// peak Go heap sampled every 5ms, and the process's peak RSS.
func BenchmarkIngestProducts(b *testing.B) {
	for _, sink := range []struct {
		name string
		null bool
	}{{"fake-gcs-server", false}, {"null-storage", true}} {
		b.Run(sink.name, func(b *testing.B) { benchmarkIngest(b, sink.name, sink.null) })
	}
}

func benchmarkIngest(b *testing.B, sinkName string, null bool) {
	n := int64(1_000_000)
	if v := os.Getenv("SHOPLAKE_BENCH_RECORDS"); v != "" {
		n, _ = strconv.ParseInt(v, 10, 64)
	}
	gcsURL, childPID := startChildGCS(b, null)
	ctx := context.Background()
	gcs, err := storage.NewClient(ctx, option.WithEndpoint(gcsURL+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		b.Fatal(err)
	}
	defer gcs.Close()
	api := httptest.NewServer(storefront.NewServer(storefront.Synthetic(n)))
	defer api.Close()
	src, err := source.New(source.Config{BaseURL: api.URL, RequestsPerSecond: 100}, nil)
	if err != nil {
		b.Fatal(err)
	}
	lw, err := lake.NewWriter(lake.Config{Bucket: "bench"}, gcs)
	if err != nil {
		b.Fatal(err)
	}
	fn, err := New(Config{}, Deps{Source: src, Key: testKey, Lake: lw, Runs: &fakeRuns{}, Logger: logging.New(io.Discard, slog.LevelError)})
	if err != nil {
		b.Fatal(err)
	}

	runtime.GC()
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peakHeap.Load() {
					peakHeap.Store(ms.HeapInuse)
				}
			}
		}
	}()

	b.ResetTimer()
	start := time.Now()
	selfCPU0, childCPU0 := cpuSeconds(os.Getpid()), cpuSeconds(childPID)
	for i := 0; i < b.N; i++ {
		// A new day each iteration, so every iteration writes a full snapshot.
		sum, err := fn.Run(ctx, Request{Entities: []string{"products"}, Date: time.Now().AddDate(0, 0, -i).Format(lake.DateLayout)})
		if err != nil {
			b.Fatal(err)
		}
		if got := sum.Entities[0].Valid; got != n {
			b.Fatalf("valid = %d, want %d", got, n)
		}
	}
	elapsed := time.Since(start)
	selfCPU, childCPU := cpuSeconds(os.Getpid())-selfCPU0, cpuSeconds(childPID)-childCPU0
	b.StopTimer()
	close(stop)
	<-sampled

	total := float64(n * int64(b.N))
	perSec := total / elapsed.Seconds()
	cores := float64(runtime.NumCPU())
	// The ingest path's own throughput on this machine's cores, were the
	// storage stand-in not sharing them (in production GCS is remote).
	pathPerSec := total / (selfCPU / cores)
	b.ReportMetric(perSec, "records/s")
	b.ReportMetric(pathPerSec, "path-records/s")
	b.ReportMetric(selfCPU/total*1e6, "path-cpu-µs/record")
	b.ReportMetric(childCPU/total*1e6, "gcs-cpu-µs/record")
	b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-rss-MiB")
	fmt.Fprintf(os.Stderr, "ingest [%s]: %.0f products in %.2fs = %.0f records/s wall clock (the stand-in shares the %d cores)\n", sinkName, total, elapsed.Seconds(), perSec, runtime.NumCPU())
	fmt.Fprintf(os.Stderr, "ingest [%s]: CPU per record: ingest path (API server, decode, validate, upload) %.1f µs, storage stand-in %.1f µs; ingest path CPU-bound rate on %d cores %.0f records/s\n", sinkName, selfCPU/total*1e6, childCPU/total*1e6, runtime.NumCPU(), pathPerSec)
	fmt.Fprintf(os.Stderr, "ingest [%s]: peak Go heap %.1f MiB, peak RSS %.1f MiB (storage stand-in excluded)\n", sinkName, float64(peakHeap.Load())/(1<<20), float64(peakRSS())/(1<<20))
}
