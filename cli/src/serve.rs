//! `hilite serve`: the one-machine runtime. It binds the HTTP server, starts a worker pool on
//! every queue, and runs until SIGTERM or Ctrl-C. Shutdown stops accepting connections and
//! receiving messages at once; open requests and in-flight deliveries get
//! `server.shutdown_grace_secs` to finish, after which unfinished deliveries go back to their
//! queue (see `hilite::pipeline::worker`). A second signal exits immediately. The routes are in
//! `server`; this module only starts and stops things.

use std::future::IntoFuture;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use hilite::backend::Ports;
use hilite::config::{BackendKind, Config};
use hilite::media::fs::FsMediaStore;
use hilite::pipeline::worker::{spawn_workers, StageHandler, WorkerSettings};
use hilite::pipeline::Pipeline;
use hilite::queue::QueueName;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::args::ServeArgs;
use crate::output::backend_name;
use crate::server::{self, AppState};

pub async fn run(config: Config, ports: Ports, args: ServeArgs) -> anyhow::Result<()> {
    let config = Arc::new(config);
    ports
        .store
        .ready()
        .await
        .context("the state store is not ready")?;
    // Held until this function returns (the process ends).
    let _one_server = match config.backend {
        BackendKind::Local => {
            let lock = lock_data_dir(&config.local.data_dir)?;
            release_stale_claims(&ports).await?;
            Some(lock)
        }
        BackendKind::Aws => None,
    };
    // Made now rather than by the first stage: what killed servers left in $TMPDIR is removed
    // at start, and an unusable $TMPDIR is an error before any clip is taken.
    let scratch = hilite::scratch::dir().context(
        "cannot make a scratch folder in the temporary folder (set TMPDIR to a writable one)",
    )?;
    tracing::info!(dir = %scratch.display(), "scratch folder for work files");
    let media = match config.backend {
        BackendKind::Local => {
            let media = FsMediaStore::open(
                &config.local.media_dir(),
                &config.local.media_signing_key_path(),
                config.server.public_url.clone(),
                ports.clock.clone(),
            )
            .context("cannot open the media folder for serving")?;
            // This server holds the data folder's lock and no worker runs yet: a half-written
            // copy there is a killed server's. Failing to clear one only wastes space: the
            // server starts anyway.
            match media.remove_partial_files() {
                Ok(0) => {}
                Ok(removed) => tracing::info!(
                    files = removed,
                    "removed half-written media files that a stopped server left"
                ),
                Err(e) => tracing::warn!(
                    error = %e,
                    "cannot clear half-written files from the media folder; starting anyway"
                ),
            }
            Some(Arc::new(media))
        }
        BackendKind::Aws => None,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(load_tls(cert, key).await?),
        _ => None,
    };
    let app = server::router(
        AppState {
            ports: ports.clone(),
            config: config.clone(),
        },
        media,
    );
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {} (server.listen)", config.server.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    // Registered before the address is announced, so a signal sent right after is handled.
    let signals = Signals::register()?;

    let shutdown = CancellationToken::new();
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let pipeline = Pipeline::new(ports.clone(), config.clone());
    // Each account's daily plan at its local time: EventBridge Scheduler's job in AWS.
    let scheduler = tokio::spawn(hilite::pipeline::schedule::run_daily_plans(
        pipeline.clone(),
        hilite::pipeline::schedule::TICK,
        shutdown.clone(),
    ));
    // Not awaited at shutdown: it stops at the next await once `shutdown` is cancelled.
    tokio::spawn(hilite::pipeline::schedule::run_token_validation(
        pipeline.clone(),
        hilite::pipeline::schedule::TOKEN_VALIDATION_EVERY,
        shutdown.clone(),
    ));
    let handler: Arc<dyn StageHandler> = Arc::new(pipeline);
    let stages: Vec<QueueName> = QueueName::ALL
        .into_iter()
        .filter(|q| *q != QueueName::Chat)
        .collect();
    let workers = spawn_workers(
        ports.queue.clone(),
        handler.clone(),
        &stages,
        WorkerSettings::from_config(&config),
        shutdown.clone(),
    );
    // Chat deliveries are tiny and wait for their batch to be stored together
    // (`hilite::pipeline::chat`), so many run at once: `chat.consumers` of them.
    let chat_workers = spawn_workers(
        ports.queue.clone(),
        handler,
        &[QueueName::Chat],
        WorkerSettings {
            workers: config.chat.consumers,
            ..WorkerSettings::from_config(&config)
        },
        shutdown.clone(),
    );
    tokio::spawn(signals.watch(shutdown.clone()));

    // A stable line on stderr that scripts and tests read (the bound port when listen asks
    // for port 0), printed whatever the log level; the log line below carries the details.
    eprintln!(
        "listening on {addr}{}",
        if tls.is_some() { " (TLS)" } else { "" }
    );
    tracing::info!(%addr, backend = backend_name(config.backend), tls = tls.is_some(), "hilite serve started");

    let served = match tls {
        None => serve_plain(listener, app, shutdown.clone(), grace).await,
        Some(tls) => serve_tls(listener, tls, app, shutdown.clone(), grace).await,
    };
    // The server may also stop on its own (an accept error): stop the workers either way.
    shutdown.cancel();
    let returned = workers.join().await + chat_workers.join().await;
    if let Err(e) = scheduler.await {
        tracing::warn!(error = %e, "the daily scheduler ended abnormally");
    }
    tracing::info!(returned_to_queue = returned, "hilite serve stopped");
    served
}

