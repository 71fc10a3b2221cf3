//! Configuration: file, the fastmcp-gateway variables, nested env keys, precedence, and every
//! problem reported at once. Environment changes happen only inside `figment::Jail`.

#![allow(
    clippy::result_large_err,
    reason = "figment::Jail fixes the closure's error type"
)]

use std::time::Duration;

use figment::Jail;
use mcp_gateway::config::{Config, ConfigSource, ProtocolMode, Transport, render_redacted};

fn load_err(jail_result: Result<Config, mcp_gateway::config::ConfigError>) -> Vec<String> {
    match jail_result {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(error) => error.problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn runs_from_env_alone_with_defaults() {
    Jail::expect_with(|_jail| {
        let config = Config::load(None).expect("valid");
        assert_eq!(config.source, ConfigSource::EnvOnly);
        assert_eq!(
            (config.server.host.as_str(), config.server.port),
            ("127.0.0.1", 8080)
        );
        assert_eq!(config.server.name, "mcp-gateway");
        assert!(config.upstreams.is_empty());
        assert!(config.warnings.iter().any(|w| w.contains("no upstreams")));
        Ok(())
    });
}

#[test]
fn reads_the_issue_example_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "gateway.toml",
            r#"
            [server]
            host = "127.0.0.1"
            port = 8080
            name = "my-gw"
            instructions = "Use the tools."
            refresh_interval = "5m"

            [upstreams.crm]
            url = "http://127.0.0.1:9001/mcp"
            description = "CRM: contacts, deals"
            headers = { Authorization = "Bearer x" }

            [upstreams.files]
            command = "npx"
            args = ["-y", "@modelcontextprotocol/server-filesystem", "/srv/data"]
            env = { LOG = "1", LEVEL = 2 }
            cwd = "/tmp"
            protocol = "2025-11-25"
        "#,
        )?;
        let config = Config::load(None).expect("valid");
        assert_eq!(config.source, ConfigSource::File("gateway.toml".into()));
        assert_eq!(config.server.name, "my-gw");
        assert_eq!(
            config.server.refresh_interval,
            Some(Duration::from_secs(300))
        );
        let crm = &config.upstreams["crm"];
        assert_eq!(crm.description.as_deref(), Some("CRM: contacts, deals"));
        match &crm.transport {
            Transport::Http { url, headers } => {
                assert_eq!(url.as_str(), "http://127.0.0.1:9001/mcp");
                assert_eq!(headers["authorization"].expose(), "Bearer x");
            }
            other => panic!("{other:?}"),
        }
        let files = &config.upstreams["files"];
        assert_eq!(files.protocol, ProtocolMode::Legacy);
        match &files.transport {
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                assert_eq!(command, "npx");
                assert_eq!(args.len(), 3);
                assert_eq!(env["LEVEL"].expose(), "2");
                assert_eq!(cwd.as_deref(), Some(std::path::Path::new("/tmp")));
            }
            other => panic!("{other:?}"),
        }
        Ok(())
    });
}

