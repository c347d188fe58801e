//! The template's cost choices that the code depends on: where the token vault's key lives
//! (`TokenVaultKey`, secret by default, with the KMS key only under `kms`), the generated seed the
//! code derives keys from, which event source mappings carry a concurrency cap, and the render
//! image's lifecycle. docs/cost.md explains each; these tests keep the template and the code in
//! step with it.

use std::collections::BTreeSet;

use hilite::secrets::{
    EVENTSUB_SECRET, INSTAGRAM_CLIENT_SECRET, LLM_API_KEY, MIN_SEED_LEN, TIKTOK_CLIENT_SECRET,
    TWITCH_CLIENT_SECRET, VAULT_SEED, YOUTUBE_CLIENT_SECRET,
};
use serde_norway::Value;

use crate::template::{number, of_type, resource, template};

#[test]
fn the_vault_key_is_in_the_secret_by_default_and_the_kms_key_exists_only_when_chosen() {
    let p = &template()["Parameters"]["TokenVaultKey"];
    assert_eq!(p["Default"].as_str(), Some("secret"));
    let allowed: Vec<&str> = p["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(allowed, ["secret", "kms"]);
    // The description states the trade, so whoever deploys chooses knowingly.
    let description = p["Description"].as_str().unwrap();
    for word in ["memory", "CloudTrail", "never leaves KMS", "$1.00"] {
        assert!(description.contains(word), "TokenVaultKey: {word}");
    }
    for id in ["VaultKey", "VaultKeyAlias"] {
        assert_eq!(
            resource(id)["Condition"].as_str(),
            Some("VaultOnKms"),
            "{id}"
        );
    }
    assert_eq!(
        template()["Outputs"]["VaultKeyArn"]["Condition"].as_str(),
        Some("VaultOnKms")
    );
    let condition = &template()["Conditions"]["VaultOnKms"];
    assert_eq!(
        format!("{condition:?}"),
        format!(
            "{:?}",
            serde_norway::from_str::<Value>("!Equals [!Ref TokenVaultKey, kms]").unwrap()
        )
    );
}

#[test]
fn the_secret_is_created_with_a_generated_seed_and_every_key_the_code_reads() {
    let generate = &resource("AppSecrets")["Properties"]["GenerateSecretString"];
    assert_eq!(generate["GenerateStringKey"].as_str(), Some(VAULT_SEED));
    assert!(number(&generate["PasswordLength"], "PasswordLength") >= MIN_SEED_LEN as u64);
    assert_eq!(generate["ExcludePunctuation"].as_bool(), Some(true));
    let shape: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(generate["SecretStringTemplate"].as_str().unwrap()).unwrap();
    let keys: BTreeSet<&str> = shape.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            TWITCH_CLIENT_SECRET,
            YOUTUBE_CLIENT_SECRET,
            TIKTOK_CLIENT_SECRET,
            INSTAGRAM_CLIENT_SECRET,
            LLM_API_KEY,
        ])
    );
    // Left out so that it is derived from the seed (hilite::secrets); a set one would win.
    assert!(!keys.contains(EVENTSUB_SECRET));
}

/// The mappings whose cap protects something (docs/cost.md, and the comment beside each).
const CAPPED: [&str; 2] = ["DownloadFromDownload", "PublishFromPublish"];

#[test]
fn a_concurrency_cap_is_set_only_where_it_protects_something() {
    let capped: BTreeSet<&str> = of_type("AWS::Lambda::EventSourceMapping")
        .into_iter()
        .filter(|(_, m)| !m["Properties"]["ScalingConfig"].is_null())
        .map(|(id, _)| id)
        .collect();
    assert_eq!(capped, BTreeSet::from(CAPPED));
}

#[test]
fn the_render_image_repository_keeps_one_image_and_another_registry_can_be_named() {
    let policy: serde_json::Value = serde_json::from_str(
        resource("EditJobRepository")["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let rules = policy["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["selection"]["countType"], "imageCountMoreThan");
    assert_eq!(rules[0]["selection"]["countNumber"], 1);
    assert_eq!(rules[0]["action"]["type"], "expire");
    let image = &resource("RenderJobDefinition")["Properties"]["ContainerProperties"]["Image"];
    let chosen = crate::template::resolve(image, &[("HasEditJobImage", true)].into());
    assert!(crate::template::refers_to(
        chosen.unwrap(),
        "EditJobImage",
        None
    ));
    assert_eq!(
        template()["Parameters"]["EditJobImage"]["Default"].as_str(),
        Some("")
    );
}
