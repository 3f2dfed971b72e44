//! Comparing group DNs and mapping groups to role names.

use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A DN in a form fit for comparing: lower case, no spaces around unescaped `,`, `+`, `=`.
/// (Escaped characters are kept as written; two spellings of one escaped value may differ.)
pub(crate) fn normalize_dn(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    // Bytes of `out` that must not be trimmed (up to and including the last escaped char).
    let mut keep = 0;
    let mut chars = dn.trim_start().chars();
    let mut skip_spaces = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.next() {
                    out.extend(next.to_lowercase());
                }
                keep = out.len();
                skip_spaces = false;
            }
            ',' | '+' | '=' => {
                trim_end_from(&mut out, keep);
                out.push(c);
                skip_spaces = true;
            }
            ' ' if skip_spaces => {}
            _ => {
                out.extend(c.to_lowercase());
                skip_spaces = false;
            }
        }
    }
    trim_end_from(&mut out, keep);
    out
}

fn trim_end_from(out: &mut String, keep: usize) {
    while out.len() > keep && out.ends_with(' ') {
        out.pop();
    }
}

/// The value of the DN's first component if that component is `cn=…` (lower case).
pub(crate) fn first_cn(dn: &str) -> Option<String> {
    let normalized = normalize_dn(dn);
    let mut escaped = false;
    let mut end = normalized.len();
    for (i, c) in normalized.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' | '+' => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let (attr, value) = normalized[..end].split_once('=')?;
    (attr == "cn" && !value.is_empty()).then(|| value.to_string())
}

/// Drops repeated DNs (compared as by [`normalize_dn`]), keeping the first spelling.
pub(crate) fn dedup_groups(groups: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    groups.into_iter().filter(|g| seen.insert(normalize_dn(g))).collect()
}

/// The sorted, deduplicated role names that `groups` map to in `group_roles`.
pub(crate) fn map_roles(groups: &[String], group_roles: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut by_dn: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    let mut by_cn: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for (key, roles) in group_roles {
        let index = if key.contains('=') {
            by_dn.entry(normalize_dn(key))
        } else {
            by_cn.entry(key.trim().to_lowercase())
        };
        index.or_default().extend(roles.iter());
    }
    let mut roles = BTreeSet::new();
    for group in groups {
        let dn_roles = by_dn.get(&normalize_dn(group));
        let cn_roles = first_cn(group).and_then(|cn| by_cn.get(&cn));
        for role in dn_roles.into_iter().chain(cn_roles).flatten() {
            let role = role.trim();
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        }
    }
    roles.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_compare_without_case_or_spaces() {
        assert_eq!(
            normalize_dn(" CN=Admins , OU=Groups,dc=Keel, DC=test "),
            "cn=admins,ou=groups,dc=keel,dc=test"
        );
        assert_eq!(normalize_dn(r"cn=a\ ,dc=x"), r"cn=a\ ,dc=x");
        assert_eq!(normalize_dn(r"cn=a\,b,dc=x"), r"cn=a\,b,dc=x");
    }

    #[test]
    fn first_cn_only_for_cn_components() {
        assert_eq!(
            first_cn("CN=Domain Admins,CN=Users,DC=corp").as_deref(),
            Some("domain admins")
        );
        assert_eq!(first_cn(r"cn=a\,b,dc=x").as_deref(), Some(r"a\,b"));
        assert_eq!(first_cn("ou=admins,dc=x"), None);
        assert_eq!(first_cn("garbage"), None);
    }

    #[test]
    fn roles_by_dn_and_cn_are_merged_sorted_and_unique() {
        let map = BTreeMap::from([
            (
                "cn=Admins,ou=groups,dc=keel,dc=test".to_string(),
                vec!["admin".into(), "editor".into()],
            ),
            ("ADMINS".to_string(), vec!["editor".into()]),
            ("staff".to_string(), vec!["staff".into()]),
            ("cn=other,dc=x".to_string(), vec!["nope".into()]),
        ]);
        let groups = vec![
            "cn=admins, ou=Groups, dc=keel, dc=test".to_string(),
            "cn=staff,dc=y".into(),
        ];
        assert_eq!(map_roles(&groups, &map), ["admin", "editor", "staff"]);
        assert!(map_roles(&[], &map).is_empty());
    }

    #[test]
    fn duplicate_groups_are_dropped() {
        let groups = vec!["cn=a,dc=x".to_string(), "CN=A, DC=X".into(), "cn=b,dc=x".into()];
        assert_eq!(dedup_groups(groups), ["cn=a,dc=x", "cn=b,dc=x"]);
    }
}