#[test]
fn every_fastmcp_gateway_variable_keeps_its_meaning() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "GATEWAY_UPSTREAMS",
            r#"{
            "crm": "http://127.0.0.1:9001/mcp",
            "erp": {"url": "http://127.0.0.1:9002/mcp", "description": "from the object"},
            "files": {"mcpServers": {"files": {"command": "python", "args": ["server.py"]}}}
        }"#,
        );
        jail.set_env("GATEWAY_NAME", "seed-name");
        jail.set_env("GATEWAY_HOST", "0.0.0.0");
        jail.set_env("GATEWAY_PORT", "9000");
        jail.set_env("GATEWAY_INSTRUCTIONS", "42");
        jail.set_env("GATEWAY_REGISTRY_AUTH_TOKEN", "reg-token");
        jail.set_env("GATEWAY_DOMAIN_DESCRIPTIONS", r#"{"crm": "Customer data"}"#);
        jail.set_env(
            "GATEWAY_UPSTREAM_HEADERS",
            r#"{"crm": {"X-Api-Key": "k1"}}"#,
        );
        jail.set_env("GATEWAY_REFRESH_INTERVAL", "2.5");
        jail.set_env("GATEWAY_MAX_SCHEMA_DEPTH", "6");
        let config = Config::load(None).expect("valid");
        let s = &config.server;
        assert_eq!(
            (s.name.as_str(), s.host.as_str(), s.port),
            ("seed-name", "0.0.0.0", 9000)
        );
        assert_eq!(s.instructions.as_deref(), Some("42"));
        assert_eq!(
            s.registry_auth_token.as_ref().map(|t| t.expose()),
            Some("reg-token")
        );
        assert_eq!(s.refresh_interval, Some(Duration::from_millis(2500)));
        assert_eq!(config.upstreams.len(), 3);
        assert_eq!(
            config.upstreams["crm"].description.as_deref(),
            Some("Customer data")
        );
        assert_eq!(
            config.upstreams["erp"].description.as_deref(),
            Some("from the object")
        );
        match &config.upstreams["crm"].transport {
            Transport::Http { headers, .. } => assert_eq!(headers["x-api-key"].expose(), "k1"),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&config.upstreams["files"].transport, Transport::Stdio { command, .. } if command == "python")
        );
        assert!(
            config
                .warnings
                .iter()
                .any(|w| w.starts_with("GATEWAY_MAX_SCHEMA_DEPTH is ignored"))
        );
        Ok(())
    });
}

#[test]
fn nested_keys_and_precedence() {
    Jail::expect_with(|jail| {
        jail.create_file("gateway.toml", "[server]\nport = 8000\nname = \"file\"\n[upstreams.crm]\nurl = \"http://127.0.0.1:1/mcp\"\n")?;
        jail.set_env("GATEWAY_PORT", "9000");
        jail.set_env("GATEWAY_SERVER__NAME", "nested");
        jail.set_env("GATEWAY_UPSTREAMS__CRM__URL", "http://127.0.0.1:2/mcp");
        jail.set_env("GATEWAY_UPSTREAMS__ERP__URL", "http://127.0.0.1:3/mcp");
        jail.set_env("GATEWAY_UPSTREAMS__ERP__DESCRIPTION", "ERP");
        let config = Config::load(None).expect("valid");
        assert_eq!(config.server.port, 9000, "env overrides the file");
        assert_eq!(config.server.name, "nested");
        assert!(
            matches!(&config.upstreams["crm"].transport, Transport::Http { url, .. } if url.port() == Some(2))
        );
        assert_eq!(config.upstreams["erp"].description.as_deref(), Some("ERP"));

        jail.set_env("GATEWAY_SERVER__PORT", "9090");
        let config = Config::load(None).expect("valid");
        assert_eq!(
            config.server.port, 9090,
            "nested keys beat the flat seed variable"
        );
        Ok(())
    });
}

#[test]
fn reports_every_problem_at_once_with_key_paths() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "bad.toml",
            r#"
            [server]
            port = 70000
            prot = 1
            refresh_interval = "soon"

            [upstreams.Bad_Name]
            url = "http://127.0.0.1:1/mcp"

            [upstreams.both]
            url = "http://127.0.0.1:1/mcp"
            command = "x"

            [upstreams.rel]
            url = "/mcp"

            [upstreams.none]
            description = "nothing to connect to"

            [upstreams.typo]
            command = "x"
            argz = ["a"]
            headers = { A = "b" }
        "#,
        )?;
        jail.set_env("GATEWAY_UPSTREAMS", "{not json");
        let problems = load_err(Config::load(Some("bad.toml".as_ref())));
        let expect = [
            "GATEWAY_UPSTREAMS: invalid JSON",
            "server.port: expected a port number 0-65535, got \"70000\" (from bad.toml)",
            "server.prot: unknown key",
            "server.refresh_interval: expected a duration",
            "upstreams.Bad_Name: invalid domain name",
            "upstreams.both: set exactly one of url or command",
            "upstreams.rel.url: relative URL without a base",
            "upstreams.none: missing url (HTTP upstream) or command (stdio upstream)",
            "upstreams.typo.argz: unknown key",
            "upstreams.typo.headers: only applies to HTTP upstreams",
        ];
        for fragment in expect {
            assert!(
                problems.iter().any(|p| p.starts_with(fragment)),
                "missing {fragment:?} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");
        Ok(())
    });
}

