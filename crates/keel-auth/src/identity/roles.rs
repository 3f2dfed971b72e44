//! Roles (built-in and custom) and their assignment to auth records.

use keel_core::error::FieldErrors;
use keel_core::{Error, FieldError, Result};
use keel_data::system::{ROLES, ROLE_ASSIGNMENTS};
use serde::Serialize;
use serde_json::Value;

use super::{boolean, json, obj, strings, text, Identity};
use crate::permissions::{is_builtin_role, is_valid_permission, is_valid_role_name, BUILTIN_ROLES};

/// A role: a name and the permission strings it grants.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    /// Built-in roles (`admin`, `operator`, `viewer`) cannot be changed or deleted.
    pub builtin: bool,
}

fn builtin(name: &str) -> Option<Role> {
    BUILTIN_ROLES.iter().find(|(n, _, _)| *n == name).map(|(n, d, p)| Role {
        name: n.to_string(),
        description: d.to_string(),
        permissions: p.iter().map(|s| s.to_string()).collect(),
        builtin: true,
    })
}

fn check(name: Option<&str>, permissions: &[String]) -> Result<()> {
    let mut errs = FieldErrors::new();
    if let Some(name) = name {
        if !is_valid_role_name(name) {
            errs.insert(
                "name".into(),
                FieldError::new(
                    "validation_invalid_role_name",
                    "Use 1-64 lowercase letters, digits, _ or -, starting with a letter.",
                ),
            );
        } else if is_builtin_role(name) {
            errs.insert(
                "name".into(),
                FieldError::new("validation_role_exists", "A built-in role has this name."),
            );
        }
    }
    if let Some(bad) = permissions.iter().find(|p| !is_valid_permission(p)) {
        errs.insert(
            "permissions".into(),
            FieldError::new(
                "validation_invalid_permission",
                format!("{bad:?} is not a permission: use service:action, service:*, *:action or *."),
            ),
        );
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::fields(errs))
    }
}

/// The roles assigned to one record (`$1` its collection id, `$2` its id), by name.
pub(super) const ROLES_OF: &str =
    "SELECT \"role\" FROM \"_roleAssignments\" WHERE \"collectionRef\" = $1 AND \"recordRef\" = $2 ORDER BY \"role\"";

impl Identity {
    /// Every role: the built-in ones first, then custom roles by name.
    pub async fn list_roles(&self) -> Result<Vec<Role>> {
        let mut out: Vec<Role> = BUILTIN_ROLES.iter().filter_map(|(n, _, _)| builtin(n)).collect();
        let rows = self
            .rows(
                "SELECT \"name\", \"description\", \"permissions\", \"builtin\" FROM \"_roles\" ORDER BY \"name\"",
                &[],
            )
            .await?;
        out.extend(rows.iter().filter(|r| !boolean(r, "builtin")).map(|r| Role {
            name: text(r, "name"),
            description: text(r, "description"),
            permissions: strings(&json(r, "permissions")),
            builtin: false,
        }));
        Ok(out)
    }

    /// One role by name.
    pub async fn role(&self, name: &str) -> Result<Option<Role>> {
        if let Some(r) = builtin(name) {
            return Ok(Some(r));
        }
        Ok(self.list_roles().await?.into_iter().find(|r| r.name == name))
    }

    async fn role_id(&self, name: &str) -> Result<Option<String>> {
        let rows = self
            .rows(
                "SELECT \"id\" FROM \"_roles\" WHERE \"name\" = $1",
                &[Value::from(name)],
            )
            .await?;
        Ok(rows.first().map(|r| text(r, "id")))
    }

    /// Creates a custom role (400 naming `name` or `permissions` when invalid or taken).
    pub async fn create_role(&self, name: &str, description: &str, permissions: Vec<String>) -> Result<Role> {
        check(Some(name), &permissions)?;
        if self.role_id(name).await?.is_some() {
            return Err(Error::field(
                "name",
                "validation_role_exists",
                "A role with this name exists.",
            ));
        }
        self.insert(
            ROLES,
            obj(vec![
                ("name", Value::from(name)),
                ("description", Value::from(description)),
                ("permissions", Value::from(permissions.clone())),
                ("builtin", Value::Bool(false)),
            ]),
        )
        .await?;
        Ok(Role {
            name: name.into(),
            description: description.into(),
            permissions,
            builtin: false,
        })
    }

