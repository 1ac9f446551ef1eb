//! Pieces of SQL text shared by the statement builders. Everything written into a statement here is either an
//! integer or a name of a domain enumeration (static ASCII), never text from a client.

use std::fmt::Display;

use sea_orm::DbBackend;

/// For statements that group or join many summary or dossier rows: grouped in memory rather than sorted on disk
/// (PostgreSQL; for the rest of the transaction).
pub const WORK_MEM: &str = "SET LOCAL work_mem = '64MB'";

/// `'A', 'B'`: enumeration names as SQL string literals, for `IN (…)` or `=`.
pub fn names<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ")
}

/// `1,2,3`: ids for `IN (…)`.
pub fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// The greatest of these SQL expressions (`GREATEST` on PostgreSQL, the many-argument `MAX` on SQLite).
pub fn greatest(backend: DbBackend, args: &[String]) -> String {
    let f = if backend == DbBackend::Postgres { "GREATEST" } else { "MAX" };
    format!("{f}({})", args.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Rating, ReceiptStatus};

    #[test]
    fn names_are_quoted_literals() {
        assert_eq!(names([ReceiptStatus::Issued]), "'ISSUED'");
        assert_eq!(
            names(Rating::ALL.iter().filter(|r| r.is_negative())),
            "'UNSATISFIED', 'VERY_UNSATISFIED'"
        );
        assert_eq!(id_list(&[3, 1]), "3,1");
    }
}
