package server

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"google.golang.org/grpc"
)

// Defaults of [TracingConfig].
const (
	DefaultTracingEndpoint    = "127.0.0.1:4317"
	DefaultTracingSampleRatio = 0.01
)

// TracingConfig configures OpenTelemetry tracing of the gRPC calls on the
// main listener. Tracing is off by default.
type TracingConfig struct {
	// Enabled exports one span per gRPC call over OTLP/gRPC. Default false.
	Enabled bool `yaml:"enabled"`
	// Endpoint is the host:port of the OTLP/gRPC collector. Default
	// 127.0.0.1:4317.
	Endpoint string `yaml:"endpoint"`
	// Insecure sends spans without TLS, for a collector on the same host.
	// Default false.
	Insecure bool `yaml:"insecure"`
	// SampleRatio is the fraction of calls without a sampled parent span
	// that are traced, from 0 to 1. Default 0.01.
	SampleRatio float64 `yaml:"sample_ratio"`
}

func (c *TracingConfig) setDefaults() {
	setDefault(&c.Endpoint, DefaultTracingEndpoint)
	setDefault(&c.SampleRatio, DefaultTracingSampleRatio)
}

func (c *TracingConfig) validate() []error {
	if !c.Enabled {
		return nil
	}
	var problems []error
	if err := validateAddress(c.Endpoint); err != nil {
		problems = append(problems, fmt.Errorf("tracing.endpoint: %w", err))
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		problems = append(problems, fmt.Errorf("tracing.sample_ratio: %v is outside 0 to 1", c.SampleRatio))
	}
	return problems
}

// tracing is the tracer provider of an enabled [TracingConfig].
type tracing struct {
	provider *sdktrace.TracerProvider
}

// newTracing starts the span exporter. The OTLP connection is made lazily,
// so an unreachable collector does not stop the server from starting.
func newTracing(ctx context.Context, conf TracingConfig, version string) (*tracing, error) {
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(conf.Endpoint)}
	if conf.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exporter, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("failed to create OTLP span exporter for %s: %w", conf.Endpoint, err)
	}
	res := resource.NewSchemaless(semconv.ServiceName("ecsauthz"), semconv.ServiceVersion(version))
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(conf.SampleRatio))),
	)
	return &tracing{provider: provider}, nil
}

// serverOption returns the gRPC stats handler that records the spans. It
// reads W3C trace context from the call metadata.
func (t *tracing) serverOption() grpc.ServerOption {
	return grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.provider),
		otelgrpc.WithPropagators(propagation.TraceContext{}),
	))
}

// shutdown flushes the spans not yet exported, within ctx.
func (t *tracing) shutdown(ctx context.Context) error {
	if err := t.provider.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("failed to flush spans: %w", err)
	}
	return nil
}
