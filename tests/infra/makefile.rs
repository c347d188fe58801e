//! The AWS targets of the Makefile (`deploy`, `destroy`, `image`, `watch`) cannot run here (no
//! AWS account, no Docker), so they are checked as `make -n` prints them: each exists, and every
//! file it names exists in the repository.

use std::process::Command;

use crate::template::root;

fn dry_run(target: &str) -> String {
    let out = Command::new("make")
        .args([
            "-n",
            "--no-print-directory",
            target,
            "STACK=hilite-test",
            "WATCH_ENV=config/watch.sample.env",
        ])
        .current_dir(root())
        .output()
        .expect("run make -n");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "make -n {target}: {}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn the_aws_targets_exist_and_name_real_files() {
    let deploy = dry_run("deploy");
    assert!(
        deploy.contains("sam build --template-file template.yaml"),
        "{deploy}"
    );
    assert!(
        deploy.contains("--guided") && deploy.contains("samconfig.toml"),
        "{deploy}"
    );
    assert!(root().join("infra/template.yaml").is_file());

    let image = dry_run("image");
    assert!(image.contains("-f infra/edit-job/Dockerfile"), "{image}");
    assert!(
        image.contains("EditJobRepositoryUri"),
        "the repository comes from the stack outputs"
    );
    assert!(root().join("infra/edit-job/Dockerfile").is_file());
    // The output the target reads is one the template declares.
    assert!(crate::template::template()["Outputs"]["EditJobRepositoryUri"].is_mapping());
    assert!(crate::template::template()["Outputs"]["WebhookUrl"].is_mapping());

    assert!(dry_run("destroy").contains("sam delete --stack-name hilite-test"));

    let watch = dry_run("watch");
    assert!(
        watch.contains("cargo lambda watch --env-file config/watch.sample.env"),
        "{watch}"
    );
}

#[test]
fn the_watch_sample_names_only_configuration_keys_the_functions_read() {
    let sample = std::fs::read_to_string(root().join("config/watch.sample.env")).unwrap();
    let vars: Vec<(String, String)> = sample
        .lines()
        .filter(|l| l.starts_with("HILITE_"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(vars.len() > 5);
    // Every name loads into the configuration (an unknown key is refused).
    crate::environment::load(&vars).unwrap_or_else(|e| panic!("config/watch.sample.env: {e}"));
}
