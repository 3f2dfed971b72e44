//! Notifications: channel providers (SMTP email; Web Push, FCM, APNs), message templates, and
//! the pure logic of the notifications service (quiet hours, digest windows, minijinja
//! templates, rate limits).
#![forbid(unsafe_code)]

pub mod digest;
pub mod prefs;
pub mod providers;
pub mod ratelimit;
pub mod render;
pub mod smtp;
pub mod template;
mod text;

pub use keel_core::mail::{Address, Mail, Mailer};
pub use smtp::{SmtpAuthMethod, SmtpConfig, SmtpMailer};
pub use template::{default_templates, render, DefaultTemplates, EmailTemplate, RenderedMail, Vars};
pub use text::html_to_text;
