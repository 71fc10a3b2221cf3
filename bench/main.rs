//! The gateway benchmark: a real upstream (the test server over HTTP and over stdio), the
//! gateway in front of it as its own release-built process, and one load client driving both —
//! and, with `--fastmcp-gateway BIN`, the Python system this one replaces — side by side in one
//! run, several repetitions, medians. Prints tables and writes JSON. Figures, never assertions:
//! the machine is shared and noisy, so compare the ratios.
//!
//! `cargo build --profile dist --bins && target/dist/bench` (or `bench/run.sh`); `--smoke` runs
//! tiny sizes in seconds (CI, so it cannot rot). `bench/compare.sh` adds fastmcp-gateway.

#[path = "../tests/it/support/catalog.rs"]
mod catalog;
mod cores;
mod drive;
mod lean;
mod procs;
mod report;
mod sizes;
#[path = "../tests/it/support/upstream.rs"]
mod upstream;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde_json::json;

use drive::Call;
use lean::LeanClient;
use report::{Report, Stats};

/// `[server]` keys of every measured gateway: the per-upstream call cap above the highest
/// concurrency driven.
pub const GATEWAY_SERVER_KEYS: &str = "max_concurrency = 1024\n";

/// Size of the message (and so of the result) in the large-result latency row.
const LARGE_RESULT_BYTES: usize = 64 * 1024;

/// Time given to a process after it is ready before its idle memory is read.
pub const SETTLE: Duration = Duration::from_secs(1);

/// Command line.
#[derive(Parser, Debug, Clone)]
#[command(about = "Benchmark mcp-gateway against direct upstream calls (and fastmcp-gateway)")]
pub struct Options {
    /// Tiny sizes and counts: a run of a few seconds that only proves the bench works.
    #[arg(long)]
    smoke: bool,
    /// Sequential calls per repetition for latency rows.
    #[arg(long, default_value_t = 1000)]
    calls: usize,
    /// Repetitions of each measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Concurrency levels for throughput.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    concurrency: Vec<usize>,
    /// Length of one throughput measurement, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    duration_ms: u64,
    /// Registry sizes (tools) for the discovery, schema and reload rows.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    sizes: Vec<usize>,
    /// Calls for the memory-growth check.
    #[arg(long, default_value_t = 100_000)]
    soak: usize,
    /// Tools of the upstream used for the call rows.
    #[arg(long, default_value_t = 100)]
    upstream_tools: usize,
    /// fastmcp-gateway's executable (from a venv) to measure side by side.
    #[arg(long)]
    fastmcp_gateway: Option<PathBuf>,
    /// nginx's executable: adds a bare reverse proxy in front of the same upstream to the
    /// sequential latency and throughput rows — what any proxy hop costs on this machine, with
    /// no MCP work.
    #[arg(long)]
    nginx: Option<PathBuf>,
    /// Highest concurrency fastmcp-gateway is driven at (it manages ~20 calls/s).
    #[arg(long, default_value_t = 64)]
    fastmcp_max_concurrency: usize,
    /// Runtime threads of the gateway process (`TOKIO_WORKER_THREADS`); default: one per core.
    #[arg(long)]
    gateway_threads: Option<std::num::NonZeroUsize>,
    /// Runtime threads of the HTTP test upstream (1: one thread, as a Node.js or asyncio server
    /// serves); default: one per core.
    #[arg(long)]
    upstream_threads: Option<std::num::NonZeroUsize>,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/bench.json")]
    json: PathBuf,
}

impl Options {
    /// The smoke settings: every row, tiny.
    fn smoke(mut self) -> Options {
        self.calls = 20;
        self.reps = 1;
        self.concurrency = vec![1, 4];
        self.duration_ms = 200;
        self.sizes = vec![20];
        self.soak = 200;
        self.upstream_tools = 10;
        self
    }
}

