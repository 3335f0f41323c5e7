//! Size limits on every input, in one place so the API, the docs and the
//! tests agree. Bodies are limited separately by the server configuration.

/// Longest tenant name, in bytes.
pub const MAX_TENANT_NAME: usize = 64;
/// Longest channel name or pattern, in bytes.
pub const MAX_CHANNEL_NAME: usize = 128;
/// Longest notification type, in bytes.
pub const MAX_EVENT_TYPE: usize = 64;
/// Longest user id (`sub` claim, recipient), in bytes.
pub const MAX_USER_ID: usize = 128;
/// Most recipients on one notification.
pub const MAX_RECIPIENTS: usize = 1000;
/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Longest key name (API keys), in bytes.
pub const MAX_KEY_NAME: usize = 64;
/// Most channel patterns in one token or one stream request.
pub const MAX_PATTERNS: usize = 64;
/// Longest subscriber token, in bytes.
pub const MAX_TOKEN: usize = 8 * 1024;
/// Longest uploaded public key (PEM), in bytes.
pub const MAX_PUBLIC_KEY_PEM: usize = 16 * 1024;
/// Longest plugin name, in bytes.
pub const MAX_PLUGIN_NAME: usize = 64;
/// Longest plugin version, in bytes.
pub const MAX_PLUGIN_VERSION: usize = 64;
/// Most plugins in one channel's chain.
pub const MAX_PLUGIN_CHAIN: usize = 8;
/// Largest configuration of one plugin in a chain, as JSON text, in bytes.
pub const MAX_PLUGIN_CONFIG: usize = 16 * 1024;
/// Longest per-call deadline a chain step may ask for, in milliseconds.
pub const MAX_PLUGIN_DEADLINE_MS: u64 = 1000;

/// Longest allowed browser origin, in bytes.
pub const MAX_ORIGIN: usize = 256;
/// Most allowed origins per tenant.
pub const MAX_ORIGINS: usize = 32;
/// Most ids in one mark-as-read request.
pub const MAX_READ_IDS: usize = 1000;
/// Most read receipts (notifications marked read one by one above the
/// watermark) kept per user; past it a mark-as-read by ids is refused and
/// the client moves the watermark instead.
pub const MAX_READ_RECEIPTS: u64 = 10_000;
/// Highest unread count reported; past it the count says it is capped.
pub const MAX_UNREAD_COUNT: u64 = 1000;

/// Longest recipient email address, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL_ADDRESS: usize = 254;
/// Longest recipient locale (a BCP 47 tag such as `fr-CA`), in bytes.
pub const MAX_LOCALE: usize = 35;
/// Most channel patterns in a recipient's email preferences.
pub const MAX_EMAIL_CHANNELS: usize = 64;
/// Most channels a recipient may have unsubscribed from one by one; past
/// it, an unsubscribe link turns all of the recipient's email off.
pub const MAX_EMAIL_UNSUBSCRIBED: usize = 256;
/// Longest delay before a notification is emailed, in seconds (7 days).
pub const MAX_EMAIL_AFTER_SECONDS: u32 = 7 * 24 * 3600;
/// Longest digest window, in seconds (1 day).
pub const MAX_EMAIL_DIGEST_SECONDS: u32 = 24 * 3600;
/// Largest email template (subject, text or HTML), in bytes.
pub const MAX_EMAIL_TEMPLATE: usize = 16 * 1024;
