//! Errors for JavaScript: every failure of the addon reaches JS as an `Error` whose `code`
//! property is our stable code (`ERR_WA_...`), set here when the error object is created, not
//! parsed back out of the message. Extra properties (a Signal error's `address`) ride along.
//!
//! Synchronous functions return [`Result`]: napi-rs throws the error through
//! `JsError<ErrCode>`, which creates it with our code. Asynchronous functions return
//! [`Coded`]: napi-rs can only reject a promise with its own status codes, so a `Coded` value
//! builds the JS error itself on the JS thread (when the promise settles) and hands that
//! object back as the rejection.

use std::borrow::Cow;
use std::ptr;

use napi::bindgen_prelude::{ToNapiValue, TypeName, Unknown, ValidateNapiValue};
use napi::{JsError, ValueType, sys};

/// Our failure: a stable code, the message, and extra properties for the JS error.
#[derive(Debug, Clone)]
pub struct JsFail {
    pub code: Cow<'static, str>,
    pub message: String,
    pub props: Vec<(&'static str, String)>,
}

impl JsFail {
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.props.push((key, value.into()));
        self
    }
}

/// What a failure of napi itself (a bad argument type, a call into a dead environment) is
/// reported as.
pub const NAPI: &str = "ERR_WA_NAPI";

impl From<napi::Error> for JsFail {
    fn from(e: napi::Error) -> Self {
        JsFail {
            code: Cow::Borrowed(NAPI),
            message: format!("{}: {}", e.status.as_ref(), e.reason),
            props: Vec::new(),
        }
    }
}

/// A failure with our stable code.
pub fn coded(code: impl Into<Cow<'static, str>>, message: impl std::fmt::Display) -> JsFail {
    JsFail {
        code: code.into(),
        message: message.to_string(),
        props: Vec::new(),
    }
}

/// The result of a synchronous export (napi-rs recognises the name).
pub type Result<T, E = JsFail> = std::result::Result<T, E>;

/// A code as napi's error status, so a thrown error's `code` is ours.
pub struct ErrCode(Cow<'static, str>);

impl AsRef<str> for ErrCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<napi::Status> for ErrCode {
    fn from(s: napi::Status) -> Self {
        ErrCode(Cow::Owned(s.as_ref().to_owned()))
    }
}

impl From<JsFail> for JsError<ErrCode> {
    fn from(f: JsFail) -> Self {
        JsError::from(napi::Error::new(ErrCode(f.code), f.message))
    }
}

/// Creates `new Error(message)` with `code` and the extra properties, on the JS thread.
///
/// # Safety
/// `env` must be the live environment of the calling JS thread.
pub unsafe fn make_error(env: sys::napi_env, f: JsFail) -> napi::Result<sys::napi_value> {
    // SAFETY: `env` is the caller's live environment (this function's contract); every value
    // passed to napi below was created in it just before.
    unsafe {
        let code = String::to_napi_value(env, f.code.into_owned())?;
        let msg = String::to_napi_value(env, f.message)?;
        let mut err = ptr::null_mut();
        napi::check_status!(
            sys::napi_create_error(env, code, msg, &mut err),
            "creating an error"
        )?;
        for (k, v) in f.props {
            let value = String::to_napi_value(env, v)?;
            let key = std::ffi::CString::new(k).unwrap_or_default();
            napi::check_status!(
                sys::napi_set_named_property(env, err, key.as_ptr(), value),
                "setting an error property"
            )?;
        }
        Ok(err)
    }
}

/// A failure as the `napi::Error` a task's `resolve` returns: it carries the JS error object
/// itself, so the promise rejects with our code.
pub fn rejection(env: napi::Env, f: JsFail) -> napi::Error {
    // SAFETY: `Task::resolve` runs on the JS thread with its live environment.
    match unsafe { make_error(env.raw(), f) } {
        Ok(err) => napi::Error::from(unsafe { Unknown::from_raw_unchecked(env.raw(), err) }),
        Err(e) => e,
    }
}

/// The outcome of an asynchronous export: the value, or a failure that becomes the promise's
/// rejection (typed as the value in TypeScript: `type Coded<T> = T` in the typings header).
pub struct Coded<T>(pub Result<T>);

impl<T> From<Result<T>> for Coded<T> {
    fn from(r: Result<T>) -> Self {
        Coded(r)
    }
}

impl<T: ToNapiValue> ToNapiValue for Coded<T> {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        match val.0 {
            // SAFETY: napi-rs converts results on the JS thread with its live `env`.
            Ok(v) => unsafe { T::to_napi_value(env, v) },
            Err(f) => {
                // SAFETY: as above; the new error object lives in `env`, and handing it back
                // inside the `Err` makes napi-rs reject with this very object.
                let err = unsafe { make_error(env, f)? };
                Err(napi::Error::from(unsafe {
                    Unknown::from_raw_unchecked(env, err)
                }))
            }
        }
    }
}

impl<T: TypeName> TypeName for Coded<T> {
    fn type_name() -> &'static str {
        T::type_name()
    }
    fn value_type() -> ValueType {
        T::value_type()
    }
}

impl<T: ValidateNapiValue> ValidateNapiValue for Coded<T> {}