fn main() -> std::process::ExitCode {
    let mut options = Options::parse();
    if options.smoke {
        options = options.smoke();
    }
    if let Some(threads) = options.gateway_threads {
        procs::set_gateway_threads(threads.get());
    }
    if let Some(threads) = options.upstream_threads {
        procs::set_upstream_threads(threads.get());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench: {error}");
            return std::process::ExitCode::from(70);
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: {error}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(options: Options) -> Result<(), String> {
    let mut report = Report::new(&options);
    let echo = json!({"message": "hello"});
    let direct = Call::direct("echo", echo.clone()).expecting("hello");
    let executed = Call::executed("echo", echo).expecting("hello");

    let upstream = procs::upstream(options.upstream_tools).await?;
    // The per-upstream call cap (default 64) would queue the 256-session row: lift it.
    let gateway = procs::gateway(&upstream.url, GATEWAY_SERVER_KEYS).await?;
    tokio::time::sleep(SETTLE).await;
    let rss_idle = gateway.rss_kib();
    let fastmcp = match &options.fastmcp_gateway {
        Some(bin) => Some(procs::fastmcp_gateway(bin, &upstream.url).await?),
        None => None,
    };
    let nginx = match &options.nginx {
        Some(bin) => Some(procs::nginx(bin, &upstream.url).await?),
        None => None,
    };
    let tools = upstream::TestUpstream::with_synthetic("bench", options.upstream_tools)
        .listing()
        .len();
    report.note(format!(
        "upstream: test server over HTTP with {tools} tools; gateway pid {}; clients use pooled keep-alive connections",
        gateway.pid()
    ));

    // Sequential latency, targets interleaved repetition by repetition.
    let mut targets: Vec<(&str, drive::Client, &Call)> = vec![
        ("direct", drive::connect(&upstream.url).await?, &direct),
        ("gateway", drive::connect(&gateway.url).await?, &executed),
    ];
    // The proxy process of each target (none for direct), for CPU per call.
    let mut proxies = vec![None, Some(gateway.pid())];
    if let Some(fg) = &fastmcp {
        targets.push(("fastmcp-gateway", drive::connect(&fg.url).await?, &executed));
        proxies.push(Some(fg.pid()));
    }
    // A bare reverse proxy in front of the same upstream, the same direct call through it: what
    // any HTTP hop adds on this machine (two more wake-ups and a copy each way).
    if let Some(proxy) = &nginx {
        targets.push(("nginx", drive::connect(&proxy.url).await?, &direct));
        proxies.push(Some(proxy.pid()));
    }
    let pinned = pinned_gateway(&upstream.url).await?;
    targets.push((
        report::PINNED,
        drive::connect(&pinned.url).await?,
        &executed,
    ));
    proxies.push(Some(pinned.pid()));
    // Sessionless 2026-07-28 clients, direct and through the gateway, in the same repetitions:
    // the revision the gateway speaks to upstreams that offer it, and that clients adopt.
    let sessions = targets.len();
    targets.push((
        "direct 2026-07-28",
        drive::connect_modern(&upstream.url).await?,
        &direct,
    ));
    proxies.push(None);
    targets.push((
        "gateway 2026-07-28",
        drive::connect_modern(&gateway.url).await?,
        &executed,
    ));
    proxies.push(Some(gateway.pid()));
    let (latency, cpu) = sequential_rows(&options, &targets, upstream.pid(), &proxies).await?;
    let names: Vec<&str> = targets.iter().map(|(n, _, _)| *n).collect();
    report.latency(
        "execute_tool(echo) vs direct tools/call echo, HTTP, sequential",
        &names[..sessions],
        &latency[..sessions],
    );
    report.latency(
        "The same, sessionless 2026-07-28 clients",
        &names[sessions..],
        &latency[sessions..],
    );
    report_cpu(
        &mut report,
        "CPU per call of the sequential rows (µs, user + system from /proc, 10 ms ticks)",
        &names,
        &cpu,
    );
    large_result_latency(&options, &mut report, &targets[..2]).await?;
    for (_, client, _) in targets {
        drive::close(client).await;
    }

    // The same hops driven by the lean client.
    let mut lean_targets = vec![
        LeanTarget::new("direct", &upstream.url, &direct, None),
        LeanTarget::new("gateway", &gateway.url, &executed, Some(gateway.pid())),
    ];
    if let Some(proxy) = &nginx {
        lean_targets.push(LeanTarget::new(
            "nginx",
            &proxy.url,
            &direct,
            Some(proxy.pid()),
        ));
    }
    lean_targets.push(LeanTarget::new(
        report::PINNED,
        &pinned.url,
        &executed,
        Some(pinned.pid()),
    ));
    lean_targets.extend(LeanTarget::modern_pair(
        &upstream.url,
        &gateway,
        &direct,
        &executed,
    ));
    lean_sequential_rows(
        &options,
        &mut report,
        lean_targets,
        upstream.pid(),
        [
            "The same with the lean client (raw HTTP/1 calls in a real session, on a thread of its own, as wrk drives a proxy)",
            "The same, sessionless 2026-07-28 lean clients",
            "CPU per call of the lean client's sequential rows (µs)",
        ],
    )
    .await?;

    stdio_latency(&options, &mut report).await?;

    // Throughput at each concurrency, targets interleaved.
    let load = LoadTargets {
        upstream_url: &upstream.url,
        gateway: &gateway,
        fastmcp: fastmcp.as_ref(),
        nginx: nginx.as_ref(),
        pinned: &pinned,
    };
    let (rows, rss_under_load) =
        throughput_rows::<drive::Client>(&options, &load, &direct, &executed).await?;
    report.throughput(
        "Throughput (calls/s, median of repetitions; every answer checked)",
        "throughput",
        &rows,
    );
    let (rows, lean_rss) =
        throughput_rows::<LeanClient>(&options, &load, &direct, &executed).await?;
    report.throughput(
        "Throughput with the lean client (calls/s, every answer checked)",
        "throughput_lean",
        &rows,
    );
    let rss_under_load = rss_under_load.max(lean_rss);
    report.memory_row(
        &format!("gateway RSS, {tools} tools: idle after populate / peak while under load (MiB)"),
        json!({
            "idle_kib": rss_idle, "under_load_kib": rss_under_load,
        }),
        format!(
            "{} / {}",
            report::mib(rss_idle),
            report::mib(Some(rss_under_load))
        ),
    );
    if let Some(fg) = &fastmcp {
        report.memory_row(
            "fastmcp-gateway RSS after its load, sessions closed (MiB)",
            json!({"kib": fg.rss_kib()}),
            report::mib(fg.rss_kib()),
        );
    }
    drop(nginx);
    drop(pinned);
    drop(fastmcp);
    drop(gateway);
    drop(upstream);

    isolated_rows(&options, &mut report, &direct, &executed).await?;
    sizes::run(&options, &mut report).await?;
    report.finish(&options.json)
}

/// CPU time (user + system, µs) of the upstream and of a target's proxy process, or what a run
/// of calls added to it.
#[derive(Clone, Default)]
struct CpuUse {
    upstream: u64,
    proxy: u64,
    calls: u64,
}

impl CpuUse {
    /// The processes' CPU time so far.
    fn read(upstream: u32, proxy: Option<u32>) -> CpuUse {
        CpuUse {
            upstream: procs::cpu_micros(upstream).unwrap_or(0),
            proxy: proxy.and_then(procs::cpu_micros).unwrap_or(0),
            calls: 0,
        }
    }

    /// Adds the CPU time spent between `before` and `after` on `calls` calls.
    fn add(&mut self, before: &CpuUse, after: &CpuUse, calls: usize) {
        self.upstream += after.upstream.saturating_sub(before.upstream);
        self.proxy += after.proxy.saturating_sub(before.proxy);
        self.calls += calls as u64;
    }

    /// Microseconds per call of `total`.
    fn per_call(&self, total: u64) -> f64 {
        total as f64 / self.calls.max(1) as f64
    }
}

/// The CPU-per-call table: steadier than latency on a noisy machine, since waiting for a core
/// does not count.
fn report_cpu(report: &mut Report, title: &str, names: &[&str], cpu: &[CpuUse]) {
    let rows: Vec<Vec<String>> = names
        .iter()
        .zip(cpu)
        .map(|(name, use_)| {
            let (upstream, proxy) = (use_.per_call(use_.upstream), use_.per_call(use_.proxy));
            vec![
                name.to_string(),
                format!("{upstream:.0}"),
                format!("{proxy:.0}"),
            ]
        })
        .collect();
    let value: Vec<_> = names
        .iter()
        .zip(cpu)
        .map(|(name, use_)| {
            json!({"target": name, "upstream_us": use_.per_call(use_.upstream),
                   "proxy_us": use_.per_call(use_.proxy), "calls": use_.calls})
        })
        .collect();
    report.table(title, &["target", "upstream", "proxy"], &rows, json!(value));
}

/// The gateway in front of `upstream_url` with its upstream pinned to the direct client's
/// revision (a 2025-11-25 session): the hop alone, without the newer revision's extra work at
/// the upstream (the gateway speaks 2026-07-28 to an upstream that offers it).
async fn pinned_gateway(upstream_url: &str) -> Result<procs::Served, String> {
    let pinned_upstream = format!(
        "[upstreams.bench]\nurl = {}\nprotocol = \"2025-11-25\"\n",
        procs::toml_string(upstream_url)
    );
    procs::gateway_with(&pinned_upstream, GATEWAY_SERVER_KEYS).await
}

/// A target of the lean client's sequential rows: its name, URL, call and proxy process, and
/// whether its client is a sessionless 2026-07-28 one.
struct LeanTarget {
    name: &'static str,
    url: String,
    call: Call,
    proxy: Option<u32>,
    modern: bool,
}

impl LeanTarget {
    fn new(name: &'static str, url: &str, call: &Call, proxy: Option<u32>) -> LeanTarget {
        LeanTarget {
            name,
            url: url.to_string(),
            call: call.clone(),
            proxy,
            modern: false,
        }
    }

    /// Sessionless 2026-07-28 clients straight at the upstream and through `gateway`: both
    /// sides of the comparison pay the newer revision's cost at the upstream.
    fn modern_pair(
        upstream_url: &str,
        gateway: &procs::Served,
        direct: &Call,
        executed: &Call,
    ) -> [LeanTarget; 2] {
        [
            LeanTarget {
                modern: true,
                ..LeanTarget::new("direct 2026-07-28", upstream_url, direct, None)
            },
            LeanTarget {
                modern: true,
                ..LeanTarget::new(
                    "gateway 2026-07-28",
                    &gateway.url,
                    executed,
                    Some(gateway.pid()),
                )
            },
        ]
    }
}

/// The sequential rows driven by the lean client, whose own CPU per call is a fraction of rmcp's
/// client's, on a thread of its own (as `wrk -t1`): on two shared cores, less of what the
/// client spends is taken from the proxy.
async fn lean_sequential_rows(
    options: &Options,
    report: &mut Report,
    targets: Vec<LeanTarget>,
    upstream_pid: u32,
    [latency_title, modern_title, cpu_title]: [&str; 3],
) -> Result<(), String> {
    let names: Vec<&str> = targets.iter().map(|t| t.name).collect();
    // The session rows come first, then the sessionless ones, each in a table of its own.
    let sessions = targets.iter().take_while(|t| !t.modern).count();
    if sessions == 0 || targets[sessions..].iter().any(|t| !t.modern) {
        return Err(
            "the lean rows: session targets first (one at least), sessionless ones last".into(),
        );
    }
    let options = options.clone();
    let (latency, cpu) = on_own_thread(move || async move {
        let mut clients = Vec::new();
        let mut opened = Ok(());
        for target in &targets {
            let client = if target.modern {
                LeanClient::connect_modern(&target.url).await
            } else {
                LeanClient::connect(&target.url).await
            };
            match client {
                Ok(client) => clients.push((target.name, client, &target.call)),
                Err(error) => {
                    opened = Err(error);
                    break;
                }
            }
        }
        let proxies: Vec<Option<u32>> = targets.iter().map(|t| t.proxy).collect();
        let measured = match opened {
            Ok(()) => sequential_rows(&options, &clients, upstream_pid, &proxies).await,
            Err(error) => Err(error),
        };
        for (_, client, _) in clients {
            client.end().await;
        }
        measured
    })
    .await?;
    report.latency(latency_title, &names[..sessions], &latency[..sessions]);
    if sessions < names.len() {
        report.latency(modern_title, &names[sessions..], &latency[sessions..]);
    }
    report_cpu(report, cpu_title, &names, &cpu);
    Ok(())
}

/// Runs `work` to completion on a new thread with a current-thread runtime of its own (what it
/// connects and spawns stays there), without blocking the caller's runtime.
async fn on_own_thread<F, Fut, T>(work: F) -> Result<T, String>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, String>>,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?
            .block_on(work())
    })
    .await
    .map_err(|e| format!("the lean client's thread: {e}"))?
}

