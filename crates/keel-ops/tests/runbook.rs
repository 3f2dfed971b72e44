//! Runbooks as authors write them: what is accepted (OpsConductor's own example, JSON and
//! YAML alike) and how every mistake is named by its path in one 400.

use keel_core::Error;
use keel_ops::runbook::{check, parse, Selector, StepKind};
use serde_json::json;

fn problems(text: &str) -> Vec<(String, String)> {
    match parse(text).and_then(check) {
        Err(Error::BadRequest { fields, .. }) => fields.into_iter().map(|(k, v)| (k, v.code)).collect(),
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn opsconductors_example_is_accepted_as_is() {
    let text = json!({
        "name": "restart-service",
        "description": "Restart a Windows service",
        "parameters": {"type": "object", "properties": {"svc": {"type": "string"}}, "required": ["svc"]},
        "steps": [{"id": "restart", "type": "winrm.exec", "target": "win-1", "command": "Restart-Service {{ svc }}", "shell": "powershell"}]
    })
    .to_string();
    let checked = check(parse(&text).unwrap()).unwrap();
    assert_eq!(checked.kinds, [StepKind::WinrmExec]);
    assert_eq!(checked.runbook.steps[0].with["command"], "Restart-Service {{ svc }}");
}

#[test]
fn yaml_and_json_read_the_same() {
    let yaml = r#"
name: deploy
parameters:
  type: object
  properties:
    version: {type: string, pattern: "^v[0-9.]+$"}
steps:
  - id: fetch
    type: http.request
    url: "https://releases.example/{{ version }}"
    expectStatus: 200
  - id: install
    type: ssh.exec
    targets: {tags: [web, eu]}
    parallelism: 5
    needs: [fetch]
    command: "install {{ version }}"
    outputs:
      pid: "{{ stdout | trim }}"
"#;
    let json = json!({
        "name": "deploy",
        "parameters": {"type": "object", "properties": {"version": {"type": "string", "pattern": "^v[0-9.]+$"}}},
        "steps": [
            {"id": "fetch", "type": "http.request", "url": "https://releases.example/{{ version }}", "expectStatus": 200},
            {"id": "install", "type": "ssh.exec", "targets": {"tags": ["web", "eu"]}, "parallelism": 5,
             "needs": ["fetch"], "command": "install {{ version }}", "outputs": {"pid": "{{ stdout | trim }}"}}
        ]
    })
    .to_string();
    let (a, b) = (parse(yaml).unwrap(), parse(&json).unwrap());
    assert_eq!(a, b);
    check(a).unwrap();
}

#[test]
fn every_mistake_is_named_by_its_path() {
    let text = json!({
        "name": "",
        "parameters": {"type": "object", "properties": {"steps": {"type": "string"}, "ok": {"type": "bogus"}}},
        "steps": [
            {"id": "a", "type": "ssh.exec", "command": "uptime"},
            {"id": "a", "type": "http.request", "target": "web-1", "url": "http://x/"},
            {"id": "b", "type": "ssh.teleport", "target": "web-1"},
            {"id": "c", "type": "ssh.copy", "target": "web-1", "direction": "sideways", "source": "/a", "destination": "/b", "colour": 1},
            {"id": "d", "type": "shell.exec", "needs": ["zzz"], "when": "a ==", "command": "{{ broken"},
            {"id": "e", "type": "approval", "quorum": 0, "onTimeout": "maybe"},
            {"id": "9x", "type": "job.enqueue"}
        ]
    })
    .to_string();
    let got = problems(&text);
    let has = |path: &str, code: &str| got.iter().any(|(p, c)| p == path && c == code);
    for (path, code) in [
        ("name", "validation_required"),
        ("parameters.properties.steps", "validation_reserved_name"),
        ("parameters", "validation_invalid_schema"),
        ("steps[0].target", "validation_required"),
        ("steps[1].id", "validation_not_unique"),
        ("steps[1].target", "validation_invalid_target"),
        ("steps[2].type", "validation_invalid_type"),
        ("steps[3].direction", "validation_invalid_value"),
        ("steps[3].colour", "validation_unknown_key"),
        ("steps[4].needs", "validation_invalid_needs"),
        ("steps[4].when", "validation_invalid_template"),
        ("steps[4].command", "validation_invalid_template"),
        ("steps[5].quorum", "validation_invalid_value"),
        ("steps[5].onTimeout", "validation_invalid_value"),
        ("steps[6].id", "validation_invalid_id"),
        ("steps[6].queue", "validation_required"),
    ] {
        assert!(has(path, code), "missing {path} {code} in {got:#?}");
    }
}

#[test]
fn needs_order_the_steps_and_a_cycle_is_refused() {
    let text = json!({"name": "x", "steps": [
        {"id": "c", "type": "shell.exec", "command": "c", "needs": ["b"]},
        {"id": "a", "type": "shell.exec", "command": "a"},
        {"id": "b", "type": "shell.exec", "command": "b", "needs": ["a"]},
        {"id": "d", "type": "shell.exec", "command": "d"}
    ]})
    .to_string();
    let checked = check(parse(&text).unwrap()).unwrap();
    let ids: Vec<&str> = checked
        .order
        .iter()
        .map(|&i| checked.runbook.steps[i].id.as_str())
        .collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);

    let cycle = json!({"name": "x", "steps": [
        {"id": "a", "type": "shell.exec", "command": "a", "needs": ["c"]},
        {"id": "b", "type": "shell.exec", "command": "b", "needs": ["a"]},
        {"id": "c", "type": "shell.exec", "command": "c", "needs": ["b"]},
        {"id": "free", "type": "shell.exec", "command": "f"}
    ]})
    .to_string();
    let got = problems(&cycle);
    assert_eq!(got, [("steps".to_string(), "validation_cycle".to_string())]);
    let message = match parse(&cycle).and_then(check) {
        Err(Error::BadRequest { fields, .. }) => fields["steps"].message.clone(),
        _ => unreachable!(),
    };
    assert!(message.contains("a, b, c") && !message.contains("free"), "{message}");
}

#[test]
fn selectors_pick_targets_by_name_or_by_every_tag() {
    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let by_tags: Selector = serde_json::from_value(json!({"tags": ["web", "eu"]})).unwrap();
    assert!(by_tags.selects("w1", &tags(&["web", "eu", "prod"])));
    assert!(!by_tags.selects("w2", &tags(&["web", "us"])));
    let names: Selector = serde_json::from_value(json!(["db-1", "db-2"])).unwrap();
    assert!(names.selects("db-2", &[]) && !names.selects("db-3", &[]));
    let both: Selector = serde_json::from_value(json!({"names": ["bastion"], "tags": ["web"]})).unwrap();
    assert!(both.selects("bastion", &[]) && both.selects("w9", &tags(&["web"])));
}

#[test]
fn not_a_runbook_at_all_is_a_400() {
    assert_eq!(
        problems("{\"name\": 3}"),
        [("runbook".to_string(), "validation_invalid_runbook".to_string())]
    );
    assert_eq!(
        problems("steps: [unclosed"),
        [("runbook".to_string(), "validation_invalid_runbook".to_string())]
    );
}
