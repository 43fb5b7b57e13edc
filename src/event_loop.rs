//! Sockets run on Node's own thread (Unix).
//!
//! With the connection on tokio's worker, every message crossed threads twice: the worker woke
//! for the frame, then woke Node's thread for the event (and for a send, Node's thread woke
//! the worker, which woke Node's thread for the promise). Each wake-up is a context switch and
//! cold caches, and for one message at a time they cost more than the message's own work.
//! Here libuv, which Node's thread sleeps in anyway, polls the socket's descriptor; the
//! connection's tasks (the driver, the receive worker, the event batcher, a send's future)
//! are polled on Node's thread by a small executor, with tokio's context entered so their
//! timers, channels and `spawn_blocking` work as before. Store I/O that blocks still goes to
//! tokio's blocking pool and wakes its task from there; a message needs no other thread.
//!
//! libuv's functions are looked up in the running process (Node exports them) rather than
//! linked, so the addon loads wherever it did; if they are missing, or
//! `BAILEYS_NATIVE_EVENT_LOOP=0` is set, sockets run on tokio's worker as before.
//!
//! A task polled here may call into JavaScript directly, inside a handle scope and a callback
//! scope opened by the run's first such call: the socket's event listener ([`JsCallback`]) and
//! its promises ([`LoopPromise`]) need no thread-safe function, and the microtasks they queue
//! run when the turn ends, as after any of Node's own callbacks.

use std::collections::VecDeque;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::future::Future;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::ThreadId;

use napi::{Env, sys};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wa_client::runner::{BoxStream, Runner, SharedRunner, Task};

type Handle = c_void;
type Cb = unsafe extern "C" fn(*mut Handle);
type PollCb = unsafe extern "C" fn(*mut Handle, c_int, c_int);

const UV_ASYNC: c_int = 1;
const UV_IDLE: c_int = 6;
const UV_POLL: c_int = 8;
const UV_READABLE: c_int = 1;
const UV_WRITABLE: c_int = 2;

/// Tasks polled per turn before Node's other callbacks get theirs.
const BUDGET: usize = 1024;

/// The libuv functions used, from the running Node.
struct Uv {
    handle_size: unsafe extern "C" fn(c_int) -> usize,
    async_init: unsafe extern "C" fn(*mut c_void, *mut Handle, Cb) -> c_int,
    async_send: unsafe extern "C" fn(*mut Handle) -> c_int,
    idle_init: unsafe extern "C" fn(*mut c_void, *mut Handle) -> c_int,
    idle_start: unsafe extern "C" fn(*mut Handle, Cb) -> c_int,
    idle_stop: unsafe extern "C" fn(*mut Handle) -> c_int,
    poll_init: unsafe extern "C" fn(*mut c_void, *mut Handle, c_int) -> c_int,
    poll_start: unsafe extern "C" fn(*mut Handle, c_int, PollCb) -> c_int,
    close: unsafe extern "C" fn(*mut Handle, Option<Cb>),
    unref: unsafe extern "C" fn(*mut Handle),
    set_data: unsafe extern "C" fn(*mut Handle, *mut c_void),
    get_data: unsafe extern "C" fn(*const Handle) -> *mut c_void,
}

fn uv() -> Option<&'static Uv> {
    static UV: OnceLock<Option<Uv>> = OnceLock::new();
    UV.get_or_init(|| {
        if std::env::var("BAILEYS_NATIVE_EVENT_LOOP").is_ok_and(|v| v.trim() == "0") {
            return None;
        }
        let uv = lookup()?;
        // The handle kinds are numbered by libuv's enum: check the numbers name what we mean
        // before any handle is made with them.
        let names =
            lookup_fn::<unsafe extern "C" fn(c_int) -> *const c_char>(c"uv_handle_type_name")?;
        for (kind, want) in [(UV_ASYNC, "async"), (UV_IDLE, "idle"), (UV_POLL, "poll")] {
            // SAFETY: `uv_handle_type_name` returns a static string or NULL for any number.
            let name = unsafe { names(kind) };
            // SAFETY: non-null: a NUL-terminated static string from libuv.
            if name.is_null() || unsafe { CStr::from_ptr(name) }.to_bytes() != want.as_bytes() {
                return None;
            }
        }
        Some(uv)
    })
    .as_ref()
}

