//! The processes a benchmark run measures: the test upstream over HTTP, the gateway (release
//! build, its own process, default logging) and, for the comparison, fastmcp-gateway. Each is
//! killed when its handle drops, its scratch directory removed; their memory is read from
//! `/proc`. Children get a clean environment: no `GATEWAY_*`, `OTEL_*` or proxy variables of the
//! caller's shell change what is measured.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cores;

/// How long a process may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A scratch directory, removed when dropped.
struct Workdir(PathBuf);

impl Workdir {
    fn new(label: &str) -> Result<Workdir, String> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "mcp-gateway-bench-{}-{label}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Workdir(dir))
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running child process and the MCP endpoint it serves.
pub struct Served {
    /// `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    child: Child,
    _workdir: Option<Workdir>,
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

    /// Fails when the process has exited.
    fn alive(&mut self, log: Option<&Path>) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("exited ({status}){}", log_tail(log))),
            Err(error) => Err(format!("cannot be waited for: {error}")),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of a log, for error messages.
fn log_tail(log: Option<&Path>) -> String {
    let Some(text) = log.and_then(|path| std::fs::read_to_string(path).ok()) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    format!(
        "; log:\n{}",
        lines[lines.len().saturating_sub(10)..].join("\n")
    )
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

/// CPU time (user + system) `pid` has used, in µs, from `/proc/PID/stat` (clock ticks of
/// USER_HZ, which Linux fixes at 100 for this interface).
pub fn cpu_micros(pid: u32) -> Option<u64> {
    const USER_HZ: u64 = 100;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1_000_000 / USER_HZ)
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
            "{} is missing: build it first (cargo build --profile dist --bins)",
            path.display()
        ))
    }
}

/// A command whose environment holds nothing that changes what is measured.
fn clean_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().to_string();
        let upper = name.to_ascii_uppercase();
        if name.starts_with("GATEWAY_")
            || name.starts_with("OTEL_")
            || upper.ends_with("_PROXY")
            || name == "RUST_LOG"
            || name == "LOG_LEVEL"
            || name == "TOKIO_WORKER_THREADS"
        {
            command.env_remove(&name);
        }
    }
    command.env("NO_PROXY", "127.0.0.1,localhost");
    command
}

/// Runtime threads for the gateway processes (`--gateway-threads`), once set.
static GATEWAY_THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Runs every gateway process of this bench with `threads` runtime threads.
pub fn set_gateway_threads(threads: usize) {
    let _ = GATEWAY_THREADS.set(threads);
}

/// Runtime threads of the HTTP test upstreams (`--upstream-threads`), once set.
static UPSTREAM_THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Runs every HTTP test upstream of this bench with `threads` runtime threads.
pub fn set_upstream_threads(threads: usize) {
    let _ = UPSTREAM_THREADS.set(threads);
}

/// The test upstream over streamable HTTP with its standard tools and `synthetic` more.
pub async fn upstream(synthetic: usize) -> Result<Served, String> {
    upstream_with(synthetic, &[]).await
}

/// [`upstream`] with extra flags (`--churn`: every definition changes with each listing).
pub async fn upstream_with(synthetic: usize, flags: &[&str]) -> Result<Served, String> {
    let mut command = clean_command(&sibling("mcp-gateway-test-upstream")?);
    if let Some(threads) = UPSTREAM_THREADS.get() {
        command.args(["--threads", &threads.to_string()]);
    }
    let mut child = command
        .args(["--http", "127.0.0.1:0", "--name", "bench", "--synthetic"])
        .arg(synthetic.to_string())
        .args(flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn test upstream: {e}"))?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err("the test upstream has no stdout".into());
    };
    let mut served = Served {
        url: String::new(),
        child,
        _workdir: None,
    };
    // The first line names the address; read it off the runtime, bounded.
    let reading = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(START_TIMEOUT, reading)
        .await
        .map_err(|_| "the test upstream printed no address".to_string())?
        .map_err(|e| format!("reading the upstream address: {e}"))?
        .map_err(|e| format!("reading the upstream address: {e}"))?;
    served.url = line
        .trim()
        .strip_prefix("listening ")
        .ok_or_else(|| format!("unexpected upstream output {line:?}"))?
        .to_string();
    Ok(served)
}

/// The gateway (its own process, default log level, log to a file) in front of `upstream_url`,
/// once `/readyz` says it serves tools.
pub async fn gateway(upstream_url: &str, extra_toml: &str) -> Result<Served, String> {
    let upstreams = format!("[upstreams.bench]\nurl = {}\n", toml_string(upstream_url));
    gateway_with(&upstreams, extra_toml).await
}

