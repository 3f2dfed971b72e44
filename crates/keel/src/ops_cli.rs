//! `keel ops …`: runbooks and runs on a running Keel, over its HTTP API (a run executes in the
//! server, not in this process). `--url` (env `KEEL_URL`) and `--token` (env `KEEL_TOKEN`: a
//! superuser token or an API key).
//!
//! - `run RUNBOOK [--param k=v]… [--params-json '{…}'] [--follow]`: launches a run; prints its
//!   id, or with `--follow` its log as it comes and exits with its outcome;
//! - `runs [--runbook R] [--state S]`, `logs RUN [--follow]`, `cancel RUN`,
//!   `approve RUN [--comment C]`, `runbooks`, `import FILE` (JSON or YAML),
//!   `export RUNBOOK [--format yaml]`.
//!
//! Exit codes of a followed run: 0 `succeeded`, 1 `failed`, 2 `cancelled` or `interrupted`;
//! a request that failed (refused, or Keel unreachable) exits 3.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::jobs_cli::table;
use crate::ops_client::{segment, Client, RequestFailed};

/// How often a follower asks for more of the log.
const POLL: Duration = Duration::from_millis(250);
/// Log pieces per page.
const PAGE: usize = 500;

#[derive(Debug, Args)]
pub struct OpsArgs {
    /// The running Keel to talk to
    #[arg(long, global = true, env = "KEEL_URL", default_value = "http://127.0.0.1:8090")]
    pub url: String,
    /// A superuser token or an API key (with ops:read, ops:run, …)
    #[arg(long, global = true, env = "KEEL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: OpsCommand,
}

