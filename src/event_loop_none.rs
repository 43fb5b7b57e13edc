//! Where libuv's polling is not used (Windows): sockets run on tokio's worker.

use std::sync::Arc;

use napi::{Env, sys};
use wa_client::runner::{SharedRunner, Task};

pub(crate) enum Loop {}

impl Loop {
    pub(crate) fn spawn(self: &Arc<Self>, _: Task) {
        match **self {}
    }
}

pub(crate) fn current(_: &Env) -> Option<Arc<Loop>> {
    None
}

pub(crate) fn runner(home: &Arc<Loop>) -> SharedRunner {
    match **home {}
}

pub(crate) enum JsCallback {}

impl JsCallback {
    pub(crate) fn new(home: Arc<Loop>, _: &Env, _: sys::napi_value) -> Option<Self> {
        match *home {}
    }

    pub(crate) fn call(&self, _: &str) -> Option<bool> {
        match *self {}
    }
}

pub(crate) enum LoopPromise {}

impl LoopPromise {
    pub(crate) fn new(home: Arc<Loop>, _: &Env) -> napi::Result<(Self, sys::napi_value)> {
        match *home {}
    }

    pub(crate) fn settle(self, _: std::result::Result<String, crate::errors::JsFail>) {
        match self {}
    }
}
