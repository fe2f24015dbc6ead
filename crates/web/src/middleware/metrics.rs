//! Request metrics in Prometheus' text format, kept in memory per process
//! (each replica is scraped on its own).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// Upper bounds (seconds) of the request-duration histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Something else that reports metrics on `/metrics` (the job runner does).
pub trait MetricsSource: Send + Sync {
    /// Appends metric families in Prometheus text format.
    fn render(&self, out: &mut String);
}

#[derive(Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    sum_secs: f64,
    count: u64,
}

/// Counters and histograms of the requests this process served.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<(String, String), RouteStats>>,
    sources: Vec<Arc<dyn MetricsSource>>,
}

impl Metrics {
    pub fn with_sources(sources: Vec<Arc<dyn MetricsSource>>) -> Self {
        Self {
            routes: Mutex::default(),
            sources,
        }
    }

    fn record(&self, method: &str, route: &str, status: u16, secs: f64) {
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        let stats = routes
            .entry((method.to_string(), route.to_string()))
            .or_default();
        *stats.by_status.entry(status).or_default() += 1;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                stats.buckets[i] += 1;
            }
        }
        stats.sum_secs += secs;
        stats.count += 1;
    }

    /// The whole exposition, including database pool figures.
    pub fn render(&self, pool: store::PoolStats) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP motorpool_http_requests_total HTTP requests served, by route and status.\n",
        );
        out.push_str("# TYPE motorpool_http_requests_total counter\n");
        let routes = self.routes.lock().map(|r| {
            r.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.by_status.clone(),
                        v.buckets,
                        v.sum_secs,
                        v.count,
                    )
                })
                .collect::<Vec<_>>()
        });
        let routes = routes.unwrap_or_default();
        for ((method, route), by_status, ..) in &routes {
            for (status, n) in by_status {
                let _ = writeln!(
                    out,
                    "motorpool_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP motorpool_http_request_duration_seconds Time to answer HTTP requests.\n",
        );
        out.push_str("# TYPE motorpool_http_request_duration_seconds histogram\n");
        for ((method, route), _, buckets, sum, count) in &routes {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, n) in BUCKETS.iter().zip(buckets) {
                let _ = writeln!(
                    out,
                    "motorpool_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "motorpool_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "motorpool_http_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "motorpool_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        out.push_str("# HELP motorpool_db_pool_connections Database pool connections by state.\n");
        out.push_str("# TYPE motorpool_db_pool_connections gauge\n");
        let in_use = u64::from(pool.size).saturating_sub(pool.idle as u64);
        let _ = writeln!(
            out,
            "motorpool_db_pool_connections{{state=\"idle\"}} {}",
            pool.idle
        );
        let _ = writeln!(
            out,
            "motorpool_db_pool_connections{{state=\"in_use\"}} {in_use}"
        );
        out.push_str("# HELP motorpool_db_pool_max_connections The pool's configured maximum.\n");
        out.push_str("# TYPE motorpool_db_pool_max_connections gauge\n");
        let _ = writeln!(out, "motorpool_db_pool_max_connections {}", pool.max);
        for source in &self.sources {
            source.render(&mut out);
        }
        out
    }
}

/// Middleware: times each request and counts it under its route template
/// (`/api/v1/vehicles/{id}`, never the concrete path, to bound cardinality).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let start = Instant::now();
    let response = next.run(req).await;
    state.metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}