/// One `hilite serve` per data folder: the lock file is held while it runs (the OS releases it
/// however the process ends, SIGKILL included), so a second one refuses to start instead of
/// working the same queues.
fn lock_data_dir(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
    let path = data_dir.join("serve.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another `hilite serve` is running on {}; stop it first (one server per data folder)",
            data_dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// On one machine only this server uploads, and it has just started: a publication still
/// `uploading` was being posted by a server that was killed. Its claim is released at once —
/// keeping the resume handles saved so far, so the next attempt resumes or checks the post
/// instead of posting again — rather than left to block the post until its lease runs out.
async fn release_stale_claims(ports: &Ports) -> anyhow::Result<()> {
    let now = ports.clock.now();
    let publications = ports
        .store
        .list_publications(None, None)
        .await
        .context("cannot read the publications")?;
    for p in publications {
        let (hilite::domain::PostStatus::Uploading, Some(token)) = (p.status, &p.claim_token)
        else {
            continue;
        };
        let key = p.key.clone();
        match ports
            .store
            .release_publication(
                &key,
                token,
                "hilite serve stopped during the upload; it resumes",
                true,
                now,
            )
            .await
        {
            Ok(_) => {
                tracing::warn!(publication = %key, "released the claim of an upload interrupted when hilite serve stopped")
            }
            Err(e) => {
                tracing::warn!(publication = %key, error = %e, "could not release an interrupted upload's claim; it waits for its lease to run out")
            }
        }
    }
    Ok(())
}

async fn serve_plain(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    tokio::select! {
        result = server => result.context("the HTTP server failed"),
        () = grace_over(&shutdown, grace) => {
            tracing::warn!("HTTP requests still open after the grace period; closing them");
            Ok(())
        }
    }
}

async fn serve_tls(
    listener: TcpListener,
    tls: RustlsConfig,
    app: Router,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stopper.graceful_shutdown(Some(grace));
    });
    let listener = listener
        .into_std()
        .context("cannot hand the socket to the TLS server")?;
    axum_server::from_tcp_rustls(listener, tls)
        .context("cannot start the TLS server")?
        .handle(handle)
        .serve(app.into_make_service())
        .await
        .context("the HTTPS server failed")
}

async fn load_tls(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    // Two rustls crypto providers are linked (the AWS SDK's and reqwest's); name one. An
    // error only means one is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| {
            format!(
                "cannot load the TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )
        })
}

/// Resolves once shutdown was asked and `grace` has passed since.
async fn grace_over(shutdown: &CancellationToken, grace: Duration) {
    shutdown.cancelled().await;
    tokio::time::sleep(grace).await;
}

/// SIGTERM (what systemd, Docker and `kill` send) and SIGINT (Ctrl-C).
struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn register() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    /// The signal's name and the shell's exit status for a process it ends (128 + number).
    async fn next(&mut self) -> (&'static str, i32) {
        tokio::select! {
            _ = self.term.recv() => ("SIGTERM", 128 + 15),
            _ = self.int.recv() => ("SIGINT", 128 + 2),
        }
    }

    /// First signal: shut down gracefully. Second: exit now; messages in flight come back
    /// after their visibility timeout, as after a crash.
    async fn watch(mut self, shutdown: CancellationToken) {
        let (first, _) = self.next().await;
        tracing::info!(
            signal = first,
            "shutting down: no new work; in-flight work may finish"
        );
        shutdown.cancel();
        let (second, status) = self.next().await;
        tracing::warn!(signal = second, "second signal: exiting now");
        std::process::exit(status);
    }
}
