//! Statistics and output: each measurement is printed as a Markdown table as soon as it is
//! done, and collected into one JSON document written at the end.

use std::path::Path;

use serde_json::{Value, json};

/// The gateway whose upstream is pinned to the direct client's revision (a 2025-11-25
/// session): the hop alone, without the newer revision's extra work at the upstream.
pub const PINNED: &str = "gateway, upstream on 2025-11-25";

/// Percentiles of one sample set (milliseconds).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Samples.
    pub n: usize,
}

impl Stats {
    /// The percentiles of `samples`.
    pub fn of(mut samples: Vec<f64>) -> Stats {
        samples.sort_by(f64::total_cmp);
        Stats {
            p50: percentile(&samples, 0.50),
            p99: percentile(&samples, 0.99),
            n: samples.len(),
        }
    }
}

/// The `p` quantile of sorted samples (the sample at the rounded rank); 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The median of unsorted values (the upper one of an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, 0.5)
}

/// KiB as MiB text, `?` when unknown.
pub fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

/// The run's results.
pub struct Report {
    json: serde_json::Map<String, Value>,
    sections: Vec<Value>,
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|rest| rest.trim().to_string())
        })
        .unwrap_or_default();
    json!({"cpu": cpu, "cores": cores, "memory": memory})
}

impl Report {
    /// Starts a report and prints its header.
    pub fn new(options: &super::Options) -> Report {
        let machine = machine();
        let when = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        println!("# mcp-gateway benchmark ({when})");
        println!(
            "machine: {} × {}, {}; {}",
            machine["cores"],
            machine["cpu"].as_str().unwrap_or(""),
            machine["memory"].as_str().unwrap_or(""),
            if options.smoke {
                "SMOKE RUN (tiny sizes, figures meaningless)"
            } else {
                "full run"
            }
        );
        if let Some(threads) = options.gateway_threads {
            println!("gateway runtime threads: {threads} (TOKIO_WORKER_THREADS)");
        }
        let mut json = serde_json::Map::new();
        json.insert("when".into(), when.into());
        json.insert("machine".into(), machine);
        json.insert("smoke".into(), options.smoke.into());
        json.insert(
            "options".into(),
            json!({
                "calls": options.calls, "reps": options.reps, "concurrency": options.concurrency,
                "duration_ms": options.duration_ms, "sizes": options.sizes, "soak": options.soak,
                "gateway_threads": options.gateway_threads,
            }),
        );
        Report {
            json,
            sections: Vec::new(),
        }
    }

    /// A free-text line.
    pub fn note(&mut self, text: String) {
        println!("{text}");
        self.sections.push(json!({"note": text}));
    }

    /// A latency table: one row per target, medians over repetitions, compared to the first.
    pub fn latency(&mut self, title: &str, names: &[&str], reps: &[Vec<Stats>]) {
        println!("\n## {title}\n");
        println!(
            "| target | p50 ms | p99 ms | p50 added vs {} | p99 added |",
            names[0]
        );
        println!("|---|---|---|---|---|");
        let summary: Vec<(f64, f64)> = reps
            .iter()
            .map(|r| {
                let p50: Vec<f64> = r.iter().map(|s| s.p50).collect();
                let p99: Vec<f64> = r.iter().map(|s| s.p99).collect();
                (median(&p50), median(&p99))
            })
            .collect();
        let (base50, base99) = summary.first().copied().unwrap_or_default();
        let mut rows = Vec::new();
        for ((name, (p50, p99)), reps) in names.iter().zip(&summary).zip(reps) {
            println!(
                "| {name} | {p50:.3} | {p99:.3} | {:+.3} ms ({:.2}×) | {:+.3} ms |",
                p50 - base50,
                p50 / base50.max(1e-9),
                p99 - base99
            );
            rows.push(json!({
                "target": name, "p50_ms": p50, "p99_ms": p99,
                "added_p50_ms": p50 - base50, "added_p99_ms": p99 - base99,
                "calls_per_rep": reps.first().map_or(0, |s| s.n), "reps": reps.len(),
            }));
        }
        self.sections.push(json!({"title": title, "latency": rows}));
    }

