package main

import (
	"context"
	"net"
	"sync/atomic"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// sink is the local OTLP/gRPC receiver the headless phases export to: it
// counts spans and accepts metrics, nothing else.
type sink struct {
	coltracepb.UnimplementedTraceServiceServer
	spans atomic.Int64
	addr  string
	srv   *grpc.Server
}

type metricSink struct {
	colmetricpb.UnimplementedMetricsServiceServer
}

func (metricSink) Export(context.Context, *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func (s *sink) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	var n int64
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			n += int64(len(ss.Spans))
		}
	}
	s.spans.Add(n)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{addr: ln.Addr().String(), srv: grpc.NewServer()}
	coltracepb.RegisterTraceServiceServer(s.srv, s)
	colmetricpb.RegisterMetricsServiceServer(s.srv, metricSink{})
	go s.srv.Serve(ln)
	return s, nil
}