/// Sequential latency of each target (after a warm-up; each repetition starts with a different
/// target, so none always goes first) and the CPU its calls cost the upstream and its proxy.
async fn sequential_rows<C: drive::Caller>(
    options: &Options,
    targets: &[(&str, C, &Call)],
    upstream_pid: u32,
    proxies: &[Option<u32>],
) -> Result<(Vec<Vec<Stats>>, Vec<CpuUse>), String> {
    debug_assert_eq!(targets.len(), proxies.len(), "a proxy entry per target");
    let mut latency: Vec<Vec<Stats>> = vec![Vec::new(); targets.len()];
    let mut cpu = vec![CpuUse::default(); targets.len()];
    for (_, client, call) in targets {
        drive::sequential(client, call, options.calls.min(200)).await?; // warm-up
    }
    for rep in 0..options.reps {
        for offset in 0..targets.len() {
            let i = (rep + offset) % targets.len();
            let (name, client, call) = &targets[i];
            // fastmcp-gateway takes ~50 ms a call: fewer calls, same shape.
            let n = if *name == "fastmcp-gateway" {
                options.calls.min(200)
            } else {
                options.calls
            };
            let proxy = proxies.get(i).copied().flatten();
            let before = CpuUse::read(upstream_pid, proxy);
            latency[i].push(Stats::of(drive::sequential(client, call, n).await?));
            cpu[i].add(&before, &CpuUse::read(upstream_pid, proxy), n);
        }
    }
    Ok((latency, cpu))
}

