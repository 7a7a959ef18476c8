package ingestbatch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
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

	"github.com/shoplake/shoplake/shared/lake"
	"github.com/shoplake/shoplake/shared/logging"
	"github.com/shoplake/shoplake/shared/source"
	"github.com/shoplake/shoplake/shared/storefront"
)

// TestMain doubles as the storage stand-in of the benchmark: re-executed with
// SHOPLAKE_BENCH_GCS_PORT set, the test binary only serves fake-gcs-server,
// so the benchmark's memory figures exclude it.
func TestMain(m *testing.M) {
	if port := os.Getenv("SHOPLAKE_BENCH_GCS_PORT"); port != "" {
		serveFakeGCS(port)
		return
	}
	os.Exit(m.Run())
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

func startChildGCS(b *testing.B) (string, int) {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SHOPLAKE_BENCH_GCS_PORT="+port)
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
// and the lake writer into fake-gcs-server (in a child process). It reports
// records/s, the peak Go heap sampled every 5ms, and the process's peak RSS.
func BenchmarkIngestProducts(b *testing.B) {
	n := int64(1_000_000)
	if v := os.Getenv("SHOPLAKE_BENCH_RECORDS"); v != "" {
		n, _ = strconv.ParseInt(v, 10, 64)
	}
	gcsURL, childPID := startChildGCS(b)
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
	fn, err := New(Config{}, Deps{Source: src, Lake: lw, Runs: &fakeRuns{}, Logger: logging.New(io.Discard, slog.LevelError)})
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
	fmt.Fprintf(os.Stderr, "ingest: %.0f products in %.2fs = %.0f records/s end to end (fake-gcs-server shares the %d cores)\n", total, elapsed.Seconds(), perSec, runtime.NumCPU())
	fmt.Fprintf(os.Stderr, "ingest: CPU per record: ingest path (API server, decode, validate, upload) %.1f µs, fake-gcs-server %.1f µs\n", selfCPU/total*1e6, childCPU/total*1e6)
	fmt.Fprintf(os.Stderr, "ingest: ingest path alone on %d cores: %.0f records/s\n", runtime.NumCPU(), pathPerSec)
	fmt.Fprintf(os.Stderr, "ingest: peak Go heap %.1f MiB, peak RSS %.1f MiB (storage stand-in excluded)\n", float64(peakHeap.Load())/(1<<20), float64(peakRSS())/(1<<20))
}
