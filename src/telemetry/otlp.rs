//! The OTLP span exporter and tracer provider built from `[telemetry]`. Spans are batched by
//! the tokio-runtime batch processor (the SDK's default one runs its own thread without a
//! reactor, where the async HTTP client panics), so this must be built inside the runtime.

use std::collections::HashMap;

use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::runtime;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

use crate::config::{OtlpExport, OtlpProtocol, TelemetrySettings, TraceSampler};

/// The tracer provider exporting to `export`, or why it cannot be built.
pub fn provider(
    settings: &TelemetrySettings,
    export: &OtlpExport,
) -> Result<SdkTracerProvider, String> {
    let exporter = exporter(export)?;
    let processor = BatchSpanProcessor::builder(exporter, runtime::Tokio).build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(sampler(settings.sampler))
        .with_resource(resource(&settings.service_name))
        .build())
}

/// `service.name` and `service.version`.
pub fn resource(service_name: &str) -> Resource {
    Resource::builder()
        .with_service_name(service_name.to_string())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The SDK sampler for the configured one.
pub fn sampler(sampler: TraceSampler) -> Sampler {
    match sampler {
        TraceSampler::AlwaysOn => Sampler::AlwaysOn,
        TraceSampler::AlwaysOff => Sampler::AlwaysOff,
        TraceSampler::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
        TraceSampler::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        TraceSampler::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        TraceSampler::ParentBasedTraceIdRatio(ratio) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}

fn exporter(export: &OtlpExport) -> Result<opentelemetry_otlp::SpanExporter, String> {
    let headers: HashMap<String, String> = export
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.expose().to_string()))
        .collect();
    let built = match export.protocol {
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(export.endpoint.as_str())
            .with_timeout(export.timeout)
            .with_headers(headers)
            .build(),
        OtlpProtocol::Grpc => grpc_exporter(export, headers)?,
    };
    built.map_err(|error| error.to_string())
}

fn grpc_exporter(
    export: &OtlpExport,
    headers: HashMap<String, String>,
) -> Result<Result<opentelemetry_otlp::SpanExporter, opentelemetry_otlp::ExporterBuildError>, String>
{
    use opentelemetry_otlp::WithTonicConfig;
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (name, value) in headers {
        let key = tonic::metadata::MetadataKey::from_bytes(name.as_bytes())
            .map_err(|e| format!("telemetry.otlp_headers.{name}: {e}"))?;
        let value = value
            .parse()
            .map_err(|_| format!("telemetry.otlp_headers.{name}: not valid gRPC metadata"))?;
        metadata.insert(key, value);
    }
    Ok(opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(export.endpoint.as_str())
        .with_timeout(export.timeout)
        .with_metadata(metadata)
        .build())
}