fn lookup_fn<F: Copy>(name: &CStr) -> Option<F> {
    // SAFETY: dlsym with RTLD_DEFAULT searches the loaded objects for a NUL-terminated name.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    debug_assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: `F` is the function pointer type of the libuv function of that name (each
    // caller names one with its documented signature); both are pointer-sized.
    Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
}

fn lookup() -> Option<Uv> {
    Some(Uv {
        handle_size: lookup_fn(c"uv_handle_size")?,
        async_init: lookup_fn(c"uv_async_init")?,
        async_send: lookup_fn(c"uv_async_send")?,
        idle_init: lookup_fn(c"uv_idle_init")?,
        idle_start: lookup_fn(c"uv_idle_start")?,
        idle_stop: lookup_fn(c"uv_idle_stop")?,
        poll_init: lookup_fn(c"uv_poll_init")?,
        poll_start: lookup_fn(c"uv_poll_start")?,
        close: lookup_fn(c"uv_close")?,
        unref: lookup_fn(c"uv_unref")?,
        set_data: lookup_fn(c"uv_handle_set_data")?,
        get_data: lookup_fn(c"uv_handle_get_data")?,
    })
}

impl Uv {
    /// Zeroed memory for a handle of `kind`, freed by [`free_handle`] once libuv closed it.
    fn alloc(&self, kind: c_int) -> *mut Handle {
        // SAFETY: `uv_handle_size` only reads its argument; calloc returns zeroed memory or NULL.
        unsafe { libc::calloc(1, (self.handle_size)(kind)) }
    }
}