/// Sequential latency of a call whose arguments and result are about [`LARGE_RESULT_BYTES`] of
/// text (the echo tool returns its message): what reading, checking and passing on a large
/// answer costs. `targets` are the direct client and the gateway's.
async fn large_result_latency(
    options: &Options,
    report: &mut Report,
    targets: &[(&str, drive::Client, &Call)],
) -> Result<(), String> {
    // Prose with the escapes real text brings: quotes, newlines, non-ASCII.
    let line = "The \"quick\" brown fox — über the lazy dog; ünïcödé, tabs\tand more.\n";
    let message = line.repeat(LARGE_RESULT_BYTES / line.len() + 1);
    let arguments = json!({"message": message});
    let calls = [
        Call::direct("echo", arguments.clone()).expecting(line),
        Call::executed("echo", arguments).expecting(line),
    ];
    let n = options.calls.min(300);
    let mut latency: Vec<Vec<Stats>> = vec![Vec::new(), Vec::new()];
    for ((_, client, _), call) in targets.iter().zip(&calls) {
        drive::sequential(client, call, n.min(50)).await?; // warm-up
    }
    for rep in 0..options.reps {
        for offset in 0..targets.len() {
            let i = (rep + offset) % targets.len();
            let (_, client, _) = &targets[i];
            latency[i].push(Stats::of(drive::sequential(client, &calls[i], n).await?));
        }
    }
    let names: Vec<&str> = targets.iter().map(|(n, _, _)| *n).collect();
    report.latency(
        &format!(
            "execute_tool(echo) vs direct tools/call echo, {} KiB message and result, HTTP, sequential",
            LARGE_RESULT_BYTES / 1024
        ),
        &names,
        &latency,
    );
    Ok(())
}

