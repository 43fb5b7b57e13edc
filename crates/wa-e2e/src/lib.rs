//! End-to-end tests live in `tests/`: the Rust client against the real test server, with no
//! JSON anywhere, the way a Rust program would use `wa-client`. This library is empty.

#![forbid(unsafe_code)]
