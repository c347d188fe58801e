//! The two backends the contract suite runs every test body against: `embedded` (SQLite and a
//! temp folder, with the presigned-media route served on loopback) and `aws` (DynamoDB, SQS, S3
//! and KMS on a `moto_server` started by this harness). A test receives a `TestBackend` and
//! never asks which one it has.

use std::sync::Arc;

use hilite::backend::Ports;
use hilite::config::{BackendKind, Config};
use tempfile::TempDir;

pub struct TestBackend {
    pub kind: &'static str,
    pub ports: Ports,
    pub config: Config,
    /// Environment variables that give a child process this backend's configuration.
    pub env: Vec<(String, String)>,
    _dir: TempDir,
    _server: Option<tokio::task::JoinHandle<()>>,
}

impl TestBackend {
    /// SQLite and a folder in a fresh temp dir; media URLs served on a loopback port.
    pub async fn embedded(max_receives: u32) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let mut config = Config {
            backend: BackendKind::Local,
            ..Config::default()
        };
        config.local.data_dir = dir.path().join("data");
        config.queues.max_receives = max_receives;
        config.server.public_url = format!("http://{addr}/").parse().expect("url");
        let ports = Ports::from_config(&config).await.expect("embedded ports");
        let media = hilite::media::fs::FsMediaStore::open(
            &config.local.media_dir(),
            &config.local.media_signing_key_path(),
            config.server.public_url.clone(),
            ports.clock.clone(),
        )
        .expect("media route store");
        let app = hilite::media::http::router(Arc::new(media));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let env = vec![
            ("HILITE_BACKEND".into(), "local".into()),
            (
                "HILITE_LOCAL__DATA_DIR".into(),
                config.local.data_dir.display().to_string(),
            ),
        ];
        Self {
            kind: "embedded",
            ports,
            config,
            env,
            _dir: dir,
            _server: Some(server),
        }
    }

    /// Fresh, uniquely named resources on the shared moto server.
    pub async fn aws(max_receives: u32) -> Self {
        let config = crate::aws::fresh_resources(max_receives).await;
        let ports = crate::aws::ports(&config).await;
        let q = &config.aws.queues;
        let mut env: Vec<(String, String)> = vec![
            ("HILITE_BACKEND".into(), "aws".into()),
            ("HILITE_AWS__TABLE".into(), config.aws.table.clone()),
            ("HILITE_AWS__BUCKET".into(), config.aws.bucket.clone()),
            (
                "HILITE_AWS__KMS_KEY_ID".into(),
                config.aws.kms_key_id.clone(),
            ),
        ];
        for (name, url) in [
            ("COLLECT", &q.collect),
            ("DOWNLOAD", &q.download),
            ("ANALYZE", &q.analyze),
            ("EDIT", &q.edit),
            ("PUBLISH", &q.publish),
            ("CHAT", &q.chat),
        ] {
            env.push((format!("HILITE_AWS__QUEUES__{name}"), url.clone()));
        }
        for var in [
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
        ] {
            if let Ok(v) = std::env::var(var) {
                env.push((var.into(), v));
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        Self {
            kind: "aws",
            ports,
            config,
            env,
            _dir: dir,
            _server: None,
        }
    }

    /// A scratch folder for local files this test writes.
    pub fn scratch(&self) -> &std::path::Path {
        self._dir.path()
    }
}
