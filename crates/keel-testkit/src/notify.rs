//! The behaviour suite every HTTP notification provider passes against its stand-in (the email,
//! SMS and chat services of [`crate::notify_standins`], the push services of
//! [`crate::push_standins`]): the guarantees of keel-core's `Notifier` contract.
//!
//! 1. An accepted message is `Ok(Sent)` with the service's id, after exactly one request that
//!    the stand-in found valid (credentials or signature, body shape) and that the case's own
//!    `check_request` finds exact.
//! 2. A 500 is `Retry` without a delay, naming the status (one request: no retry inside the
//!    call).
//! 3. A 429 with `Retry-After: 7` is `Retry { after: 7 s }`; a 503 with an HTTP-date
//!    `Retry-After` is `Retry` after about that long; a 408 is `Retry`.
//! 4. A 400 is `Rejected`, naming the status and quoting the answer, even when the answer
//!    echoes the credential.
//! 5. A recipient of another kind than the case's message (a device token for an email, SMS
//!    or chat provider; an email address for a push provider) is `Rejected` without a request.
//! 6. An unreachable service is `Retry`: the case's `offline` message when its recipient holds
//!    the address (a Web Push subscription's endpoint), else the provider built against a base
//!    URL nothing listens on.
//! 7. No error text contains a credential or a line of one (a PEM key), and every request the
//!    stand-in saw was valid.

use std::sync::Arc;
use std::time::Duration;

use keel_core::notify::{Message, Notifier, NotifyError, Recipient, Sent};

use crate::notify_standins::{Reply, StandIn};

/// A stand-in the suite drives: where it listens, what it received, what it refused, and the
/// answer it gives next.
pub trait SuiteStandIn: Send + Sync {
    /// One request as the stand-in records it (what a case's `check_request` reads).
    type Request;

    /// Its base URL (`http://127.0.0.1:PORT`).
    fn url(&self) -> &str;

    /// The message requests it received, in order (a push stand-in's token exchanges aside).
    fn requests(&self) -> Vec<Self::Request>;

    /// Why requests failed its checks (empty when every request was valid).
    fn problems(&self) -> Vec<String>;

    /// The next valid request gets `reply` (queued after earlier scripted replies).
    fn answer_next(&self, reply: Reply);
}

/// One provider under test.
pub struct NotifierCase<S: SuiteStandIn = StandIn> {
    /// Names the case in assertion messages.
    pub name: &'static str,
    /// The running stand-in of the provider's service.
    pub standin: S,
    /// Builds the provider against a base URL (the stand-in's, or an unreachable one).
    #[allow(clippy::type_complexity)]
    pub build: Box<dyn Fn(&str) -> Arc<dyn Notifier> + Send + Sync>,
    /// A message for the provider's channel.
    pub message: Message,
    /// A message whose recipient holds an address nothing listens on, for a provider whose
    /// address is in the recipient (Web Push); `None`: the provider built against an
    /// unreachable base URL stands for an unreachable service.
    pub offline: Option<Message>,
    /// The credentials: no error may contain them.
    pub secrets: Vec<String>,
    /// The provider id the stand-in's default answer to the first message yields.
    pub provider_id: Option<String>,
    /// Asserts the exact content of the accepted request (recipient, sender, body values).
    #[allow(clippy::type_complexity)]
    pub check_request: Box<dyn Fn(&S::Request) + Send + Sync>,
}

/// A base URL nothing listens on (a port bound then released).
pub async fn unreachable_base() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a probe port");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    format!("http://{addr}")
}