/// Close callback of handles whose `data` holds nothing to release.
unsafe extern "C" fn free_handle(h: *mut Handle) {
    // SAFETY: `h` came from `Uv::alloc` and libuv is done with it (this is its close callback).
    unsafe { libc::free(h) }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The executor of one Node thread (the main thread or a worker's).
pub(crate) struct Loop {
    uv: &'static Uv,
    uv_loop: *mut c_void,
    /// The environment of the loop's thread, and the async context the loop's callbacks run
    /// in (what lets Node run the microtasks and `nextTick`s they queue).
    env: sys::napi_env,
    context: sys::napi_async_context,
    resource: sys::napi_ref,
    thread: ThreadId,
    ready: Mutex<VecDeque<Arc<TaskCell>>>,
    /// Wakes the loop from other threads (tokio's timers and blocking pool, the JS store's
    /// answers). Unreferenced: it never keeps Node alive by itself.
    wake: *mut Handle,
    /// Active while tasks are ready: the loop then runs them in its next turn without
    /// sleeping. Touched on the loop's thread only.
    idle: *mut Handle,
    idle_on: AtomicBool,
    running: AtomicBool,
    /// A run's JS scopes, opened by the first task of the run that calls into JavaScript: a
    /// run that does not (a wake-up for an ack, a timer) costs Node no scope to open and
    /// close.
    scope: Mutex<Option<JsScope>>,
    /// Set by the environment's cleanup hook: the handles are closed.
    closed: AtomicBool,
    /// The poll handles of open sockets (addresses), closed by the cleanup hook if their
    /// sockets outlive the environment (a worker thread ending with sockets open).
    polls: Mutex<std::collections::HashSet<usize>>,
    tokio: tokio::runtime::Handle,
}

// SAFETY: `wake` is only passed to `uv_async_send`, which libuv documents as safe from any
// thread; `idle` and every other libuv call happen on `thread` only (checked before each use).
unsafe impl Send for Loop {}
// SAFETY: as for `Send`; the mutable state is behind a mutex or atomics.
unsafe impl Sync for Loop {}

thread_local! {
    static LOOP: std::cell::OnceCell<Option<Arc<Loop>>> = const { std::cell::OnceCell::new() };
    static THREAD_ID: ThreadId = std::thread::current().id();
}

/// This thread's loop executor, made on first use; `None` when sockets run on tokio.
pub(crate) fn current(env: &Env) -> Option<Arc<Loop>> {
    LOOP.with(|l| l.get_or_init(|| Loop::new(env)).clone())
}

/// The runner of a socket that lives on `home`.
pub(crate) fn runner(home: &Arc<Loop>) -> SharedRunner {
    SharedRunner(Arc::new(LoopRunner(home.clone())))
}

impl Loop {
    fn new(env: &Env) -> Option<Arc<Self>> {
        let uv = uv()?;
        let tokio = tokio_handle()?;
        let uv_loop = env.get_uv_event_loop().ok()?.cast::<c_void>();
        let (context, resource) = async_context(env)?;
        let wake = uv.alloc(UV_ASYNC);
        let idle = uv.alloc(UV_IDLE);
        if wake.is_null() || idle.is_null() {
            // SAFETY: free(NULL) is a no-op; neither was given to libuv.
            unsafe {
                libc::free(wake);
                libc::free(idle);
            }
            return None;
        }
        let me = Arc::new(Self {
            uv,
            uv_loop,
            env: env.raw(),
            context,
            resource,
            thread: std::thread::current().id(),
            ready: Mutex::new(VecDeque::new()),
            wake,
            idle,
            idle_on: AtomicBool::new(false),
            running: AtomicBool::new(false),
            scope: Mutex::new(None),
            closed: AtomicBool::new(false),
            polls: Mutex::default(),
            tokio,
        });
        // SAFETY: on the loop's thread, with zeroed handles of the right size; `data` holds
        // one strong count of the loop, released by the cleanup hook.
        unsafe {
            if (uv.async_init)(uv_loop, wake, on_wake) != 0 {
                libc::free(wake);
                libc::free(idle);
                return None;
            }
            (uv.unref)(wake);
            (uv.idle_init)(uv_loop, idle);
            let data = Arc::into_raw(me.clone()) as *mut c_void;
            (uv.set_data)(wake, data);
            (uv.set_data)(idle, data);
            napi::sys::napi_add_env_cleanup_hook(env.raw(), Some(on_env_cleanup), data);
        }
        Some(me)
    }

    fn on_thread(&self) -> bool {
        // A thread-local copy: `thread::current()` takes and drops a reference to the thread
        // handle each time, and this is asked several times a message.
        THREAD_ID.with(|id| *id == self.thread)
    }

    pub(crate) fn spawn(self: &Arc<Self>, task: Task) {
        let cell = Arc::new(TaskCell {
            future: Mutex::new(Some(task)),
            queued: AtomicBool::new(true),
            home: self.clone(),
        });
        self.push(cell);
    }

    fn push(&self, cell: Arc<TaskCell>) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        lock(&self.ready).push_back(cell);
        if !self.on_thread() {
            // SAFETY: `uv_async_send` may be called from any thread; the handle lives until
            // the cleanup hook, which sets `closed` first.
            unsafe { (self.uv.async_send)(self.wake) };
        } else if !self.running.load(Ordering::Relaxed) {
            self.idle(true);
        }
    }

    fn idle(&self, on: bool) {
        if self.idle_on.swap(on, Ordering::Relaxed) == on || self.closed.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: called on the loop's thread (`push` checks; `run` runs there); the handle
        // was initialized in `new` and is open until the cleanup hook.
        unsafe {
            if on {
                (self.uv.idle_start)(self.idle, on_idle);
            } else {
                (self.uv.idle_stop)(self.idle);
            }
        }
    }

    /// Polls ready tasks, at most [`BUDGET`]; on the loop's thread, from a libuv callback.
    fn run(&self) {
        if self.running.swap(true, Ordering::Relaxed) {
            return;
        }
        let _tokio = self.tokio.enter();
        for _ in 0..BUDGET {
            let Some(cell) = lock(&self.ready).pop_front() else {
                break;
            };
            cell.queued.store(false, Ordering::Release);
            let waker = Waker::from(cell.clone());
            let mut cx = Context::from_waker(&waker);
            let mut slot = lock(&cell.future);
            let Some(fut) = slot.as_mut() else {
                continue;
            };
            // A panic must not unwind into libuv: the task ends, the loop goes on.
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                fut.as_mut().poll(&mut cx)
            }));
            match polled {
                Ok(Poll::Pending) => {}
                Ok(Poll::Ready(())) => *slot = None,
                Err(_) => {
                    tracing::error!("a socket task panicked on Node's thread; it was dropped");
                    *slot = None;
                }
            }
        }
        let scope = lock(&self.scope).take();
        self.running.store(false, Ordering::Relaxed);
        let more = !lock(&self.ready).is_empty();
        self.idle(more);
        // Closing the callback scope runs the microtasks the tasks' calls queued (a listener's
        // `await`s, a promise's `then`s), as after any of Node's own callbacks.
        drop(scope);
    }

    /// Calls `f` with the loop's environment if this is the loop's thread inside a run (a
    /// handle scope and callback scope open), else gives `f` back.
    pub(crate) fn with_js<T>(&self, f: impl FnOnce(sys::napi_env) -> T) -> Option<T> {
        if !self.on_thread() || !self.running.load(Ordering::Relaxed) {
            return None;
        }
        {
            let mut scope = lock(&self.scope);
            if scope.is_none() {
                // SAFETY: a run is on this thread's stack, called from a libuv callback with
                // no JS below it (the first call into JS of the run opens the scopes); the
                // environment lives until the cleanup hook, after which nothing runs.
                *scope = Some(unsafe { JsScope::open(self) }?);
            }
        }
        // The lock is not held: the call may come back here (a listener calling a method
        // that settles a promise).
        Some(f(self.env))
    }
}

