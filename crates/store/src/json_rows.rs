//! Pages of rows fetched from SQLite as one JSON row.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every
//! row to the async side across threads: a channel send and, most of the
//! time, a thread wake-up per row. For a page of tens or thousands of rows
//! that hand-off, not SQLite, was the cost (`perf` under the vehicle-list
//! load: a fifth of the server in `finish_task_switch`, another sixth waking
//! threads; docs/PERFORMANCE.md). [`fetch_rows!`] asks SQLite for the page
//! as a single JSON array (`json_group_array`), built in C inside the worker,
//! crossing threads once and decoded in one pass by serde. PostgreSQL, whose
//! rows arrive over one socket in one buffer, keeps its row-by-row fetch.
//! [`array_column`] puts such an array in a column of another statement, on
//! either backend, so that one statement reads what two did.
//!
//! The JSON is exact: blob ids travel as hex ([`blob`]), reals as 17
//! significant digits ([`real`]; SQLite's JSON writes only 15) parsed by
//! serde_json with `float_roundtrip`, integers and text as themselves, and
//! JSON text columns embedded as JSON ([`json`]).

use serde::de::DeserializeOwned;

/// The SQLite statement that returns `select`'s rows as one JSON array of
/// `row`s ([`array`] or [`object`] of expressions over `select`'s output),
/// in `order` (an aggregate is not bound by a subquery's `ORDER BY`).
pub(crate) fn aggregate_sql(row: &str, order: &str, select: &str) -> String {
    format!("{}{select}{AGGREGATE_CLOSE}", aggregate_open(row, order))
}

/// [`aggregate_sql`] up to the subquery, for a select built piece by piece
/// (a `QueryBuilder`); close it with [`AGGREGATE_CLOSE`].
pub(crate) fn aggregate_open(row: &str, order: &str) -> String {
    format!("SELECT json_group_array({row} ORDER BY {order}) FROM (")
}

/// Closes what [`aggregate_open`] opened.
pub(crate) const AGGREGATE_CLOSE: &str = ") AS page";

/// A scalar subquery, for a column of another statement, that gives
/// `select`'s rows as one JSON array of objects keyed by output name, in
/// `order` (`[]` for none). SQLite builds each object with `sqlite_row`
/// ([`object`]); PostgreSQL's `json_agg` of the row itself has the same keys,
/// and values serde reads as the same types (UUIDs as text, reals to the
/// last digit, booleans, dates and timestamps in ISO 8601). One statement
/// where two were: on PostgreSQL, a round trip fewer.
pub(crate) fn array_column(
    kind: crate::BackendKind,
    sqlite_row: &str,
    order: &str,
    select: &str,
) -> String {
    match kind {
        crate::BackendKind::Sqlite => format!("({})", aggregate_sql(sqlite_row, order, select)),
        crate::BackendKind::Postgres => format!(
            "(SELECT coalesce(json_agg(page ORDER BY {order}), '[]')::text FROM ({select}) AS page)"
        ),
    }
}

/// A row as a JSON array of `columns` (for tuples, decoded by position).
pub(crate) fn array(columns: &[&str]) -> String {
    format!("json_array({})", columns.join(", "))
}

/// How a column that is not plain text or an integer travels in JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// A UUID blob ([`blob`]).
    Blob,
    /// A real ([`real`]).
    Real,
    /// JSON text ([`json`]).
    Json,
    /// A 0/1 integer read as a `bool`.
    Bool,
}

/// A row as a JSON object of the output columns of a select list
/// (`"s.id, v.name AS vehicle_name"`), each keyed by its output name (for
/// structs, decoded by field name). `special` gives the columns, by output
/// name, that are not text or integers. The list is split at commas: plain
/// or aliased columns only, no function calls.
pub(crate) fn object(select_list: &str, special: &[(&str, Kind)]) -> String {
    let pairs: Vec<String> = select_list
        .split(',')
        .map(|item| {
            let item = item.trim();
            let name = match item.rsplit_once(" AS ") {
                Some((_, alias)) => alias.trim(),
                None => item.rsplit('.').next().unwrap_or(item),
            };
            let expr = match special.iter().find(|(n, _)| *n == name).map(|(_, k)| k) {
                Some(Kind::Blob) => blob(name),
                Some(Kind::Real) => real(name),
                Some(Kind::Json) => json(name),
                Some(Kind::Bool) => format!(
                    "CASE WHEN {name} IS NULL THEN NULL WHEN {name} THEN json('true') ELSE json('false') END"
                ),
                None => name.to_owned(),
            };
            format!("'{name}', {expr}")
        })
        .collect();
    format!("json_object({})", pairs.join(", "))
}

