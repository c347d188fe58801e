//! `hilite`: HiLite on one machine (`hilite serve`) and the admin commands for either backend.
//! This file is start-up only: parse the command line, load the configuration once, install
//! logging, build the ports, run one command, and turn any error into one line on stderr and
//! exit status 1. What each command does lives in its own module.

mod accounts;
mod admin;
mod analyze_chat;
mod args;
mod doctor;
mod doctor_aws;
mod init;
mod output;
mod process;
mod publish;
mod review;
mod serve;
mod server;
mod status;
mod twitch;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use hilite::backend::Ports;
use hilite::config::Config;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(backend) = cli.backend {
        // `--backend` is HILITE_BACKEND: set before the configuration is loaded, so the same
        // validation applies (e.g. `aws` needs aws.table). Still single-threaded here.
        std::env::set_var("HILITE_BACKEND", backend.as_str());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let outcome = runtime.block_on(run(cli));
    // The runtime first: its tasks drop their temporary files before their folder goes.
    drop(runtime);
    hilite::scratch::remove();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    // The user-facing failure line (not a log): the error and its causes, on one line.
    eprintln!("error: {}", output::one_line(&format!("{e:#}")));
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (config_file, required) = cli.config_file();
    if let Command::AnalyzeChat(args) = cli.command {
        // Works on a file alone: no configuration, no backend.
        return output::print(&analyze_chat::run(args)?);
    }
    if let Command::Init { force } = cli.command {
        // The one command that does not read the configuration: it writes it.
        return output::print(&init::write_sample(&config_file, force)?);
    }
    if let Command::Doctor = cli.command {
        // Reports a configuration that does not load (or a backend that does not open) as a
        // failed check instead of stopping at it.
        return doctor::run(&config_file, required).await;
    }
    let mut config = Config::load(Some(&config_file), required)?;
    hilite::telemetry::init(&config.log);
    // On AWS, the secrets the configuration names (aws.secrets.*) fill the same fields a local
    // file would, as in the Lambda functions.
    hilite::secrets::resolve(&mut config).await?;
    let ports = Ports::from_config(&config).await.with_context(|| {
        format!(
            "cannot open the {} backend",
            output::backend_name(config.backend)
        )
    })?;
    match cli.command {
        Command::Init { .. } | Command::AnalyzeChat(_) | Command::Doctor => Ok(()),
        Command::Serve(args) => serve::run(config, ports, args).await,
        Command::Status => output::print(&status::report(&config, &ports).await?),
        Command::Accounts(cmd) => output::print(&accounts::run(&config, &ports, cmd).await?),
        Command::Whitelist(cmd) => output::print(&admin::whitelist(&ports, cmd).await?),
        Command::Clips(cmd) => output::print(&admin::clips(&ports, cmd).await?),
        Command::Queues(cmd) => output::print(&admin::queues(&ports, cmd).await?),
        Command::Auth(cmd) => twitch::auth(&config, &ports, cmd).await,
        Command::Subscribe(args) => output::print(&twitch::subscribe(&config, &ports, args).await?),
        Command::Subscriptions(cmd) => {
            output::print(&twitch::subscriptions(&config, &ports, cmd).await?)
        }
        Command::Publish(args) => {
            output::print(&publish::publish_now(&config, &ports, args).await?)
        }
        Command::Posts(cmd) => output::print(&publish::posts(&ports, cmd).await?),
        Command::Process(args) => output::print(&process::process(&config, &ports, args).await?),
    }
}
