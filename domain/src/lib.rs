//! The rules that matter, free of any framework: enumerations of the interchange format, instants and periods
//! in Vietnam time, working days, unit scopes, the dossier lifecycle and the indicator formulas.

pub mod codes;
pub mod enums;
pub mod indicators;
pub mod lifecycle;
pub mod personal;
pub mod scope;
pub mod search;
pub mod time;

pub use codes::{DossierCode, ProcedureCode, UnitCode};
pub use enums::*;