/// The async context of a loop's callbacks: one resource object, kept for the loop's life.
fn async_context(env: &Env) -> Option<(sys::napi_async_context, sys::napi_ref)> {
    let raw = env.raw();
    let mut resource = std::ptr::null_mut();
    let mut name = std::ptr::null_mut();
    let mut context = std::ptr::null_mut();
    let mut reference = std::ptr::null_mut();
    let label = "baileys-native:socket";
    // SAFETY: called from a JS call on the loop's thread with its live environment (inside
    // the caller's handle scope); the reference keeps the resource alive.
    let ok = unsafe {
        sys::napi_create_object(raw, &mut resource) == sys::Status::napi_ok
            && sys::napi_create_string_utf8(
                raw,
                label.as_ptr().cast(),
                label.len() as isize,
                &mut name,
            ) == sys::Status::napi_ok
            && sys::napi_async_init(raw, resource, name, &mut context) == sys::Status::napi_ok
            && sys::napi_create_reference(raw, resource, 1, &mut reference) == sys::Status::napi_ok
    };
    ok.then_some((context, reference))
}

/// A handle scope and a callback scope for JS calls made by a loop's tasks.
struct JsScope {
    env: sys::napi_env,
    handles: sys::napi_handle_scope,
    callback: sys::napi_callback_scope,
}

impl JsScope {
    /// # Safety
    /// On the loop's thread, from a libuv callback, the environment alive.
    unsafe fn open(l: &Loop) -> Option<Self> {
        let mut handles = std::ptr::null_mut();
        let mut resource = std::ptr::null_mut();
        let mut callback = std::ptr::null_mut();
        // SAFETY: per the caller; the resource is the loop's referenced object.
        unsafe {
            if sys::napi_open_handle_scope(l.env, &mut handles) != sys::Status::napi_ok {
                return None;
            }
            if sys::napi_get_reference_value(l.env, l.resource, &mut resource)
                != sys::Status::napi_ok
                || sys::napi_open_callback_scope(l.env, resource, l.context, &mut callback)
                    != sys::Status::napi_ok
            {
                sys::napi_close_handle_scope(l.env, handles);
                return None;
            }
        }
        Some(Self {
            env: l.env,
            handles,
            callback,
        })
    }
}

impl Drop for JsScope {
    fn drop(&mut self) {
        // SAFETY: both scopes were opened by `open` on this thread, closed in reverse order.
        unsafe {
            sys::napi_close_callback_scope(self.env, self.callback);
            sys::napi_close_handle_scope(self.env, self.handles);
        }
    }
}

/// A JavaScript function called directly from a loop's task (the socket's event listener):
/// no thread-safe function's queue and wake-up in between.
pub(crate) struct JsCallback {
    home: Arc<Loop>,
    function: sys::napi_ref,
}

// SAFETY: the reference is used (and deleted) on the loop's thread only: `call` checks, and
// drop off that thread hands the delete to the loop.
unsafe impl Send for JsCallback {}

