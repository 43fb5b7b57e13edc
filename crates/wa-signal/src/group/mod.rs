//! Group messaging with sender keys: Baileys' record model and JSON, and the operations.

mod cipher;
mod record;

pub use cipher::{decrypt, distribution_message, encrypt, process_distribution};
pub use record::{
    MAX_SENDER_JUMP, MAX_SENDER_KEY_STATES, MAX_SENDER_MESSAGE_KEYS, SENDER_KEY_MAGIC,
    SenderKeyRecord, SenderKeyState, SenderMessageKey,
};
