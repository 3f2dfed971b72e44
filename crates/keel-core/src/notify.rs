//! The `Notifier` contract: hand one message to one channel's provider (an email service, an
//! SMS gateway, a chat webhook, a push service).
//!
//! The notifications service (`keel-app`'s `notifications`) renders templates, applies
//! preferences, quiet hours, digests and rate limits, and runs each delivery as a job; it
//! holds every configured provider as `Arc<dyn Notifier>` and calls [`Notifier::send`] once per
//! attempt. Providers live in `keel-notify`, one per service, and all pass one behaviour suite
//! (`keel-testkit`'s `notify.rs`) against a local stand-in of their service. The guarantees
//! every provider keeps:
//!
//! - **`Ok(Sent)` means the service accepted the message** (its API answered 2xx, the SMTP
//!   server its final `250`), with the service's own message id when it gives one. Nothing
//!   about the recipient's device or inbox.
//! - **One attempt per call, no retry inside**, bounded by the provider's timeout; the jobs
//!   service retries. A retried send may deliver twice.
//! - **A failure says what to do next** ([`NotifyError`]): `Retry` (unreachable, timeout,
//!   5xx, 429: try again, after `after` when the service said so in `Retry-After`), `Rejected`
//!   (the service refused this message for good: a 4xx other than 408/429, an invalid number),
//!   `Gone` (the address or device no longer exists: a web push 404/410, an APNs 410
//!   `Unregistered`, an FCM `UNREGISTERED`; the caller drops the subscription). The text names
//!   the service and its answer (capped), never a credential.
//! - **Every HTTP request goes through the outbound guard** (`OutboundGuard`), to a base URL the
//!   operator can change (`base_url`), so a stand-in can replace the service in tests and a
//!   private relay can be allow-listed.
//! - **Nothing secret is logged**: API keys, tokens, signing keys and message bodies never
//!   reach a log line.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kinds of channel a notification goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
    Chat,
    Push,
    /// Stored per user and delivered live over realtime: the notifications service itself,
    /// never a provider.
    InApp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Chat => "chat",
            Channel::Push => "push",
            Channel::InApp => "inapp",
        }
    }
}

/// Where one message goes, in the form its channel needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Recipient {
    /// An email address.
    Email { address: String },
    /// A phone number in E.164 form (`+14155550100`).
    Phone { number: String },
    /// The chat provider's configured destination (a Slack, Teams or Discord incoming
    /// webhook); `channel` overrides the destination's default where the service allows it.
    Chat { channel: Option<String> },
    /// A browser's Web Push subscription (`PushSubscription.toJSON()`): its endpoint and its
    /// `p256dh` and `auth` keys, base64url.
    WebPush {
        endpoint: String,
        p256dh: String,
        auth: String,
    },
    /// A device token of FCM or APNs.
    Device { token: String },
}

/// One rendered message for one recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub to: Recipient,
    /// The subject of an email, the title of a push notification or chat message.
    pub subject: Option<String>,
    /// The plain text (the SMS, the chat message, the push body, the email's text part).
    pub text: String,
    /// The email's HTML part.
    pub html: Option<String>,
    /// Extra data for push (a JSON object delivered with the notification) and chat
    /// (provider-specific blocks); `Null` when none.
    pub data: Value,
}

/// What the service answered when it accepted a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The service's id of the message, when it gives one (SES `MessageId`, Twilio `sid`).
    pub provider_id: Option<String>,
}

/// Why a send failed, and what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Worth trying again, after `after` when the service said how long.
    #[error("{message}")]
    Retry { message: String, after: Option<Duration> },
    /// The service refused this message for good.
    #[error("{0}")]
    Rejected(String),
    /// The address or device no longer exists; drop it.
    #[error("{0}")]
    Gone(String),
}

/// One channel provider.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Its configured name (`ses`, `slack-ops`), unique among the providers.
    fn name(&self) -> &str;

    /// The channel it delivers on.
    fn channel(&self) -> Channel;

    /// At most how many messages per second the service takes from Keel (`None`: no limit
    /// of Keel's own); the notifications service queues messages beyond it.
    fn rate_per_second(&self) -> Option<u32> {
        None
    }

    /// Sends one message (one attempt).
    async fn send(&self, message: &Message) -> Result<Sent, NotifyError>;
}
