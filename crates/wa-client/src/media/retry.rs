//! Media retry, the receiving half: the phone's `<notification type="mediaretry">` (the answer
//! to our `<receipt type="server-error">` asking it to upload an expired file again) becomes a
//! [`MediaRetryUpdate`] (Baileys' `messages.media-update`). The answer stays encrypted here:
//! only the app holds the message and its `mediaKey`, and opens it with
//! [`wa_crypto::media_retry::media_retry_open`] (Baileys' `decryptMediaRetryData`).
//!
//! The node, as WhatsApp sends it:
//!
//! ```text
//! <notification type="mediaretry" id=MSG_ID from=.. t=..>
//!   <encrypt><enc_p>ciphertext</enc_p><enc_iv>iv</enc_iv></encrypt>   (or <error code=N/>)
//!   <rmr jid=CHAT from_me="true|false" participant=..?/>
//! </notification>
//! ```

use wa_binary::Node;

use crate::event::MessageKey;

/// Baileys' status for a `MediaRetryNotification.ResultType` (`getStatusCodeForMediaRetry`):
/// SUCCESS 200, DECRYPTION_ERROR 412, NOT_FOUND 404, GENERAL_ERROR 418.
pub fn media_retry_status(result: i32) -> Option<u16> {
    match result {
        1 => Some(200),
        3 => Some(412),
        2 => Some(404),
        0 => Some(418),
        _ => None,
    }
}

/// One entry of `messages.media-update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRetryUpdate {
    /// The message the answer is about (`id` of the notification, chat and sender from `rmr`).
    pub key: MessageKey,
    pub outcome: MediaRetryOutcome,
}

/// What the notification carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaRetryOutcome {
    /// The encrypted `MediaRetryNotification` (Baileys' `media: { ciphertext, iv }`).
    Media { ciphertext: Vec<u8>, iv: Vec<u8> },
    /// Baileys' `error`: a Boom with this message, status and data.
    Error(MediaRetryFailure),
}

/// A failure as Baileys reports it on the event (a Boom).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRetryFailure {
    pub message: String,
    /// The Boom's status code (Baileys' 500 when the code maps to none).
    pub status: u16,
    /// The `<error>` node's attributes (Baileys' `data`), when there was one.
    pub data: Vec<(String, String)>,
}

