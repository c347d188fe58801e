//! Reading `infra/template.yaml`: its resources by id and type, and the references between them.
//! The template uses short-form tags (`!Ref X`, `!GetAtt X.Arn`), which arrive as
//! `Value::Tagged`; [`reference`] also reads the long forms so a rewrite would not blind the tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use hilite::queue::QueueName;
use serde_norway::{Mapping, Value};

pub fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let path = root().join("infra/template.yaml");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn resources() -> &'static Mapping {
    template()["Resources"]
        .as_mapping()
        .expect("the template has Resources")
}

pub fn resource(id: &str) -> &'static Value {
    resources()
        .get(id)
        .unwrap_or_else(|| panic!("the template has no resource {id}"))
}

/// Logical ids and bodies of every resource of type `ty`, in file order.
pub fn of_type(ty: &str) -> Vec<(&'static str, &'static Value)> {
    resources()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(ty))
        .map(|(id, r)| (id.as_str().expect("logical ids are strings"), r))
        .collect()
}

/// `!Ref X` → (X, None); `!GetAtt X.Attr` → (X, Some(Attr)); the long forms likewise.
pub fn reference(v: &Value) -> Option<(String, Option<String>)> {
    let split = |s: &str| match s.split_once('.') {
        Some((id, attr)) => (id.to_string(), Some(attr.to_string())),
        None => (s.to_string(), None),
    };
    match v {
        Value::Tagged(t) if t.tag == "!Ref" => t.value.as_str().map(|s| (s.to_string(), None)),
        Value::Tagged(t) if t.tag == "!GetAtt" => t.value.as_str().map(split),
        Value::Mapping(m) if m.len() == 1 => match (m.get("Ref"), m.get("Fn::GetAtt")) {
            (Some(r), _) => r.as_str().map(|s| (s.to_string(), None)),
            (_, Some(Value::Sequence(parts))) => Some((
                parts.first()?.as_str()?.to_string(),
                Some(parts.get(1)?.as_str()?.to_string()),
            )),
            (_, Some(g)) => g.as_str().map(split),
            _ => None,
        },
        _ => None,
    }
}

pub fn refers_to(v: &Value, id: &str, attr: Option<&str>) -> bool {
    reference(v) == Some((id.to_string(), attr.map(str::to_string)))
}

pub fn number(v: &Value, what: &str) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{what} is not a literal number: {v:?}"))
}

pub fn title(name: QueueName) -> String {
    let s = name.as_str();
    s[..1].to_uppercase() + &s[1..]
}

/// Which of the template's conditions hold, for the `!If`s the tests resolve.
pub type Conditions = BTreeMap<&'static str, bool>;

/// The conditions as the parameters' defaults make them: the vault key in the secret, no LLM.
pub fn defaults() -> Conditions {
    when(false, false)
}

/// The conditions for a choice of `TokenVaultKey` (kms or not) and of an LLM (set or not).
pub fn when(vault_on_kms: bool, has_llm: bool) -> Conditions {
    Conditions::from([("VaultOnKms", vault_on_kms), ("HasLlm", has_llm)])
}

/// Every combination of the conditions [`when`] takes.
pub fn every_choice() -> Vec<Conditions> {
    [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .map(|(k, l)| when(k, l))
        .collect()
}

/// `v` as CloudFormation would leave it under `conditions`: an `!If` (short or long form) is
/// replaced by the branch its condition picks, and `!Ref AWS::NoValue` by nothing (`None`).
pub fn resolve(v: &'static Value, conditions: &Conditions) -> Option<&'static Value> {
    let branches = match v {
        Value::Tagged(t) if t.tag == "!If" => t.value.as_sequence(),
        Value::Mapping(m) if m.len() == 1 => m.get("Fn::If").and_then(Value::as_sequence),
        _ => None,
    };
    if let Some(parts) = branches {
        let name = parts[0].as_str().expect("an !If names its condition");
        let holds = *conditions
            .get(name)
            .unwrap_or_else(|| panic!("the tests do not know condition {name}"));
        return resolve(&parts[if holds { 1 } else { 2 }], conditions);
    }
    if refers_to(v, "AWS::NoValue", None) {
        return None;
    }
    Some(v)
}

/// Each function's `Environment.Variables` as (name, value) pairs, with the parameters'
/// defaults.
pub fn function_environment(id: &str) -> Vec<(String, &'static Value)> {
    function_environment_when(id, &defaults())
}

/// [`function_environment`] under `conditions`.
pub fn function_environment_when(
    id: &str,
    conditions: &Conditions,
) -> Vec<(String, &'static Value)> {
    let vars = resource(id)["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{id} has no Environment.Variables"));
    vars.iter()
        .filter_map(|(k, v)| {
            let name = k.as_str().expect("variable names are strings").to_string();
            resolve(v, conditions).map(|v| (name, v))
        })
        .collect()
}

/// The render job's container environment as (name, value) pairs under `conditions`.
pub fn job_environment_when(conditions: &Conditions) -> Vec<(String, &'static Value)> {
    let env = resource("RenderJobDefinition")["Properties"]["ContainerProperties"]["Environment"]
        .as_sequence()
        .expect("the render job has an environment");
    env.iter()
        .filter_map(|e| resolve(e, conditions))
        .map(|e| (e["Name"].as_str().expect("a Name").to_string(), &e["Value"]))
        .collect()
}

/// Queues that some redrive policy, function or rule names as its dead-letter queue.
pub fn dead_letter_targets() -> BTreeSet<String> {
    let mut targets = BTreeSet::new();
    for (_, q) in of_type("AWS::SQS::Queue") {
        targets.extend(
            reference(&q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]).map(|r| r.0),
        );
    }
    for (_, f) in of_type("AWS::Serverless::Function") {
        targets.extend(reference(&f["Properties"]["DeadLetterQueue"]["TargetArn"]).map(|r| r.0));
    }
    for (_, rule) in of_type("AWS::Events::Rule") {
        for target in rule["Properties"]["Targets"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            targets.extend(reference(&target["DeadLetterConfig"]["Arn"]).map(|r| r.0));
        }
    }
    targets
}
