//! Turns our crates' errors into JS errors that carry a stable `code`.
//!
//! napi can only attach its own status to errors raised from async functions, so the code
//! also leads the message as `[CODE] message`; `lib/errors.js` lifts it into `err.code`.

use napi::{Error, Status};

/// A JS error whose message starts with our stable code.
pub fn coded(code: &str, message: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, format!("[{code}] {message}"))
}