impl JsCallback {
    pub(crate) fn new(home: Arc<Loop>, env: &Env, f: sys::napi_value) -> Option<Self> {
        let mut function = std::ptr::null_mut();
        // SAFETY: in a JS call on the loop's thread; `f` is a live function value of it.
        let ok = unsafe { sys::napi_create_reference(env.raw(), f, 1, &mut function) };
        (ok == sys::Status::napi_ok).then_some(Self { home, function })
    }

    /// Calls the function with `text` and `true` (it may answer); `Some(answer)`, the function
    /// returned `true`, or `None` when this is not the loop's thread in a run (then the caller
    /// goes the thread-safe way).
    pub(crate) fn call(&self, text: &str) -> Option<bool> {
        let function = self.function;
        self.home.with_js(|env| {
            // SAFETY: on the loop's thread inside its scopes (`with_js`); the reference is
            // alive until this value drops.
            unsafe { call_with_text(env, function, text) }
        })
    }
}

/// A JS string of `text`: an ASCII text (nearly every batch and answer) as Latin-1, which V8
/// copies as it is, without decoding it as UTF-8 first.
///
/// # Safety
/// `env` is the live environment of this thread with a handle scope open; `out` is writable.
unsafe fn js_string(env: sys::napi_env, text: &str, out: *mut sys::napi_value) -> sys::napi_status {
    // SAFETY: per the caller; `text` is valid for its length. ASCII bytes read as Latin-1 are
    // the same characters.
    unsafe {
        if text.is_ascii() {
            sys::napi_create_string_latin1(env, text.as_ptr().cast(), text.len() as isize, out)
        } else {
            sys::napi_create_string_utf8(env, text.as_ptr().cast(), text.len() as isize, out)
        }
    }
}

/// Whether the function returned `true`.
///
/// # Safety
/// `env` is the live environment of this thread with a handle scope open; `function` a live
/// reference to a function.
unsafe fn call_with_text(env: sys::napi_env, function: sys::napi_ref, text: &str) -> bool {
    let mut f = std::ptr::null_mut();
    let mut recv = std::ptr::null_mut();
    let mut args = [std::ptr::null_mut(); 2];
    let mut out = std::ptr::null_mut();
    let mut answer = false;
    // SAFETY: per the caller.
    unsafe {
        if sys::napi_get_reference_value(env, function, &mut f) != sys::Status::napi_ok
            || f.is_null()
            || sys::napi_get_undefined(env, &mut recv) != sys::Status::napi_ok
            || js_string(env, text, &mut args[0]) != sys::Status::napi_ok
            || sys::napi_get_boolean(env, true, &mut args[1]) != sys::Status::napi_ok
        {
            return false;
        }
        let status = sys::napi_call_function(env, recv, f, 2, args.as_ptr(), &mut out);
        if status == sys::Status::napi_pending_exception {
            report_exception(env);
            return false;
        }
        // Anything but the boolean `true` (undefined, a failed read) is no answer.
        if status != sys::Status::napi_ok
            || out.is_null()
            || sys::napi_get_value_bool(env, out, &mut answer) != sys::Status::napi_ok
        {
            return false;
        }
    }
    answer
}

/// A listener threw: Node's `uncaughtException`, as for a thread-safe function's call.
///
/// # Safety
/// As `call_with_text`.
unsafe fn report_exception(env: sys::napi_env) {
    let mut err = std::ptr::null_mut();
    // SAFETY: per the caller; an exception is pending.
    unsafe {
        if sys::napi_get_and_clear_last_exception(env, &mut err) == sys::Status::napi_ok {
            sys::napi_fatal_exception(env, err);
        }
    }
}

impl Drop for JsCallback {
    fn drop(&mut self) {
        let function = SendPtr(self.function.cast());
        let release = move |env: sys::napi_env| {
            let f = function;
            // SAFETY: on the loop's thread with its environment alive.
            unsafe { sys::napi_delete_reference(env, f.0.cast()) };
        };
        if self.home.closed.load(Ordering::Acquire) {
            return;
        }
        if self.home.on_thread() {
            release(self.home.env);
        } else {
            let home = self.home.clone();
            self.home.spawn(Box::pin(async move {
                release(home.env);
            }));
        }
    }
}

/// A promise settled from a loop's task, directly: no thread-safe function per promise.
pub(crate) struct LoopPromise {
    home: Arc<Loop>,
    /// Taken when settled.
    deferred: Option<SendPtr>,
}