#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// Launch a run of RUNBOOK (name or id); print its id, or follow its log with --follow
    Run {
        /// The runbook's name or id
        runbook: String,
        /// A parameter, NAME=VALUE (repeatable); VALUE is JSON when it parses as JSON
        /// (`n=3`, `on=true`), text otherwise
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
        /// Parameters as one JSON object (a --param overrides a key of it)
        #[arg(long, value_name = "JSON")]
        params_json: Option<String>,
        /// Print the log as it comes and exit with the run's outcome (0 succeeded, 1 failed,
        /// 2 cancelled or interrupted)
        #[arg(long)]
        follow: bool,
    },
    /// Runs, newest first
    Runs {
        /// Only runs of this runbook (its name)
        #[arg(long)]
        runbook: Option<String>,
        /// Only runs in this state
        #[arg(long, value_parser = ["queued", "running", "awaiting_approval", "succeeded", "failed", "cancelled", "interrupted"])]
        state: Option<String>,
        /// Print the page as JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Print a run's log; with --follow, until it ends (exit code as for `run --follow`)
    Logs {
        /// The run's id
        run: String,
        #[arg(long)]
        follow: bool,
    },
    /// Cancel a run (a running one has its commands stopped)
    Cancel {
        /// The run's id
        run: String,
    },
    /// Approve the approval step a run waits at
    Approve {
        /// The run's id
        run: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Every runbook with its current version
    Runbooks {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Create a runbook from a JSON or YAML file, or add a version to the one of its name
    Import {
        /// The file (`-` reads stdin)
        file: std::path::PathBuf,
    },
    /// Print a runbook's current version as JSON or YAML
    Export {
        /// The runbook's name or id
        runbook: String,
        #[arg(long, default_value = "json", value_parser = ["json", "yaml"])]
        format: String,
    },
}

/// Ends `keel ops` with this exit code (a followed run's outcome), printing nothing more.
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}

pub async fn run(args: OpsArgs) -> anyhow::Result<()> {
    // Whatever else fails (a file not read, an odd answer) exits 3 as a failed request does,
    // so 1 and 2 always mean the run's outcome.
    commands(args).await.map_err(|e| {
        if e.is::<Exit>() || e.is::<RequestFailed>() {
            e
        } else {
            RequestFailed(format!("{e:#}")).into()
        }
    })
}

async fn commands(args: OpsArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.url, args.token)?;
    match args.command {
        OpsCommand::Run {
            runbook,
            params,
            params_json,
            follow,
        } => {
            let params = parse_params(&params, params_json.as_deref())?;
            let path = format!("/api/ops/runbooks/{}/run", segment(&runbook));
            let run = client.post(&path, &json!({"params": params})).await?;
            let id = run["id"]
                .as_str()
                .context("the launch answer has no run id")?
                .to_string();
            if !follow {
                println!("{id}");
                return Ok(());
            }
            eprintln!("run {id} of {runbook} ({})", run["state"].as_str().unwrap_or("queued"));
            follow_run(&client, &id).await
        }
        OpsCommand::Runs { runbook, state, json } => {
            let mut filters = Vec::new();
            if let Some(r) = runbook {
                filters.push(format!("runbookName = {}", lit(&r)));
            }
            if let Some(s) = state {
                filters.push(format!("state = {}", lit(&s)));
            }
            let mut path = "/api/ops/runs?perPage=50".to_string();
            if !filters.is_empty() {
                path.push_str(&format!("&filter={}", segment(&filters.join(" && "))));
            }
            let page = client.get(&path).await?;
            if json {
                return crate::jobs_cli::print_json(&page);
            }
            let rows = items(&page)
                .iter()
                .map(|r| {
                    vec![
                        text(&r["id"]),
                        format!("{} v{}", text(&r["runbookName"]), r["version"]),
                        text(&r["state"]),
                        text(&r["startedBy"]),
                        text(&r["created"]),
                        text(&r["error"]),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["ID", "RUNBOOK", "STATE", "STARTED BY", "CREATED", "ERROR"], rows)
            );
            Ok(())
        }
        OpsCommand::Logs { run, follow } => {
            if follow {
                return follow_run(&client, &run).await;
            }
            let mut printer = Printer::default();
            let mut after = 0;
            loop {
                let (next, _, count) = page_log(&client, &run, after, &mut printer).await?;
                after = next;
                if count < PAGE {
                    break;
                }
            }
            printer.flush();
            Ok(())
        }
        OpsCommand::Cancel { run } => {
            let out = client
                .post(&format!("/api/ops/runs/{}/cancel", segment(&run)), &json!({}))
                .await?;
            println!("run {run}: {}", text(&out["state"]));
            Ok(())
        }
        OpsCommand::Approve { run, comment } => {
            let body = json!({"comment": comment.unwrap_or_default()});
            let out = client
                .post(&format!("/api/ops/runs/{}/approve", segment(&run)), &body)
                .await?;
            println!("approved run {run} ({})", text(&out["state"]));
            Ok(())
        }
        OpsCommand::Runbooks { json } => {
            let list = client.get("/api/ops/runbooks").await?;
            if json {
                return crate::jobs_cli::print_json(&list);
            }
            let rows = items(&list)
                .iter()
                .map(|r| {
                    vec![
                        text(&r["name"]),
                        r["version"].to_string(),
                        text(&r["id"]),
                        text(&r["description"]),
                    ]
                })
                .collect();
            print!("{}", table(&["NAME", "VERSION", "ID", "DESCRIPTION"], rows));
            Ok(())
        }
        OpsCommand::Import { file } => {
            let body = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read the runbook from stdin")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?
            };
            let yaml = file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
            let content_type = if yaml { "application/yaml" } else { "application/json" };
            let out = client.post_text("/api/ops/runbooks/import", body, content_type).await?;
            println!(
                "runbook {} version {} ({})",
                text(&out["name"]),
                out["version"],
                text(&out["id"])
            );
            Ok(())
        }
        OpsCommand::Export { runbook, format } => {
            let path = format!("/api/ops/runbooks/{}/export?format={format}", segment(&runbook));
            let out = client.get_text(&path).await?;
            print!("{out}");
            if !out.ends_with('\n') {
                println!();
            }
            Ok(())
        }
    }
}

/// `--params-json` as the base, each `--param K=V` over it.
fn parse_params(params: &[String], params_json: Option<&str>) -> anyhow::Result<Map<String, Value>> {
    let mut out = match params_json {
        None => Map::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(
                    RequestFailed("--params-json must be a JSON object, e.g. '{\"svc\": \"nginx\"}'".into()).into(),
                )
            }
            Err(e) => return Err(RequestFailed(format!("--params-json is not JSON: {e}")).into()),
        },
    };
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            return Err(RequestFailed(format!("--param {p:?} must be NAME=VALUE")).into());
        };
        if k.is_empty() {
            return Err(RequestFailed(format!("--param {p:?} has no name before '='")).into());
        }
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        out.insert(k.to_string(), value);
    }
    Ok(out)
}

