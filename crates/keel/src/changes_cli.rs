//! `keel changes list|show`: the change history (`_changes`) of the data dir's database,
//! opened directly like `keel audit` and `keel vault list` (whoever can read the data dir
//! reads every change; no server needed).
//!
//! - `list [--collection C] [--filter F] [--limit N] [--json]`: newest first, one line per
//!   change (seq, version, verdict, kind, collection, author, time, id);
//! - `show ID [--json]`: one change with its findings and readable diff.

use clap::Subcommand;
use keel_app::changes::history;
use keel_core::config::Config;
use keel_data::ListParams;
use serde_json::{json, Value};

use crate::jobs_cli::{print_json, table};
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
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

pub async fn run(cfg: &Config, cmd: ChangesCommand) -> anyhow::Result<()> {
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
            let diff = c["diff"].as_array().cloned().unwrap_or_default();
            if !diff.is_empty() {
                println!("\nDiff:");
                for d in &diff {
                    println!("  {}: {} -> {}", text(d, "path"), d["before"], d["after"]);
                }
            }
            Ok(())
        }
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "(none)"
    } else {
        s
    }
}
