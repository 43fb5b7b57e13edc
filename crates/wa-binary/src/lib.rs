//! WhatsApp's binary node codec, dictionary version 3, byte-identical with Baileys 7.
//!
//! A stanza on the wire is a frame: one flag byte (bit 2 = zlib-compressed), then a node. A
//! node is a list whose first item is the tag, then attribute key/value pairs, then optional
//! content (child nodes, bytes or a string). Strings travel as dictionary tokens, packed
//! digits/hex, JIDs or raw bytes. See `docs/binary.md` in the repository for the format.
//!
//! ```
//! use wa_binary::{Node, decode_frame, encode_frame};
//! let node = Node::new("iq").attr("id", "1").attr("type", "get").attr("xmlns", "w:p")
//!     .children(vec![Node::new("ping")]);
//! let frame = encode_frame(&node).unwrap();
//! assert_eq!(decode_frame(&frame).unwrap(), node);
//! ```

#![forbid(unsafe_code)]

pub mod decode;
pub mod dictionary;
pub mod encode;
pub mod error;
pub mod frame;
pub mod jid;
pub mod node;
pub mod tags;

pub use decode::{DecodeLimits, Sink, Str, decode, decode_into, decode_with_limits};
pub use encode::{Encoder, encode, encode_frame, encode_head};
pub use error::{BinaryError, Result};
pub use frame::{decode_frame, decode_frame_with_limits, inflate, pack_frame, unpack_frame};
pub use jid::{DomainType, Jid, JidError, Server};
pub use node::{Content, Node, Text};
