//! Bytes handed to JS. napi-rs turns a `Vec<u8>` into an *external* Buffer, which costs a
//! finalizer and GC bookkeeping per buffer: for the many small buffers of the Noise
//! transport that costs more than the crypto. Small outputs are copied into a plain Node
//! Buffer instead; large ones stay zero-copy.

use std::ptr;

use napi::bindgen_prelude::{Buffer, ToNapiValue, TypeName, ValueType};
use napi::sys;

/// Below this, copying into a fresh Node Buffer is cheaper than an external buffer.
const COPY_LIMIT: usize = 32 * 1024;

/// A byte string returned to JS as a Node `Buffer` (declare it as `Buffer` in typings).
pub struct Bytes(pub Vec<u8>);

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl TypeName for Bytes {
    fn type_name() -> &'static str {
        "Buffer"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Bytes {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        if val.0.len() >= COPY_LIMIT {
            // SAFETY: `env` is the live environment napi-rs passed to this conversion.
            return unsafe { Buffer::to_napi_value(env, val.0.into()) };
        }
        let mut out = ptr::null_mut();
        // SAFETY: `env` is live; the source pointer and length describe `val.0`, which
        // outlives the call; Node copies the bytes before returning.
        let status = unsafe {
            sys::napi_create_buffer_copy(
                env,
                val.0.len(),
                val.0.as_ptr().cast(),
                ptr::null_mut(),
                &mut out,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason("failed to create a Buffer"));
        }
        Ok(out)
    }
}