impl LoopPromise {
    /// A new promise and the value to return to JavaScript.
    pub(crate) fn new(home: Arc<Loop>, env: &Env) -> napi::Result<(Self, sys::napi_value)> {
        let mut deferred = std::ptr::null_mut();
        let mut promise = std::ptr::null_mut();
        // SAFETY: in a JS call on this thread with its live environment.
        napi::check_status!(unsafe {
            sys::napi_create_promise(env.raw(), &mut deferred, &mut promise)
        })?;
        let deferred = Some(SendPtr(deferred.cast()));
        Ok((Self { home, deferred }, promise))
    }

    /// Resolves with the text or rejects with the coded error; from the loop's task.
    pub(crate) fn settle(mut self, outcome: std::result::Result<String, crate::errors::JsFail>) {
        self.finish(outcome);
    }

    fn finish(&mut self, outcome: std::result::Result<String, crate::errors::JsFail>) {
        let Some(deferred) = self.deferred.take() else {
            return;
        };
        let deferred: sys::napi_deferred = deferred.0.cast();
        let settled = self.home.with_js(|env| {
            // SAFETY: on the loop's thread inside its scopes (`with_js`); the deferred is
            // settled once (taken above).
            unsafe {
                let mut value = std::ptr::null_mut();
                match outcome {
                    Ok(text) => {
                        if js_string(env, &text, &mut value) == sys::Status::napi_ok {
                            sys::napi_resolve_deferred(env, deferred, value);
                        }
                    }
                    Err(f) => {
                        if let Ok(err) = crate::errors::make_error(env, f) {
                            sys::napi_reject_deferred(env, deferred, err);
                        }
                    }
                }
            }
        });
        if settled.is_none() && !self.home.closed.load(Ordering::Acquire) {
            tracing::error!("a socket's promise was settled off Node's loop; it stays pending");
        }
    }
}

impl Drop for LoopPromise {
    /// A task dropped before it settled (it panicked): the promise rejects rather than hang.
    fn drop(&mut self) {
        if self.deferred.is_some() {
            self.finish(Err(crate::errors::coded(
                wa_client::error::code::CLOSED,
                "the socket's task ended before it answered",
            )));
        }
    }
}

fn tokio_handle() -> Option<tokio::runtime::Handle> {
    napi::bindgen_prelude::within_runtime_if_available(tokio::runtime::Handle::try_current).ok()
}

/// Recovers the loop from a handle's `data` without taking its count.
///
/// # Safety
/// `h` is the loop's `wake` or `idle` handle, still open.
unsafe fn loop_of<'a>(uv: &Uv, h: *mut Handle) -> &'a Loop {
    // SAFETY: `data` was set in `Loop::new` to a strong count released only when both
    // handles are closed.
    unsafe { &*((uv.get_data)(h) as *const Loop) }
}

unsafe extern "C" fn on_wake(h: *mut Handle) {
    let Some(uv) = uv() else { return };
    // SAFETY: libuv calls this with the loop's open `wake` handle.
    unsafe { loop_of(uv, h) }.run();
}

unsafe extern "C" fn on_idle(h: *mut Handle) {
    let Some(uv) = uv() else { return };
    // SAFETY: libuv calls this with the loop's open `idle` handle.
    unsafe { loop_of(uv, h) }.run();
}

unsafe extern "C" fn on_env_cleanup(data: *mut c_void) {
    // SAFETY: `data` is the count `Loop::new` leaked; taken back here, once.
    let me = unsafe { Arc::from_raw(data as *const Loop) };
    me.closed.store(true, Ordering::Release);
    let polls: Vec<usize> = lock(&me.polls).drain().collect();
    // SAFETY: on the loop's thread (Node runs cleanup hooks there); every handle here is
    // open, and nothing touches one once `closed` is set.
    unsafe {
        for h in polls {
            (me.uv.close)(h as *mut Handle, Some(on_poll_closed));
        }
        (me.uv.close)(me.wake, Some(free_handle));
        (me.uv.close)(me.idle, Some(free_handle));
    }
    // The tasks go last: dropping them may drop sockets, which now leave libuv alone.
    let tasks: Vec<_> = lock(&me.ready).drain(..).collect();
    drop(tasks);
}

