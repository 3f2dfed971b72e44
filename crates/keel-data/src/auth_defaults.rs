//! The defaults of a new auth collection's options that PocketBase 0.40 gives: its email
//! templates (`{PLACEHOLDER}` syntax, filled in by keel-app's auth mail) and token lifetimes.

/// A default email template: subject and HTML body.
pub struct DefaultMail {
    pub subject: &'static str,
    pub body: &'static str,
}

pub const VERIFICATION: DefaultMail = DefaultMail {
    subject: "Verify your {APP_NAME} email",
    body: "<p>Hello,</p>\n<p>Thank you for joining us at {APP_NAME}.</p>\n<p>Click on the button below to verify your email address.</p>\n<p>\n  <a class=\"btn\" href=\"{APP_URL}/_/#/auth/confirm-verification/{TOKEN}\" target=\"_blank\" rel=\"noopener\">Verify</a>\n</p>\n<p><i>If you didn't recently register, please ignore this email.</i></p>\n<p>\n  Thanks,<br/>\n  {APP_NAME} team\n</p>",
};

pub const RESET_PASSWORD: DefaultMail = DefaultMail {
    subject: "Reset your {APP_NAME} password",
    body: "<p>Hello,</p>\n<p>Click on the button below to reset your password.</p>\n<p>\n  <a class=\"btn\" href=\"{APP_URL}/_/#/auth/confirm-password-reset/{TOKEN}\" target=\"_blank\" rel=\"noopener\">Reset password</a>\n</p>\n<p><i>If you didn't ask to reset your password, please ignore this email.</i></p>\n<p>\n  Thanks,<br/>\n  {APP_NAME} team\n</p>",
};

pub const CONFIRM_EMAIL_CHANGE: DefaultMail = DefaultMail {
    subject: "Confirm your {APP_NAME} new email address",
    body: "<p>Hello,</p>\n<p>Click on the button below to confirm your new email address.</p>\n<p>\n  <a class=\"btn\" href=\"{APP_URL}/_/#/auth/confirm-email-change/{TOKEN}\" target=\"_blank\" rel=\"noopener\">Confirm new email</a>\n</p>\n<p><i>If you didn't ask to change your email address, please ignore this email.</i></p>\n<p>\n  Thanks,<br/>\n  {APP_NAME} team\n</p>",
};

pub const OTP: DefaultMail = DefaultMail {
    subject: "OTP for {APP_NAME}",
    body: "<p>Hello,</p>\n<p>Your one-time password is: <strong>{OTP}</strong></p>\n<p><i>If you didn't ask for the one-time password, you can ignore this email.</i></p>\n<p>\n  Thanks,<br/>\n  {APP_NAME} team\n</p>",
};

pub const AUTH_ALERT: DefaultMail = DefaultMail {
    subject: "Login from a new location",
    body: "<p>Hello,</p>\n<p>We noticed a login to your {APP_NAME} account from a new location:</p>\n<p><em>{ALERT_INFO}</em></p>\n<p><strong>If this wasn't you, you should immediately change your {APP_NAME} account password to revoke access from all other locations.</strong></p>\n<p>If this was you, you may disregard this email.</p>\n<p>\n  Thanks,<br/>\n  {APP_NAME} team\n</p>",
};