#[test]
fn env_problems_name_their_variable() {
    Jail::expect_with(|jail| {
        jail.set_env("GATEWAY_UPSTREAMS__CRM__URL", "ftp://example");
        jail.set_env("GATEWAY_SERVER__COLOUR", "blue");
        jail.set_env("GATEWAY_UPSTREAMS", r#"{"x": 5}"#);
        let problems = load_err(Config::load(None));
        assert!(
            problems.iter().any(|p| p
                .contains("upstreams.crm.url: unsupported URL scheme \"ftp\"")
                && p.contains("(from GATEWAY_UPSTREAMS__CRM__URL)")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("server.colour: unknown key")
                    && p.contains("GATEWAY_SERVER__COLOUR")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("GATEWAY_UPSTREAMS.x: expected a URL string or an object")),
            "{problems:#?}"
        );
        Ok(())
    });
}

#[test]
fn file_selection_order() {
    Jail::expect_with(|jail| {
        jail.create_file("gateway.toml", "[server]\nname = \"default-file\"\n")?;
        jail.create_file("other.toml", "[server]\nname = \"other\"\n")?;
        jail.create_file("explicit.toml", "[server]\nname = \"explicit\"\n")?;
        assert_eq!(
            Config::load(None).expect("valid").server.name,
            "default-file"
        );
        jail.set_env("GATEWAY_CONFIG", "other.toml");
        assert_eq!(Config::load(None).expect("valid").server.name, "other");
        let explicit = Config::load(Some("explicit.toml".as_ref())).expect("valid");
        assert_eq!(explicit.server.name, "explicit");
        let missing = load_err(Config::load(Some("missing.toml".as_ref())));
        assert!(
            missing[0].starts_with("--config: config file missing.toml does not exist"),
            "{missing:?}"
        );
        Ok(())
    });
}

#[test]
fn toml_syntax_errors_are_reported() {
    Jail::expect_with(|jail| {
        jail.create_file("gateway.toml", "[server\nport = 1\n")?;
        let problems = load_err(Config::load(None));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("gateway.toml"), "{problems:?}");
        Ok(())
    });
}

#[test]
fn check_output_redacts_secrets() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "gateway.toml",
            r#"
            [server]
            registry_auth_token = "tok-SECRET-1"
            [upstreams.crm]
            url = "http://127.0.0.1:1/mcp"
            headers = { Authorization = "Bearer SECRET-2" }
            [upstreams.files]
            command = "srv"
            env = { API_KEY = "SECRET-3" }
        "#,
        )?;
        let config = Config::load(None).expect("valid");
        let rendered = render_redacted(&config);
        assert!(!rendered.contains("SECRET"), "{rendered}");
        assert!(
            rendered.contains("authorization = \"<redacted>\""),
            "{rendered}"
        );
        assert!(rendered.contains("API_KEY = \"<redacted>\""), "{rendered}");
        assert!(
            !format!("{config:?}").contains("SECRET"),
            "Debug leaks secrets"
        );
        Ok(())
    });
}

#[test]
fn the_example_config_parses_and_validates() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.example.toml");
    let config = Config::load_with(Some(&path), &mcp_gateway::config::EnvLookup::default())
        .expect("example is valid");
    assert!(config.upstreams.len() >= 2);
    assert!(
        config
            .upstreams
            .values()
            .all(|u| matches!(&u.transport, Transport::Stdio { command, .. } if command == "npx"))
    );
}

#[test]
fn passwords_in_urls_are_redacted() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "gateway.toml",
            "[upstreams.crm]\nurl = \"http://user:SECRET-4@127.0.0.1:1/mcp\"\n",
        )?;
        let config = Config::load(None).expect("valid");
        let rendered = render_redacted(&config);
        assert!(
            !rendered.contains("SECRET-4") && rendered.contains("user:"),
            "{rendered}"
        );
        Ok(())
    });
}

