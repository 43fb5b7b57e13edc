//! `<notification>`s: pairing by code, prekey refills, device-list changes, media retry
//! answers. Each is handed to the feature that owns it, then acked.

use wa_binary::Node;

use crate::ctx::Client;
use crate::error::ClientError;

impl Client {
    pub(super) async fn handle_notification(&self, node: &Node) -> Result<(), ClientError> {
        match node.get_attr("type") {
            Some("link_code_companion_reg") => self.on_link_code_entered(node).await?,
            Some("encrypt") => self.on_prekey_count(node),
            Some("devices") => self.on_devices_changed(node),
            Some("w:gp2") => self.on_group_notification(node).await,
            // Posts inside are acked once the app has them.
            Some("newsletter") if self.on_newsletter_notification(node)? => return Ok(()),
            Some("newsletter") => {}
            Some("mex") => self.on_mex_notification(node),
            Some("mediaretry") => match crate::media::parse_media_retry(node) {
                Some(update) => self.emit(crate::event::Event::MediaUpdate(vec![update])),
                None => tracing::debug!("mediaretry notification without an id; ignored"),
            },
            _ => {}
        }
        self.send_ack(node, None).await
    }
}
