//! One log channel: every crate logs with `tracing`; this module installs one process-wide
//! subscriber whose layer forwards each record to the pino-style `logger` of the socket it
//! belongs to.
//!
//! A socket's work runs inside a `socket` span carrying its id (see `client.rs`), so a record
//! logged anywhere below (the client, the Signal layer, a key store) is routed by walking the
//! record's span scope to that id; the work of a JavaScript call on a socket runs in that span
//! too. Records outside any socket go to the stderr of the process at warn and above, so
//! nothing is dropped silently; a socket's records below its logger's level (all of them for
//! a silent one) go nowhere. Each socket's level comes from its
//! logger's `level` (pino's names), and records below every registered level are not even
//! formatted. Records cross to JavaScript through a bounded, non-blocking queue that does not
//! keep Node alive; if a logger cannot keep up, the number of records dropped is reported with
//! the next record that gets through.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use napi::Status;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// Records queued for one JS logger before new ones are dropped (and counted).
pub const QUEUE: usize = 1024;

pub type LogTsfn = ThreadsafeFunction<String, (), String, Status, false, true, QUEUE>;

/// The span name every socket's work runs in.
pub const SOCKET_SPAN: &str = "socket";

/// Verbosity as a number: 0 = off, 1 = error ... 5 = trace.
fn rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// pino's level names (and numbers) to our rank; unknown names log at info, as pino does.
pub fn rank_of_pino(level: Option<&str>) -> u8 {
    match level.map(str::to_ascii_lowercase).as_deref() {
        Some("silent") => 0,
        Some("fatal" | "error" | "60" | "50") => 1,
        Some("warn" | "40") => 2,
        Some("debug" | "20") => 4,
        Some("trace" | "10") => 5,
        _ => 3,
    }
}

fn name_of(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

struct Sink {
    tsfn: LogTsfn,
    rank: u8,
    dropped: AtomicU64,
}

#[derive(Default)]
struct Sinks {
    by_socket: RwLock<HashMap<u64, Arc<Sink>>>,
    /// The most verbose rank of any sink (warn at least, for stderr).
    max: AtomicU8,
}

impl Sinks {
    fn recompute(&self, map: &HashMap<u64, Arc<Sink>>) {
        let m = map.values().map(|s| s.rank).max().unwrap_or(0).max(2);
        self.max.store(m, Ordering::Relaxed);
    }
}

fn sinks() -> &'static Sinks {
    static SINKS: OnceLock<Sinks> = OnceLock::new();
    SINKS.get_or_init(|| {
        let s = Sinks::default();
        s.max.store(2, Ordering::Relaxed);
        s
    })
}

/// Installs the subscriber once per process (a host that installed its own keeps it).
pub fn install() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let _ = tracing_subscriber::registry().with(JsLayer).try_init();
    });
}

/// A socket id for the `socket` span.
pub fn next_socket_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Routes the records of socket `id` to `tsfn` while the guard lives.
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        let s = sinks();
        let mut map = s.by_socket.write().unwrap_or_else(|e| e.into_inner());
        map.remove(&self.0);
        s.recompute(&map);
    }
}

pub fn register(id: u64, tsfn: LogTsfn, rank: u8) -> Registration {
    install();
    let s = sinks();
    let mut map = s.by_socket.write().unwrap_or_else(|e| e.into_inner());
    map.insert(
        id,
        Arc::new(Sink {
            tsfn,
            rank,
            dropped: AtomicU64::new(0),
        }),
    );
    s.recompute(&map);
    Registration(id)
}

/// The socket id a span carries.
struct SocketId(u64);

#[derive(Default)]
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }
}

struct JsLayer;

impl<S> Layer<S> for JsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        // Events are asked each time (sockets come and go with their own levels).
        if meta.is_span() {
            Interest::always()
        } else {
            Interest::sometimes()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        // Spans are always kept: they carry the routing.
        meta.is_span() || rank(meta.level()) <= sinks().max.load(Ordering::Relaxed)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != SOCKET_SPAN {
            return;
        }
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let (Some(span), Some(n)) = (ctx.span(id), f.0.get("socket").and_then(Value::as_u64)) {
            span.extensions_mut().insert(SocketId(n));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let socket = ctx.event_scope(event).and_then(|scope| {
            scope
                .from_root()
                .find_map(|s| s.extensions().get::<SocketId>().map(|x| x.0))
        });
        let sink = socket.and_then(|id| {
            sinks()
                .by_socket
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
                .cloned()
        });
        let level = rank(meta.level());
        let mut f = Fields::default();
        let Some(sink) = sink else {
            // A socket's record with no sink: its logger is silent (or the socket is gone).
            // Only records of no socket at all go to stderr.
            if socket.is_none() && level <= 2 {
                event.record(&mut f);
                let msg = f.0.remove("message").unwrap_or(Value::Null);
                eprintln!(
                    "[baileys-native] {} {}: {} {}",
                    name_of(meta.level()),
                    meta.target(),
                    msg.as_str().unwrap_or_default(),
                    Value::Object(f.0)
                );
            }
            return;
        };
        if level > sink.rank {
            return;
        }
        event.record(&mut f);
        let msg = match f.0.remove("message") {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        if let Some(id) = socket {
            f.0.insert("socket".into(), Value::from(id));
        }
        let dropped = sink.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            f.0.insert("droppedLogRecords".into(), Value::from(dropped));
        }
        let record = serde_json::json!({
            "level": name_of(meta.level()),
            "msg": msg,
            "target": meta.target(),
            "fields": f.0,
        })
        .to_string();
        if sink
            .tsfn
            .call(record, ThreadsafeFunctionCallMode::NonBlocking)
            != Status::Ok
        {
            sink.dropped.fetch_add(1 + dropped, Ordering::Relaxed);
        }
    }
}
