//! The access log: one short line per GraphQL request, written by the logging thread (see `cli::init_logging`)
//! beside the other log lines, in the same shape (plain text, or JSON with `LOG_FORMAT=json`).
//!
//! The line is put together here rather than by the `tracing` formatter: at tens of thousands of requests a
//! second the formatter's generic path (span scope, field visitors, a calendar computed per line) cost more than
//! the request itself. The timestamp's date and time are worked out once a second per thread. Whether the line
//! is written follows the log filter (`RUST_LOG`) for target `access` at level INFO.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;

use tracing_appender::non_blocking::NonBlocking;

/// Where access lines go, and in which shape; unset (tests, commands other than `serve`): nowhere.
static SINK: OnceLock<(NonBlocking, bool)> = OnceLock::new();

/// Sends access lines to `writer` (JSON objects when `json`). The first call wins.
pub fn init(writer: NonBlocking, json: bool) {
    let _ = SINK.set((writer, json));
}

/// One request's line.
pub struct Line<'a> {
    pub method: &'a str,
    pub operation: &'a str,
    pub outcome: &'a str,
    pub micros: u64,
    pub request_id: Option<&'a str>,
}

thread_local! {
    /// This thread's line buffer, and the second whose text it last wrote with that text.
    static BUFFER: RefCell<(String, i64, String)> = RefCell::new((String::with_capacity(256), i64::MIN, String::new()));
}

/// Writes `line` (when the log filter lets target `access` through at INFO).
pub fn log(line: &Line<'_>) {
    let Some((writer, json)) = SINK.get() else { return };
    if !tracing::enabled!(target: "access", tracing::Level::INFO) {
        return;
    }
    BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        let (buf, second, second_text) = &mut *b;
        buf.clear();
        let now = chrono::Utc::now();
        if now.timestamp() != *second {
            *second = now.timestamp();
            *second_text = now.format("%Y-%m-%dT%H:%M:%S").to_string();
        }
        let micros = now.timestamp_subsec_micros();
        let id = line.request_id.unwrap_or_default();
        if *json {
            let _ = write!(
                buf,
                "{{\"timestamp\":\"{second_text}.{micros:06}Z\",\"level\":\"INFO\",\"fields\":{{\"message\":\"graphql\",\
                 \"operation\":{},\"outcome\":\"{}\",\"us\":{},\"method\":\"{}\"}},\"target\":\"access\",\
                 \"span\":{{\"request_id\":\"{}\"}}}}",
                serde_json::Value::from(line.operation),
                line.outcome,
                line.micros,
                line.method,
                id,
            );
        } else {
            let _ = write!(
                buf,
                "{second_text}.{micros:06}Z  INFO graphql operation={} outcome={} us={} method={} request_id={id}",
                line.operation, line.outcome, line.micros, line.method,
            );
        }
        buf.push('\n');
        let _ = writer.clone().write_all(buf.as_bytes());
    });
}
