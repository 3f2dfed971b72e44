//! Keel's parsed query ([`SearchQuery`]) as a PostgreSQL `tsquery` expression, never from
//! the user's raw text: each included word is `plainto_tsquery(cfg, word)` (its stem; a
//! word the language ignores, such as `the` in English, drops out), OR-ed with `'word':*`
//! for the last word (a prefix of the stored stems) and with the typo candidates found for
//! it; each phrase is `phraseto_tsquery(cfg, words)` (`<->` between its stems); the parts
//! are AND-ed (`&&`), exclusions negated (`!!`, exact words and phrases only).
//!
//! Typo candidates: the lexemes of the index (`keel_search_terms`) sharing trigrams with the
//! word's stem (`pg_trgm`'s `%` at a similarity of 0.15, low enough for every one-edit
//! neighbour of a 5-letter word), kept when they are exactly one edit away.

use std::collections::HashMap;
use std::sync::Arc;

use keel_core::search::{QueryPart, SearchQuery, FUZZY_MIN_CHARS};
use keel_core::Result;
use keel_sql::{Engine, SqlBuf};
use serde_json::Value;

use super::tables::TERMS;
use crate::highlight::within_one_edit;

/// The trigram similarity under which no typo candidate is looked at.
const TRIGRAM_FLOOR: &str = "0.15";

/// A lexeme as a `tsquery` literal (`'…'`, quotes doubled, backslashes escaped).
fn literal(lexeme: &str) -> String {
    format!("'{}'", lexeme.replace('\\', "\\\\").replace('\'', "''"))
}

/// The typo candidates of the query's typo-tolerant words: word → lexemes one edit from its
/// stem. `trgm` is the quoted schema of `pg_trgm`.
pub(super) async fn typo_candidates(
    engine: &Arc<dyn Engine>,
    trgm: &str,
    index: &str,
    cfg: &str,
    query: &SearchQuery,
) -> Result<HashMap<String, Vec<String>>> {
    let words: Vec<Value> = query
        .include
        .iter()
        .filter_map(|p| match p {
            QueryPart::Word { word, fuzzy: true, .. } => Some(Value::String(word.clone())),
            _ => None,
        })
        .collect();
    if words.is_empty() {
        return Ok(HashMap::new());
    }
    let mut buf = SqlBuf::new(engine.dialect());
    let cfg = buf.bind(Value::String(cfg.to_string()));
    let list = buf.bind(Value::Array(words));
    let idx = buf.bind(Value::String(index.to_string()));
    buf.push(&format!(
        "SELECT s.word AS word, s.stem AS stem, t.term AS term FROM \
         (SELECT w.value AS word, (tsvector_to_array(to_tsvector({cfg}::regconfig, w.value)))[1] AS stem \
          FROM json_array_elements_text({list}::json) AS w) AS s \
         JOIN {TERMS} t ON t.idx = {idx} AND t.term OPERATOR({trgm}.%) s.stem \
         WHERE char_length(s.stem) >= {FUZZY_MIN_CHARS}"
    ));
    let mut tx = engine.begin_concurrent().await?;
    tx.execute(
        &format!("SET LOCAL pg_trgm.similarity_threshold = {TRIGRAM_FLOOR}"),
        &[],
    )
    .await?;
    let rows = tx.fetch_all(&buf.text, &buf.params).await?;
    drop(tx);
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let get = |c: &str| row.get(c).and_then(Value::as_str).unwrap_or_default().to_string();
        let (word, stem, term) = (get("word"), get("stem"), get("term"));
        if term != stem && within_one_edit(&stem, &term) {
            out.entry(word).or_default().push(term);
        }
    }
    Ok(out)
}

/// One word or phrase as a `tsquery` expression; `loose` adds the prefix and typo forms
/// (not for exclusions).
fn part(buf: &mut SqlBuf, cfg: &str, p: &QueryPart, loose: bool, typos: &HashMap<String, Vec<String>>) -> String {
    match p {
        QueryPart::Word { word, prefix, .. } => {
            let mut any = vec![format!(
                "plainto_tsquery({cfg}, {})",
                buf.bind(Value::String(word.clone()))
            )];
            if loose && *prefix {
                let p = buf.bind(Value::String(format!("{}:*", literal(word))));
                any.push(format!("{p}::tsquery"));
            }
            if let Some(terms) = typos.get(word).filter(|t| loose && !t.is_empty()) {
                let alts: Vec<String> = terms.iter().map(|t| literal(t)).collect();
                let p = buf.bind(Value::String(alts.join(" | ")));
                any.push(format!("{p}::tsquery"));
            }
            format!("({})", any.join(" || "))
        }
        QueryPart::Phrase(words) => format!("phraseto_tsquery({cfg}, {})", buf.bind(Value::String(words.join(" ")))),
    }
}

/// The `tsquery` expression of `query` (`cfg` is the bound `regconfig` expression).
pub(super) fn tsquery(
    buf: &mut SqlBuf,
    cfg: &str,
    query: &SearchQuery,
    typos: &HashMap<String, Vec<String>>,
) -> String {
    let mut all: Vec<String> = query.include.iter().map(|p| part(buf, cfg, p, true, typos)).collect();
    for p in &query.exclude {
        let x = part(buf, cfg, p, false, typos);
        all.push(format!("!!{x}"));
    }
    all.join(" && ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexemes_are_quoted_literals() {
        assert_eq!(literal("fox"), "'fox'");
        assert_eq!(literal("o'neil\\"), "'o''neil\\\\'");
    }

    #[test]
    fn the_query_is_built_from_the_parsed_parts_only() {
        let q = SearchQuery::parse(r#"brwon "lazy dog" -cat qui"#).unwrap();
        let mut buf = SqlBuf::new(&keel_sql::postgres::POSTGRES);
        let typos = HashMap::from([("brwon".to_string(), vec!["brown".to_string()])]);
        let expr = tsquery(&mut buf, "$0::regconfig", &q, &typos);
        assert_eq!(
            expr,
            "(plainto_tsquery($0::regconfig, $1) || $2::tsquery) && phraseto_tsquery($0::regconfig, $3) \
             && (plainto_tsquery($0::regconfig, $4) || $5::tsquery) && !!(plainto_tsquery($0::regconfig, $6))"
        );
        let p: Vec<&str> = buf.params.iter().filter_map(Value::as_str).collect();
        assert_eq!(p, ["brwon", "'brown'", "lazy dog", "qui", "'qui':*", "cat"]);
    }
}