#[test]
fn ingress_settings_auth_tokens_and_their_problems() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "gateway.toml",
            r#"
            [server]
            allowed_origins = ["https://app.example"]
            max_body_bytes = 1048576
            [server.auth]
            bearer_tokens = ["file-token"]
        "#,
        )?;
        let config = Config::load(Some("gateway.toml".as_ref())).expect("valid");
        let s = &config.server;
        assert_eq!(
            s.allowed_origins.as_deref(),
            Some(&["https://app.example".to_string()][..])
        );
        assert_eq!(
            (s.max_body_bytes, s.max_header_bytes),
            (1_048_576, 64 * 1024)
        );
        assert_eq!(s.auth.bearer_tokens.len(), 1);
        let rendered = render_redacted(&config);
        assert!(!rendered.contains("file-token"), "{rendered}");
        assert!(rendered.contains("bearer_tokens"), "{rendered}");

        // GATEWAY_AUTH_TOKENS (comma-separated) replaces the file's list.
        jail.set_env("GATEWAY_AUTH_TOKENS", " one , two,");
        let config = Config::load(Some("gateway.toml".as_ref())).expect("valid");
        let tokens: Vec<&str> = config
            .server
            .auth
            .bearer_tokens
            .iter()
            .map(|t| t.expose())
            .collect();
        assert_eq!(tokens, ["one", "two"]);
        assert!(
            !config
                .warnings
                .iter()
                .any(|w| w.contains("GATEWAY_AUTH_TOKENS")),
            "a known variable: {:?}",
            config.warnings
        );

        jail.set_env("GATEWAY_AUTH_TOKENS", "");
        jail.create_file(
            "bad.toml",
            r#"
            [server]
            allowed_origins = []
            max_body_bytes = 0
            max_header_bytes = "big"
            [server.auth]
            bearer_tokens = ["x"]
            token = "y"
        "#,
        )?;
        let problems = load_err(Config::load(Some("bad.toml".as_ref())));
        let expect = [
            "server.allowed_origins: must list at least one origin",
            "server.auth.bearer_tokens: must list at least one token (remove the key to turn authentication off) (from GATEWAY_AUTH_TOKENS)",
            "server.auth.token: unknown key",
            "server.max_body_bytes: expected a number of bytes of at least 1, got \"0\" (from bad.toml)",
            "server.max_header_bytes: expected a number of bytes of at least 8192",
        ];
        for fragment in expect {
            assert!(
                problems.iter().any(|p| p.starts_with(fragment)),
                "missing {fragment:?} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");
        Ok(())
    });
}

#[test]
fn limits_are_bounded_so_nothing_overflows() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "gateway.toml",
            "[server]\ncall_timeout = \"500000000000y\"\nmax_concurrency = 9223372036854775807\n",
        )?;
        let problems = load_err(Config::load(Some("gateway.toml".as_ref())));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("server.call_timeout: must be at most 365 days"),
            "{problems:?}"
        );
        jail.create_file(
            "gateway.toml",
            "[server]\nmax_concurrency = 9223372036854775807\n",
        )?;
        let config = Config::load(Some("gateway.toml".as_ref())).expect("valid");
        assert_eq!(config.server.limits.max_concurrency, 1 << 20);
        Ok(())
    });
}

#[test]
fn log_format_is_pretty_or_json() {
    Jail::expect_with(|jail| {
        jail.create_file("gateway.toml", "[telemetry]\nlog_format = \"json\"\n")?;
        let config = Config::load(Some("gateway.toml".as_ref())).expect("valid");
        assert_eq!(
            config.telemetry.log_format,
            mcp_gateway::config::LogFormat::Json
        );
        jail.set_env("GATEWAY_TELEMETRY__LOG_FORMAT", "xml");
        let problems = load_err(Config::load(Some("gateway.toml".as_ref())));
        assert_eq!(
            problems,
            [
                "telemetry.log_format: expected \"pretty\" or \"json\", got \"xml\" (from GATEWAY_TELEMETRY__LOG_FORMAT)"
            ]
        );
        Ok(())
    });
}

