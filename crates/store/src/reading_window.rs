//! The stored readings around a batch's meters ([`Window`]): what a batch
//! of readings is checked against in memory (duplicates, the monotonic
//! rule, jump flags). Read for every meter of the batch at once.

use std::collections::HashMap;
use std::sync::LazyLock;

use domain::ids::{TenantId, VehicleId};
use domain::meter::{MeterKind, Neighbour};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ResultExt;
use crate::meters::{READING_COLUMNS, Reading, ReadingRow};
use crate::{StoreError, Tx};

/// One meter's items in a batch: the first and last item's time.
pub(crate) struct Span {
    pub vehicle: VehicleId,
    pub kind: MeterKind,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

/// One meter's stored readings around a batch: every reading inside the
/// batch's time span (for duplicates and ordering), and the live readings
/// just before and just after it. Items are checked against this in memory,
/// instead of a few queries per item.
#[derive(Default)]
pub(crate) struct Window {
    /// Live readings in time order: (time, effective value).
    live: Vec<Neighbour>,
    /// Every stored reading in the span, by (time, source).
    stored: HashMap<(OffsetDateTime, &'static str), Reading>,
}

impl Window {
    /// The windows of every meter of a batch, read together: a live feed's
    /// batch names a meter or two of each of a thousand vehicles, and a
    /// statement per meter was a round trip per meter on PostgreSQL (and a
    /// hop to the connection's thread on SQLite). PostgreSQL reads them in
    /// one statement (a `LATERAL` join over the meters' arrays), SQLite in
    /// one per 500 meters (a `VALUES` list joined to the readings). A meter
    /// with no stored readings around its span has no entry.
    pub(crate) async fn load_all(
        tx: &mut Tx,
        tenant: TenantId,
        spans: &[Span],
        offsets: &HashMap<(VehicleId, MeterKind), Vec<(OffsetDateTime, f64)>>,
    ) -> Result<HashMap<(VehicleId, MeterKind), Window>, StoreError> {
        // A live feed's batches usually have every window settled by their
        // vehicle rows: no statement then.
        if spans.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<WindowRow> = match tx {
            Tx::Postgres(t) => {
                let column = |f: fn(&Span) -> Uuid| -> Vec<Uuid> { spans.iter().map(f).collect() };
                let at = |f: fn(&Span) -> OffsetDateTime| -> Vec<OffsetDateTime> {
                    spans.iter().map(f).collect()
                };
                let kinds: Vec<&str> = spans.iter().map(|s| s.kind.as_str()).collect();
                sqlx::query_as(WINDOWS_SQL_POSTGRES.as_str())
                    .bind(tenant.as_uuid())
                    .bind(column(|s| s.vehicle.as_uuid()))
                    .bind(kinds)
                    .bind(at(|s| s.from))
                    .bind(at(|s| s.to))
                    .fetch_all(&mut **t)
                    .await
                    .ctx("loading the readings around a batch")?
            }
            Tx::Sqlite(t) => {
                let mut rows = Vec::new();
                for chunk in spans.chunks(SQLITE_SPANS_CHUNK) {
                    let mut q =
                        sqlx::QueryBuilder::new("WITH m(m_vehicle, m_kind, m_from, m_to) AS (");
                    q.push_values(chunk, |mut row, span| {
                        row.push_bind(span.vehicle.as_uuid())
                            .push_bind(span.kind.as_str())
                            .push_bind(span.from)
                            .push_bind(span.to);
                    });
                    q.push(") ");
                    for (i, pieces) in SQLITE_WINDOW_PARTS.iter().enumerate() {
                        if i > 0 {
                            q.push(" UNION ALL ");
                        }
                        for (j, piece) in pieces.iter().enumerate() {
                            if j > 0 {
                                q.push_bind(tenant.as_uuid());
                            }
                            q.push(piece);
                        }
                    }
                    q.push(" ORDER BY vehicle_id, kind, part, read_at");
                    let mut meters: Vec<WindowRow> = q
                        .build_query_as()
                        .fetch_all(&mut **t)
                        .await
                        .ctx("loading the readings around a batch")?;
                    rows.append(&mut meters);
                }
                rows
            }
        };
        // Rows come ordered by meter, then part, then time: the live reading
        // before, the span, the live reading after.
        let mut windows: HashMap<(VehicleId, MeterKind), Window> = HashMap::new();
        let no_offsets = Vec::new();
        for WindowRow { part, row } in rows {
            let (vehicle, kind) = row.meter()?;
            let reading = row.into_reading(offsets.get(&(vehicle, kind)).unwrap_or(&no_offsets))?;
            let window = windows.entry((vehicle, kind)).or_default();
            if !reading.void {
                window.live.push(Neighbour {
                    at: reading.read_at,
                    value: reading.effective,
                });
            }
            if part == WINDOW_SPAN {
                window
                    .stored
                    .insert((reading.read_at, reading.source.as_str()), reading);
            }
        }
        Ok(windows)
    }

