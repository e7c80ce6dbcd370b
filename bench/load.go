package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// loadResult is what one load phase reports (JSON on stdout): the
// requests sent after the warm-up; Warm counts those sent during it.
type loadResult struct {
	Requests int64   `json:"requests"`
	Warm     int64   `json:"warm"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	P50us    int64   `json:"p50_us"`
	P90us    int64   `json:"p90_us"`
	P99us    int64   `json:"p99_us"`
}

func (r loadResult) rps() float64 { return float64(r.Requests) / r.Seconds }

// runLoad is the load generator, run as its own process ("bench load") so
// its CPU is not the harness's: conns keep-alive connections send GET
// requests to base+path (default "/users/N") in a closed loop, or paced to rate requests
// per second when rate > 0, for the warm-up and then the duration. Only
// the duration's requests are in the result; the line "measuring" on
// stdout, before the result, marks when it begins, so the harness reads
// CPU counters over the same window.
func runLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	base := fs.String("url", "", "base URL of the target")
	conns := fs.Int("conns", 32, "keep-alive connections")
	dur := fs.Duration("duration", 20*time.Second, "how long to send and measure")
	warm := fs.Duration("warm", 0, "how long to send before measuring")
	rate := fs.Float64("rate", 0, "requests per second (0: as fast as answered)")
	path := fs.String("path", "/users/%d", "request path; %d is replaced by 1..1000")
	ca := fs.String("ca", "", "trust this CA (PEM) for an https:// target; HTTP/1.1 is asked for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			return fmt.Errorf("read CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("read CA %s: no certificate", *ca)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next, errs, warmed atomic.Int64
	hists := make([]*hdrhistogram.Histogram, *conns)
	start := time.Now()
	measure := start.Add(*warm)
	end := measure.Add(*dur)
	marker := time.AfterFunc(*warm, func() { fmt.Println("measuring") })
	defer marker.Stop()
	var wg sync.WaitGroup
	for w := range *conns {
		h := hdrhistogram.New(1, 60_000_000, 3) // 1 us .. 60 s
		hists[w] = h
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1) - 1
				if *rate > 0 {
					due := start.Add(time.Duration(float64(n) / *rate * float64(time.Second)))
					// A target that cannot keep up is not given more
					// time: the phase ends on time, behind schedule.
					if due.After(end) || time.Now().After(end) {
						return
					}
					time.Sleep(time.Until(due))
				} else if time.Now().After(end) {
					return
				}
				t0 := time.Now()
				resp, err := client.Get(*base + fmt.Sprintf(*path, n%1000+1))
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				if t0.Before(measure) {
					warmed.Add(1)
					continue
				}
				h.RecordValue(time.Since(t0).Microseconds())
			}
		}()
	}
	wg.Wait()
	all := hdrhistogram.New(1, 60_000_000, 3)
	for _, h := range hists {
		all.Merge(h)
	}
	res := loadResult{Requests: all.TotalCount(), Warm: warmed.Load(), Errors: errs.Load(), Seconds: time.Since(measure).Seconds(),
		P50us: all.ValueAtQuantile(50), P90us: all.ValueAtQuantile(90), P99us: all.ValueAtQuantile(99)}
	return json.NewEncoder(os.Stdout).Encode(res)
}
