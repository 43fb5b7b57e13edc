//! Coded JS errors: the shared implementation in `wa-napi` (also used by the test server's
//! addon).

pub use wa_napi::errors::*;
