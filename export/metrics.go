package export

import (
	"context"
	"crypto/tls"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials"

	"github.com/rustscope/rustscope/tracer"
)

// durationBuckets are the semantic conventions' bucket boundaries for
// http.*.request.duration and rpc.*.duration, in seconds.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// The RED metrics: one duration histogram per kind of request, whose count
// is the rate and whose error.type attribute marks the errors.
const (
	metricHTTPServer = "http.server.request.duration"
	metricHTTPClient = "http.client.request.duration"
	metricRPCServer  = "rpc.server.duration"
	metricRPCClient  = "rpc.client.duration"
)

// red records the RED metrics of one process. Only the flusher goroutine
// records.
type red struct {
	mp                     *sdkmetric.MeterProvider
	httpServer, httpClient metric.Float64Histogram
	rpcServer, rpcClient   metric.Float64Histogram
	// sets caches the attribute set (as a record option) of each series
	// seen: building one (attribute.NewSet sorts, copies and hashes) cost
	// more than the rest of recording.
	sets map[seriesKey][]metric.RecordOption
}

// maxKeys is the most attributes a metric keeps (httpClientKeys).
const maxKeys = 8

// maxSeries bounds the cached series of one process; past it the cache
// starts over (the attribute values come from the traffic).
const maxSeries = 4096

// seriesKey is one series of one histogram: the value of each of its
// keys the span has (slot i is keys[i]; set has bit i), whatever their
// order in the span.
type seriesKey struct {
	h    *metric.Float64Histogram
	set  uint8
	vals [maxKeys]attribute.Value
}

// newRED records into reader (a periodic reader of the shared exporter;
// OTEL_METRIC_EXPORT_INTERVAL applies, default 60 s, plus a last export on
// shutdown).
func newRED(res *resource.Resource, reader sdkmetric.Reader) (*red, error) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
	m := mp.Meter("github.com/rustscope/rustscope", metric.WithInstrumentationVersion(tracer.Version))
	r := &red{mp: mp, sets: map[seriesKey][]metric.RecordOption{}}
	var err error
	hist := func(name, desc string) metric.Float64Histogram {
		if err != nil {
			return nil
		}
		var h metric.Float64Histogram
		h, err = m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		return h
	}
	r.httpServer = hist(metricHTTPServer, "Duration of HTTP server requests.")
	r.httpClient = hist(metricHTTPClient, "Duration of HTTP client requests.")
	r.rpcServer = hist(metricRPCServer, "Duration of inbound RPCs.")
	r.rpcClient = hist(metricRPCClient, "Duration of outbound RPCs.")
	if err != nil {
		mp.Shutdown(context.Background())
		return nil, err
	}
	return r, nil
}

// The attributes each metric keeps (the conventions' required and
// recommended ones); the rest of a span's attributes (paths, ports of
// clients, sizes) would make the series unbounded.
var (
	httpServerKeys = []attribute.Key{semconv.HTTPRequestMethodKey, semconv.HTTPResponseStatusCodeKey, semconv.HTTPRouteKey,
		semconv.URLSchemeKey, semconv.NetworkProtocolNameKey, semconv.NetworkProtocolVersionKey, semconv.ErrorTypeKey}
	httpClientKeys = []attribute.Key{semconv.HTTPRequestMethodKey, semconv.HTTPResponseStatusCodeKey, semconv.ServerAddressKey,
		semconv.ServerPortKey, semconv.URLSchemeKey, semconv.NetworkProtocolNameKey, semconv.NetworkProtocolVersionKey,
		semconv.ErrorTypeKey}
	rpcKeys = []attribute.Key{semconv.RPCSystemNameKey, semconv.RPCMethodKey, semconv.RPCResponseStatusCodeKey,
		semconv.ServerAddressKey, semconv.ServerPortKey, semconv.ErrorTypeKey}
)

// slot is the index of k in keys, or -1: a scan of a few keys is cheaper
// than a map lookup per span attribute.
func slot(keys []attribute.Key, k attribute.Key) int {
	for i := range keys {
		if keys[i] == k {
			return i
		}
	}
	return -1
}

// record adds s to the histogram its kind and protocol name.
func (r *red) record(s *tracer.Span) {
	rpc := false
	for _, kv := range s.Attrs {
		if kv.Key == semconv.RPCSystemNameKey {
			rpc = true
		}
	}
	var h *metric.Float64Histogram
	var keys []attribute.Key
	switch {
	case rpc && s.Kind == trace.SpanKindServer:
		h, keys = &r.rpcServer, rpcKeys
	case rpc && s.Kind == trace.SpanKindClient:
		h, keys = &r.rpcClient, rpcKeys
	case s.Kind == trace.SpanKindServer:
		h, keys = &r.httpServer, httpServerKeys
	case s.Kind == trace.SpanKindClient:
		h, keys = &r.httpClient, httpClientKeys
	default:
		return
	}
	// A repeated key keeps its last value, as attribute.NewSet does.
	k := seriesKey{h: h}
	for _, kv := range s.Attrs {
		if i := slot(keys, kv.Key); i >= 0 {
			k.set |= 1 << i
			k.vals[i] = kv.Value
		}
	}
	opts, ok := r.sets[k]
	if !ok {
		if len(r.sets) >= maxSeries {
			clear(r.sets)
		}
		attrs := make([]attribute.KeyValue, 0, len(keys))
		for i, key := range keys {
			if k.set&(1<<i) != 0 {
				attrs = append(attrs, attribute.KeyValue{Key: key, Value: k.vals[i]})
			}
		}
		opts = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
		r.sets[k] = opts
	}
	(*h).Record(context.Background(), s.Duration().Seconds(), opts...)
}

// newMetricExporter is the OTLP metric exporter for cfg: the same
// endpoint, protocol and settings as spans; the SDK reads the
// OTEL_EXPORTER_OTLP_METRICS_* variables itself.
func newMetricExporter(ctx context.Context, cfg Config) (sdkmetric.Exporter, error) {
	if cfg.Protocol == ProtocolHTTP {
		opts, err := otlpOptions(cfg, cfg.MetricsEndpointURL, otlpmetrichttp.WithEndpointURL, otlpmetrichttp.WithHeaders,
			otlpmetrichttp.WithInsecure, otlpmetrichttp.WithTLSClientConfig)
		if err != nil {
			return nil, err
		}
		return otlpmetrichttp.New(ctx, opts...)
	}
	opts, err := otlpOptions(cfg, cfg.MetricsEndpointURL, otlpmetricgrpc.WithEndpointURL, otlpmetricgrpc.WithHeaders,
		otlpmetricgrpc.WithInsecure, func(tc *tls.Config) otlpmetricgrpc.Option {
			return otlpmetricgrpc.WithTLSCredentials(credentials.NewTLS(tc))
		})
	if err != nil {
		return nil, err
	}
	return otlpmetricgrpc.New(ctx, append(opts, otlpmetricgrpc.WithDialOption(reconnectPolicy))...)
}

// sharedMetrics is a metric exporter several readers use: only
// Pipeline.Shutdown closes it.
type sharedMetrics struct{ sdkmetric.Exporter }

func (sharedMetrics) Shutdown(context.Context) error { return nil }
