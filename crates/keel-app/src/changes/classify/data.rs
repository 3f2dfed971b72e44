//! The data checks: each finding that carries a `Probe` gets its `affectedRows` counted on
//! the collection's table as it is now (read-only, bound SQL built by keel-data's store).

use keel_core::Error;
use keel_data::Store;

use crate::changes::finding::Finding;

/// Runs the probes of `findings` against `collection` (name or id of the current one).
pub async fn run(store: &Store, collection: &str, findings: &mut [Finding]) -> Result<(), Error> {
    for f in findings.iter_mut() {
        let Some(probe) = f.probe.take() else { continue };
        let n = store.probe(collection, &probe).await?;
        f.affected_rows = Some(n);
        let what = if f.code == "unique-index-added" {
            format!(" Today {n} group(s) of records share values.")
        } else {
            format!(" Existing records affected: {n}.")
        };
        f.message.push_str(&what);
    }
    Ok(())
}
