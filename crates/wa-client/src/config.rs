//! How a socket connects and presents itself: Baileys' `SocketConfig` fields that matter to
//! the protocol, with Baileys' defaults.

use std::time::Duration;

/// Baileys 7.0.0-rc14's WhatsApp Web version (`Defaults/index.js`).
pub const DEFAULT_VERSION: [u32; 3] = [2, 3000, 1_043_857_760];
pub const DEFAULT_URL: &str = "wss://web.whatsapp.com/ws/chat";
pub const ORIGIN: &str = "https://web.whatsapp.com";
/// Prekeys uploaded when the server has none (Baileys' `INITIAL_PREKEY_COUNT`).
pub const INITIAL_PREKEY_COUNT: u32 = 812;
/// Refill threshold and refill size (Baileys' `MIN_PREKEY_COUNT`).
pub const MIN_PREKEY_COUNT: u32 = 5;

/// `[os, browser, version]`, as Baileys' `Browsers.macOS('Chrome')`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Browser {
    pub os: String,
    pub name: String,
    pub version: String,
}

impl Browser {
    pub fn new(os: &str, name: &str, version: &str) -> Self {
        Self {
            os: os.into(),
            name: name.into(),
            version: version.into(),
        }
    }

    /// Baileys' default, `Browsers.macOS('Chrome')`.
    pub fn mac_chrome() -> Self {
        Self::new("Mac OS", "Chrome", "14.4.1")
    }

    /// `CompanionWebClientType` as a string: the last field of the QR and the link-code
    /// request's platform id.
    pub fn companion_platform_id(&self) -> &'static str {
        match self.name.as_str() {
            "Desktop" if self.os == "Windows" => "8",
            "Desktop" => "7",
            "Chrome" => "1",
            "Edge" => "2",
            "Firefox" => "3",
            "IE" => "4",
            "Opera" => "5",
            "Safari" => "6",
            _ => "9",
        }
    }

    pub fn is_android(&self) -> bool {
        self.name.to_lowercase().contains("android")
    }
}

/// Everything the client needs besides credentials and keys.
#[derive(Debug, Clone)]
pub struct Config {
    pub url: String,
    /// The key that must sign the server's intermediate certificate.
    pub trust_root: [u8; 32],
    pub browser: Browser,
    pub version: [u32; 3],
    pub country_code: String,
    /// Asks the phone for a full history sync at pairing (`syncFullHistory`).
    pub sync_full_history: bool,
    pub connect_timeout: Duration,
    pub keep_alive_interval: Duration,
    pub default_query_timeout: Duration,
    /// How long the first QR lives (`qrTimeout`, default 60 s; 20 s for the ones after).
    pub qr_timeout: Option<Duration>,
    /// Send delivery receipts (`markOnlineOnConnect`-independent; Baileys sends `inactive`
    /// receipts until the account has a push name).
    pub emit_own_events: bool,
    /// On open, tell the server we are online (`markOnlineOnConnect`, default true), else
    /// offline; either needs a push name, as in Baileys.
    pub mark_online_on_connect: bool,
    /// Where a retry receipt for a message no longer in memory finds it (Baileys'
    /// `getMessage`: the app's function, or the socket's store); `None`: only the last
    /// messages sent by this process can be sent again.
    pub message_source: Option<crate::retry::SharedSource>,
    /// How long an answer the app confirmed (a receipt's ack) may wait to ride the
    /// connection's next write before it is written on its own (25 ms; see `delivery`).
    pub answer_delay: Duration,
    /// Where the connection's tasks run and how its socket is opened (see `runner`); `None`:
    /// on the current tokio runtime.
    pub runner: Option<crate::runner::SharedRunner>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.into(),
            trust_root: wa_noise::WA_CERT_ROOT,
            browser: Browser::mac_chrome(),
            version: DEFAULT_VERSION,
            country_code: "US".into(),
            sync_full_history: true,
            connect_timeout: Duration::from_secs(20),
            keep_alive_interval: Duration::from_secs(30),
            default_query_timeout: Duration::from_secs(60),
            qr_timeout: None,
            emit_own_events: true,
            mark_online_on_connect: true,
            message_source: None,
            answer_delay: crate::delivery::ANSWER_DELAY,
            runner: None,
        }
    }
}