/// Pages the log until the run has ended, printing each piece; then exits with the outcome.
async fn follow_run(client: &Client, run: &str) -> anyhow::Result<()> {
    let mut printer = Printer::default();
    let mut after = 0;
    let mut told_waiting = false;
    loop {
        let (next, state, count) = page_log(client, run, after, &mut printer).await?;
        after = next;
        if count >= PAGE {
            continue;
        }
        // The state is read before the pieces: an ended run's last page is complete.
        if keel_app::ops::state::ended(&state) {
            break;
        }
        if state == "awaiting_approval" && !told_waiting {
            told_waiting = true;
            printer.flush();
            tell_waiting(client, run).await?;
        } else if state != "awaiting_approval" {
            told_waiting = false;
        }
        tokio::time::sleep(POLL).await;
    }
    printer.flush();
    let view = client.get(&format!("/api/ops/runs/{}", segment(run))).await?;
    let state = text(&view["state"]);
    let error = text(&view["error"]);
    if error.is_empty() {
        eprintln!("run {run} {state}");
    } else {
        eprintln!("run {run} {state}: {error}");
    }
    match state.as_str() {
        "succeeded" => Ok(()),
        "failed" => Err(Exit(1).into()),
        _ => Err(Exit(2).into()),
    }
}

/// Where the run waits, and how to go on.
async fn tell_waiting(client: &Client, run: &str) -> anyhow::Result<()> {
    let view = client.get(&format!("/api/ops/runs/{}", segment(run))).await?;
    let steps: Vec<String> = items_of(&view["steps"])
        .iter()
        .filter(|s| s["state"] == "awaiting_approval")
        .map(|s| text(&s["id"]))
        .collect();
    let at = if steps.is_empty() {
        "an approval".to_string()
    } else {
        format!("step {}", steps.join(", "))
    };
    eprintln!("run {run} awaiting approval at {at}: `keel ops approve {run}` (someone else than who launched it, holding ops:approve)");
    Ok(())
}

/// One page of the log after `after`: (next cursor, the run's state, pieces printed).
async fn page_log(
    client: &Client,
    run: &str,
    after: i64,
    printer: &mut Printer,
) -> anyhow::Result<(i64, String, usize)> {
    let path = format!("/api/ops/runs/{}/log?after={after}&limit={PAGE}", segment(run));
    let page = client.get(&path).await?;
    let pieces = items(&page);
    for p in pieces {
        printer.piece(
            &text(&p["step"]),
            &text(&p["target"]),
            &text(&p["stream"]),
            &text(&p["text"]),
        );
    }
    let next = page["next"].as_i64().unwrap_or(after);
    Ok((next, text(&page["state"]), pieces.len()))
}

/// Prints log pieces line by line, each prefixed `[step@target]` (`[step]` without a target);
/// a piece ending mid-line waits for the rest of its line. `stderr` pieces go to stderr.
#[derive(Default)]
struct Printer {
    partial: HashMap<(String, String, String), String>,
}

impl Printer {
    fn piece(&mut self, step: &str, target: &str, stream: &str, text: &str) {
        let key = (step.to_string(), target.to_string(), stream.to_string());
        let mut buf = self.partial.remove(&key).unwrap_or_default();
        buf.push_str(text);
        while let Some(end) = buf.find('\n') {
            let line: String = buf.drain(..=end).collect();
            emit(&key, line.trim_end_matches(['\n', '\r']));
        }
        if !buf.is_empty() {
            self.partial.insert(key, buf);
        }
    }

    fn flush(&mut self) {
        let mut rest: Vec<_> = self.partial.drain().collect();
        rest.sort();
        for (key, line) in rest {
            emit(&key, &line);
        }
    }
}

fn emit((step, target, stream): &(String, String, String), line: &str) {
    let prefix = if target.is_empty() {
        format!("[{step}]")
    } else {
        format!("[{step}@{target}]")
    };
    if stream == "stderr" {
        eprintln!("{prefix} {line}");
    } else {
        println!("{prefix} {line}");
    }
}

fn items(v: &Value) -> &[Value] {
    items_of(&v["items"])
}

fn items_of(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A filter string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_merge_json_and_pairs() {
        let p = parse_params(&["svc=nginx".into(), "n=3".into()], Some(r#"{"svc": "x", "on": true}"#)).unwrap();
        assert_eq!(Value::Object(p), json!({"svc": "nginx", "n": 3, "on": true}));
        assert!(parse_params(&["novalue".into()], None).is_err());
        assert!(parse_params(&[], Some("[1]")).is_err());
    }
}