/// Runs every case of the suite (see the module docs).
pub async fn notifier_suite<S: SuiteStandIn>(case: &NotifierCase<S>) {
    let name = case.name;
    let notifier = (case.build)(case.standin.url());
    // A secret, or any line of one (a PEM key is longer than an error's excerpt).
    let no_secret = |text: &str| {
        for s in &case.secrets {
            let lines = s
                .lines()
                .map(str::trim)
                .filter(|l| l.len() >= 16 && !l.starts_with("-----"));
            for piece in std::iter::once(s.as_str()).chain(lines) {
                assert!(!text.contains(piece), "{name}: an error shows a credential: {text}");
            }
        }
    };

    // 1. accepted
    let sent = notifier.send(&case.message).await;
    assert_eq!(
        sent,
        Ok(Sent {
            provider_id: case.provider_id.clone()
        }),
        "{name}: an accepted message"
    );
    let seen = case.standin.requests();
    assert_eq!(seen.len(), 1, "{name}: one request per send");
    assert_eq!(
        case.standin.problems(),
        Vec::<String>::new(),
        "{name}: the stand-in found the request valid"
    );
    (case.check_request)(&seen[0]);

    // 2. a 500 is retried by the caller, not inside the call
    case.standin.answer_next(Reply::new(500, "internal error"));
    match notifier.send(&case.message).await {
        Err(NotifyError::Retry { message, after: None }) => {
            assert!(message.contains("500"), "{name}: the status is named: {message}");
            no_secret(&message);
        }
        other => panic!("{name}: a 500 should be Retry without a delay, got {other:?}"),
    }
    assert_eq!(case.standin.requests().len(), 2, "{name}: no retry inside send");

    // 3. 429 with Retry-After seconds, 503 with Retry-After as an HTTP date
    case.standin
        .answer_next(Reply::new(429, "slow down").header("retry-after", "7"));
    match notifier.send(&case.message).await {
        Err(NotifyError::Retry { after, message }) => {
            assert_eq!(after, Some(Duration::from_secs(7)), "{name}: Retry-After: 7");
            no_secret(&message);
        }
        other => panic!("{name}: a 429 should be Retry, got {other:?}"),
    }
    let at = chrono::Utc::now() + chrono::Duration::seconds(30);
    case.standin.answer_next(
        Reply::new(503, "maintenance").header("retry-after", at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
    );
    match notifier.send(&case.message).await {
        Err(NotifyError::Retry { after: Some(after), .. }) => {
            assert!(
                after > Duration::from_secs(20) && after <= Duration::from_secs(30),
                "{name}: an HTTP-date Retry-After 30 s ahead, got {after:?}"
            );
        }
        other => panic!("{name}: a 503 with an HTTP-date Retry-After should be Retry after it, got {other:?}"),
    }
    case.standin.answer_next(Reply::new(408, "timeout"));
    assert!(
        matches!(notifier.send(&case.message).await, Err(NotifyError::Retry { .. })),
        "{name}: a 408 is Retry"
    );

    // 4. a 400 is rejected for good, and an echoed credential is not repeated
    let echo = format!("invalid request; you sent {}", case.secrets.join(" and "));
    case.standin.answer_next(Reply::new(400, echo));
    match notifier.send(&case.message).await {
        Err(NotifyError::Rejected(text)) => {
            assert!(text.contains("400"), "{name}: the status is named: {text}");
            assert!(text.contains("invalid request"), "{name}: the answer is quoted: {text}");
            no_secret(&text);
        }
        other => panic!("{name}: a 400 should be Rejected, got {other:?}"),
    }

    // 5. a recipient of another kind: rejected without a request
    let before = case.standin.requests().len();
    let mut wrong = case.message.clone();
    wrong.to = match case.message.to {
        Recipient::Email { .. } => Recipient::Device {
            token: "device-token".into(),
        },
        _ => Recipient::Email {
            address: "ann@x.test".into(),
        },
    };
    match notifier.send(&wrong).await {
        Err(NotifyError::Rejected(text)) => no_secret(&text),
        other => panic!("{name}: {:?} is not this provider's recipient, got {other:?}", wrong.to),
    }
    assert_eq!(
        case.standin.requests().len(),
        before,
        "{name}: nothing sent for a wrong recipient"
    );

    // 6. unreachable
    let offline = match &case.offline {
        Some(message) => notifier.send(message).await,
        None => (case.build)(&unreachable_base().await).send(&case.message).await,
    };
    match offline {
        Err(NotifyError::Retry { message, .. }) => no_secret(&message),
        other => panic!("{name}: an unreachable service should be Retry, got {other:?}"),
    }
    assert_eq!(
        case.standin.requests().len(),
        before,
        "{name}: nothing reached the stand-in when the service was unreachable"
    );
    assert_eq!(
        case.standin.problems(),
        Vec::<String>::new(),
        "{name}: every request was valid"
    );
}
