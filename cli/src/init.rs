//! `hilite init`: write the commented sample configuration. The file is created readable only
//! by its owner (0600) because operators add client secrets to it; an existing file is never
//! replaced without `--force`.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;

/// Returns the line to show the operator.
pub fn write_sample(path: &Path, force: bool) -> anyhow::Result<String> {
    let mut options = OpenOptions::new();
    options.write(true).mode(0o600);
    if force {
        options.create(true).truncate(true);
    } else {
        // Atomic "only if absent": no window in which an existing file could be replaced.
        options.create_new(true);
    }
    let mut file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!(
                "{} exists already; use --force to replace it",
                path.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    // `mode` applies only to a new file; a replaced one is narrowed too.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("cannot restrict permissions of {}", path.display()))?;
    file.write_all(hilite::config::SAMPLE.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(format!(
        "wrote {} (every key with its default; edit what you need)\n",
        path.display()
    ))
}