    /// Throughput at each concurrency, gateway against direct (and fastmcp-gateway, nginx, the
    /// gateway with its upstream pinned to 2025-11-25), under `title`; `key` names the section
    /// in the JSON.
    pub fn throughput(&mut self, title: &str, key: &str, rows: &[(usize, Vec<(String, f64)>)]) {
        println!("\n## {title}\n");
        // The optional targets measured in these rows, each with its ratio to direct.
        let extras: Vec<(&str, &str, &str)> = [
            ("nginx", "nginx (bare proxy)", "nginx ÷ direct"),
            (PINNED, PINNED, "÷ direct"),
        ]
        .into_iter()
        .filter(|(name, _, _)| {
            rows.iter()
                .any(|(_, rates)| rates.iter().any(|(n, _)| n == name))
        })
        .collect();
        let extra_headers: String = extras
            .iter()
            .map(|(_, label, ratio)| format!(" {label} | {ratio} |"))
            .collect();
        println!(
            "| concurrency | direct | gateway | gateway ÷ direct | fastmcp-gateway | gateway ÷ fastmcp-gateway |{extra_headers}"
        );
        println!(
            "|---|---|---|---|---|---|{}",
            "---|---|".repeat(extras.len())
        );
        let mut out = Vec::new();
        for (concurrency, rates) in rows {
            let rate = |name: &str| rates.iter().find(|(n, _)| n == name).map(|(_, r)| *r);
            let direct = rate("direct").unwrap_or(0.0);
            let gateway = rate("gateway").unwrap_or(0.0);
            let fastmcp = rate("fastmcp-gateway");
            let extra_cells: String = extras
                .iter()
                .map(|(name, _, _)| match rate(name) {
                    Some(r) => format!(" {r:.0} | {:.2} |", r / direct.max(1e-9)),
                    None => " — | — |".into(),
                })
                .collect();
            println!(
                "| {concurrency} | {direct:.0} | {gateway:.0} | {:.2} | {} | {} |{extra_cells}",
                gateway / direct.max(1e-9),
                fastmcp.map_or("—".into(), |r| format!("{r:.1}")),
                fastmcp
                    .filter(|r| *r > 0.0)
                    .map_or("—".into(), |r| format!("{:.1}×", gateway / r)),
            );
            out.push(json!({
                "concurrency": concurrency, "direct": direct, "gateway": gateway,
                "fastmcp_gateway": fastmcp, "gateway_over_direct": gateway / direct.max(1e-9),
                "nginx": rate("nginx"), "gateway_upstream_2025_11_25": rate(PINNED),
            }));
        }
        self.sections.push(json!({"title": key, "throughput": out}));
    }

    /// One memory figure.
    pub fn memory_row(&mut self, label: &str, value: Value, shown: String) {
        println!("\n{label}: {shown}");
        self.sections.push(json!({"title": label, "memory": value}));
    }

    /// A free-form table.
    pub fn table(&mut self, title: &str, headers: &[&str], rows: &[Vec<String>], value: Value) {
        println!("\n## {title}\n");
        println!("| {} |", headers.join(" | "));
        println!("|{}", "---|".repeat(headers.len()));
        for row in rows {
            println!("| {} |", row.join(" | "));
        }
        self.sections.push(json!({"title": title, "rows": value}));
    }

    /// Writes the JSON document.
    pub fn finish(mut self, path: &Path) -> Result<(), String> {
        self.json
            .insert("results".into(), Value::Array(self.sections));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let text =
            serde_json::to_string_pretty(&Value::Object(self.json)).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("\nJSON: {}", path.display());
        Ok(())
    }
}

/// Samples a process's RSS every 50 ms until stopped, keeping the highest.
pub struct RssSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<u64>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut highest = 0;
            loop {
                highest = highest.max(crate::procs::rss_kib(pid).unwrap_or(0));
                tokio::select! {
                    _ = &mut stopped => return highest,
                    () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
                }
            }
        });
        RssSampler { stop, task }
    }

    /// Stops and returns the highest RSS seen (KiB).
    pub async fn stop(self) -> u64 {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(0)
    }
}
