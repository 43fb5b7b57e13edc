//! Stanzas the server sends, and small readers for the ones it receives.

use wa_binary::{Content, Node};
use wa_vocab::S_WHATSAPP_NET;

/// `<iq from="s.whatsapp.net" id type="result"/>`.
pub fn iq_result(id: &str) -> Node {
    Node::new("iq")
        .attr("from", S_WHATSAPP_NET)
        .attr("id", id.to_owned())
        .attr("type", "result")
}

/// An IQ result with children.
pub fn iq_result_with(id: &str, children: Vec<Node>) -> Node {
    iq_result(id).children(children)
}

/// `<iq type="error"><error code text/></iq>`: how the server refuses a query.
pub fn iq_error(id: &str, code: u16, text: &'static str) -> Node {
    Node::new("iq")
        .attr("from", S_WHATSAPP_NET)
        .attr("id", id.to_owned())
        .attr("type", "error")
        .children(vec![
            Node::new("error")
                .attr("code", code.to_string())
                .attr("text", text),
        ])
}

/// A server-initiated IQ (`pair-device`, `pair-success`).
pub fn iq_set(id: &str, xmlns: Option<&'static str>, children: Vec<Node>) -> Node {
    let mut n = Node::new("iq")
        .attr("from", S_WHATSAPP_NET)
        .attr("id", id.to_owned())
        .attr("type", "set");
    if let Some(x) = xmlns {
        n = n.attr("xmlns", x);
    }
    n.children(children)
}

/// `<stream:error code="N"/>` (515 restart, 503 unavailable, 500 internal, ...).
pub fn stream_error_code(code: u16) -> Node {
    Node::new("stream:error").attr("code", code.to_string())
}

/// `<stream:error><conflict type="replaced"/></stream:error>`: another connection took over
/// this device (clients read it as 440).
pub fn stream_error_replaced() -> Node {
    Node::new("stream:error").children(vec![Node::new("conflict").attr("type", "replaced")])
}

/// `<stream:error code="401"><conflict type="device_removed"/></stream:error>`: the phone
/// unlinked this companion.
pub fn stream_error_device_removed() -> Node {
    Node::new("stream:error")
        .attr("code", "401")
        .children(vec![Node::new("conflict").attr("type", "device_removed")])
}

/// `<stream:error><xml-not-well-formed/></stream:error>`: a frame that is not a node.
pub fn stream_error_bad_xml() -> Node {
    Node::new("stream:error").children(vec![Node::new("xml-not-well-formed")])
}

/// `<failure reason="N"/>`: a refused login (401 logged out, 403 banned, 405 outdated).
pub fn failure(reason: u16) -> Node {
    Node::new("failure")
        .attr("reason", reason.to_string())
        .attr("location", "lla")
}

/// The bytes of child `tag`, if it has bytes.
pub fn child_bytes<'a>(node: &'a Node, tag: &str) -> Option<&'a [u8]> {
    node.child(tag).and_then(Node::content_bytes)
}

/// The bytes of child `tag` as exactly `N` bytes.
pub fn child_array<const N: usize>(node: &Node, tag: &str) -> Option<[u8; N]> {
    child_bytes(node, tag).and_then(|b| b.try_into().ok())
}

/// Content as text: a string, or bytes read as UTF-8.
pub fn content_text(node: &Node) -> Option<String> {
    match &node.content {
        Content::Text(t) => Some(t.to_string()),
        Content::Bytes(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

/// An owned attribute value.
pub fn attr(node: &Node, key: &str) -> Option<String> {
    node.get_attr(key).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_iq_shape() {
        let n = iq_error("x", 501, "feature-not-implemented");
        assert_eq!(n.get_attr("type"), Some("error"));
        let e = n.child("error").unwrap();
        assert_eq!(e.get_attr("code"), Some("501"));
        assert_eq!(e.get_attr("text"), Some("feature-not-implemented"));
    }
}
