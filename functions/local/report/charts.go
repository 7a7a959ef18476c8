package report

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Chart is one SVG chart, its shapes laid out in Go so that the template
// only writes them down.
type Chart struct {
	Name          string
	Caption       string
	Width, Height float64
	Rects         []Rect
	Lines         []Line
	Texts         []Text
	// Note is shown under the chart (what the band means, why it is empty).
	Note string
}

// Rect is a bar or a band; Title is its tooltip.
type Rect struct {
	X, Y, W, H   float64
	Class, Title string
}

// Line is a polyline or an axis.
type Line struct {
	Points string
	Class  string
}

// Text is a label.
type Text struct {
	X, Y   float64
	Anchor string
	Class  string
	Text   string
}

// Empty reports whether the chart has nothing to draw.
func (c Chart) Empty() bool { return len(c.Rects)+len(c.Lines) == 0 }

const maxTimelineRuns = 15

// overlapSlack is how much two phases must overlap, in seconds, to share
// a row: less is the rounding of one ending as the next starts.
const overlapSlack = 1e-3

// timeline draws the last runs as rows of phase bars on one time axis.
func timeline(runs []Run) Chart {
	if len(runs) > maxTimelineRuns {
		runs = runs[len(runs)-maxTimelineRuns:]
	}
	const left, right, row, top = 170.0, 20.0, 26.0, 10.0
	c := Chart{Name: "timeline", Width: 900, Height: top + row*float64(len(runs)) + 30}
	longest := 0.0
	for _, r := range runs {
		longest = max(longest, r.Seconds)
	}
	if longest == 0 {
		c.Note = "No run recorded yet."
		return c
	}
	scale := (c.Width - left - right) / longest
	for i, r := range runs { // the latest on top
		y := top + row*float64(len(runs)-1-i)
		c.Texts = append(c.Texts, Text{X: left - 8, Y: y + row/2 + 4, Anchor: "end", Class: "label " + r.Status,
			Text: r.Started.UTC().Format("01-02 15:04:05") + " " + r.Status})
		for j, p := range r.Phases {
			class := "phase " + p.Name
			if p.Failed {
				class += " failed"
			}
			// Phases that ran at the same time (the poll, and the delivery
			// that follows it) share the row: each takes half of it.
			top, h := y+4, row-8
			for k, q := range r.Phases {
				if k != j && p.Start+overlapSlack < q.Start+q.Seconds && q.Start+overlapSlack < p.Start+p.Seconds {
					h /= 2
					if k < j {
						top += h
					}
					break
				}
			}
			c.Rects = append(c.Rects, Rect{X: left + p.Start*scale, Y: top, W: max(p.Seconds*scale, 1.5), H: h,
				Class: class, Title: fmt.Sprintf("%s: %.1fs from %.1fs", p.Name, p.Seconds, p.Start)})
		}
	}
	axisY := top + row*float64(len(runs)) + 4
	c.Lines = append(c.Lines, Line{Points: fmt.Sprintf("%.1f,%.1f %.1f,%.1f", left, axisY, c.Width-right, axisY), Class: "axis"})
	for _, f := range []float64{0, 0.25, 0.5, 0.75, 1} {
		c.Texts = append(c.Texts, Text{X: left + f*longest*scale, Y: axisY + 16, Anchor: "middle", Class: "tick",
			Text: fmt.Sprintf("%.1fs", f*longest)})
	}
	return c
}

// Band is the usual range of a series: the median of the earlier runs plus
// or minus three scaled median absolute deviations (at least a tenth of the
// median). It needs three earlier runs.
type Band struct {
	Lo, Hi float64
	OK     bool
}

