//! Streaming import and export of the JSON Lines format (docs/interchange.md). The format itself, its record
//! types and the rules a record must satisfy on its own, is the `interchange-format` crate, re-exported here
//! under its old paths; `rows` turns its records into the rows persistence writes.

pub mod export;
pub mod import;
pub mod rows;
pub use interchange_format::{Record, records, validate};