#[test]
fn trace_export_is_off_unless_an_endpoint_is_set() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "gateway.toml",
            "[telemetry]\nservice_name = \"edge-gw\"\nsampler = \"traceidratio\"\nsampler_arg = 0.25\n",
        )?;
        let config = Config::load(Some("gateway.toml".as_ref())).expect("valid");
        assert_eq!(config.telemetry.otlp, None, "no endpoint, no exporter");
        assert_eq!(config.telemetry.service_name.as_deref(), Some("edge-gw"));
        assert_eq!(
            config.telemetry.sampler,
            mcp_gateway::config::TraceSampler::TraceIdRatio(0.25)
        );
        Ok(())
    });
}

#[test]
fn the_standard_otel_variables_configure_the_exporter() {
    use mcp_gateway::config::{OtlpProtocol, TraceSampler};
    Jail::expect_with(|jail| {
        jail.create_file(
            "gateway.toml",
            "[telemetry]\notlp_endpoint = \"http://file-collector:4318\"\nservice_name = \"from-file\"\n",
        )?;
        let config = Config::load(Some("gateway.toml".as_ref())).expect("valid");
        let otlp = config.telemetry.otlp.expect("exporter");
        assert_eq!(
            otlp.endpoint.as_str(),
            "http://file-collector:4318/v1/traces"
        );
        assert_eq!(otlp.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(otlp.timeout, Duration::from_secs(10));

        jail.set_env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");
        jail.set_env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
        jail.set_env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-api-key=s3cr3t%20value,x-team=gw",
        );
        jail.set_env("OTEL_EXPORTER_OTLP_TIMEOUT", "2500");
        jail.set_env("OTEL_SERVICE_NAME", "from-env");
        jail.set_env("OTEL_TRACES_SAMPLER", "parentbased_traceidratio");
        jail.set_env("OTEL_TRACES_SAMPLER_ARG", "0.1");
        let config = Config::load(Some("gateway.toml".as_ref())).expect("valid");
        let telemetry = &config.telemetry;
        let otlp = telemetry.otlp.clone().expect("exporter");
        assert_eq!(
            otlp.endpoint.as_str(),
            "http://127.0.0.1:4317/",
            "gRPC: no path added"
        );
        assert_eq!(otlp.protocol, OtlpProtocol::Grpc);
        assert_eq!(otlp.timeout, Duration::from_millis(2500));
        assert_eq!(
            otlp.headers.get("x-api-key").map(|s| s.expose()),
            Some("s3cr3t value")
        );
        assert_eq!(telemetry.service_name.as_deref(), Some("from-env"));
        assert_eq!(
            telemetry.sampler,
            TraceSampler::ParentBasedTraceIdRatio(0.1)
        );
        // The collector's credentials are secrets: redacted in `check`, scrubbed from logs.
        let shown = render_redacted(&config);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("x-api-key = \"<redacted>\""), "{shown}");
        assert!(
            mcp_gateway::config::all_secrets(&config)
                .iter()
                .any(|s| s == "s3cr3t value")
        );

        // The signal-specific endpoint is used as it is; GATEWAY_TELEMETRY__* wins over OTEL_*.
        jail.set_env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces:9999/custom",
        );
        jail.set_env("GATEWAY_TELEMETRY__SERVICE_NAME", "from-gateway-var");
        let config = Config::load(Some("gateway.toml".as_ref())).expect("valid");
        let otlp = config.telemetry.otlp.clone().expect("exporter");
        assert_eq!(otlp.endpoint.as_str(), "http://traces:9999/custom");
        assert_eq!(
            config.telemetry.service_name.as_deref(),
            Some("from-gateway-var")
        );

        // Switched off by the standard variables.
        jail.set_env("OTEL_TRACES_EXPORTER", "none");
        let config = Config::load(Some("gateway.toml".as_ref())).expect("valid");
        assert_eq!(config.telemetry.otlp, None);
        Ok(())
    });
}

