//! The counts behind one report, cut into cells by the unit that handled the records and the procedure they
//! were filed under, so that a breakdown by child unit, sector or procedure is a grouping of cells. Every
//! metric's cells add up to the report's numerator and denominator: the dossier and PAKN metrics by the records'
//! units; a procedure counted by a procedure metric or a transparency metric lies with its announcing authority;
//! a commune lies with itself.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{ConnectionTrait, DbErr, Statement, TransactionSession, TransactionTrait};
use serde::{Deserialize, Serialize};

use super::rules::*;
use super::{
    DossierSums, ProcedureFlags, add_dossier_row, add_irregular_row, announced_procedures,
    certified_copy_places, get, procedure_places, read_snapshot, transparency_places,
};
use crate::domain::indicators::{Count, MetricKey, Window};
use crate::domain::scope::UnitTree;
use crate::domain::time::Calendar;

/// The counts of one metric over the records of one unit and one procedure (none for communes, and for PAKN not
/// about a dossier).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub unit: Option<i64>,
    pub procedure: Option<i64>,
    /// The metric's position in [`MetricKey::ALL`].
    pub metric: usize,
    pub num: i64,
    pub den: i64,
}

impl Cell {
    pub fn key(&self) -> MetricKey {
        MetricKey::ALL.get(self.metric).copied().unwrap_or(MetricKey::OnTimeProcessing)
    }
}

/// What a breakdown shows of a procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureLabel {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub sector_id: i64,
}

/// What a breakdown shows of a sector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectorLabel {
    pub id: i64,
    pub code: String,
    pub name: String,
}

/// A report's counts by unit and procedure, with the procedures and sectors they name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cells {
    /// The evaluation instant the cells were counted at.
    pub t: i64,
    pub cells: Vec<Cell>,
    pub procedures: Vec<ProcedureLabel>,
    pub sectors: Vec<SectorLabel>,
}

/// The cells of the report of `unit_code` for window `w`, read from one snapshot of the database. Every dossier of
/// the scope is read row by row: the summaries do not keep the procedure.
pub async fn breakdown_cells(
    conn: &(impl ConnectionTrait + TransactionTrait),
    tree: &UnitTree,
    calendar: &Calendar,
    unit_code: &str,
    w: &Window,
) -> Result<Cells, DbErr> {
    let txn = read_snapshot(conn).await?;
    let cells = cells_in(&txn, tree, calendar, unit_code, w).await?;
    txn.commit().await?;
    Ok(cells)
}

type CellKey = (Option<i64>, Option<i64>, MetricKey);

