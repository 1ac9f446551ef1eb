//! Entity models to domain values and interchange records, and back.

use sea_orm::DbErr;

use crate::domain::scope::UnitInfo;
use crate::domain::time::from_micros;
use crate::domain::*;
use crate::interchange::records::*;

/// A stored enumeration name that is not one of the enumeration's names: the database was written by
/// something other than this gateway.
pub fn parse<T: std::str::FromStr>(s: &str) -> Result<T, DbErr> {
    s.parse().map_err(|_| DbErr::Type(format!("unexpected stored value `{s}`")))
}

/// Parses a comma-separated list of enumeration names.
pub fn parse_list<T: std::str::FromStr>(s: &str) -> Result<Vec<T>, DbErr> {
    s.split(',').filter(|p| !p.is_empty()).map(parse).collect()
}

/// Joins enumeration names with commas.
pub fn join_list<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

pub fn unit_info(m: entity::unit::Model) -> Result<UnitInfo, DbErr> {
    Ok(UnitInfo {
        id: m.id,
        level: parse(&m.level)?,
        code: m.code,
        name: m.name,
        parent_code: m.parent_code,
        valid_from: m.valid_from,
        valid_to: m.valid_to,
        successor_code: m.successor_code,
        offers_e_certified_copy: m.offers_e_certified_copy,
    })
}

pub fn unit_record(m: &entity::unit::Model) -> Result<UnitRec, DbErr> {
    Ok(UnitRec {
        code: m.code.clone(),
        name: m.name.clone(),
        level: parse(&m.level)?,
        parent: m.parent_code.clone(),
        valid_from: m.valid_from,
        valid_to: m.valid_to,
        successor: m.successor_code.clone(),
        offers_e_certified_copy: m.offers_e_certified_copy,
    })
}

pub fn instant(us: i64) -> Instant {
    from_micros(us)
}

pub fn opt_instant(us: Option<i64>) -> Option<Instant> {
    us.map(from_micros)
}

/// The status recorded on a dossier row.
pub fn opt_status(s: &Option<String>) -> Result<Option<DossierStatus>, DbErr> {
    s.as_deref().map(parse).transpose()
}
