//! The gateway binary as a child process, for tests of the service itself (signals, systemd
//! notifications, logs) and of replicas that get killed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The gateway binary cargo built for these tests.
pub const BINARY: &str = env!("CARGO_BIN_EXE_mcp-gateway");

/// A gateway process (the real binary) and the address it listens on; killed when dropped.
pub struct GatewayProcess {
    /// The child process.
    pub child: Child,
    /// Its MCP endpoint.
    pub url: String,
    /// Its stderr, line by line (after the `listening` line).
    pub lines: mpsc::Receiver<String>,
    /// The `listening` log line.
    pub listening: String,
    _stderr: std::thread::JoinHandle<()>,
}

impl GatewayProcess {
    /// Runs `config` on a free port; `notify_socket` stands in for systemd's.
    pub fn start(
        config: &std::path::Path,
        notify_socket: Option<&std::path::Path>,
    ) -> GatewayProcess {
        GatewayProcess::start_with(config, notify_socket, &[])
    }

    /// [`GatewayProcess::start`] with extra environment variables.
    pub fn start_with(
        config: &std::path::Path,
        notify_socket: Option<&std::path::Path>,
        env: &[(&str, &str)],
    ) -> GatewayProcess {
        let mut command = Command::new(BINARY);
        command
            .args(["run", "--config"])
            .arg(config)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEWAY_SERVER__PORT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(socket) = notify_socket {
            command.env("NOTIFY_SOCKET", socket);
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("spawn mcp-gateway");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[gateway] {line}");
                let _ = tx.send(line);
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let (addr, listening) = loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
                .expect("listening line");
            // JSON log lines carry the address as a field.
            if let Some(addr) = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v["addr"].as_str().map(String::from))
            {
                break (addr, line);
            }
            if let Some(rest) = line.split("addr=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                break (addr.to_string(), line.clone());
            }
        };
        GatewayProcess {
            child,
            url: format!("http://{addr}/mcp"),
            lines: rx,
            listening,
            _stderr: reader,
        }
    }

    /// Log lines matching `wanted` within `secs` seconds (stops at the first quiet second).
    pub fn lines_matching(&self, wanted: &str, secs: u64) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        let mut found = Vec::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left.min(Duration::from_secs(1))) {
                Ok(line) if line.contains(wanted) => found.push(line),
                Ok(_) => {}
                Err(_) if !found.is_empty() => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        found
    }

    /// Sends the signal named `name` (`TERM`, `HUP`, `KILL`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// The exit code within `secs` seconds (killed and `None` after).
    pub fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        for _ in 0..secs * 20 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
