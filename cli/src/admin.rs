//! The admin commands for the editor whitelist, clips and queues (accounts are in `accounts`). Each
//! runs against the ports, so it works the same on both backends; each returns the text to
//! print. Values are already parsed into domain types by `args`; this module only reads and
//! writes records.

use anyhow::Context;
use hilite::backend::Ports;
use hilite::domain::{ClipStatus, Stage, WhitelistEntry, WhitelistScope};
use hilite::pipeline::attempts::{retry_failed, RetryError};
use hilite::queue::QueueName;

use crate::args::{ClipsCommand, QueuesCommand, WhitelistCommand};
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

pub async fn queues(ports: &Ports, cmd: QueuesCommand) -> anyhow::Result<String> {
    match cmd {
        QueuesCommand::Redrive { queues, max } => {
            let queues = if queues.is_empty() {
                QueueName::ALL.to_vec()
            } else {
                queues
            };
            let mut said = String::new();
            for q in queues {
                let moved = ports
                    .queue
                    .redrive(q, max)
                    .await
                    .with_context(|| format!("cannot redrive the {q} queue's dead letters"))?;
                said.push_str(&format!("{q}: {moved} message(s) moved back\n"));
            }
            Ok(said)
        }
    }
}

/// The most failed clips `hilite clips retry --all` takes in one run.
const RETRY_ALL_MAX: usize = 1000;

/// Every failed clip (at `stage`, if given) queued again. A clip that cannot be is said, and
/// the others still go; the command then fails, so a script sees it.
async fn retry_all(ports: &Ports, stage: Option<Stage>) -> anyhow::Result<String> {
    let failed = ports
        .store
        .list_clips(ClipStatus::Failed, RETRY_ALL_MAX)
        .await
        .context("cannot list the failed clips")?;
    let mut said = String::new();
    let (mut queued, mut refused) = (0, 0);
    for clip in failed
        .iter()
        .filter(|c| stage.is_none_or(|s| c.failed_stage == Some(s)))
    {
        match retry_failed(ports, &clip.id).await {
            Ok(at) => {
                queued += 1;
                said.push_str(&format!("clip {} queued again for {at}\n", clip.id));
            }
            // Retried by another hand since the list was read: nothing to do.
            Err(RetryError::NotFailed { .. }) => {}
            Err(e) => {
                refused += 1;
                said.push_str(&format!("clip {} not queued: {e}\n", clip.id));
            }
        }
    }
    let which = stage.map_or(String::new(), |s| format!(" at {s}"));
    if refused > 0 {
        anyhow::bail!("{said}{refused} failed clip(s){which} could not be queued again");
    }
    if queued == 0 {
        return Ok(format!("no failed clips{which}\n"));
    }
    Ok(format!("{said}{queued} clip(s) queued again\n"))
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
        ClipsCommand::Retry { id: Some(id), .. } => {
            let stage = retry_failed(ports, &id).await?;
            Ok(format!("clip {id} queued again for {stage}\n"))
        }
        ClipsCommand::Retry {
            id: None, stage, ..
        } => retry_all(ports, stage).await,
        ClipsCommand::Approve { id } => crate::review::approve(ports, &id).await,
        ClipsCommand::Reject { id, reason } => crate::review::reject(ports, &id, &reason).await,
    }
}
