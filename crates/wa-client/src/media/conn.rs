//! `media_conn`: which hosts take uploads, with which auth token, for how long. Fetched with
//! `<iq xmlns="w:m" type="set"><media_conn/></iq>`, kept per connection, fetched again when
//! its `ttl` has passed or an upload was refused (Baileys' `refreshMediaConn`).

use wa_binary::Node;

use super::MediaError;
use crate::ctx::{Client, now_ms};
use crate::error::ClientError;

/// One upload host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaHost {
    /// `host` or `host:port`.
    pub hostname: String,
    /// The largest upload it takes (0: not said).
    pub max_content_length_bytes: u64,
}

/// The answer to `media_conn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConn {
    pub hosts: Vec<MediaHost>,
    pub auth: String,
    /// Seconds it stays valid.
    pub ttl: u64,
    /// When it was fetched (milliseconds since the Unix epoch).
    pub fetch_date: u64,
}

impl MediaConn {
    /// Whether it is older than its `ttl` at `now` (ms).
    pub fn is_stale(&self, now: u64) -> bool {
        now.saturating_sub(self.fetch_date) > self.ttl.saturating_mul(1000)
    }

    /// The `media_conn` IQ.
    pub fn query() -> Node {
        Node::new("iq")
            .attr("type", "set")
            .attr("xmlns", "w:m")
            .attr("to", wa_vocab::S_WHATSAPP_NET)
            .children(vec![Node::new("media_conn")])
    }

    /// Reads an IQ result; `now` becomes its fetch date.
    pub fn parse(result: &Node, now: u64) -> Result<Self, ClientError> {
        let conn = result.child("media_conn").ok_or_else(|| {
            ClientError::Protocol("media_conn: no <media_conn> in the result".into())
        })?;
        let auth = conn
            .get_attr("auth")
            .ok_or_else(|| ClientError::Protocol("media_conn: no auth".into()))?
            .to_owned();
        let ttl = conn
            .get_attr("ttl")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let hosts = conn
            .children_by_tag("host")
            .filter_map(|h| {
                Some(MediaHost {
                    hostname: h.get_attr("hostname")?.to_owned(),
                    max_content_length_bytes: h
                        .get_attr("maxContentLengthBytes")
                        .and_then(|m| m.parse().ok())
                        .unwrap_or(0),
                })
            })
            .collect();
        Ok(Self {
            hosts,
            auth,
            ttl,
            fetch_date: now,
        })
    }
}

impl Client {
    /// The current `media_conn`: the cached one while fresh, else fetched (always when
    /// `force`). One fetch at a time per connection; concurrent callers share it.
    pub async fn media_conn(&self, force: bool) -> Result<MediaConn, MediaError> {
        let mut slot = self.inner.media.conn.lock().await;
        if let Some(c) = slot.as_ref()
            && !force
            && !c.is_stale(now_ms())
        {
            return Ok(c.clone());
        }
        let result = self.query(MediaConn::query(), None).await?;
        let conn = MediaConn::parse(&result, now_ms())?;
        tracing::debug!(
            hosts = conn.hosts.len(),
            ttl = conn.ttl,
            "fetched media conn"
        );
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// The host a `directPath` is fetched from: the first `media_conn` host once known
    /// (Baileys' `getMediaHost`), else WhatsApp's.
    pub async fn media_host(&self) -> String {
        match self.inner.media.conn.lock().await.as_ref() {
            Some(c) if !c.hosts.is_empty() => c.hosts[0].hostname.clone(),
            _ => super::DEFAULT_MEDIA_HOST.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_auth_and_ttl() {
        let node = Node::new("iq").children(vec![
            Node::new("media_conn")
                .attr("auth", "AUTH")
                .attr("ttl", "300")
                .children(vec![
                    Node::new("host")
                        .attr("hostname", "a.example")
                        .attr("maxContentLengthBytes", "100"),
                    Node::new("host").attr("hostname", "b.example"),
                    Node::new("host"),
                ]),
        ]);
        let c = MediaConn::parse(&node, 1_000).unwrap();
        assert_eq!(c.auth, "AUTH");
        assert_eq!(c.ttl, 300);
        assert_eq!(c.hosts.len(), 2);
        assert_eq!(c.hosts[0].max_content_length_bytes, 100);
        assert_eq!(c.hosts[1].hostname, "b.example");
        assert!(!c.is_stale(300_000));
        assert!(c.is_stale(301_001));
    }

    #[test]
    fn missing_parts_are_protocol_errors() {
        assert!(MediaConn::parse(&Node::new("iq"), 0).is_err());
        let no_auth = Node::new("iq").children(vec![Node::new("media_conn")]);
        assert!(MediaConn::parse(&no_auth, 0).is_err());
    }
}
