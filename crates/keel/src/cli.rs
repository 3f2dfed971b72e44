//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Keel: records, auth, files and realtime (PocketBase's Web API) in one binary.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about, propagate_version = true)]
pub struct Cli {
    /// Where the database and uploaded files live [default: ./keel_data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Config file [default: ./keel.toml when present]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP server
    Serve(ServeArgs),
    /// Create, update or delete superusers
    #[command(subcommand)]
    Superuser(SuperuserCommand),
    /// Apply pending schema migrations and exit
    Migrate,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8090]; port 0 picks a free port
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SuperuserCommand {
    /// Create a superuser, or set the password of an existing one
    Upsert { email: String, password: String },
    /// Delete a superuser
    Delete { email: String },
}
