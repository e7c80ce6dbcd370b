package e2e

// An OTLP receiver in the test (gRPC and HTTP/protobuf) that keeps every
// span and metric it is sent.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// otlpSpan is one received span with its resource and scope.
type otlpSpan struct {
	span     *tracepb.Span
	resource map[string]string
	scope    string
}

func (s otlpSpan) attr(k string) string { return kvString(s.span.Attributes, k) }

func kvString(kvs []*commonpb.KeyValue, k string) string {
	for _, kv := range kvs {
		if kv.Key == k {
			return anyString(kv.Value)
		}
	}
	return ""
}

func anyString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_ArrayValue:
		var parts []string
		for _, e := range x.ArrayValue.Values {
			parts = append(parts, anyString(e))
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return ""
}

// otlpReceiver is an OTLP trace receiver: gRPC or HTTP/protobuf.
type otlpReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	addr string // 127.0.0.1:PORT

	mu       sync.Mutex
	spans    []otlpSpan
	requests int
	headers  []string // a header the exporter sent, per request
	// histograms: the latest data point per metric and attribute set.
	histograms map[string]map[string]*metricpb.HistogramDataPoint
	metricRes  map[string]string // resource of the last metrics export
}

// metricsReceiver is the receiver's OTLP metrics service.
type metricsReceiver struct {
	colmetricpb.UnimplementedMetricsServiceServer
	r *otlpReceiver
}

func (m metricsReceiver) Export(_ context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	m.r.addMetrics(req)
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func (r *otlpReceiver) addMetrics(req *colmetricpb.ExportMetricsServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.histograms == nil {
		r.histograms = map[string]map[string]*metricpb.HistogramDataPoint{}
	}
	for _, rm := range req.ResourceMetrics {
		r.metricRes = map[string]string{}
		for _, kv := range rm.GetResource().GetAttributes() {
			r.metricRes[kv.Key] = anyString(kv.Value)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				h := m.GetHistogram()
				if h == nil {
					continue
				}
				if r.histograms[m.Name] == nil {
					r.histograms[m.Name] = map[string]*metricpb.HistogramDataPoint{}
				}
				for _, dp := range h.DataPoints {
					r.histograms[m.Name][fmt.Sprint(dp.Attributes)] = dp
				}
			}
		}
	}
}

// histogram returns the latest data points of a metric.
func (r *otlpReceiver) histogram(name string) []*metricpb.HistogramDataPoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*metricpb.HistogramDataPoint
	for _, dp := range r.histograms[name] {
		out = append(out, dp)
	}
	return out
}

func (r *otlpReceiver) add(req *coltracepb.ExportTraceServiceRequest, header string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.headers = append(r.headers, header)
	for _, rs := range req.ResourceSpans {
		res := map[string]string{}
		for _, kv := range rs.GetResource().GetAttributes() {
			res[kv.Key] = anyString(kv.Value)
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, otlpSpan{span: s, resource: res, scope: ss.GetScope().GetName()})
			}
		}
	}
}

func (r *otlpReceiver) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r.add(req, grpcHeader(ctx, "x-e2e"))
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if (req.URL.Path != "/v1/traces" && req.URL.Path != "/v1/metrics") || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces or /v1/metrics, application/x-protobuf", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if req.URL.Path == "/v1/metrics" {
		var msg colmetricpb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(body, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.addMetrics(&msg)
		out, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.add(&msg, req.Header.Get("X-E2e"))
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// sendOverOTLP sends reqs, stops rs once rcv has their spans, and checks
// that each request has its span there, none went to stdout and none was
// dropped; it returns the spans received.
func sendOverOTLP(t *testing.T, base string, reqs []request, conc int, rcv *otlpReceiver, rs *rustscopeRun) []otlpSpan {
	t.Helper()
	send(t, base, reqs, conc)
	rcv.waitCount(t, len(reqs), 20*time.Second)
	if out := rs.stop(t); len(out) != 0 {
		t.Errorf("%d spans on stdout with the otlp exporter", len(out))
	}
	if n := stoppedCounter(t, rs.stderr.String(), "dropped"); n != 0 {
		t.Errorf("dropped=%d", n)
	}
	spans := rcv.snapshot()
	if d := diffKeys(requestKeys(reqs), otlpKeys(spans)); d != "" {
		t.Errorf("%d spans for %d requests:\n%s", len(spans), len(reqs), d)
	}
	return spans
}

func (r *otlpReceiver) snapshot() []otlpSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]otlpSpan(nil), r.spans...)
}

func (r *otlpReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.spans)
}

// waitCount waits until n spans arrived or timeout passed.
func (r *otlpReceiver) waitCount(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	t0 := time.Now()
	for r.count() < n && time.Since(t0) < timeout {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("receiver: %d spans (waited for %d) after %v", r.count(), n, time.Since(t0).Round(time.Millisecond))
}

// startReceiver serves OTLP on ln (or a new port on 127.0.0.1) until the
// test ends.
func startReceiver(t *testing.T, protocol string, ln net.Listener) *otlpReceiver {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	r := &otlpReceiver{addr: ln.Addr().String()}
	switch protocol {
	case "grpc":
		s := grpc.NewServer()
		coltracepb.RegisterTraceServiceServer(s, r)
		colmetricpb.RegisterMetricsServiceServer(s, metricsReceiver{r: r})
		go s.Serve(ln)
		t.Cleanup(s.Stop)
	default:
		s := &http.Server{Handler: r}
		go s.Serve(ln)
		t.Cleanup(func() { s.Close() })
	}
	return r
}

// stopped is the "stopped" log line's counter k.
func stoppedCounter(t *testing.T, stderr, k string) int {
	t.Helper()
	m := regexp.MustCompile(`msg=stopped .*\b` + k + `=(\d+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no %s= in the stopped line; stderr:\n%s", k, stderr)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func otlpKeys(spans []otlpSpan) []string {
	var keys []string
	for _, s := range spans {
		keys = append(keys, fmt.Sprintf("%s %s %s", s.attr("http.request.method"), s.attr("url.path"), s.attr("http.response.status_code")))
	}
	return keys
}
