//! Case-insensitive search that answers the same on every database. SQLite's `LIKE` folds only ASCII letters
//! and PostgreSQL's folds none, so neither is asked to fold: the gateway stores a folded search key beside the
//! searched columns and folds the query the same way (Unicode lower case, so `Đ` finds `đ`), and the database
//! compares the two with `LIKE`, the query's `%`, `_` and `\` escaped so that they match only themselves.

/// The escape character of [`contains_pattern`] (`LIKE … ESCAPE '\'`).
pub const ESCAPE: char = '\\';

/// Text as it is compared: Unicode lower case.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// The stored search key of a procedure: its code and name, folded (a unit separator between them, so a query
/// never matches across the two).
pub fn procedure_key(code: &str, name: &str) -> String {
    fold(&format!("{code}\u{1f}{name}"))
}

/// The `LIKE` pattern of keys containing `query`: folded, its wildcards and escape character escaped.
pub fn contains_pattern(query: &str) -> String {
    let mut out = String::with_capacity(query.len() + 2);
    out.push('%');
    for c in fold(query).chars() {
        if matches!(c, '%' | '_' | ESCAPE) {
            out.push(ESCAPE);
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_themselves_and_case_folds_beyond_ascii() {
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(contains_pattern("ĐĂNG Ký"), "%đăng ký%");
        assert_eq!(procedure_key("1.001757", "Đăng ký khai sinh"), "1.001757\u{1f}đăng ký khai sinh");
    }
}