async fn cells_in(
    conn: &impl ConnectionTrait,
    tree: &UnitTree,
    calendar: &Calendar,
    unit_code: &str,
    w: &Window,
) -> Result<Cells, DbErr> {
    let backend = conn.get_database_backend();
    let scope = tree.scope_at(unit_code, w.at);
    let mut cells: HashMap<CellKey, Count> = HashMap::new();
    let add = |cells: &mut HashMap<CellKey, Count>, key: CellKey, num: i64, den: i64| {
        let c = cells.entry(key).or_default();
        c.num += num;
        c.den += den;
    };
    let (mut sums, mut procedures) = (DossierSums::default(), ProcedureFlags::new());
    let unit_column = 3 + 2 * DOSSIER_METRICS.len();
    for row in
        conn.query_all_raw(Statement::from_string(backend, dossier_sql_by(w, &scope, None, true))).await?
    {
        let (procedure, of_procedure) = add_dossier_row(&mut sums, &mut procedures, &row, 0)?;
        let unit: i64 = row.try_get_by_index(unit_column)?;
        for k in DOSSIER_METRICS.into_iter().filter(|&k| k != MetricKey::ProceduresWithReceipts) {
            let c = of_procedure.get(k);
            add(&mut cells, (Some(unit), Some(procedure), k), c.num, c.den);
        }
    }
    for row in
        conn.query_all_raw(Statement::from_string(backend, irregular_sql_by(w, &scope, None, true))).await?
    {
        let (procedure, online, _) = add_irregular_row(&mut sums, &mut procedures, &row, 0)?;
        let unit: i64 = row.try_get_by_index(3)?;
        add(&mut cells, (Some(unit), Some(procedure), MetricKey::PaidOnlineDossiers), online, 0);
    }
    for row in conn.query_all_raw(Statement::from_string(backend, pakn_by_sql(w, &scope))).await? {
        let unit: i64 = row.try_get_by_index(0)?;
        let procedure: Option<i64> = row.try_get_by_index(1)?;
        let (den, on_time, satisfied) = (get(&row, 2)?, get(&row, 3)?, get(&row, 4)?);
        add(&mut cells, (Some(unit), procedure, MetricKey::PaknOnTime), on_time, den);
        add(&mut cells, (Some(unit), procedure, MetricKey::PaknSatisfaction), satisfied, den);
    }
    let announced = announced_procedures(conn, tree, unit_code, w.at).await?;
    let places: Vec<_> = procedure_places(&procedures)
        .chain(transparency_places(&announced, tree, calendar, unit_code, w))
        .collect();

    // The procedures named so far, with their sectors and announcing authorities.
    let mut ids: BTreeSet<i64> = places.iter().map(|&(id, _, _)| id).collect();
    ids.extend(cells.keys().filter_map(|&(_, p, _)| p));
    let (mut labels, mut authority, mut sector_ids) = (Vec::new(), HashMap::new(), BTreeSet::new());
    if !ids.is_empty() {
        let list = crate::db::sql::id_list(&ids.iter().copied().collect::<Vec<_>>());
        let sql = format!(
            "SELECT p.id, p.code, p.name, p.sector_id, p.authority_id FROM procedure p WHERE p.id IN ({list})"
        );
        for row in conn.query_all_raw(Statement::from_string(backend, sql)).await? {
            let label = ProcedureLabel {
                id: row.try_get_by_index(0)?,
                code: row.try_get_by_index(1)?,
                name: row.try_get_by_index(2)?,
                sector_id: row.try_get_by_index(3)?,
            };
            authority.insert(label.id, row.try_get_by_index::<i64>(4)?);
            sector_ids.insert(label.sector_id);
            labels.push(label);
        }
    }
    for (id, k, passing) in places {
        add(&mut cells, (authority.get(&id).copied(), Some(id), k), i64::from(passing), 1);
    }
    for (id, k, passing) in certified_copy_places(tree, &scope, w) {
        add(&mut cells, (Some(id), None, k), i64::from(passing), 1);
    }
    let mut sectors = Vec::new();
    if !sector_ids.is_empty() {
        let list = crate::db::sql::id_list(&sector_ids.into_iter().collect::<Vec<_>>());
        let sql = format!("SELECT s.id, s.code, s.name FROM sector s WHERE s.id IN ({list})");
        for row in conn.query_all_raw(Statement::from_string(backend, sql)).await? {
            sectors.push(SectorLabel {
                id: row.try_get_by_index(0)?,
                code: row.try_get_by_index(1)?,
                name: row.try_get_by_index(2)?,
            });
        }
    }
    let mut cells: Vec<Cell> = cells
        .into_iter()
        .filter(|(_, c)| c.den > 0 || c.num > 0)
        .map(|((unit, procedure, k), c)| Cell {
            unit,
            procedure,
            metric: MetricKey::ALL.iter().position(|&m| m == k).unwrap_or_default(),
            num: c.num,
            den: c.den,
        })
        .collect();
    cells.sort_by_key(|c| (c.metric, c.unit, c.procedure));
    labels.sort_by_key(|l| l.id);
    sectors.sort_by_key(|s| s.id);
    Ok(Cells { t: w.at, cells, procedures: labels, sectors })
}
