//! `keel changes list|show`: the change history (`_changes`) of the data dir's database,
//! opened directly like `keel audit` and `keel vault list` (whoever can read the data dir
//! reads every change; no server needed).
//!
//! - `list [--collection C] [--filter F] [--limit N] [--json]`: newest first, one line per
//!   change (seq, version, verdict, kind, collection, author, time, id);
//! - `show ID [--json]`: one change with its findings and readable diff.
//!
//! The review commands act as someone (an author, an approver), so they talk to a running
//! Keel like `keel ops`: `--url` (env `KEEL_URL`) and `--token` (env `KEEL_TOKEN`: a
//! superuser's or a user's token, or an API key), and print the change as the server answers:
//!
//! - `propose FILE.json [--submit]` (the target collection JSON) or `propose --delete NAME`;
//! - `submit ID`, `approve ID`, `reject ID --reason TEXT`, `apply ID`, `rollback ID`;
//! - `impact ID [--days N] [--json]`: what depends on what the change touches (read by the
//!   server, which knows the webhooks, rules, runbooks and request logs).

use clap::Subcommand;
use keel_app::changes::history;
use keel_core::config::Config;
use keel_data::ListParams;
use serde_json::{json, Value};

use crate::jobs_cli::{print_json, table};
use crate::ops_client::{segment, Client};
use crate::wiring::open_store_alone;

#[derive(Debug, Subcommand)]
pub enum ChangesCommand {
    /// The recorded collection changes, newest first
    List {
        /// Only this collection's changes (its id, or a name it has or had)
        #[arg(long)]
        collection: Option<String>,
        /// A filter over the changes' fields, e.g. "verdict = 'major'"
        #[arg(long)]
        filter: Option<String>,
        /// At most this many (1..=1000)
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// One change: its findings and its diff
    Show {
        /// The change's id (see `keel changes list`)
        id: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Propose a change to review (nothing is applied): a target collection JSON file, or --delete
    Propose {
        /// The target collection in PocketBase's JSON (matched by id, else name)
        #[arg(required_unless_present = "delete", conflicts_with = "delete")]
        file: Option<std::path::PathBuf>,
        /// Propose deleting this collection (id or name) instead
        #[arg(long)]
        delete: Option<String>,
        /// Submit it for review at once (in_review instead of draft)
        #[arg(long)]
        submit: bool,
        #[command(flatten)]
        server: Server,
    },
    /// Submit your draft for review
    Submit {
        id: String,
        #[command(flatten)]
        server: Server,
    },
    /// Approve someone else's change (changes:approve)
    Approve {
        id: String,
        #[command(flatten)]
        server: Server,
    },
    /// Reject a change not yet applied, saying why (changes:approve)
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        server: Server,
    },
    /// Apply an approved change (collections:manage); refused when the collection moved on
    Apply {
        id: String,
        #[command(flatten)]
        server: Server,
    },
    /// Roll back an applied change by applying its reverse (collections:manage)
    Rollback {
        id: String,
        #[command(flatten)]
        server: Server,
    },
    /// What depends on what a change touches: rules, relations, views, indexes, webhooks,
    /// notification rules, runbooks, recent callers (changes:read)
    Impact {
        id: String,
        /// Days of request logs to find callers in (1..=365; the server looks at most
        /// logs.maxDays)
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: Server,
    },
}

impl ChangesCommand {
    /// Whether this is a review command (an HTTP client of a running Keel: no data dir, and
    /// `KEEL_URL`/`KEEL_TOKEN` are its own variables).
    pub fn talks_to_a_server(&self) -> bool {
        !matches!(self, ChangesCommand::List { .. } | ChangesCommand::Show { .. })
    }
}

/// The running Keel the review commands talk to.
#[derive(Debug, Clone, clap::Args)]
pub struct Server {
    /// The running Keel to talk to
    #[arg(long, env = "KEEL_URL", default_value = "http://127.0.0.1:8090")]
    pub url: String,
    /// A token (superuser or user) or an API key, sent as Authorization
    #[arg(long, env = "KEEL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

fn client(server: Server) -> anyhow::Result<Client> {
    Client::for_service(
        &server.url,
        server.token,
        "collections:manage (propose, apply) or changes:approve (approve, reject)",
    )
}

/// One line about a change as the server answered it.
fn summary(change: &Value) -> String {
    format!(
        "{} {} {} of {}: {} ({} → {})",
        text(change, "id"),
        text(change, "state"),
        text(change, "kind"),
        text(change, "collection"),
        text(change, "verdict"),
        text(change, "previousVersion"),
        text(change, "version"),
    )
}

/// The review commands (a running server); `None` for the others.
async fn review(cmd: &ChangesCommand) -> Option<anyhow::Result<()>> {
    let step = |id: &str, action: &str| format!("/api/changes/{}/{action}", segment(id));
    if let ChangesCommand::Impact { id, days, json, server } = cmd {
        return Some(
            async {
                let impact = client(server.clone())?
                    .get(&format!("{}?days={days}", step(id, "impact")))
                    .await?;
                if *json {
                    return print_json(&impact);
                }
                print_impact(&impact);
                Ok(())
            }
            .await,
        );
    }
    let out = match cmd {
        ChangesCommand::Propose {
            file,
            delete,
            submit,
            server,
        } => {
            async {
                let mut body = match (file, delete) {
                    (_, Some(name)) => json!({ "delete": name }),
                    (Some(path), None) => {
                        let text = std::fs::read_to_string(path)
                            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                        let collection: Value = serde_json::from_str(&text)
                            .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))?;
                        json!({ "collection": collection })
                    }
                    (None, None) => anyhow::bail!("give a collection JSON file, or --delete NAME"),
                };
                body["submit"] = Value::Bool(*submit);
                client(server.clone())?.post("/api/changes", &body).await
            }
            .await
        }
        ChangesCommand::Submit { id, server } => post(server, &step(id, "submit"), &json!({})).await,
        ChangesCommand::Approve { id, server } => post(server, &step(id, "approve"), &json!({})).await,
        ChangesCommand::Reject { id, reason, server } => {
            post(server, &step(id, "reject"), &json!({ "reason": reason })).await
        }
        ChangesCommand::Apply { id, server } => post(server, &step(id, "apply"), &json!({})).await,
        ChangesCommand::Rollback { id, server } => post(server, &step(id, "rollback"), &json!({})).await,
        _ => return None,
    };
    Some(out.map(|change| {
        println!("{}", summary(&change));
        for f in change["findings"].as_array().into_iter().flatten() {
            println!("  {:5} {:28} {}", text(f, "level"), text(f, "code"), text(f, "message"));
        }
        if !text(&change, "apiVerdict").is_empty() {
            println!("records API: {}", text(&change, "apiVerdict"));
        }
        if change.get("impact").is_some() {
            print_impact(&change["impact"]);
        }
    }))
}

