//! Notifications: the email sender (SMTP), message templates and webhook signing.
#![forbid(unsafe_code)]

pub mod providers;
pub mod smtp;
pub mod template;
mod text;
pub mod webhook;

pub use keel_core::mail::{Address, Mail, Mailer};
pub use smtp::{SmtpAuthMethod, SmtpConfig, SmtpMailer};
pub use template::{default_templates, render, DefaultTemplates, EmailTemplate, RenderedMail, Vars};
pub use text::html_to_text;