/// Sequential latency to a stdio upstream: the same server as a child of the client, and as a
/// child of the gateway.
async fn stdio_latency(options: &Options, report: &mut Report) -> Result<(), String> {
    let server = procs::sibling("mcp-gateway-test-upstream")?;
    let mut command = tokio::process::Command::new(&server);
    command.args(["--name", "stdio"]);
    let direct_client = drive::connect_stdio(command).await?;
    let upstream_toml = format!(
        "[upstreams.stdio]\ncommand = {}\nargs = [\"--name\", \"stdio\"]\n",
        procs::toml_string(&server.display().to_string())
    );
    let gateway = procs::gateway_with(&upstream_toml, GATEWAY_SERVER_KEYS).await?;
    let gateway_client = drive::connect(&gateway.url).await?;
    let echo = json!({"message": "hello"});
    let calls = [
        Call::direct("echo", echo.clone()).expecting("hello"),
        Call::executed("echo", echo).expecting("hello"),
    ];
    let clients = [&direct_client, &gateway_client];
    let mut latency: Vec<Vec<Stats>> = vec![Vec::new(), Vec::new()];
    for (client, call) in clients.iter().zip(&calls) {
        drive::sequential(*client, call, options.calls.min(200)).await?;
    }
    for _ in 0..options.reps {
        for (i, (client, call)) in clients.iter().zip(&calls).enumerate() {
            latency[i].push(Stats::of(
                drive::sequential(*client, call, options.calls).await?,
            ));
        }
    }
    report.latency(
        "execute_tool(echo) vs direct tools/call echo, stdio upstream, sequential",
        &["direct (stdio child)", "gateway (stdio upstream)"],
        &latency,
    );
    drive::close(direct_client).await;
    drive::close(gateway_client).await;
    Ok(())
}