struct TaskCell {
    future: Mutex<Option<Task>>,
    /// In the ready queue already: a second wake-up adds nothing.
    queued: AtomicBool,
    home: Arc<Loop>,
}

impl Wake for TaskCell {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.home.push(self.clone());
        }
    }
}

/// Spawns on the loop; opens sockets polled by it.
struct LoopRunner(Arc<Loop>);

impl Runner for LoopRunner {
    fn spawn(&self, task: Task) {
        self.0.spawn(task);
    }

    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send + 'a>> {
        Box::pin(async move {
            // Name resolution and the wait for the handshake are tokio's; the connected
            // socket is then polled by libuv.
            let tcp = tokio::net::TcpStream::connect((host, port)).await?;
            tcp.set_nodelay(true)?;
            if !self.0.on_thread() || self.0.closed.load(Ordering::Acquire) {
                return Ok(Box::new(tcp) as BoxStream);
            }
            let tcp = tcp.into_std()?;
            tcp.set_nonblocking(true)?;
            Ok(Box::new(LoopStream::new(tcp, self.0.clone())?) as BoxStream)
        })
    }
}

/// What the socket's poll callback wakes.
#[derive(Default)]
struct Interest {
    read: Option<Waker>,
    write: Option<Waker>,
    /// The events the poll handle watches now.
    events: c_int,
    /// The socket may have bytes to read: false after a read came back short or would have
    /// blocked, true again once libuv reports it readable. Saves the read that would only
    /// say "nothing more" after each message (libuv's poll is level-triggered, so bytes that
    /// arrive after a short read are still reported).
    readable: bool,
}

/// A TCP socket polled by libuv on the loop's thread.
struct LoopStream {
    /// Taken only by drop, which hands it to the close when that runs elsewhere.
    tcp: Option<std::net::TcpStream>,
    /// The `uv_poll_t`; its `data` is a strong count of `interest`.
    handle: SendPtr,
    interest: Arc<Mutex<Interest>>,
    home: Arc<Loop>,
}

struct SendPtr(*mut c_void);
// SAFETY: each holder uses the pointer on the loop's thread only (checked before each use;
// drops elsewhere send the release there).
unsafe impl Send for SendPtr {}

impl LoopStream {
    fn new(tcp: std::net::TcpStream, home: Arc<Loop>) -> io::Result<Self> {
        let uv = home.uv;
        let handle = uv.alloc(UV_POLL);
        if handle.is_null() {
            return Err(io::Error::other("out of memory for a poll handle"));
        }
        // SAFETY: on the loop's thread (the caller checked), a zeroed handle of the poll size,
        // an open descriptor that outlives the handle (closed after `uv_close` in drop).
        let rc = unsafe { (uv.poll_init)(home.uv_loop, handle, tcp.as_raw_fd()) };
        if rc != 0 {
            // SAFETY: libuv did not take the handle.
            unsafe { libc::free(handle) };
            return Err(io::Error::other(format!("uv_poll_init failed ({rc})")));
        }
        let interest = Arc::new(Mutex::new(Interest {
            readable: true,
            ..Interest::default()
        }));
        // SAFETY: as above; `data` holds a count of `interest`, released in `on_poll_closed`.
        unsafe {
            (uv.set_data)(handle, Arc::into_raw(interest.clone()) as *mut c_void);
            (uv.unref)(handle);
        }
        lock(&home.polls).insert(handle as usize);
        Ok(Self {
            tcp: Some(tcp),
            handle: SendPtr(handle),
            interest,
            home,
        })
    }

    /// The socket, on the loop's thread only.
    fn tcp(&self) -> io::Result<&std::net::TcpStream> {
        match &self.tcp {
            Some(t) if self.home.on_thread() && !self.home.closed.load(Ordering::Acquire) => Ok(t),
            _ => Err(io::Error::other(
                "a loop socket was polled off its loop's thread or after Node's environment ended",
            )),
        }
    }

    /// Watches `event` for `waker`. The handle is restarted only when the set of events
    /// changes: libuv re-registers the descriptor with the kernel on every start.
    fn watch(&self, event: c_int, waker: &Waker) {
        if self.home.closed.load(Ordering::Acquire) {
            return;
        }
        let mut i = lock(&self.interest);
        let slot = if event == UV_READABLE {
            &mut i.read
        } else {
            &mut i.write
        };
        match slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
        if i.events & event == 0 {
            i.events |= event;
            let events = i.events;
            drop(i);
            // SAFETY: on the loop's thread (callers went through `tcp()`); the handle is
            // open until drop or the cleanup hook (`closed`, checked above).
            unsafe { (self.home.uv.poll_start)(self.handle.0, events, on_poll) };
        }
    }
}

