package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium is Debian's package's browser (.ci/run installs it).
const chromium = "chromium"

// drawnChart is what the browser says of one svg.chart of the report.
type drawnChart struct {
	Name   string  `json:"name"`
	Shapes int     `json:"shapes"`
	Drawn  int     `json:"drawn"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

// page is what the browser read off the report.
type page struct {
	Charts   []drawnChart
	Runs     int
	Drift    string
	Metrics  string   // the text of the headline figures
	Problems []string // console errors and warnings, exceptions, requests that left the file
}

// openInChromium renders the report at path in headless Chromium, reads
// every chart's shapes and their drawn boxes, collects every console error,
// exception and request to anything but the file itself, and saves a
// full-page screenshot at shot. It skips, loudly, when Chromium is missing.
func openInChromium(t *testing.T, path, shot string) page {
	t.Helper()
	bin, err := exec.LookPath(chromium)
	if err != nil {
		t.Skip("SKIPPED: Debian's chromium is not installed, so the run report was not drawn in a browser (.ci/run installs it: apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1400, 1000))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	var mu sync.Mutex
	var p page
	problem := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		p.Problems = append(p.Problems, fmt.Sprintf(format, args...))
	}
	self := (&url.URL{Scheme: "file", Path: path}).String()
	err = chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value))
				}
				problem("console %s: %s", ev.Type, strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			problem("exception: %s", ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				problem("log %s: %s %s", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
			}
		case *network.EventRequestWillBeSent:
			if ev.Request.URL != self && !strings.HasPrefix(ev.Request.URL, "data:") {
				problem("request to %s", ev.Request.URL)
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	fail := func(what string, err error) {
		if err != nil {
			t.Fatalf("%s of %s in Chromium: %v", what, path, err)
		}
	}
	fail("load", chromedp.Do(ctx, chromedp.Navigate(self), chromedp.WaitReady("body")))
	p.Charts, err = chromedp.Run(ctx, chromedp.Evaluate[[]drawnChart](`[...document.querySelectorAll('svg.chart')].map(s => {
		const box = s.getBoundingClientRect();
		const shapes = [...s.querySelectorAll('rect, polyline, text')];
		const drawn = shapes.filter(e => { const b = e.getBBox(); return b.width > 0 && (b.height > 0 || e.tagName === 'polyline'); });
		return {name: s.dataset.chart, shapes: shapes.length, drawn: drawn.length, width: box.width, height: box.height};
	})`))
	fail("read the charts", err)
	p.Runs, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-run]').length`))
	fail("count the runs", err)
	p.Drift, err = chromedp.Run(ctx, chromedp.Text("#drift"))
	fail("read the drift", err)
	p.Metrics, err = chromedp.Run(ctx, chromedp.Text("#metrics"))
	fail("read the headline figures", err)
	shotPNG, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	fail("screenshot", err)
	if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shot, shotPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the report: %s (%d bytes)", shot, len(shotPNG))
	mu.Lock()
	defer mu.Unlock()
	return p
}
