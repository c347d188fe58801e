//! The `[local]` and `[server]` sections: where one machine keeps its state, media and key files,
//! and how `hilite serve` listens. Not the AWS resources (`aws`).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalConfig {
    /// Holds `hilite.db` (state and queues), `media/`, and the key files.
    pub data_dir: PathBuf,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
        }
    }
}

impl LocalConfig {
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("hilite.db")
    }
    pub fn media_dir(&self) -> PathBuf {
        self.data_dir.join("media")
    }
    pub fn vault_key_path(&self) -> PathBuf {
        self.data_dir.join("vault.key")
    }
    pub fn media_signing_key_path(&self) -> PathBuf {
        self.data_dir.join("media-url.key")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The address others use to reach this server (presigned media URLs, webhook callback).
    pub public_url: Url,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// How long shutdown waits for in-flight work before returning it to its queue.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: Url::parse("http://127.0.0.1:8080/").unwrap_or_else(|_| unreachable!()),
            max_body_bytes: 1024 * 1024,
            shutdown_grace_secs: 30,
        }
    }
}