    /// Changes a custom role's description and/or permissions.
    pub async fn update_role(
        &self,
        name: &str,
        description: Option<&str>,
        permissions: Option<Vec<String>>,
    ) -> Result<Role> {
        if is_builtin_role(name) {
            return Err(Error::Forbidden(format!(
                "The built-in role {name:?} cannot be changed."
            )));
        }
        let id = self
            .role_id(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("No role named {name:?}.")))?;
        let mut data = obj(vec![]);
        if let Some(p) = permissions {
            check(None, &p)?;
            data.insert("permissions".into(), Value::from(p));
        }
        if let Some(d) = description {
            data.insert("description".into(), Value::from(d));
        }
        self.update(ROLES, &id, data).await?;
        self.role(name).await?.ok_or_else(Error::not_found)
    }

    /// Deletes a custom role and every assignment of it.
    pub async fn delete_role(&self, name: &str) -> Result<()> {
        if is_builtin_role(name) {
            return Err(Error::Forbidden(format!(
                "The built-in role {name:?} cannot be deleted."
            )));
        }
        let id = self
            .role_id(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("No role named {name:?}.")))?;
        let rows = self
            .rows(
                "SELECT \"id\" FROM \"_roleAssignments\" WHERE \"role\" = $1",
                &[Value::from(name)],
            )
            .await?;
        for r in rows {
            self.delete(ROLE_ASSIGNMENTS, &text(&r, "id")).await?;
        }
        self.delete(ROLES, &id).await
    }

    /// The role names assigned to a record, sorted.
    pub async fn roles_of(&self, collection_id: &str, record_id: &str) -> Result<Vec<String>> {
        let rows = self
            .store
            .engine()
            .fetch_point(
                &self.hot.roles_of,
                &[Value::from(collection_id), Value::from(record_id)],
            )
            .await?;
        Ok(rows.iter().map(|r| text(r, "role")).collect())
    }

    /// Who holds the role `name`: `(collectionId, recordId)` pairs, ordered.
    pub async fn role_members(&self, name: &str) -> Result<Vec<(String, String)>> {
        let rows = self
            .rows(
                "SELECT \"collectionRef\", \"recordRef\" FROM \"_roleAssignments\" WHERE \"role\" = $1 ORDER BY \"collectionRef\", \"recordRef\"",
                &[Value::from(name)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (text(r, "collectionRef"), text(r, "recordRef")))
            .collect())
    }

    /// The permissions the roles `names` grant together (unknown roles grant nothing).
    pub async fn permissions_of(&self, names: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut custom = Vec::new();
        for n in names {
            match builtin(n) {
                Some(r) => out.extend(r.permissions),
                None => custom.push(Value::from(n.as_str())),
            }
        }
        if !custom.is_empty() {
            // Only the roles asked for (this runs for every signed-in request).
            let list: Vec<String> = (1..=custom.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT \"permissions\" FROM \"_roles\" WHERE \"name\" IN ({})",
                list.join(", ")
            );
            for r in self.rows(&sql, &custom).await? {
                out.extend(strings(&json(&r, "permissions")));
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Gives a record a role (400 naming `role` when it does not exist; no-op when held).
    pub async fn assign_role(&self, collection_id: &str, record_id: &str, role: &str) -> Result<()> {
        if self.role(role).await?.is_none() {
            return Err(Error::field(
                "role",
                "validation_unknown_role",
                format!("No role named {role:?}."),
            ));
        }
        if self.roles_of(collection_id, record_id).await?.iter().any(|r| r == role) {
            return Ok(());
        }
        self.insert(
            ROLE_ASSIGNMENTS,
            obj(vec![
                ("collectionRef", Value::from(collection_id)),
                ("recordRef", Value::from(record_id)),
                ("role", Value::from(role)),
            ]),
        )
        .await
        .map(|_| ())
    }

    /// Takes a role away from a record (no-op when not held).
    pub async fn unassign_role(&self, collection_id: &str, record_id: &str, role: &str) -> Result<()> {
        let rows = self
            .rows(
                "SELECT \"id\" FROM \"_roleAssignments\" WHERE \"collectionRef\" = $1 AND \"recordRef\" = $2 AND \"role\" = $3",
                &[Value::from(collection_id), Value::from(record_id), Value::from(role)],
            )
            .await?;
        for r in rows {
            self.delete(ROLE_ASSIGNMENTS, &text(&r, "id")).await?;
        }
        Ok(())
    }

    /// Makes a record's roles exactly `roles` (LDAP group mapping); unknown roles are skipped.
    pub async fn set_roles(&self, collection_id: &str, record_id: &str, roles: &[String]) -> Result<()> {
        let held = self.roles_of(collection_id, record_id).await?;
        for r in held.iter().filter(|r| !roles.contains(r)) {
            self.unassign_role(collection_id, record_id, r).await?;
        }
        for r in roles.iter().filter(|r| !held.contains(r)) {
            if self.role(r).await?.is_some() {
                self.assign_role(collection_id, record_id, r).await?;
            }
        }
        Ok(())
    }
}