#[test]
fn telemetry_problems_in_the_file_fail_and_unsupported_otel_values_are_ignored() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "gateway.toml",
            "[telemetry]\notlp_endpoint = \"ftp://collector\"\nsampler_arg = 2\nexporter = \"x\"\n",
        )?;
        let problems = load_err(Config::load(Some("gateway.toml".as_ref())));
        let expect = [
            "telemetry.otlp_endpoint: expected an http:// or https:// URL",
            "telemetry.sampler_arg: expected a ratio from 0 to 1",
            "telemetry.exporter: unknown key",
        ];
        for fragment in expect {
            assert!(
                problems.iter().any(|p| p.starts_with(fragment)),
                "missing {fragment:?} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");

        // OTEL_* values are often set host-wide: unsupported ones are warnings, defaults apply.
        jail.create_file(
            "gateway.toml",
            "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\n",
        )?;
        jail.set_env("OTEL_TRACES_SAMPLER", "jaeger_remote");
        jail.set_env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
        jail.set_env("OTEL_EXPORTER_OTLP_TIMEOUT", "soon");
        jail.set_env("OTEL_TRACES_EXPORTER", "otlp,console");
        let config = Config::load(Some("gateway.toml".as_ref())).expect("still valid");
        let otlp = config
            .telemetry
            .otlp
            .clone()
            .expect("exporter on (otlp is in the list)");
        assert_eq!(
            otlp.protocol,
            mcp_gateway::config::OtlpProtocol::HttpProtobuf
        );
        assert_eq!(otlp.timeout, Duration::from_secs(10));
        assert_eq!(
            config.telemetry.sampler,
            mcp_gateway::config::TraceSampler::ParentBasedAlwaysOn
        );
        for var in [
            "OTEL_TRACES_SAMPLER",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ] {
            assert!(
                config
                    .warnings
                    .iter()
                    .any(|w| w.starts_with("ignored: telemetry.") && w.contains(var)),
                "{var}: {:#?}",
                config.warnings
            );
        }
        jail.clear_env();

        // gRPC export is plain text: an https:// collector needs http/protobuf.
        jail.create_file(
            "gateway.toml",
            "[telemetry]\notlp_endpoint = \"https://collector:4317\"\notlp_protocol = \"grpc\"\n",
        )?;
        let problems = load_err(Config::load(Some("gateway.toml".as_ref())));
        assert!(
            problems[0].starts_with("telemetry.otlp_endpoint: https:// needs"),
            "{problems:#?}"
        );
        Ok(())
    });
}

#[test]
fn worker_threads_is_a_bounded_count_the_environment_may_set() {
    Jail::expect_with(|jail| {
        jail.create_file("gateway.toml", "[server]\nworker_threads = 3\n")?;
        let config = Config::load(Some("gateway.toml".as_ref())).expect("valid");
        assert_eq!(config.server.worker_threads, Some(3));
        assert!(render_redacted(&config).contains("worker_threads = 3"));
        jail.set_env("GATEWAY_SERVER__WORKER_THREADS", "1");
        let config = Config::load(Some("gateway.toml".as_ref())).expect("valid");
        assert_eq!(config.server.worker_threads, Some(1));
        jail.clear_env();

        jail.create_file("default.toml", "[server]\nport = 9000\n")?;
        let config = Config::load(Some("default.toml".as_ref())).expect("valid");
        assert_eq!(config.server.worker_threads, None, "one per core");
        assert!(!render_redacted(&config).contains("worker_threads"));

        for bad in ["0", "1025", "\"two\"", "1.5"] {
            jail.create_file("bad.toml", &format!("[server]\nworker_threads = {bad}\n"))?;
            let problems = load_err(Config::load(Some("bad.toml".as_ref())));
            assert_eq!(problems.len(), 1, "{problems:#?}");
            assert!(
                problems[0].starts_with(
                    "server.worker_threads: expected a whole number of threads from 1 to 1024"
                ),
                "{problems:#?}"
            );
        }
        Ok(())
    });
}
