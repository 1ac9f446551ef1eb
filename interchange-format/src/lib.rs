//! The JSON Lines interchange format (interchange.md): the record types and the rules a record must satisfy on
//! its own. Shared by the gateway's importer and exporter and by the demo generator; rules that need other
//! records (references, cycles) are the importer's.

pub mod records;
pub mod validate;

pub use records::Record;