unsafe extern "C" fn on_poll(h: *mut Handle, status: c_int, events: c_int) {
    let Some(uv) = uv() else { return };
    // SAFETY: `data` is the count of the stream's interest set in `LoopStream::new`, released
    // only in the close callback, after which this is not called.
    let interest = unsafe { &*((uv.get_data)(h) as *const Mutex<Interest>) };
    let (read, write) = {
        let mut i = lock(interest);
        // An error wakes both: the read or write that follows reports it.
        let fired = if status < 0 {
            UV_READABLE | UV_WRITABLE
        } else {
            events
        };
        if fired & UV_READABLE != 0 {
            i.readable = true;
        }
        let read = if fired & UV_READABLE != 0 {
            i.read.take()
        } else {
            None
        };
        let write = if fired & UV_WRITABLE != 0 {
            i.write.take()
        } else {
            None
        };
        // Readable stays watched while a reader takes it (it reads until a short read, and
        // then waits again); writable only while a write waits. An event nobody waits for
        // is unwatched, or level-triggered polling would report it every turn.
        let mut keep = i.events;
        if fired & UV_WRITABLE != 0 {
            keep &= !UV_WRITABLE;
        }
        if fired & UV_READABLE != 0 && read.is_none() {
            keep &= !UV_READABLE;
        }
        if keep != i.events {
            i.events = keep;
            // SAFETY: libuv allows restarting a poll handle from its own callback.
            unsafe { (uv.poll_start)(h, keep, on_poll) };
        }
        (read, write)
    };
    let woke = read.is_some() || write.is_some();
    if let Some(w) = read {
        w.wake();
    }
    if let Some(w) = write {
        w.wake();
    }
    if woke {
        // Run now rather than in the next turn of the loop.
        LOOP.with(|l| {
            if let Some(Some(l)) = l.get() {
                l.run();
            }
        });
    }
}

unsafe extern "C" fn on_poll_closed(h: *mut Handle) {
    if let Some(uv) = uv() {
        // SAFETY: the count `LoopStream::new` leaked, released once, here.
        drop(unsafe { Arc::from_raw((uv.get_data)(h) as *const Mutex<Interest>) });
    }
    // SAFETY: libuv is done with the handle.
    unsafe { libc::free(h) };
}

impl Drop for LoopStream {
    fn drop(&mut self) {
        let handle = SendPtr(self.handle.0);
        let close = move |home: &Loop| {
            let h = handle;
            // Gone from the registry means the cleanup hook closed it already.
            if lock(&home.polls).remove(&(h.0 as usize)) {
                // SAFETY: on the loop's thread, the handle open; `uv_close` stops the poll
                // before the descriptor is closed (the `TcpStream` is dropped after this).
                unsafe { (home.uv.close)(h.0, Some(on_poll_closed)) };
            }
        };
        if self.home.on_thread() {
            close(&self.home);
        } else {
            // Dropped elsewhere (a task moved off the loop): the close runs on the loop, and
            // the descriptor stays open until it has.
            let tcp = self.tcp.take();
            let home = self.home.clone();
            self.home.spawn(Box::pin(async move {
                close(&home);
                drop(tcp);
            }));
        }
    }
}

impl AsyncRead for LoopStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut tcp = self.tcp()?;
        if !lock(&self.interest).readable {
            self.watch(UV_READABLE, cx.waker());
            return Poll::Pending;
        }
        loop {
            let room = buf.remaining();
            match tcp.read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    if n < room {
                        lock(&self.interest).readable = false;
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    lock(&self.interest).readable = false;
                    self.watch(UV_READABLE, cx.waker());
                    return Poll::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for LoopStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut tcp = self.tcp()?;
        loop {
            match tcp.write(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.watch(UV_WRITABLE, cx.waker());
                    return Poll::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(match self.tcp()?.shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
            _ => Ok(()),
        })
    }
}
