//! sea-orm entities, one module per table. They mirror the schema of the `migration` crate.
//!
//! Instants are `i64` microseconds since the Unix epoch (see the migration for why); the `db` layer of the
//! gateway turns them into `chrono` values. Enumerations are stored as their interchange names (`"ONLINE"`,
//! `"RESOLVED"`, …) and parsed into domain enums by the gateway.

pub mod apology_letter;
pub mod audit_event;
pub mod calendar_day;
pub mod calendar_month;
pub mod data_change;
pub mod dossier;
pub mod dossier_event;
pub mod dossier_paid;
pub mod dossier_rollup;
pub mod feedback;
pub mod holiday;
pub mod open_horizon;
pub mod open_procedure_rollup;
pub mod open_rollup;
pub mod procedure;
pub mod procedure_rollup;
pub mod receipt;
pub mod sector;
pub mod supplement_request;
pub mod unit;

pub use sea_orm;
