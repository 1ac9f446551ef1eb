//! Streaming import and export of the JSON Lines interchange format (interchange.md). The format itself, its
//! record types and the rules a record must satisfy on its own, is the `interchange-format` crate, re-exported
//! here under its old paths.

pub mod export;
pub mod import;
pub use interchange_format::{Record, records, validate};