/// A blob column (a UUID) as hex text, or null.
pub(crate) fn blob(column: &str) -> String {
    format!("nullif(hex({column}), '')")
}

/// A real column as a JSON number with all 17 significant digits, or null.
pub(crate) fn real(column: &str) -> String {
    format!("CASE WHEN {column} IS NULL THEN NULL ELSE json(printf('%!.17g', {column})) END")
}

/// A column holding JSON text, embedded as JSON rather than as a string.
pub(crate) fn json(column: &str) -> String {
    format!("json({column})")
}

/// Decodes the aggregated page. A decode failure is a
/// [`sqlx::Error::Decode`], as a bad column would be on the row-by-row path.
pub(crate) fn decode<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Fetches every row of a `SELECT` into a `Vec<T>`: row by row on
/// PostgreSQL (`T: FromRow`), as one JSON row on SQLite (`T: Deserialize`,
/// from the `sqlite` row expression and order given to [`aggregate_sql`]).
/// `$select` is a `&str` built from constants, never from input: values go
/// through `|q| …`, which binds them onto `q`, once per backend. Evaluates
/// to `Result<Vec<T>, sqlx::Error>`.
#[macro_export]
#[doc(hidden)]
macro_rules! fetch_rows {
    ($tx:expr, $select:expr, sqlite($row:expr, $order:expr), |$q:ident| $binds:expr) => {{
        let select: &str = $select;
        match $tx {
            $crate::Tx::Sqlite(t) => {
                // Safe: `$select` is built from constants (a caller's
                // promise) and the row expression from column names.
                let sql = $crate::json_rows::aggregate_sql(&$row, $order, select);
                let $q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
                match $binds.fetch_one(&mut **t).await {
                    Ok(text) => $crate::json_rows::decode(&text),
                    Err(e) => Err(e),
                }
            }
            $crate::Tx::Postgres(t) => {
                let $q = sqlx::query_as(sqlx::AssertSqlSafe(select.to_owned()));
                $binds.fetch_all(&mut **t).await
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aggregate_wraps_the_select() {
        assert_eq!(
            aggregate_sql(&array(&["a", "b"]), "a", "SELECT a, b FROM t"),
            "SELECT json_group_array(json_array(a, b) ORDER BY a) FROM (SELECT a, b FROM t) AS page"
        );
        assert_eq!(
            object(
                "s.id, v.name AS vehicle_name,\n s.km, tags, one_off",
                &[
                    ("id", Kind::Blob),
                    ("km", Kind::Real),
                    ("tags", Kind::Json),
                    ("one_off", Kind::Bool)
                ]
            ),
            "json_object('id', nullif(hex(id), ''), 'vehicle_name', vehicle_name, \
             'km', CASE WHEN km IS NULL THEN NULL ELSE json(printf('%!.17g', km)) END, \
             'tags', json(tags), 'one_off', CASE WHEN one_off IS NULL THEN NULL \
             WHEN one_off THEN json('true') ELSE json('false') END)"
        );
    }

    #[test]
    fn seventeen_digits_decode_to_the_same_float() {
        let values: [f64; 5] = [
            0.1,
            1.0 / 3.0,
            19_868.241_728_1,
            123_456_789.123_456_78,
            5e-324,
        ];
        for v in values {
            let text = format!("[[{v:.16e}]]");
            let rows: Vec<(f64,)> = decode(&text).expect("decodes");
            assert_eq!(rows[0].0.to_bits(), v.to_bits(), "{text}");
        }
    }

    #[test]
    fn a_bad_page_is_a_decode_error() {
        let err = decode::<(i64,)>("[[\"x\"]]").expect_err("a string is not an integer");
        assert!(matches!(err, sqlx::Error::Decode(_)), "{err:?}");
    }
}
