//! The isolated throughput rows: the load client and the upstream on one CPU, every proxy (the
//! gateway, nginx) alone on another — the hop on a core of its own, as a gateway is deployed,
//! so throughput shows whether the proxy keeps up with the upstream rather than how much of
//! the upstream's CPU it takes. While an [`Isolation`] lives, every thread of the bench is
//! pinned to the client's CPU (processes it spawns inherit that) and each proxy is spawned from
//! a helper thread pinned to the proxy's CPU.

use std::process::{Child, Command};
use std::sync::Mutex;

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

/// The two CPUs of the isolated rows: the client's (and upstream's), the proxies'.
#[derive(Clone, Copy, Debug)]
pub struct Cores {
    /// Where the bench's threads and the upstreams run.
    pub client: usize,
    /// Where each proxy process runs.
    pub proxy: usize,
}

/// The CPUs of the isolation in force, if any.
static ACTIVE: Mutex<Option<Cores>> = Mutex::new(None);

/// Pins the whole bench process to one CPU and proxies to another until dropped.
pub struct Isolation {
    /// The CPUs the bench's threads may use again afterwards.
    before: CpuSet,
    /// The CPUs in use.
    pub cores: Cores,
}

impl Isolation {
    /// Pins every thread of the bench to the first CPU this process may use and reserves the
    /// second for proxies. `Err` with the reason when that cannot be done (fewer than two CPUs).
    pub fn start() -> Result<Isolation, String> {
        let before =
            sched_getaffinity(Pid::from_raw(0)).map_err(|e| format!("sched_getaffinity: {e}"))?;
        let cpus: Vec<usize> = (0..CpuSet::count())
            .filter(|&cpu| before.is_set(cpu).unwrap_or(false))
            .collect();
        let [client, proxy, ..] = cpus[..] else {
            return Err(format!("needs two CPUs; this process may use {cpus:?}"));
        };
        if let Err(error) = one(client).and_then(|set| pin_process(&set)) {
            // Threads pinned before the failure get every CPU back.
            let _ = pin_process(&before);
            return Err(error);
        }
        let cores = Cores { client, proxy };
        if let Ok(mut active) = ACTIVE.lock() {
            *active = Some(cores);
        }
        Ok(Isolation { before, cores })
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        if let Ok(mut active) = ACTIVE.lock() {
            *active = None;
        }
        if let Err(error) = pin_process(&self.before) {
            eprintln!("bench: restoring CPU affinity: {error}");
        }
    }
}

/// A set of one CPU.
fn one(cpu: usize) -> Result<CpuSet, String> {
    let mut set = CpuSet::new();
    set.set(cpu).map_err(|e| format!("CPU {cpu}: {e}"))?;
    Ok(set)
}

/// Gives every thread of this process (`/proc/self/task`) the CPUs of `set`.
fn pin_process(set: &CpuSet) -> Result<(), String> {
    let tasks =
        std::fs::read_dir("/proc/self/task").map_err(|e| format!("/proc/self/task: {e}"))?;
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread that ended meanwhile is no longer there to pin.
        match sched_setaffinity(Pid::from_raw(tid), set) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(error) => return Err(format!("sched_setaffinity({tid}): {error}")),
        }
    }
    Ok(())
}

/// Starts a proxy process: alone on the proxies' CPU while an [`Isolation`] lives (spawned
/// from a thread pinned there, so the child inherits it), like any other child otherwise.
pub fn spawn_proxy(command: &mut Command) -> std::io::Result<Child> {
    let active = ACTIVE.lock().ok().and_then(|active| *active);
    let Some(cores) = active else {
        return command.spawn();
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let set = one(cores.proxy).map_err(std::io::Error::other)?;
                sched_setaffinity(Pid::from_raw(0), &set).map_err(std::io::Error::other)?;
                command.spawn()
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the spawning thread panicked")))
    })
}
