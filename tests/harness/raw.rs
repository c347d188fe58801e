//! Looking under the adapters: the raw bytes a backend keeps, to prove what must not be there
//! (a token in clear) really is not.

use crate::backends::TestBackend;

/// Whether `needle` appears anywhere in the backend's raw state: every file of the embedded
/// data folder (database, WAL, keys), or every item of the DynamoDB table.
pub async fn store_contains(b: &TestBackend, needle: &str) -> bool {
    match b.kind {
        "embedded" => {
            let mut found = false;
            for entry in walk(&b.config.local.data_dir) {
                let bytes = std::fs::read(&entry).unwrap_or_default();
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found = true;
                }
            }
            found
        }
        _ => {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            let items = client
                .scan()
                .table_name(&b.config.aws.table)
                .send()
                .await
                .expect("scan the test table");
            format!("{:?}", items.items()).contains(needle)
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
