//! Notifications: the channel providers behind keel-core's `Notifier` (email, SMS, chat, push;
//! see [`providers`]), the SMTP mailer, message templates, webhook signing, and the pure logic
//! of the notifications service (quiet hours, digest windows, minijinja templates, rate limits).
#![forbid(unsafe_code)]

pub mod digest;
pub mod prefs;
pub mod providers;
pub mod ratelimit;
pub mod render;
pub mod smtp;
pub mod template;
mod text;
pub mod webhook;

pub use keel_core::mail::{Address, Mail, Mailer};
pub use smtp::{SmtpAuthMethod, SmtpConfig, SmtpMailer, TlsMode};
pub use template::{default_templates, render, DefaultTemplates, EmailTemplate, RenderedMail, Vars};
pub use text::{html_to_text, text_as_html};
