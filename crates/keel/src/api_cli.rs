//! `keel api diff OLD NEW`: the semver verdict between two OpenAPI 3.x documents (JSON or
//! YAML files), with findings in oasdiff's vocabulary (`keel_app::changes::api_diff`).
//! Human-readable by default, `--json` for `{verdict, breaking, findings}`. Exit status: 0
//! when nothing breaks, 1 when the verdict is major, 2 when a document cannot be read or is
//! not OpenAPI 3.x.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use keel_app::changes::{api_diff, Level, Report};
use serde_json::Value;

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Compare two OpenAPI 3.x documents and give the semver verdict (major = breaking)
    #[command(after_help = "Exit status: 0 when nothing breaks (verdict minor, patch or none), \
1 when the verdict is major (a breaking change), 2 when a document cannot be read or is not \
OpenAPI 3.x.")]
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The document before the change (JSON, or YAML by its .yaml/.yml extension)
    pub old: PathBuf,
    /// The document after the change
    pub new: PathBuf,
    /// Print `{verdict, breaking, findings}` as JSON instead of text
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: ApiCommand) -> ExitCode {
    match cmd {
        ApiCommand::Diff(args) => diff(&args),
    }
}

fn read(label: &str, path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{label} ({}): cannot read: {e}", path.display()))?;
    let yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
    let doc: Value = if yaml {
        serde_norway::from_str(&text).map_err(|e| format!("{label} ({}): not valid YAML: {e}", path.display()))?
    } else {
        serde_json::from_str(&text).map_err(|e| format!("{label} ({}): not valid JSON: {e}", path.display()))?
    };
    api_diff::check_document(label, &doc).map_err(|e| match e {
        keel_core::Error::BadRequest { fields, message } => {
            let why = fields.values().next().map_or(message, |f| f.message.clone());
            format!("{label} ({}): {why}", path.display())
        }
        other => format!("{label} ({}): {other}", path.display()),
    })?;
    Ok(doc)
}

fn diff(args: &DiffArgs) -> ExitCode {
    let docs = read("OLD", &args.old).and_then(|o| Ok((o, read("NEW", &args.new)?)));
    let (old, new) = match docs {
        Ok(d) => d,
        Err(e) => {
            eprintln!("keel: {e}");
            return ExitCode::from(2);
        }
    };
    let report = Report::new(api_diff::diff(&old, &new));
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("keel: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", text(&report));
    }
    if report.breaking {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The report for a person: the verdict, then one line per finding, most severe first.
fn text(r: &Report) -> String {
    let mut out = format!(
        "verdict: {}{}\n",
        r.verdict,
        if r.breaking { " (breaking)" } else { "" }
    );
    if r.findings.is_empty() {
        out.push_str("no differences found\n");
    }
    for f in &r.findings {
        let tag = match f.level {
            Level::Major => "MAJOR",
            Level::Minor => "minor",
            Level::Patch => "patch",
        };
        out.push_str(&format!("{tag:5}  {:40}  {}\n", f.code, f.message));
    }
    out
}
