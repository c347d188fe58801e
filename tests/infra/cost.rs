//! docs/cost.md's idle figures are counted from the template: alarm metrics for each `AlarmSet`
//! (the essential set within CloudWatch's 10 free), event source mappings (each polls while
//! idle, more of them with a concurrency cap), the one secret, and the KMS key that exists only
//! with `TokenVaultKey=kms`. A template change that moves an idle cost fails here until the
//! page says so.

use crate::template::{of_type, root};

/// Billed alarm metrics: one per single-metric alarm, one per metric of a metric-math alarm.
fn alarm_metrics(essential_only: bool) -> usize {
    of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| !essential_only || a["Condition"].as_str() != Some("FullAlarms"))
        .map(|(_, a)| {
            let stats = a["Properties"]["Metrics"].as_sequence().map_or(0, |m| {
                m.iter().filter(|m| !m["MetricStat"].is_null()).count()
            });
            stats.max(1)
        })
        .sum()
}

#[test]
fn the_idle_cost_page_counts_what_the_template_creates() {
    let page = std::fs::read_to_string(root().join("docs/cost.md")).unwrap();
    let (full, essential) = (alarm_metrics(false), alarm_metrics(true));
    assert!(
        essential <= 10,
        "AlarmSet=essential must stay within the 10 free alarm metrics: {essential}"
    );
    assert!(full > essential);
    assert!(
        page.contains(&format!("`AlarmSet=full` | {full}:")),
        "docs/cost.md: {full} alarm metrics"
    );
    assert!(
        page.contains(&format!("`AlarmSet=essential` | {essential}:")),
        "docs/cost.md: {essential}"
    );
    let mappings = of_type("AWS::Lambda::EventSourceMapping");
    let capped = mappings
        .iter()
        .filter(|(_, m)| !m["Properties"]["ScalingConfig"].is_null())
        .count();
    let expected = format!(
        "{} event source mappings, {capped} with a concurrency cap",
        mappings.len()
    );
    assert!(page.contains(&expected), "docs/cost.md: {expected}");
    assert_eq!(of_type("AWS::SecretsManager::Secret").len(), 1);
    assert!(page.contains("one secret, `AppSecrets`"));
    let keys = of_type("AWS::KMS::Key");
    assert_eq!(keys.len(), 1, "docs/cost.md counts one KMS key");
    assert!(
        keys.iter()
            .all(|(_, k)| k["Condition"].as_str() == Some("VaultOnKms")),
        "the KMS key bills only when chosen"
    );
    assert!(page.contains("`TokenVaultKey=kms`"));
}