/// An impact as text: one line per dependent, then the notes.
fn print_impact(impact: &Value) {
    for line in impact_lines(impact) {
        println!("{line}");
    }
}

/// The lines [`print_impact`] prints. With no dependents, the notes decide what "nothing"
/// means: when some kinds were not looked at, only what was looked at is empty.
fn impact_lines(impact: &Value) -> Vec<String> {
    let items = impact["items"].as_array().cloned().unwrap_or_default();
    let notes: Vec<&str> = impact["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut out = Vec::new();
    if items.is_empty() {
        out.push(if notes.is_empty() {
            "Nothing found that depends on what this change touches.".to_string()
        } else {
            "Nothing found among what was looked at (see the notes).".to_string()
        });
    }
    for i in &items {
        out.push(format!(
            "  {:<17} {:<28} {}",
            text(i, "kind"),
            text(i, "name"),
            text(i, "message")
        ));
    }
    out.extend(notes.iter().map(|n| format!("note: {n}")));
    out
}

async fn post(server: &Server, path: &str, body: &Value) -> anyhow::Result<Value> {
    client(server.clone())?.post(path, body).await
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

pub async fn run(cfg: &Config, cmd: ChangesCommand) -> anyhow::Result<()> {
    if let Some(done) = review(&cmd).await {
        return done;
    }
    let store = open_store_alone(cfg).await?;
    match cmd {
        ChangesCommand::List {
            collection,
            filter,
            limit,
            json,
        } => {
            if !(1..=1000).contains(&limit) {
                anyhow::bail!("--limit must be between 1 and 1000");
            }
            let params = ListParams {
                per_page: limit,
                filter,
                ..ListParams::default()
            };
            let page = history::page_for_operator(&store, collection.as_deref(), &params).await?;
            let items: Vec<Value> = page.items.iter().map(|r| history::change_json(&r.data)).collect();
            if json {
                // The list without each change's whole collection JSON (see `show`).
                let items: Vec<Value> = items
                    .into_iter()
                    .map(|mut v| {
                        if let Some(m) = v.as_object_mut() {
                            m.remove("before");
                            m.remove("after");
                        }
                        v
                    })
                    .collect();
                return print_json(&json!({"totalItems": page.total_items, "items": items}));
            }
            if items.is_empty() {
                println!("No collection changes recorded.");
                return Ok(());
            }
            let rows = items
                .iter()
                .map(|c| {
                    vec![
                        c.get("seq").map(|s| s.to_string()).unwrap_or_default(),
                        text(c, "version").to_string(),
                        text(c, "verdict").to_string(),
                        text(c, "kind").to_string(),
                        text(c, "collection").to_string(),
                        text(c, "author").to_string(),
                        text(c, "created").to_string(),
                        text(c, "id").to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "SEQ",
                        "VERSION",
                        "VERDICT",
                        "KIND",
                        "COLLECTION",
                        "AUTHOR",
                        "CREATED",
                        "ID"
                    ],
                    rows
                )
            );
            if page.total_items > items.len() as i64 {
                println!("({} of {} changes; --limit for more)", items.len(), page.total_items);
            }
            Ok(())
        }
        ChangesCommand::Show { id, json } => {
            let r = match history::get_for_operator(&store, &id).await {
                Ok(r) => r,
                Err(keel_core::Error::NotFound(_)) => anyhow::bail!("no change {id:?} in the history"),
                Err(e) => return Err(e.into()),
            };
            let c = history::change_json(&r.data);
            if json {
                return print_json(&c);
            }
            println!(
                "{} {} of {} ({}): {} -> {}",
                text(&c, "kind"),
                text(&c, "id"),
                text(&c, "collection"),
                text(&c, "collectionRef"),
                or_none(text(&c, "previousVersion")),
                text(&c, "version"),
            );
            println!(
                "verdict {}, by {} via {}, {}",
                text(&c, "verdict"),
                or_none(text(&c, "author")),
                text(&c, "source"),
                text(&c, "created")
            );
            let findings = c["findings"].as_array().cloned().unwrap_or_default();
            if !findings.is_empty() {
                println!("\nFindings:");
                for f in &findings {
                    println!(
                        "  {:<5} {:<28} {}",
                        text(f, "level"),
                        text(f, "code"),
                        text(f, "message")
                    );
                }
            }
            let api = c["apiFindings"].as_array().cloned().unwrap_or_default();
            if !api.is_empty() {
                println!("\nAPI of the records ({}):", text(&c, "apiVerdict"));
                for f in &api {
                    println!(
                        "  {:<5} {:<28} {}",
                        text(f, "level"),
                        text(f, "code"),
                        text(f, "message")
                    );
                }
            }
            let diff = c["diff"].as_array().cloned().unwrap_or_default();
            if !diff.is_empty() {
                println!("\nDiff:");
                for d in &diff {
                    println!("  {}: {} -> {}", text(d, "path"), d["before"], d["after"]);
                }
            }
            Ok(())
        }
        // The review commands were answered above, by a running server.
        _ => Ok(()),
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "(none)"
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::impact_lines;
    use serde_json::json;

    #[test]
    fn an_empty_impact_says_nothing_was_found_only_among_what_was_looked_at() {
        let all = impact_lines(&json!({"items": [], "notes": []}));
        assert_eq!(all, vec!["Nothing found that depends on what this change touches."]);
        let partial =
            impact_lines(&json!({"items": [], "notes": ["Webhooks were not looked at: that needs webhooks:manage."]}));
        assert_eq!(partial[0], "Nothing found among what was looked at (see the notes).");
        assert!(partial[1].contains("webhooks:manage"), "{partial:?}");
    }
}