// usual returns the band of the values before the last.
func usual(values []float64) Band {
	base := values[:max(len(values)-1, 0)]
	if len(base) < 3 {
		return Band{}
	}
	med := median(base)
	dev := make([]float64, len(base))
	for i, v := range base {
		dev[i] = math.Abs(v - med)
	}
	width := max(3*1.4826*median(dev), 0.1*med)
	return Band{Lo: max(med-width, 0), Hi: med + width, OK: true}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// volume draws one entity's rows per run as bars, with the band of usual
// volume and the runs outside it marked.
func volume(entity string, runs []Run) Chart {
	const w, h, pad = 280.0, 110.0, 18.0
	c := Chart{Name: "volume " + entity, Caption: entity, Width: w, Height: h + pad}
	var values []float64
	var labels []string
	for _, r := range runs {
		if n, ok := r.Rows[entity]; ok {
			values = append(values, float64(n))
			labels = append(labels, r.Started.UTC().Format("01-02 15:04"))
		}
	}
	band := usual(values)
	top := slices.Max(append(values, 1, band.Hi))
	y := func(v float64) float64 { return h - v/top*(h-10) }
	if band.OK {
		c.Rects = append(c.Rects, Rect{X: 0, Y: y(band.Hi), W: w, H: y(band.Lo) - y(band.Hi), Class: "band",
			Title: fmt.Sprintf("usual: %.0f to %.0f", band.Lo, band.Hi)})
		c.Note = fmt.Sprintf("band: usual volume from the earlier runs, %s to %s", number(int64(band.Lo)), number(int64(band.Hi)))
	} else {
		c.Note = "band: drawn once three earlier runs are kept"
	}
	slot := w / float64(max(len(values), 1))
	unusual := 0
	for i, v := range values {
		class := "bar"
		if band.OK && i == len(values)-1 && (v < band.Lo || v > band.Hi) {
			class, unusual = "bar unusual", unusual+1
		}
		c.Rects = append(c.Rects, Rect{X: float64(i)*slot + slot*0.15, Y: y(v), W: max(slot*0.7, 1), H: max(h-y(v), 1),
			Class: class, Title: fmt.Sprintf("%s: %s rows", labels[i], number(int64(v)))})
	}
	if unusual > 0 {
		c.Note = "unusual volume in the latest run; " + c.Note
	}
	c.Lines = append(c.Lines, Line{Points: fmt.Sprintf("0,%.1f %.1f,%.1f", h, w, h), Class: "axis"})
	if n := len(values); n > 0 {
		c.Texts = append(c.Texts, Text{X: w, Y: h + 14, Anchor: "end", Class: "tick", Text: "latest " + number(int64(values[n-1]))})
	}
	return c
}

const maxDays = 60

// orderBars draws orders per day.
func orderBars(days []Day) Chart {
	return daily("orders per day", "No orders in fact_orders.", " orders", days, func(d Day) float64 { return float64(d.Orders) }, false)
}

// revenueLine draws revenue per day as a line.
func revenueLine(days []Day) Chart {
	return daily("revenue per day", "No revenue in fact_orders.", "", days, func(d Day) float64 { return d.Revenue }, true)
}

// daily draws one value per day of the latest days, as bars or as a line
// with a dot a day, with the first and last dates and the largest value.
func daily(name, empty, unit string, days []Day, value func(Day) float64, line bool) Chart {
	days = lastDays(days)
	const w, h = 560.0, 140.0
	c := Chart{Name: name, Width: w, Height: h + 20}
	if len(days) == 0 {
		c.Note = empty
		return c
	}
	top := 1.0
	for _, d := range days {
		top = max(top, value(d))
	}
	y := func(v float64) float64 { return h - v/top*(h-10) }
	slot := w / float64(len(days))
	var pts []string
	for i, d := range days {
		v := value(d)
		title := fmt.Sprintf("%s: %s%s", d.Date.Format("2006-01-02"), number(int64(math.Round(v))), unit)
		if !line {
			c.Rects = append(c.Rects, Rect{X: float64(i)*slot + slot*0.1, Y: y(v), W: max(slot*0.8, 1), H: max(h-y(v), 1), Class: "bar", Title: title})
			continue
		}
		x := (float64(i) + 0.5) * slot
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y(v)))
		c.Rects = append(c.Rects, Rect{X: x - 2, Y: y(v) - 2, W: 4, H: 4, Class: "dot", Title: title})
	}
	if line {
		c.Lines = append(c.Lines, Line{Points: strings.Join(pts, " "), Class: "series"})
	}
	c.Lines = append(c.Lines, Line{Points: fmt.Sprintf("0,%.1f %.1f,%.1f", h, w, h), Class: "axis"})
	c.Texts = append(c.Texts,
		Text{X: 0, Y: h + 14, Anchor: "start", Class: "tick", Text: days[0].Date.Format("2006-01-02")},
		Text{X: w, Y: h + 14, Anchor: "end", Class: "tick", Text: days[len(days)-1].Date.Format("2006-01-02")},
		Text{X: 0, Y: 8, Anchor: "start", Class: "tick", Text: "max " + number(int64(math.Round(top))) + unit})
	return c
}

func lastDays(days []Day) []Day {
	if len(days) > maxDays {
		return days[len(days)-maxDays:]
	}
	return days
}

// topBars draws the products with the most revenue as horizontal bars.
func topBars(products []Product) Chart {
	const w, row, left = 560.0, 22.0, 230.0
	c := Chart{Name: "top products", Width: w, Height: row*float64(len(products)) + 6}
	if len(products) == 0 {
		c.Note = "No order items in fact_order_items."
		return c
	}
	top := 1.0
	for _, p := range products {
		top = max(top, p.Revenue)
	}
	for i, p := range products {
		y := float64(i) * row
		title := p.Title
		if r := []rune(title); len(r) > 34 {
			title = string(r[:33]) + "…"
		}
		bw := p.Revenue / top * (w - left - 70)
		c.Texts = append(c.Texts,
			Text{X: left - 6, Y: y + 15, Anchor: "end", Class: "label", Text: title},
			Text{X: left + bw + 4, Y: y + 15, Anchor: "start", Class: "tick", Text: number(int64(math.Round(p.Revenue)))})
		c.Rects = append(c.Rects, Rect{X: left, Y: y + 3, W: max(bw, 1), H: row - 6, Class: "bar",
			Title: fmt.Sprintf("%s: %s units", p.Title, number(p.Units))})
	}
	return c
}