/// The processes the throughput rows drive.
struct LoadTargets<'a> {
    upstream_url: &'a str,
    gateway: &'a procs::Served,
    fastmcp: Option<&'a procs::Served>,
    nginx: Option<&'a procs::Served>,
    /// The gateway with its upstream pinned to the direct client's revision: the hop alone.
    pinned: &'a procs::Served,
}

/// Calls per second at each concurrency level, targets interleaved repetition by repetition
/// (medians), and the gateway's highest RSS while it was the one under load.
async fn throughput_rows<C: drive::Caller>(
    options: &Options,
    load: &LoadTargets<'_>,
    direct: &Call,
    executed: &Call,
) -> Result<(Vec<(usize, Vec<(String, f64)>)>, u64), String> {
    let mut rss_under_load = 0;
    let mut rows = Vec::new();
    for &concurrency in &options.concurrency {
        let mut urls = vec![
            ("direct", load.upstream_url.to_string(), direct),
            ("gateway", load.gateway.url.clone(), executed),
        ];
        if let Some(fg) = load
            .fastmcp
            .filter(|_| concurrency <= options.fastmcp_max_concurrency)
        {
            urls.push(("fastmcp-gateway", fg.url.clone(), executed));
        }
        if let Some(proxy) = load.nginx {
            urls.push(("nginx", proxy.url.clone(), direct));
        }
        urls.push((report::PINNED, load.pinned.url.clone(), executed));
        let mut clients = Vec::new();
        for (name, url, call) in &urls {
            clients.push((*name, drive::sessions::<C>(url, concurrency).await?, *call));
        }
        let duration = Duration::from_millis(options.duration_ms);
        // fastmcp-gateway's calls take seconds at high concurrency: a window long enough for
        // several rounds of every session, or no call would complete inside it.
        let window = |name: &str| match name {
            "fastmcp-gateway" => {
                duration * u32::try_from(concurrency.div_ceil(8).max(1)).unwrap_or(1)
            }
            _ => duration,
        };
        for (name, sessions, call) in &clients {
            drive::throughput(sessions, call, window(name) / 4).await?; // warm-up
        }
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
        for rep in 0..options.reps.clamp(1, 3) {
            for offset in 0..clients.len() {
                let i = (rep + offset) % clients.len();
                let (name, sessions, call) = &clients[i];
                // The gateway's memory is sampled while it is the one under load.
                let sampler =
                    (*name == "gateway").then(|| report::RssSampler::start(load.gateway.pid()));
                rates[i].push(drive::throughput(sessions, call, window(name)).await?);
                if let Some(sampler) = sampler {
                    rss_under_load = rss_under_load.max(sampler.stop().await);
                }
            }
        }
        let medians: Vec<(String, f64)> = clients
            .iter()
            .zip(&rates)
            .map(|((name, _, _), r)| (name.to_string(), report::median(r)))
            .collect();
        rows.push((concurrency, medians));
        for (_, sessions, _) in clients {
            drive::close_all(sessions).await;
        }
    }
    Ok((rows, rss_under_load))
}

