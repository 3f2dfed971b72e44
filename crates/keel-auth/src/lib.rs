//! Identity primitives: argon2id password hashes and auth tokens (JWT, HS256) signed with a
//! collection's secret joined to the record's `tokenKey`, so rotating either revokes tokens.
#![forbid(unsafe_code)]

pub mod identity;
pub mod ldap;
pub mod oauth2;
pub mod password;
pub mod permissions;
pub mod secret;
pub mod token;
pub mod totp;

pub use identity::{AuditEntry, Identity};
pub use password::{hash_password, verify_password};
pub use token::{Claims, TokenKind};
