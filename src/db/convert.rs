//! Entity models to domain values and interchange records, and back.

use crate::domain::scope::UnitInfo;
use crate::domain::time::from_micros;
use crate::interchange::records::*;

pub fn unit_info(m: entity::unit::Model) -> UnitInfo {
    UnitInfo {
        id: m.id,
        level: m.level,
        code: m.code,
        name: m.name,
        parent_code: m.parent_code,
        valid_from: m.valid_from,
        valid_to: m.valid_to,
        successor_code: m.successor_code,
        offers_e_certified_copy: m.offers_e_certified_copy,
    }
}

pub fn unit_record(m: &entity::unit::Model) -> UnitRec {
    UnitRec {
        code: m.code.clone(),
        name: m.name.clone(),
        level: m.level,
        parent: m.parent_code.clone(),
        valid_from: m.valid_from,
        valid_to: m.valid_to,
        successor: m.successor_code.clone(),
        offers_e_certified_copy: m.offers_e_certified_copy,
    }
}

pub fn instant(us: i64) -> Instant {
    from_micros(us)
}

pub fn opt_instant(us: Option<i64>) -> Option<Instant> {
    us.map(from_micros)
}
