//! The JSON Lines format (docs/interchange.md): record types, the rules a record must satisfy on its
//! own, and streaming import and export.

pub mod export;
pub mod import;
pub mod records;
pub mod rows;
pub mod validate;

pub use records::Record;
