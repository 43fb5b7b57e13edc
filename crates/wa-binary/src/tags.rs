//! Wire tags of the binary node format: the bytes that say what follows.

/// An empty list, and also the empty string / absent JID user.
pub const LIST_EMPTY: u8 = 0;
/// First of the four double-byte dictionaries (`236..=239`).
pub const DICTIONARY_0: u8 = 236;
/// Last double-byte dictionary.
pub const DICTIONARY_3: u8 = 239;
/// `integrator-user:device@server` (interop).
pub const INTEROP_JID: u8 = 245;
/// `user:device@server` (Messenger).
pub const FB_JID: u8 = 246;
/// Domain type, device, user: a device JID whose server follows from the domain type.
pub const AD_JID: u8 = 247;
/// List with a one-byte size.
pub const LIST_8: u8 = 248;
/// List with a two-byte big-endian size.
pub const LIST_16: u8 = 249;
/// `user@server` as two strings.
pub const JID_PAIR: u8 = 250;
/// Packed upper-case hex digits, two per byte.
pub const HEX_8: u8 = 251;
/// Bytes with a one-byte length.
pub const BINARY_8: u8 = 252;
/// Bytes with a 20-bit big-endian length (three bytes, top nibble ignored).
pub const BINARY_20: u8 = 253;
/// Bytes with a 32-bit big-endian length.
pub const BINARY_32: u8 = 254;
/// Packed digits, `-` and `.`, two per byte.
pub const NIBBLE_8: u8 = 255;
/// Longest string (in characters) that is packed as nibbles or hex.
pub const PACKED_MAX: usize = 127;
