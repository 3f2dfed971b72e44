//! `keel audit verify`: walks the audit trail's hash chain (`_audit`, see
//! `keel-data/src/store/audit.rs`) in the data dir's database, opened directly. Exits 0 and
//! prints the number of entries and the newest entry's hash when every entry is in place;
//! exits 1 naming the first broken entry and what is wrong (changed content, deleted
//! entries, reordered entries).

use clap::Subcommand;
use keel_core::config::Config;
use keel_data::AuditVerification;

use crate::wiring::open_store_alone;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that no audit entry was changed, deleted or reordered since it was written
    Verify,
}

pub async fn run(cfg: &Config, cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify => {
            let store = open_store_alone(cfg).await?;
            match store.verify_audit().await? {
                AuditVerification::Intact { count, head } => {
                    println!("The audit trail is intact: {count} entries.");
                    if !head.is_empty() {
                        println!("Head hash: {head}");
                    }
                    Ok(())
                }
                AuditVerification::Broken { id, seq, problem } => {
                    anyhow::bail!("the audit trail is broken at entry {id} (seq {seq}): {problem}.")
                }
            }
        }
    }
}
