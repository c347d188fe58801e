//! One `moto_server` (PyPI `moto[server]`, an AWS-protocol server for DynamoDB, SQS, S3 and
//! KMS) per test process, started on first use on a free loopback port, and the standard AWS
//! environment variables pointing the SDK at it. Production code takes its endpoint from the
//! same `AWS_ENDPOINT_URL` variable, so the tests run exactly the code path deployed code runs.
//!
//! This module only starts the server; `aws.rs` creates resources on it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long `moto_server` may take to accept connections (it imports a lot of Python).
const START_TIMEOUT: Duration = Duration::from_secs(30);

static SERVER: OnceLock<SocketAddr> = OnceLock::new();

/// The running server's address; starts it (and sets the AWS environment) on first call.
/// Call it before building any AWS client in a test.
pub fn endpoint() -> SocketAddr {
    *SERVER.get_or_init(start)
}

/// The binary: `$MOTO_SERVER`, else the workspace's `.venv` (`make setup`), else `PATH`.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

/// What the thread that owns the child reports.
enum Event {
    Spawned(std::io::Result<()>),
    Exited(std::io::Result<ExitStatus>),
}

fn start() -> SocketAddr {
    let port = {
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("bind a loopback port for moto_server");
        listener.local_addr().expect("loopback port").port()
        // The listener closes here, freeing the port for moto_server a moment later.
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let bin = binary();
    // In the process's scratch folder: kept while the tests run, removed by a later HiLite
    // process once this one has ended, so runs do not pile logs up in $TMPDIR.
    let log = hilite::scratch::dir()
        .expect("a scratch folder for the moto_server log")
        .join(format!("moto-{port}.log"));
    let (tx, rx) = mpsc::channel();
    {
        let (bin, log) = (bin.clone(), log.clone());
        // The child is spawned from a thread that never ends, because PR_SET_PDEATHSIG fires
        // when the *thread* that forked the child exits, not only the process. With the signal
        // set, the server dies with the test process: the `OnceLock` is a static, and statics
        // are never dropped, so no destructor could kill it on the way out.
        std::thread::Builder::new()
            .name("moto_server".into())
            .spawn(move || {
                let parent = std::process::id();
                let stdout = std::fs::File::create(&log).expect("create the moto_server log");
                let stderr = stdout
                    .try_clone()
                    .expect("clone the moto_server log handle");
                let mut command = Command::new(&bin);
                command
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    .stdin(Stdio::null())
                    .stdout(stdout)
                    .stderr(stderr);
                // SAFETY: runs in the forked child before exec and calls only async-signal-safe
                // functions (prctl, getppid).
                unsafe {
                    command.pre_exec(move || {
                        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        // The parent may have died before the signal was armed.
                        if libc::getppid() as u32 != parent {
                            return Err(std::io::Error::other("the test process exited"));
                        }
                        Ok(())
                    });
                }
                match command.spawn() {
                    Ok(mut child) => {
                        let _ = tx.send(Event::Spawned(Ok(())));
                        let _ = tx.send(Event::Exited(child.wait()));
                    }
                    Err(e) => {
                        let _ = tx.send(Event::Spawned(Err(e)));
                    }
                }
                loop {
                    std::thread::park();
                }
            })
            .expect("start the moto_server thread");
    }
    match rx.recv() {
        Ok(Event::Spawned(Ok(()))) => {}
        Ok(Event::Spawned(Err(e))) => panic!(
            "cannot run moto_server ({}): {e}. Run `make setup` (it installs moto[server] into \
             .venv), or set MOTO_SERVER to the moto_server binary",
            bin.display()
        ),
        _ => panic!("the moto_server thread stopped before starting it"),
    }
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if let Ok(Event::Exited(status)) = rx.try_recv() {
            panic!(
                "moto_server ({}) exited before accepting connections ({status:?}); see {}",
                bin.display(),
                log.display()
            );
        }
        if Instant::now() > deadline {
            panic!(
                "moto_server ({}) did not accept connections on {addr} within {}s; see {}",
                bin.display(),
                START_TIMEOUT.as_secs(),
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    point_the_sdk_at(addr);
    addr
}

/// The standard variables the AWS SDK reads, set once, before any test builds a client (every
/// client is built after `endpoint()` returns, and this runs inside its `OnceLock`).
/// `std::env::set_var` is a safe function in edition 2021; edition 2024 marks it unsafe because
/// a C function reading the environment in another thread at that moment (`getaddrinfo`,
/// `tzset`) is undefined behaviour on glibc; Rust's own `env::var` is locked against it. Here
/// every reader of these variables (the SDK's loader) waits on the `OnceLock` first, and the
/// window is a few microseconds once per test process.
fn point_the_sdk_at(addr: SocketAddr) {
    std::env::set_var("AWS_ENDPOINT_URL", format!("http://{addr}"));
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_REGION", "us-east-1");
    // A developer's own settings must not redirect a test to a real account.
    for var in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_KMS",
    ] {
        std::env::remove_var(var);
    }
}
