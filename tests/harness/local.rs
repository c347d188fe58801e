//! The one-machine runtime under test: a fresh data folder with its configuration
//! ([`LocalSite`]), and the real `hilite` binary run against it ([`Hilite`], [`Server`]): a
//! command to completion, or `hilite serve` in the background with its bound address read from
//! the `listening on ADDR` line and its stderr kept for assertions. Also what the worker-pool
//! tests share: the embedded queue on a manual clock behind a [`QueueProbe`], and a [`Flaky`]
//! stage handler.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use hilite::backend::Ports;
use hilite::clock::{Clock, ManualClock};
use hilite::config::{BackendKind, Config};
use hilite::pipeline::worker::{StageHandler, WorkerSettings};
use hilite::pipeline::StageError;
use hilite::queue::{Delivery, Queue, QueueDepth, QueueError, QueueName};
use tempfile::TempDir;

/// Where external APIs point in these tests (port 9, discard, is not served on loopback).
pub const CLOSED_PORT_URL: &str = "http://127.0.0.1:9/";

/// A temp folder holding the data directory (`data/`) and room for config files.
pub struct LocalSite {
    pub dir: TempDir,
    pub config: Config,
    /// More variables for every `hilite` process of this site (the end-to-end tests point
    /// the platforms, the transcriber and the render at their fakes this way).
    pub extra_env: Vec<(String, String)>,
}

impl Default for LocalSite {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalSite {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            backend: BackendKind::Local,
            ..Config::default()
        };
        config.local.data_dir = dir.path().join("data");
        std::fs::create_dir(dir.path().join("tmp")).expect("the site's TMPDIR");
        config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        // Nothing under test reaches the real Twitch: a closed loopback port refuses at once.
        config.twitch.api_base = CLOSED_PORT_URL.parse().expect("url");
        config.twitch.auth_base = CLOSED_PORT_URL.parse().expect("url");
        Self {
            dir,
            config,
            extra_env: Vec::new(),
        }
    }

    /// The embedded ports on this site's data folder, with the system clock.
    pub async fn ports(&self) -> Ports {
        Ports::from_config(&self.config)
            .await
            .expect("embedded ports")
    }

    /// The embedded ports with a clock the test moves (queue delays and visibility).
    pub async fn ports_with_clock(&self, clock: Arc<dyn Clock>) -> Ports {
        Ports::with_clock(&self.config, clock)
            .await
            .expect("embedded ports")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `TMPDIR` of this site's `hilite` processes: their scratch folders, and nothing of
    /// other tests'.
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    /// Environment that points a `hilite` process at this site, whatever its config file says.
    pub fn env(&self) -> Vec<(String, String)> {
        let c = &self.config;
        let mut env: Vec<(String, String)> = vec![
            ("HILITE_BACKEND".into(), "local".into()),
            (
                "HILITE_LOCAL__DATA_DIR".into(),
                c.local.data_dir.display().to_string(),
            ),
            ("HILITE_SERVER__LISTEN".into(), c.server.listen.to_string()),
            (
                "HILITE_SERVER__SHUTDOWN_GRACE_SECS".into(),
                c.server.shutdown_grace_secs.to_string(),
            ),
            (
                "HILITE_QUEUES__MAX_RECEIVES".into(),
                c.queues.max_receives.to_string(),
            ),
            (
                "HILITE_QUEUES__VISIBILITY_TIMEOUT_SECS".into(),
                c.queues.visibility_timeout_secs.to_string(),
            ),
            (
                "HILITE_QUEUES__POLL_INTERVAL_MS".into(),
                c.queues.poll_interval_ms.to_string(),
            ),
            (
                "HILITE_TWITCH__API_BASE".into(),
                c.twitch.api_base.to_string(),
            ),
            (
                "HILITE_TWITCH__AUTH_BASE".into(),
                c.twitch.auth_base.to_string(),
            ),
            ("HILITE_LOG__LEVEL".into(), "info".into()),
            (
                "HILITE_PIPELINE__COLLECT_DELAY_SECS".into(),
                c.pipeline.collect_delay_secs.to_string(),
            ),
        ];
        if let Some(secret) = &c.twitch.eventsub_secret {
            use secrecy::ExposeSecret;
            env.push((
                "HILITE_TWITCH__EVENTSUB_SECRET".into(),
                secret.expose_secret().to_string(),
            ));
        }
        env.extend(self.extra_env.iter().cloned());
        env
    }
}

/// The `hilite` binary (its path comes from the test: `env!("CARGO_BIN_EXE_hilite")`), run in
/// the site's folder with the site's environment and no other `HILITE_*` variable.
pub struct Hilite<'a> {
    pub bin: PathBuf,
    pub site: &'a LocalSite,
}

impl<'a> Hilite<'a> {
    pub fn new(bin: impl Into<PathBuf>, site: &'a LocalSite) -> Self {
        Self {
            bin: bin.into(),
            site,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).current_dir(self.site.path());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("HILITE_")) {
            cmd.env_remove(k);
        }
        cmd.env_remove("RUST_LOG");
        cmd.env("TMPDIR", self.site.tmp_dir());
        cmd.envs(self.site.env());
        cmd
    }

    /// Run to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run hilite")
    }

    /// Start `hilite serve` and wait for its `listening on ADDR` line.
    pub fn serve(&self, args: &[&str]) -> Server {
        let mut argv = vec!["serve"];
        argv.extend_from_slice(args);
        let mut child = self
            .command(&argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hilite serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        // Keep draining stderr for the life of the process, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("listening on ") {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(addr);
                }
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a.parse().expect("a socket address after `listening on`"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "hilite serve did not announce its address; stderr:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        Server { child, addr, log }
    }
}