/// The throughput rows again with each proxy alone on a CPU and the load client and the
/// upstream on the other (fresh processes, started pinned, so each runtime sizes itself to its
/// one CPU): the hop on a core of its own, as a gateway is deployed. Throughput then shows
/// whether the proxy keeps up with the upstream, not how much of the upstream's CPU it takes;
/// sequential latency what the hop adds when nothing else competes for the proxy's core (the
/// proxy's caches stay its own; each hop now crosses between the two CPUs).
/// fastmcp-gateway is left out (its figures are a hundred times lower either way).
async fn isolated_rows(
    options: &Options,
    report: &mut Report,
    direct: &Call,
    executed: &Call,
) -> Result<(), String> {
    let isolation = match cores::Isolation::start() {
        Ok(isolation) => isolation,
        Err(reason) => {
            report.note(format!("isolated rows skipped: {reason}"));
            return Ok(());
        }
    };
    let upstream = procs::upstream(options.upstream_tools).await?;
    let gateway = procs::gateway(&upstream.url, GATEWAY_SERVER_KEYS).await?;
    let pinned = pinned_gateway(&upstream.url).await?;
    let nginx = match &options.nginx {
        Some(bin) => Some(procs::nginx(bin, &upstream.url).await?),
        None => None,
    };
    let load = LoadTargets {
        upstream_url: &upstream.url,
        gateway: &gateway,
        fastmcp: None,
        nginx: nginx.as_ref(),
        pinned: &pinned,
    };
    let cores = isolation.cores;
    let mut lean_targets = vec![
        LeanTarget::new("direct", &upstream.url, direct, None),
        LeanTarget::new("gateway", &gateway.url, executed, Some(gateway.pid())),
    ];
    if let Some(proxy) = &nginx {
        lean_targets.push(LeanTarget::new(
            "nginx",
            &proxy.url,
            direct,
            Some(proxy.pid()),
        ));
    }
    lean_targets.push(LeanTarget::new(
        report::PINNED,
        &pinned.url,
        executed,
        Some(pinned.pid()),
    ));
    lean_targets.extend(LeanTarget::modern_pair(
        &upstream.url,
        &gateway,
        direct,
        executed,
    ));
    lean_sequential_rows(
        options,
        report,
        lean_targets,
        upstream.pid(),
        [
            &format!(
                "Sequential latency, each proxy alone on CPU {} (lean client and upstream on CPU {})",
                cores.proxy, cores.client
            ),
            "The same, sessionless 2026-07-28 lean clients, each proxy alone",
            "CPU per call of those rows (µs)",
        ],
    )
    .await?;
    let (rows, _) = throughput_rows::<drive::Client>(options, &load, direct, executed).await?;
    report.throughput(
        &format!(
            "Throughput, each proxy alone on CPU {} (load client and upstream on CPU {})",
            cores.proxy, cores.client
        ),
        "throughput_isolated",
        &rows,
    );
    let (rows, _) = throughput_rows::<LeanClient>(options, &load, direct, executed).await?;
    report.throughput(
        &format!(
            "The same with the lean client (proxy on CPU {}, lean client and upstream on CPU {})",
            cores.proxy, cores.client
        ),
        "throughput_isolated_lean",
        &rows,
    );
    Ok(())
}
