//! The binary node: a tag, ordered string attributes, and content.
//!
//! This is Baileys' `BinaryNode` model: attribute values are strings (JIDs included), and the
//! encoder decides from each string's shape whether it travels as a token, packed digits, a
//! JID or raw bytes. Attribute order is kept because it decides the bytes on the wire.

use std::borrow::Cow;
use std::fmt;

/// Text of a node: a dictionary token or literal borrows, anything else is owned.
pub type Text = Cow<'static, str>;

/// What a node carries after its attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Content {
    /// No content (the list size is odd).
    #[default]
    None,
    /// Child nodes (possibly none: an empty list).
    Nodes(Vec<Node>),
    /// Raw bytes (BINARY_8/20/32 in content position).
    Bytes(Vec<u8>),
    /// A string (a token, packed digits or a JID in content position). A string that is
    /// written raw comes back as [`Content::Bytes`], as in Baileys.
    Text(Text),
}

/// A binary node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// The tag (never empty on the wire).
    pub tag: Text,
    /// Attributes in wire order. A key may repeat in decoded input; lookups see the last one,
    /// as a JavaScript object would.
    pub attrs: Vec<(Text, Text)>,
    /// The content.
    pub content: Content,
}

impl Node {
    /// A node with this tag and nothing else.
    pub fn new(tag: impl Into<Text>) -> Node {
        Node {
            tag: tag.into(),
            attrs: Vec::new(),
            content: Content::None,
        }
    }

    /// Adds an attribute (builder style).
    #[must_use]
    pub fn attr(mut self, key: impl Into<Text>, value: impl Into<Text>) -> Node {
        self.attrs.push((key.into(), value.into()));
        self
    }

    /// Sets child nodes as content (builder style).
    #[must_use]
    pub fn children(mut self, children: Vec<Node>) -> Node {
        self.content = Content::Nodes(children);
        self
    }

    /// Sets bytes as content (builder style).
    #[must_use]
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Node {
        self.content = Content::Bytes(bytes.into());
        self
    }

    /// Sets a string as content (builder style).
    #[must_use]
    pub fn text(mut self, text: impl Into<Text>) -> Node {
        self.content = Content::Text(text.into());
        self
    }

    /// The value of attribute `key` (the last one if it repeats).
    pub fn get_attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// The child nodes; empty unless the content is a list.
    pub fn child_nodes(&self) -> &[Node] {
        match &self.content {
            Content::Nodes(n) => n,
            _ => &[],
        }
    }

    /// The first child with this tag.
    pub fn child(&self, tag: &str) -> Option<&Node> {
        self.child_nodes().iter().find(|c| c.tag == tag)
    }

    /// Every child with this tag.
    pub fn children_by_tag<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.child_nodes().iter().filter(move |c| c.tag == tag)
    }

    /// The content as bytes, if it is bytes.
    pub fn content_bytes(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The content as a string: a string, or bytes read as UTF-8 (Baileys'
    /// `getBinaryNodeChildString` semantics).
    pub fn content_string(&self) -> Option<Cow<'_, str>> {
        match &self.content {
            Content::Text(t) => Some(Cow::Borrowed(t.as_ref())),
            Content::Bytes(b) => Some(String::from_utf8_lossy(b)),
            _ => None,
        }
    }
}

/// Renders like Baileys' `binaryNodeToString`: `<tag k='v'>`, children indented with tabs,
/// bytes as hex.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_node(f, self, 0)
    }
}

fn tabs(f: &mut fmt::Formatter<'_>, n: usize) -> fmt::Result {
    for _ in 0..n {
        f.write_str("\t")?;
    }
    Ok(())
}

fn write_node(f: &mut fmt::Formatter<'_>, node: &Node, level: usize) -> fmt::Result {
    write!(f, "<{} ", node.tag)?;
    for (i, (k, v)) in node.attrs.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{k}='{v}'")?;
    }
    // Baileys prints children only when their rendering is truthy: no content, an empty list
    // or an empty string close the tag; an empty buffer still renders as its indentation.
    let inner = level + 1;
    let has_children = match &node.content {
        Content::None => false,
        Content::Nodes(n) => !n.is_empty(),
        Content::Bytes(_) => true,
        Content::Text(t) => !t.is_empty(),
    };
    if !has_children {
        return f.write_str("/>");
    }
    f.write_str(">\n")?;
    match &node.content {
        Content::Nodes(children) => {
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    f.write_str("\n")?;
                }
                tabs(f, inner + 1)?;
                write_node(f, child, inner + 1)?;
            }
        }
        Content::Bytes(b) => {
            tabs(f, inner)?;
            for byte in b {
                write!(f, "{byte:02x}")?;
            }
        }
        Content::Text(t) => {
            tabs(f, inner)?;
            f.write_str(t)?;
        }
        Content::None => {}
    }
    f.write_str("\n")?;
    tabs(f, level)?;
    write!(f, "</{}>", node.tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let n = Node::new("iq")
            .attr("id", "1")
            .attr("id", "2")
            .children(vec![
                Node::new("a").bytes(vec![1, 2]),
                Node::new("b").text("x"),
                Node::new("a"),
            ]);
        assert_eq!(n.get_attr("id"), Some("2"));
        assert_eq!(n.get_attr("type"), None);
        assert_eq!(n.child("a").unwrap().content_bytes(), Some(&[1u8, 2][..]));
        assert_eq!(n.children_by_tag("a").count(), 2);
        assert_eq!(n.child("b").unwrap().content_string().as_deref(), Some("x"));
        assert!(n.child("c").is_none());
        assert!(Node::new("x").child_nodes().is_empty());
    }

    #[test]
    fn renders_like_baileys() {
        let n = Node::new("iq").attr("type", "get").children(vec![
            Node::new("ping"),
            Node::new("enc").bytes(vec![0xab, 0x01]),
        ]);
        assert_eq!(
            n.to_string(),
            "<iq type='get'>\n\t\t<ping />\n\t\t<enc >\n\t\t\tab01\n\t\t</enc>\n</iq>"
        );
        assert_eq!(Node::new("a").children(vec![]).to_string(), "<a />");
        assert_eq!(Node::new("a").text("").to_string(), "<a />");
        assert_eq!(Node::new("a").bytes(vec![]).to_string(), "<a >\n\t\n</a>");
    }
}
