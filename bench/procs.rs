//! The processes a benchmark run measures: the test upstream over HTTP, the gateway (release
//! build, its own process, default logging) and, for the comparison, fastmcp-gateway. Each is
//! killed when its handle drops; their memory is read from `/proc`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a process may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running child process and the MCP endpoint it serves.
pub struct Served {
    /// `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    child: Child,
    workdir: Option<PathBuf>,
}

impl Served {
    /// The process id (for its RSS).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.workdir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `VmRSS` of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// A binary built next to this one (`target/<profile>/NAME`).
pub fn sibling(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let path = exe
        .parent()
        .map(|dir| dir.join(name))
        .ok_or("no parent directory")?;
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: build it first (cargo build --release --bins)",
            path.display()
        ))
    }
}

/// The test upstream over streamable HTTP with `echo` and `synthetic` more tools.
pub fn upstream(synthetic: usize) -> Result<Served, String> {
    let mut child = Command::new(sibling("mcp-gateway-test-upstream")?)
        .args(["--http", "127.0.0.1:0", "--name", "bench", "--synthetic"])
        .arg(synthetic.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn test upstream: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("read upstream address: {e}"))?;
    let url = line
        .trim()
        .strip_prefix("listening ")
        .ok_or_else(|| format!("unexpected upstream output {line:?}"))?
        .to_string();
    Ok(Served {
        url,
        child,
        workdir: None,
    })
}

/// A scratch directory for one process's config and log.
fn workdir(label: &str) -> Result<PathBuf, String> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "mcp-gateway-bench-{}-{label}-{n}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// The gateway (its own process, default log level, log to a file) in front of `upstream_url`,
/// once `/readyz` says it serves tools.
pub async fn gateway(upstream_url: &str, extra_toml: &str) -> Result<Served, String> {
    let upstreams = format!("[upstreams.bench]\nurl = \"{upstream_url}\"\n");
    gateway_with(&upstreams, extra_toml).await
}

/// The gateway with these `[upstreams.*]` tables and extra `[server]` keys.
pub async fn gateway_with(upstreams_toml: &str, extra_toml: &str) -> Result<Served, String> {
    let dir = workdir("gateway")?;
    let config = dir.join("gateway.toml");
    let log = dir.join("gateway.log");
    std::fs::write(
        &config,
        format!("[server]\nport = 0\n{extra_toml}\n{upstreams_toml}"),
    )
    .map_err(|e| format!("write config: {e}"))?;
    let log_file = std::fs::File::create(&log).map_err(|e| format!("create log: {e}"))?;
    let child = Command::new(sibling("mcp-gateway")?)
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("spawn gateway: {e}"))?;
    let mut served = Served {
        url: String::new(),
        child,
        workdir: Some(dir),
    };
    let addr = wait_for_addr(&log).await?;
    served.url = format!("http://{addr}/mcp");
    wait_ready(&format!("http://{addr}/readyz")).await?;
    Ok(served)
}

/// The address in the gateway's `listening addr=…` log line.
async fn wait_for_addr(log: &Path) -> Result<String, String> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .find_map(|line| line.split("addr=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
        {
            return Ok(addr.to_string());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!(
        "the gateway did not start: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    ))
}

/// Polls `/readyz` until it answers 200.
async fn wait_ready(url: &str) -> Result<(), String> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(response) = client.get(url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("{url} never became ready"))
}

/// fastmcp-gateway (`bin`, from a venv) in front of `upstream_url`, every tool exposed, once its
/// port accepts connections (it opens the port after populating).
pub async fn fastmcp_gateway(bin: &Path, upstream_url: &str) -> Result<Served, String> {
    let dir = workdir("fastmcp")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("free port: {e}"))?
        .port();
    let log_file =
        std::fs::File::create(dir.join("fastmcp.log")).map_err(|e| format!("create log: {e}"))?;
    let child = Command::new(bin)
        .env(
            "GATEWAY_UPSTREAMS",
            format!("{{\"bench\": \"{upstream_url}\"}}"),
        )
        .env("GATEWAY_HOST", "127.0.0.1")
        .env("GATEWAY_PORT", port.to_string())
        .env("GATEWAY_MAX_SCHEMA_DEPTH", "50")
        .env("LOG_LEVEL", "WARNING")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let served = Served {
        url: format!("http://127.0.0.1:{port}/mcp"),
        child,
        workdir: Some(dir),
    };
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(served);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("fastmcp-gateway did not open its port".into())
}
