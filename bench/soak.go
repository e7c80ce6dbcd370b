package main

import (
	"fmt"
	"log"
	"strings"
	"time"
)

// The soak section of docs/performance.md lies between these markers:
// `bench -soak` rewrites only that section, and the full bench keeps it.
const (
	soakBegin = "<!-- soak:begin -->"
	soakEnd   = "<!-- soak:end -->"
)

const (
	soakRate  = 2000             // requests per second
	soakEvery = 10 * time.Second // sampling interval
)

// soakRow is one sample: rustscope's and the target's memory and CPU over
// the interval before it, and what reached the sink so far.
type soakRow struct {
	at               time.Duration
	rssMB, cpuPct    float64
	appRSSMB, appCPU float64
	spans, lost      int64
}

type soakReport struct {
	date, machine, goVersion string
	duration                 time.Duration
	rows                     []soakRow
	load                     loadResult
	spans, lost, drops       int64
}

// soak runs the release axum app traced headless, exporting to the sink,
// at soakRate requests per second for d, sampling every soakEvery.
func (h *harness) soak(d time.Duration) (*soakReport, error) {
	r := &soakReport{date: time.Now().Format("2006-01-02"), machine: machine(), duration: d, goVersion: goVersion()}
	target, err := h.startApp("", "release")
	if err != nil {
		return nil, err
	}
	defer target.stop()
	t, _, err := h.startHeadless(target.pid())
	if err != nil {
		return nil, err
	}
	time.Sleep(settle)
	spans0 := h.sink.spans.Load()
	type loadDone struct {
		res loadResult
		err error
	}
	done := make(chan loadDone, 1)
	go func() {
		res, err := h.load(target, 32, d, soakRate)
		done <- loadDone{res, err}
	}()
	start := time.Now()
	cpu0, _ := cpuTime(t.pid)
	app0, _ := cpuTime(target.pid())
	last := start
	tick := time.NewTicker(soakEvery)
	defer tick.Stop()
	for {
		var ld *loadDone
		select {
		case <-tick.C:
		case res := <-done:
			ld = &res
		}
		now := time.Now()
		cpu1, err1 := cpuTime(t.pid)
		app1, err2 := cpuTime(target.pid())
		rss, _, err3 := memKB(t.pid)
		appRSS, _, err4 := memKB(target.pid())
		if err := firstErr(err1, err2, err3, err4); err != nil {
			t.stop()
			return nil, fmt.Errorf("sample: %w", err)
		}
		secs := now.Sub(last).Seconds()
		if ld == nil || secs >= 1 { // a last interval under a second says little
			row := soakRow{at: now.Sub(start).Round(time.Second), rssMB: float64(rss) / 1024, cpuPct: 100 * (cpu1 - cpu0).Seconds() / secs,
				appRSSMB: float64(appRSS) / 1024, appCPU: 100 * (app1 - app0).Seconds() / secs,
				spans: h.sink.spans.Load() - spans0, lost: t.lost.Load()}
			r.rows = append(r.rows, row)
			log.Printf("soak %v: rustscope %.1f MB, %.1f%% CPU; target %.1f MB, %.1f%% CPU; %d spans, %d lost",
				row.at, row.rssMB, row.cpuPct, row.appRSSMB, row.appCPU, row.spans, row.lost)
		}
		cpu0, app0, last = cpu1, app1, now
		if ld != nil {
			if ld.err != nil {
				t.stop()
				return nil, ld.err
			}
			r.load = ld.res
			break
		}
	}
	fields, err := t.stop() // flushes every span
	if err != nil {
		return nil, err
	}
	r.spans = h.sink.spans.Load() - spans0
	fmt.Sscan(fields["lost"], &r.lost)
	fmt.Sscan(fields["dropped"], &r.drops)
	return r, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// markdown is the soak section, markers included.
func (r *soakReport) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("%s\n## Soak\n\n", soakBegin)
	w("`make soak` (`bench -soak %s`), %s, %s, %s: the release axum app at\n", r.duration, r.date, r.machine, r.goVersion)
	w("%d requests/s (`GET /users/N`, 32 keep-alive connections, the load generator\n", soakRate)
	w("of the sections above) for %s, traced by rustscope headless exporting OTLP\n", r.duration)
	w("to a local sink; the load starts %s after attach. Every %s: RSS from\n", settle, soakEvery)
	w("`/proc/PID/status`, CPU (utime+stime, 100%% = one core) over the interval,\n")
	w("spans the sink received and ring records lost so far (rustscope's stderr\n")
	w("report, every 10 s).\n\n")
	w("| time | rustscope RSS MB | rustscope CPU %% | target RSS MB | target CPU %% | spans received | ring records lost |\n")
	w("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, row := range r.rows {
		w("| %s | %.1f | %.1f | %.1f | %.1f | %d | %d |\n", row.at, row.rssMB, row.cpuPct, row.appRSSMB, row.appCPU, row.spans, row.lost)
	}
	w("\n%d requests in %.0f s (p50 %d us, p99 %d us); %d spans received, %d ring records lost, %d spans dropped by the exporter.\n",
		r.load.Requests, r.load.Seconds, r.load.P50us, r.load.P99us, r.spans, r.lost, r.drops)
	if len(r.rows) > 0 {
		first, lastRow := r.rows[0].rssMB, r.rows[len(r.rows)-1].rssMB
		peak := first
		for _, row := range r.rows {
			peak = max(peak, row.rssMB)
		}
		verdict := "flat: the last sample is within 10% of the first"
		if lastRow > first*1.1 {
			verdict = fmt.Sprintf("**not flat**: it grew %.1f MB (%.0f%%) from the first sample to the last", lastRow-first, 100*(lastRow/first-1))
		}
		w("rustscope's memory is %s (first %.1f MB, last %.1f MB, max %.1f MB).\n", verdict, first, lastRow, peak)
	}
	w("%s\n", soakEnd)
	return b.String()
}

// soakSection returns doc's soak section, markers included ("" if none).
func soakSection(doc string) string {
	i := strings.Index(doc, soakBegin)
	j := strings.Index(doc, soakEnd)
	if i < 0 || j < i {
		return ""
	}
	return doc[i:j+len(soakEnd)] + "\n"
}

// withSoak puts section in doc in place of doc's soak section, or at its
// end when it has none.
func withSoak(doc, section string) string {
	if section == "" {
		return doc
	}
	i := strings.Index(doc, soakBegin)
	j := strings.Index(doc, soakEnd)
	switch {
	case strings.TrimSpace(doc) == "":
		return section
	case i < 0 || j < i:
		return strings.TrimRight(doc, "\n") + "\n\n" + section
	}
	rest := strings.TrimPrefix(doc[j+len(soakEnd):], "\n")
	return doc[:i] + section + rest
}