/// Reads a mediaretry notification. `None` when it names no message (no `id`): there is
/// nothing to report it against.
pub fn parse_media_retry(node: &Node) -> Option<MediaRetryUpdate> {
    let id = node.get_attr("id")?.to_owned();
    let Some(rmr) = node.child("rmr") else {
        // Baileys throws on this node; we report it against the message id instead.
        return Some(MediaRetryUpdate {
            key: MessageKey {
                remote_jid: node.get_attr("from").unwrap_or_default().to_owned(),
                id,
                ..MessageKey::default()
            },
            outcome: MediaRetryOutcome::Error(MediaRetryFailure {
                message: "Failed to re-upload media (malformed notification: no rmr)".into(),
                status: 400,
                data: Vec::new(),
            }),
        });
    };
    let key = MessageKey {
        remote_jid: rmr.get_attr("jid").unwrap_or_default().to_owned(),
        from_me: rmr.get_attr("from_me") == Some("true"),
        id,
        participant: rmr.get_attr("participant").map(str::to_owned),
        ..MessageKey::default()
    };
    let outcome = if let Some(err) = node.child("error") {
        // Baileys reads the code with unary `+`: a missing or non-numeric code is NaN.
        let code = err
            .get_attr("code")
            .and_then(|c| c.trim().parse::<i32>().ok());
        MediaRetryOutcome::Error(MediaRetryFailure {
            message: format!(
                "Failed to re-upload media ({})",
                code.map_or_else(|| "NaN".to_owned(), |c| c.to_string())
            ),
            status: code.and_then(media_retry_status).unwrap_or(500),
            data: err
                .attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    } else {
        let enc = node.child("encrypt");
        let part = |tag: &str| {
            enc.and_then(|e| e.child(tag))
                .and_then(Node::content_bytes)
                .filter(|b| !b.is_empty())
                .map(<[u8]>::to_vec)
        };
        match (part("enc_p"), part("enc_iv")) {
            (Some(ciphertext), Some(iv)) => MediaRetryOutcome::Media { ciphertext, iv },
            _ => MediaRetryOutcome::Error(MediaRetryFailure {
                message: "Failed to re-upload media (missing ciphertext)".into(),
                status: 404,
                data: Vec::new(),
            }),
        }
    };
    Some(MediaRetryUpdate { key, outcome })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rmr() -> Node {
        Node::new("rmr")
            .attr("jid", "123@s.whatsapp.net")
            .attr("from_me", "false")
    }

    #[test]
    fn encrypted_answer() {
        let n = Node::new("notification")
            .attr("id", "ABC")
            .attr("type", "mediaretry")
            .children(vec![
                Node::new("encrypt").children(vec![
                    Node::new("enc_p").bytes(vec![1, 2, 3]),
                    Node::new("enc_iv").bytes(vec![4; 12]),
                ]),
                rmr().attr("participant", "9@lid"),
            ]);
        let u = parse_media_retry(&n).unwrap();
        assert_eq!(u.key.id, "ABC");
        assert_eq!(u.key.remote_jid, "123@s.whatsapp.net");
        assert!(!u.key.from_me);
        assert_eq!(u.key.participant.as_deref(), Some("9@lid"));
        assert_eq!(
            u.outcome,
            MediaRetryOutcome::Media {
                ciphertext: vec![1, 2, 3],
                iv: vec![4; 12]
            }
        );
    }

    #[test]
    fn error_node_and_missing_parts() {
        let n = Node::new("notification")
            .attr("id", "X")
            .children(vec![Node::new("error").attr("code", "2"), rmr()]);
        let MediaRetryOutcome::Error(e) = parse_media_retry(&n).unwrap().outcome else {
            panic!("an error")
        };
        assert_eq!(e.message, "Failed to re-upload media (2)");
        assert_eq!(e.status, 404);
        assert_eq!(e.data, vec![("code".to_owned(), "2".to_owned())]);

        let n = Node::new("notification")
            .attr("id", "X")
            .children(vec![Node::new("error").attr("code", "x"), rmr()]);
        let MediaRetryOutcome::Error(e) = parse_media_retry(&n).unwrap().outcome else {
            panic!("an error")
        };
        assert_eq!(
            (e.message.as_str(), e.status),
            ("Failed to re-upload media (NaN)", 500)
        );

        let n = Node::new("notification").attr("id", "X").children(vec![
            Node::new("encrypt").children(vec![Node::new("enc_p").bytes(vec![1])]),
            rmr().attr("from_me", "true"),
        ]);
        let u = parse_media_retry(&n).unwrap();
        assert!(u.key.from_me);
        let MediaRetryOutcome::Error(e) = u.outcome else {
            panic!("an error")
        };
        assert_eq!(e.status, 404);
    }

    #[test]
    fn garbled_notifications_are_errors_not_panics() {
        assert_eq!(parse_media_retry(&Node::new("notification")), None);
        let u = parse_media_retry(&Node::new("notification").attr("id", "Y")).unwrap();
        assert_eq!(u.key.id, "Y");
        assert!(matches!(u.outcome, MediaRetryOutcome::Error(ref e) if e.status == 400));
        let odd = Node::new("notification")
            .attr("id", "Z")
            .children(vec![rmr(), Node::new("encrypt").text("nope")]);
        assert!(matches!(
            parse_media_retry(&odd).unwrap().outcome,
            MediaRetryOutcome::Error(_)
        ));
    }

    #[test]
    fn statuses_are_baileys() {
        assert_eq!(media_retry_status(1), Some(200));
        assert_eq!(media_retry_status(2), Some(404));
        assert_eq!(media_retry_status(3), Some(412));
        assert_eq!(media_retry_status(0), Some(418));
        assert_eq!(media_retry_status(7), None);
    }
}
