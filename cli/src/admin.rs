//! The admin commands for the editor whitelist and clips (accounts are in `accounts`). Each
//! runs against the ports, so it works the same on both backends; each returns the text to
//! print. Values are already parsed into domain types by `args`; this module only reads and
//! writes records.

use anyhow::Context;
use hilite::backend::Ports;
use hilite::domain::{ClipStatus, WhitelistEntry, WhitelistScope};

use crate::args::{ClipsCommand, WhitelistCommand};
use crate::output::table;

pub async fn whitelist(ports: &Ports, cmd: WhitelistCommand) -> anyhow::Result<String> {
    let store = &ports.store;
    match cmd {
        WhitelistCommand::Add {
            editor_id,
            name,
            broadcaster,
            notes,
        } => {
            let name = name.trim().to_string();
            if name.is_empty() {
                anyhow::bail!("--name must not be empty");
            }
            let entry = WhitelistEntry {
                editor_id,
                editor_name: name,
                scope: scope(broadcaster),
                active: true,
                notes,
                added_at: ports.clock.now(),
            };
            store
                .put_whitelist_entry(&entry)
                .await
                .context("cannot store the whitelist entry")?;
            Ok(format!(
                "whitelisted editor {} ({}) for {}\n",
                entry.editor_id,
                entry.editor_name,
                scope_text(&entry.scope)
            ))
        }
        WhitelistCommand::Remove {
            editor_id,
            broadcaster,
        } => {
            let scope = scope(broadcaster);
            if store
                .remove_whitelist_entry(&scope, &editor_id)
                .await
                .context("cannot remove the whitelist entry")?
            {
                Ok(format!(
                    "removed editor {editor_id} for {}\n",
                    scope_text(&scope)
                ))
            } else {
                anyhow::bail!(
                    "editor {editor_id} is not whitelisted for {}",
                    scope_text(&scope)
                )
            }
        }
        WhitelistCommand::List => {
            let entries = store
                .list_whitelist()
                .await
                .context("cannot list the whitelist")?;
            if entries.is_empty() {
                return Ok("the whitelist is empty: every editor's clips are collected\n".into());
            }
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![
                        e.editor_id.to_string(),
                        e.editor_name.clone(),
                        scope_text(&e.scope),
                        if e.active {
                            "active".into()
                        } else {
                            "inactive".into()
                        },
                        e.notes.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            Ok(table(&["editor", "name", "scope", "state", "notes"], &rows))
        }
    }
}

fn scope(broadcaster: Option<hilite::domain::BroadcasterId>) -> WhitelistScope {
    broadcaster.map_or(WhitelistScope::Global, WhitelistScope::Broadcaster)
}

fn scope_text(scope: &WhitelistScope) -> String {
    match scope {
        WhitelistScope::Global => "every broadcaster".into(),
        WhitelistScope::Broadcaster(id) => format!("broadcaster {id}"),
    }
}

pub async fn clips(ports: &Ports, cmd: ClipsCommand) -> anyhow::Result<String> {
    match cmd {
        ClipsCommand::List { status, limit } => {
            let statuses = match status {
                Some(s) => vec![s],
                None => ClipStatus::ALL.to_vec(),
            };
            let mut clips = Vec::new();
            for s in statuses {
                clips.extend(
                    ports
                        .store
                        .list_clips(s, limit)
                        .await
                        .with_context(|| format!("cannot list {s} clips"))?,
                );
            }
            clips.sort_by(|a, b| b.rank().total_cmp(&a.rank()));
            clips.truncate(limit);
            if clips.is_empty() {
                return Ok("no clips\n".into());
            }
            let rows: Vec<Vec<String>> = clips
                .iter()
                .map(|c| {
                    vec![
                        c.id.to_string(),
                        c.status.to_string(),
                        c.score
                            .as_ref()
                            .map_or("-".into(), |s| format!("{:.1}", s.total)),
                        c.broadcaster_name.clone(),
                        c.title.clone(),
                    ]
                })
                .collect();
            Ok(table(
                &["id", "status", "score", "broadcaster", "title"],
                &rows,
            ))
        }
        ClipsCommand::Show { id } => {
            let clip = ports
                .store
                .get_clip(&id)
                .await
                .context("cannot read the clip")?
                .with_context(|| format!("no clip {id}"))?;
            Ok(format!("{}\n", serde_json::to_string_pretty(&clip)?))
        }
        ClipsCommand::Retry { id } => {
            let stage = hilite::pipeline::attempts::retry_failed(ports, &id).await?;
            Ok(format!("clip {id} queued again for {stage}\n"))
        }
        ClipsCommand::Approve { id } => crate::review::approve(ports, &id).await,
        ClipsCommand::Reject { id, reason } => crate::review::reject(ports, &id, &reason).await,
    }
}