/// A running `hilite serve`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Everything it wrote on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Wait for the process to exit; `None` when it is still running after `limit`.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Never leave a server behind a failed test.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Poll `check` until it returns `Some`, or panic with `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// --- the worker pool ---------------------------------------------------------------------

/// How long a worker test waits for something that should happen at once.
pub const WAIT: Duration = Duration::from_secs(20);

/// Pool settings for tests: 30 s visibility (a manual clock moves it), 10 ms polls.
pub fn worker_settings(workers: usize, grace: Duration) -> WorkerSettings {
    WorkerSettings {
        workers,
        visibility: Duration::from_secs(30),
        poll_interval: Duration::from_millis(10),
        shutdown_grace: grace,
    }
}

/// The embedded queue on a manual clock, behind a probe that records how deliveries were
/// settled.
pub async fn queue_on_manual_clock(
    max_receives: u32,
) -> (LocalSite, Arc<ManualClock>, Arc<QueueProbe>) {
    let mut site = LocalSite::new();
    site.config.queues.max_receives = max_receives;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let ports = site.ports_with_clock(clock.clone()).await;
    let probe = Arc::new(QueueProbe {
        inner: ports.queue.clone(),
        settled: Mutex::new(Vec::new()),
    });
    (site, clock, probe)
}

/// Forwards to the real queue and records every delete and retry_after (with its delay).
pub struct QueueProbe {
    pub inner: Arc<dyn Queue>,
    settled: Mutex<Vec<String>>,
}

impl QueueProbe {
    /// How each settled delivery was settled, in order: `delete` or `retry_after Ns`.
    pub fn settled(&self) -> Vec<String> {
        self.settled.lock().unwrap().clone()
    }
    pub async fn depth_of(&self, q: QueueName) -> QueueDepth {
        self.inner.depth(q).await.unwrap()
    }
}

#[async_trait]
impl Queue for QueueProbe {
    async fn send(&self, q: QueueName, body: &str, delay: Duration) -> Result<(), QueueError> {
        self.inner.send(q, body, delay).await
    }
    async fn receive(
        &self,
        q: QueueName,
        max: u32,
        vis: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        self.inner.receive(q, max, vis).await
    }
    async fn delete(&self, q: QueueName, receipt: &str) -> Result<(), QueueError> {
        let r = self.inner.delete(q, receipt).await;
        self.settled.lock().unwrap().push("delete".into());
        r
    }
    async fn retry_after(
        &self,
        q: QueueName,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let r = self.inner.retry_after(q, receipt, delay).await;
        self.settled
            .lock()
            .unwrap()
            .push(format!("retry_after {}s", delay.as_secs()));
        r
    }
    async fn depth(&self, q: QueueName) -> Result<QueueDepth, QueueError> {
        self.inner.depth(q).await
    }
    async fn redrive(&self, q: QueueName, max: u64) -> Result<u64, QueueError> {
        self.inner.redrive(q, max).await
    }
}

/// Fails with `Retryable` for its first `failures` calls, then succeeds; records the receive
/// count of each call.
#[derive(Default)]
pub struct Flaky {
    pub failures: usize,
    pub receive_counts: Mutex<Vec<u32>>,
}

#[async_trait]
impl StageHandler for Flaky {
    async fn handle(&self, _: QueueName, d: &Delivery) -> Result<(), StageError> {
        let mut calls = self.receive_counts.lock().unwrap();
        calls.push(d.receive_count);
        if calls.len() <= self.failures {
            Err(StageError::Retryable("upstream answered 503".into()))
        } else {
            Ok(())
        }
    }
}

impl Flaky {
    pub fn calls(&self) -> usize {
        self.receive_counts.lock().unwrap().len()
    }
}

/// The backend's queue, whose first `fail` sends fail as SQS being unreachable would.
pub struct FailingSends {
    inner: Arc<dyn Queue>,
    fail: std::sync::atomic::AtomicUsize,
}

impl FailingSends {
    pub fn new(inner: Arc<dyn Queue>, fail: usize) -> Self {
        Self {
            inner,
            fail: std::sync::atomic::AtomicUsize::new(fail),
        }
    }
}

#[async_trait]
impl Queue for FailingSends {
    async fn send(&self, queue: QueueName, body: &str, delay: Duration) -> Result<(), QueueError> {
        use std::sync::atomic::Ordering;
        let failing = self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(QueueError::Unavailable {
                queue,
                message: "injected by the test".into(),
            });
        }
        self.inner.send(queue, body, delay).await
    }
    async fn receive(
        &self,
        queue: QueueName,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        self.inner.receive(queue, max, visibility).await
    }
    async fn delete(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        self.inner.delete(queue, receipt).await
    }
    async fn retry_after(
        &self,
        queue: QueueName,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.inner.retry_after(queue, receipt, delay).await
    }
    async fn depth(&self, queue: QueueName) -> Result<QueueDepth, QueueError> {
        self.inner.depth(queue).await
    }
    async fn redrive(&self, queue: QueueName, max: u64) -> Result<u64, QueueError> {
        self.inner.redrive(queue, max).await
    }
}
