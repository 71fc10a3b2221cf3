//! The OTLP span exporter and tracer provider built from `[telemetry]`. Spans are batched by
//! the tokio-runtime batch processor (the SDK's default one runs its own thread without a
//! reactor, where the async HTTP client panics), so this must be built inside the runtime.

use std::collections::HashMap;

use opentelemetry::{Key, KeyValue};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::runtime;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

use crate::config::{
    DEFAULT_SERVICE_NAME, OtlpExport, OtlpProtocol, TelemetrySettings, TraceSampler,
};

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
        .with_resource(resource(settings.service_name.as_deref()))
        .build())
}

/// The resource: `OTEL_RESOURCE_ATTRIBUTES`, then the configured `service.name` (else the
/// attributes' own, else [`DEFAULT_SERVICE_NAME`]), and `service.version`.
pub fn resource(service_name: Option<&str>) -> Resource {
    let detected = Resource::builder().build();
    let unnamed = detected
        .get(&Key::from_static_str("service.name"))
        .is_none_or(|name| name.as_str().starts_with("unknown_service"));
    let name = match service_name {
        Some(name) => Some(name.to_string()),
        None if unnamed => Some(DEFAULT_SERVICE_NAME.to_string()),
        None => None,
    };
    let mut builder = Resource::builder();
    if let Some(name) = name {
        builder = builder.with_service_name(name);
    }
    builder
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
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(export.endpoint.as_str())
            .with_timeout(export.timeout)
            .with_http_client(HeadersLast::new(export.timeout, &headers)?)
            .build(),
        OtlpProtocol::Grpc => grpc_exporter(export, headers)?,
    };
    built.map_err(|error| error.to_string())
}

/// The exporter's HTTP client: reqwest, with the configured headers set on every request last,
/// so they win over any the SDK reads from `OTEL_EXPORTER_OTLP_HEADERS` itself (the gateway's
/// precedence: `GATEWAY_TELEMETRY__*` over `OTEL_*` over the file).
#[derive(Debug)]
struct HeadersLast {
    client: reqwest::Client,
    headers: http::HeaderMap,
}

impl HeadersLast {
    fn new(
        timeout: std::time::Duration,
        headers: &HashMap<String, String>,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| format!("the OTLP HTTP client: {error}"))?;
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("telemetry.otlp_headers.{name}: {e}"))?;
            let value = http::HeaderValue::from_str(value)
                .map_err(|_| format!("telemetry.otlp_headers.{name}: not a valid header value"))?;
            map.insert(name, value);
        }
        Ok(HeadersLast {
            client,
            headers: map,
        })
    }
}

#[async_trait::async_trait]
impl HttpClient for HeadersLast {
    async fn send_bytes(
        &self,
        mut request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, HttpError> {
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        self.client.send_bytes(request).await
    }
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
        .with_protocol(Protocol::Grpc)
        .with_endpoint(export.endpoint.as_str())
        .with_timeout(export.timeout)
        .with_metadata(metadata)
        .build())
}