/// A TOML basic string holding `text`.
pub fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// The gateway with these `[upstreams.*]` tables and extra `[server]` keys.
pub async fn gateway_with(upstreams_toml: &str, extra_toml: &str) -> Result<Served, String> {
    let binary = sibling("mcp-gateway")?;
    let dir = Workdir::new("gateway")?;
    let config = dir.0.join("gateway.toml");
    // Not beside the config: the gateway watches that directory, and a log written there would
    // wake its watcher on every request line.
    let log_dir = dir.0.join("log");
    std::fs::create_dir(&log_dir).map_err(|e| format!("create log dir: {e}"))?;
    let log = log_dir.join("gateway.log");
    std::fs::write(
        &config,
        format!("[server]\nport = 0\n{extra_toml}\n{upstreams_toml}"),
    )
    .map_err(|e| format!("write config: {e}"))?;
    let log_file = std::fs::File::create(&log).map_err(|e| format!("create log: {e}"))?;
    let mut command = clean_command(&binary);
    if let Some(threads) = GATEWAY_THREADS.get() {
        command.env("TOKIO_WORKER_THREADS", threads.to_string());
    }
    command
        .args(["run", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    let child = cores::spawn_proxy(&mut command).map_err(|e| format!("spawn gateway: {e}"))?;
    let mut served = Served {
        url: String::new(),
        child,
        _workdir: Some(dir),
    };
    let addr = wait_for_addr(&mut served, &log).await?;
    served.url = format!("http://{addr}/mcp");
    wait_ready(&mut served, &format!("http://{addr}/readyz"), &log).await?;
    Ok(served)
}

/// The address in the gateway's `listening addr=…` log line.
async fn wait_for_addr(served: &mut Served, log: &Path) -> Result<String, String> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        served
            .alive(Some(log))
            .map_err(|e| format!("the gateway {e}"))?;
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
    Err(format!("the gateway did not start{}", log_tail(Some(log))))
}

/// A loopback HTTP client with a timeout and no proxy.
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// Polls `/readyz` until it answers 200.
async fn wait_ready(served: &mut Served, url: &str, log: &Path) -> Result<(), String> {
    let client = http_client()?;
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        served
            .alive(Some(log))
            .map_err(|e| format!("the gateway {e}"))?;
        let answer = tokio::time::timeout(Duration::from_secs(2), client.get(url).send()).await;
        if let Ok(Ok(response)) = answer
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("{url} never became ready{}", log_tail(Some(log))))
}

/// fastmcp-gateway (`bin`, from a venv) in front of `upstream_url`, every tool exposed, once its
/// port accepts connections (it opens the port after populating).
pub async fn fastmcp_gateway(bin: &Path, upstream_url: &str) -> Result<Served, String> {
    let dir = Workdir::new("fastmcp")?;
    // Bound then released for fastmcp-gateway to take: a race only with other local processes.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("free port: {e}"))?
        .port();
    let log = dir.0.join("fastmcp.log");
    let log_file = std::fs::File::create(&log).map_err(|e| format!("create log: {e}"))?;
    let mut command = clean_command(bin);
    command
        .env(
            "GATEWAY_UPSTREAMS",
            serde_json::json!({ "bench": upstream_url }).to_string(),
        )
        .env("GATEWAY_HOST", "127.0.0.1")
        .env("GATEWAY_PORT", port.to_string())
        .env("GATEWAY_MAX_SCHEMA_DEPTH", "50")
        .env("LOG_LEVEL", "WARNING")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    let child =
        cores::spawn_proxy(&mut command).map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let mut served = Served {
        url: format!("http://127.0.0.1:{port}/mcp"),
        child,
        _workdir: Some(dir),
    };
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        served
            .alive(Some(&log))
            .map_err(|e| format!("fastmcp-gateway {e}"))?;
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(served);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "fastmcp-gateway did not open its port{}",
        log_tail(Some(&log))
    ))
}

/// nginx (a bare C reverse proxy, one worker) in front of `upstream_url`: the cost any proxy
/// hop pays on this machine, with none of the gateway's MCP work.
pub async fn nginx(bin: &Path, upstream_url: &str) -> Result<Served, String> {
    let dir = Workdir::new("nginx")?;
    let upstream = upstream_url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp");
    // Bound then released for nginx to take: a race only with other local processes.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("free port: {e}"))?
        .port();
    let path = dir.0.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nerror_log {path}/error.log warn;\npid {path}/nginx.pid;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {path}/b;\n  proxy_temp_path {path}/p;\n\
           fastcgi_temp_path {path}/f;\n  uwsgi_temp_path {path}/u;\n  scgi_temp_path {path}/s;\n\
           upstream up {{ server {upstream}; keepalive 512; }}\n\
           server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://up;\n\
               proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n\
               proxy_set_header Host $host;\n      proxy_buffering off;\n    }}\n  }}\n}}\n"
    );
    let config = dir.0.join("nginx.conf");
    std::fs::write(&config, conf).map_err(|e| format!("write nginx.conf: {e}"))?;
    let log = dir.0.join("error.log");
    let mut command = clean_command(bin);
    command
        .arg("-p")
        .arg(&dir.0)
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child =
        cores::spawn_proxy(&mut command).map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let mut served = Served {
        url: format!("http://127.0.0.1:{port}/mcp"),
        child,
        _workdir: Some(dir),
    };
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        served.alive(Some(&log)).map_err(|e| format!("nginx {e}"))?;
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(served);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("nginx did not listen on {port}"))
}