    /// The window of a meter whose every stored reading is before the
    /// batch's items: only its latest live reading, (time, effective
    /// value), if any (see `latest_meters::Latest::window_from`).
    pub(crate) fn after_latest(latest: Option<(OffsetDateTime, f64)>) -> Window {
        Window {
            live: latest
                .map(|(at, value)| Neighbour { at, value })
                .into_iter()
                .collect(),
            stored: HashMap::new(),
        }
    }

    /// The stored reading of this meter at `at` from `source`, if any.
    pub(crate) fn existing(&self, at: OffsetDateTime, source: &'static str) -> Option<&Reading> {
        self.stored.get(&(at, source))
    }

    /// The live readings strictly before and strictly after `at`.
    pub(crate) fn neighbours(&self, at: OffsetDateTime) -> (Option<Neighbour>, Option<Neighbour>) {
        let first_not_before = self.live.partition_point(|n| n.at < at);
        let first_after = self.live.partition_point(|n| n.at <= at);
        let previous = first_not_before
            .checked_sub(1)
            .and_then(|i| self.live.get(i))
            .copied();
        (previous, self.live.get(first_after).copied())
    }

    pub(crate) fn add(&mut self, r: &Reading) {
        if !r.void {
            let at = self.live.partition_point(|n| n.at <= r.read_at);
            self.live.insert(
                at,
                Neighbour {
                    at: r.read_at,
                    value: r.effective,
                },
            );
        }
        self.stored
            .insert((r.read_at, r.source.as_str()), r.clone());
    }
}

/// The `part` of a window row inside the batch's span (the others are the
/// live neighbours just outside it).
const WINDOW_SPAN: i32 = 1;

/// Meters per statement on SQLite (four parameters each).
const SQLITE_SPANS_CHUNK: usize = 500;

/// The three parts of a window on SQLite, which has no `LATERAL`: each
/// joins the meters `m` (a `VALUES` list) to their readings. `CROSS JOIN`
/// keeps `m` the outer loop: with a plain join SQLite's planner chose to
/// scan the tenant's every reading and probe `m` (a live feed of 1,000
/// vehicles ingested 730 readings a second on SQLite until this). The
/// neighbours are found by a correlated lookup of the nearest live
/// reading's rowid, the top of an index range. Each part is its text pieces,
/// with the tenant's parameter between them.
static SQLITE_WINDOW_PARTS: LazyLock<[Vec<String>; 3]> = LazyLock::new(|| {
    let columns = READING_COLUMNS
        .split(", ")
        .map(|c| format!("r.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let neighbour = |part: i32, side: &str, order: &str| {
        vec![
            format!(
                "SELECT {part} AS part, {columns} FROM m CROSS JOIN meter_readings r
                  WHERE r.rowid = (SELECT n.rowid FROM meter_readings n WHERE n.tenant_id = "
            ),
            format!(
                " AND n.vehicle_id = m.m_vehicle AND n.kind = m.m_kind AND NOT n.void
                  AND n.read_at {side} ORDER BY n.read_at {order} LIMIT 1)"
            ),
        ]
    };
    [
        neighbour(0, "< m.m_from", "DESC"),
        vec![
            format!(
                "SELECT {WINDOW_SPAN} AS part, {columns} FROM m CROSS JOIN meter_readings r WHERE r.tenant_id = "
            ),
            " AND r.vehicle_id = m.m_vehicle AND r.kind = m.m_kind
              AND r.read_at >= m.m_from AND r.read_at <= m.m_to"
                .to_string(),
        ],
        neighbour(2, "> m.m_to", "ASC"),
    ]
});

/// Every meter's window of a batch in one statement (PostgreSQL): for each
/// (vehicle, meter, from, to) of the arrays, the live reading before
/// `from`, every reading from `from` to `to`, the live reading after `to`,
/// each an index range read.
static WINDOWS_SQL_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    let meter = "tenant_id = $1 AND vehicle_id = m.m_vehicle AND kind = m.m_kind";
    format!(
        "SELECT w.* FROM unnest($2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[])
                AS m(m_vehicle, m_kind, m_from, m_to)
         CROSS JOIN LATERAL (
             (SELECT 0 AS part, {READING_COLUMNS} FROM meter_readings
               WHERE {meter} AND NOT void AND read_at < m.m_from ORDER BY read_at DESC LIMIT 1)
             UNION ALL
             SELECT {WINDOW_SPAN}, {READING_COLUMNS} FROM meter_readings
              WHERE {meter} AND read_at >= m.m_from AND read_at <= m.m_to
             UNION ALL
             (SELECT 2, {READING_COLUMNS} FROM meter_readings
               WHERE {meter} AND NOT void AND read_at > m.m_to ORDER BY read_at LIMIT 1)
         ) AS w
         ORDER BY w.vehicle_id, w.kind, w.part, w.read_at"
    )
});

#[derive(sqlx::FromRow)]
struct WindowRow {
    part: i32,
    #[sqlx(flatten)]
    row: ReadingRow,
}
